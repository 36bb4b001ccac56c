"""The ledger explorer pages and the trades page's ledger column, through Django's test client, on PostgreSQL."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from core.models import AuditEvent, Role
from exchange.models import Trade
from exchange.services import OrderRequest, order_place
from ledger.models import Block, Leaf, SigningKey
from ledger.services import block_seal, signed_note
from ledger.verifier import verify_inclusion
from tests.conftest import log_in
from tests.tampering import superuser_rewrite
from tests.test_pages import client_for, text


def buy(market, buyer, n: int) -> Trade:
    order, _ = order_place(
        placed_by=buyer.owner,
        account=buyer,
        request=OrderRequest(market.security.code, "buy", 100, Decimal("10.10"), "IOC", f"lp{n}"),
    )
    return Trade.objects.get(buy_order=order)


@pytest.fixture
def ledger(market, django_capture_on_commit_callbacks):
    """Two blocks: the set-up entries (and the genesis key), then two trades of ``ledger.buyer``."""
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10", ask_qty=5000)
    market.buyer = market.investor(cash="100000")
    with django_capture_on_commit_callbacks(execute=True):
        block_seal()
        market.trades = [buy(market, market.buyer, 1), buy(market, market.buyer, 2)]
        block_seal()
    assert Block.objects.count() == 2
    return market


@pytest.fixture
def auditor(market):
    return client_for(market.user(Role.AUDITOR), "en")


def tamper(sql: str, params=None) -> None:
    """What a superuser can do: switch the append-only triggers (and FK checks) off and rewrite rows."""
    superuser_rewrite(sql, params)


def trusted_keys() -> list[tuple[str, bytes, None]]:
    return [(key.name, bytes(key.public_key), None) for key in SigningKey.objects.all()]


# --------------------------------------------------------------------------
# Who may see the explorer

PAGES = ["/ledger/", "/ledger/blocks/0/", "/ledger/entries/0/", "/ledger/keys/", "/ledger/verify/"]


@pytest.mark.parametrize("path", PAGES)
def test_an_investor_gets_403_on_every_ledger_page(ledger, path):
    # given
    client = client_for(ledger.buyer.owner)

    # when
    response = client.get(path)

    # then
    assert response.status_code == 403
    assert "您无权查看此页面。" in text(response)


@pytest.mark.parametrize("role", [Role.INVESTOR, Role.MARKET_MAKER, Role.BROKER_STAFF])
def test_a_non_supervisor_cannot_run_verify_and_no_verification_is_recorded(ledger, role):
    # given
    client = client_for(ledger.user(role))

    # when
    response = client.post("/ledger/verify/")

    # then nothing is verified nor recorded as done; a staff member's attempt is recorded as refused (DESIGN §6)
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action="ledger_verify").exclude(outcome="refused").exists()
    refused = AuditEvent.objects.filter(action="ledger_verify", outcome="refused", target="ledger")
    assert refused.count() == (1 if role == Role.BROKER_STAFF else 0)


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGES)
def test_ledger_pages_need_a_login(path):
    # when
    response = Client().get(path)

    # then
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={path}"


@pytest.mark.parametrize(
    "role", [Role.AUDITOR, Role.REGULATOR, Role.EXCHANGE_OPERATOR, Role.DEPOSITORY_OPERATOR, Role.INVESTOR]
)
def test_the_nav_links_the_ledger_for_supervisors_only(market, role):
    # given
    user = market.user(role)

    # when
    body = text(client_for(user).get("/"))

    # then
    assert ('<a href="/ledger/">账本</a>' in body) == (role != Role.INVESTOR)


# --------------------------------------------------------------------------
# The pages


def test_block_list_shows_newest_first_with_the_head_checkpoint(ledger, auditor):
    # given
    head = Block.objects.get(height=1)

    # when
    response = auditor.get("/ledger/")

    # then
    assert response.status_code == 200
    rows = response.context["rows"]
    assert [(r["height"], r["first_leaf"], r["last_leaf"], r["tree_size"], r["signatures"]) for r in rows] == [
        (1, head.first_leaf_index, head.tree_size - 1, head.tree_size, 1),
        (0, 0, head.first_leaf_index - 1, head.first_leaf_index, 1),
    ]
    assert rows[0]["root_short"] == bytes(head.root).hex()[:12] + "…"
    body = text(response)
    assert f'<pre class="note" id="head-note">{signed_note(head)}</pre>' in body
    assert '<a href="/ledger/blocks/1/">1</a>' in body
    assert 'name="csrfmiddlewaretoken"' in body and 'action="/ledger/verify/"' in body
    # the column counts the exchange's own signatures, not the witnesses' co-signatures the note above may carry
    assert "Exchange signatures" in body


def test_block_list_shows_sealed_times_in_shanghai(ledger, auditor):
    # given
    head = Block.objects.get(height=1)
    local = head.sealed_at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M:%S")

    # when
    body = text(auditor.get("/ledger/"))

    # then
    assert f'<td class="nowrap">{local}</td>' in body


def test_block_detail_shows_header_note_signatures_and_entries(ledger, auditor):
    # given
    block = Block.objects.get(height=1)
    key = SigningKey.objects.get()
    leaves = list(Leaf.objects.filter(block=block).select_related("entry").order_by("leaf_index"))

    # when
    response = auditor.get("/ledger/blocks/1/")

    # then
    assert response.status_code == 200
    body = text(response)
    assert "<h1>Block 1</h1>" in body
    assert f"<dd>{block.first_leaf_index} – {block.tree_size - 1}</dd>" in body
    assert f'<dd class="hash" id="block-hash">{bytes(block.block_hash).hex()}</dd>' in body
    assert f'<a href="/ledger/blocks/0/">{bytes(block.prev_hash).hex()}</a>' in body
    assert f'<pre class="note" id="block-note">{signed_note(block)}</pre>' in body
    assert response.context["signatures"] == [
        {"key_id": key.key_id, "name": key.name, "status": "active", "status_label": "Active", "local": True}
    ]
    assert [(e["leaf_index"], e["entry_id"], e["kind"]) for e in response.context["entries"]] == [
        (lf.leaf_index, lf.entry_id, "TRADE") for lf in leaves
    ]
    assert f'<a href="/ledger/entries/{leaves[0].leaf_index}/">' in body


def test_genesis_block_has_no_previous_block(ledger, auditor):
    # when
    response = auditor.get("/ledger/blocks/0/")

    # then
    assert response.status_code == 200
    assert "0" * 64 in text(response)
    assert 'rel="prev"' not in text(response)
    assert 'href="/ledger/blocks/1/" rel="next"' in text(response)


def test_a_missing_block_or_entry_is_404(ledger, auditor):
    assert auditor.get("/ledger/blocks/99/").status_code == 404
    assert auditor.get("/ledger/entries/9999/").status_code == 404


def test_entry_detail_shows_the_json_and_links_its_proof(ledger, auditor):
    # given
    trade = ledger.trades[0]
    leaf = Leaf.objects.select_related("entry").get(entry_id=trade.entry_id)

    # when
    response = auditor.get(f"/ledger/entries/{leaf.leaf_index}/")

    # then
    assert response.status_code == 200
    document = json.loads(bytes(leaf.entry.canonical))
    assert json.loads(response.context["pretty"]) == document
    assert response.context["pretty"].startswith('{\n  "kind": "TRADE",')
    body = text(response)
    assert bytes(leaf.entry.leaf_hash).hex() in body
    assert f'<a href="/ledger/blocks/{leaf.block_id}/">{leaf.block_id}</a>' in body
    proof_url = f"/api/v1/ledger/entries/{leaf.leaf_index}/proof/"
    assert f'href="{proof_url}"' in body
    # and the proof the page links to holds, with the session the page uses
    bundle = auditor.get(proof_url).json()
    assert verify_inclusion(bundle, trusted_keys()).startswith(f"leaf {leaf.leaf_index} is in the signed tree")


def test_keys_page_lists_the_signing_keys(ledger, auditor):
    # given
    key = SigningKey.objects.get()

    # when
    response = auditor.get("/ledger/keys/")

    # then
    assert response.status_code == 200
    [row] = response.context["rows"]
    assert (row["key_id"], row["name"], row["status_label"], row["public_key"]) == (
        key.key_id,
        key.name,
        "Active",
        bytes(key.public_key).hex(),
    )
    assert 'href="/api/v1/ledger/keys/"' in text(response)


def test_explorer_pages_are_chinese_by_default(ledger, market):
    # given
    client = client_for(market.user(Role.REGULATOR))

    # when
    body = text(client.get("/ledger/"))

    # then
    assert "<h1>账本</h1>" in body and "最新检查点" in body and "立即验证" in body


# --------------------------------------------------------------------------
# Verify now


def test_verify_now_shows_ok_with_the_counters_and_is_audited(ledger, market):
    # given
    user = market.user(Role.AUDITOR)
    client = client_for(user, "en")

    # when
    response = client.post("/ledger/verify/", REMOTE_ADDR="10.1.2.3")

    # then
    assert response.status_code == 200
    report = response.context["report"]
    assert report.ok
    assert (report.blocks, report.trades, report.external_checkpoints) == (2, 2, 2)
    body = text(response)
    assert 'data-outcome="ok"' in body and "Ledger OK" in body
    event = AuditEvent.objects.get(action="ledger_verify")
    assert (event.actor, event.outcome, event.ip) == (user, "ok", "10.1.2.3")
    assert {k: event.detail[k] for k in ("blocks", "leaves", "trades", "problems", "first")} == {
        "blocks": 2,
        "leaves": report.leaves,
        "trades": 2,
        "problems": 0,
        "first": None,
    }


@pytest.fixture
def tampered_leaf(ledger) -> Leaf:
    """A superuser rewrote one byte of a trade entry sealed in block 1."""
    leaf = Leaf.objects.get(entry_id=ledger.trades[1].entry_id)
    tamper(
        "UPDATE ledger_entry SET canonical = set_byte(canonical, 59, get_byte(canonical, 59) # 1) WHERE id = %s",
        [leaf.entry_id],
    )
    return leaf


def test_verify_now_after_tampering_names_the_block_and_is_audited_as_failed(tampered_leaf, market):
    # given a superuser rewrote one byte of a trade entry sealed in block 1
    user, leaf = market.user(Role.REGULATOR), tampered_leaf

    # when
    response = client_for(user, "en").post("/ledger/verify/")

    # then
    assert response.status_code == 200
    first = f"block 1, leaf {leaf.leaf_index}, entry {leaf.entry_id}: stored bytes do not hash to the stored leaf hash"
    assert response.context["first"] == first
    assert first in response.context["problems"]
    body = text(response)
    assert 'data-outcome="failed"' in body
    assert f'<strong id="first-problem">{first}</strong>' in body
    assert '<a href="/ledger/blocks/1/">Open block 1</a>' in body
    event = AuditEvent.objects.get(action="ledger_verify")
    assert (event.actor, event.outcome, event.detail["first"]) == (user, "failed", first)
    assert event.detail["problems"] == len(response.context["problems"])


def test_verify_now_names_the_problems_in_chinese_and_audits_them_in_english(tampered_leaf, market):
    # given a superuser rewrote one byte of a trade entry sealed in block 1
    user, leaf = market.user(Role.REGULATOR), tampered_leaf

    # when a Chinese-speaking regulator runs "verify now"
    response = client_for(user, "zh-hans").post("/ledger/verify/")

    # then the page says what is wrong, and where, in Chinese
    first = f"区块 1, 叶子 {leaf.leaf_index}, 条目 {leaf.entry_id}: 存储的字节与存储的叶子哈希不符"
    assert response.context["first"] == first
    assert f'<strong id="first-problem">{first}</strong>' in text(response)
    # and the audit trail keeps the English text the command prints
    event = AuditEvent.objects.get(action="ledger_verify")
    assert event.detail["first"] == (
        f"block 1, leaf {leaf.leaf_index}, entry {leaf.entry_id}: stored bytes do not hash to the stored leaf hash"
    )


def test_verify_now_needs_the_csrf_token(ledger, market):
    # given
    client = Client(enforce_csrf_checks=True)
    log_in(client, market.user(Role.AUDITOR))

    # when
    response = client.post("/ledger/verify/")

    # then
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action="ledger_verify").exists()


def test_verify_page_without_post_runs_nothing(ledger, auditor):
    # when
    response = auditor.get("/ledger/verify/")

    # then
    assert response.status_code == 200
    assert response.context["ran"] is False
    assert not AuditEvent.objects.filter(action="ledger_verify").exists()


# --------------------------------------------------------------------------
# The trades page


def test_trades_page_goes_from_matched_to_sealed_with_a_proof_that_verifies(market, django_capture_on_commit_callbacks):
    # given a trade that is not sealed yet
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    buyer = market.investor(cash="100000")
    trade = buy(market, buyer, 1)
    client = client_for(buyer.owner, "en")
    [row] = client.get("/trades/").context["rows"]
    assert (row["status"], row["status_label"], row["ledger"]) == (
        "matched",
        "Matched",
        {"sealed": False, "trade_url": f"/trades/{trade.pk}/"},
    )
    assert "/proof/" not in text(client.get("/trades/"))

    # when the sealer seals it
    with django_capture_on_commit_callbacks(execute=True):
        block_seal()

    # then the page shows it sealed, where, and links its proof
    response = client.get("/trades/")
    leaf = Leaf.objects.get(entry_id=trade.entry_id)
    [row] = response.context["rows"]
    proof_url = f"/api/v1/trades/{trade.pk}/proof/?download=1"
    assert (row["status"], row["status_label"]) == ("sealed", "Sealed")
    assert row["ledger"] == {
        "sealed": True,
        "block_height": leaf.block_id,
        "leaf_index": leaf.leaf_index,
        "block_url": None,  # an investor cannot open the explorer
        "entry_url": None,  # nor the trade's entry in it
        "proof_url": proof_url,
        "trade_url": f"/trades/{trade.pk}/",  # its steps and the in-browser check
    }
    body = text(response)
    assert '<span class="status status-sealed" data-field="status">Sealed</span>' in body
    # (its parts each kept whole, wrapping between them: tags aside, it reads as one line)
    assert f"Block {leaf.block_id} · record no. {leaf.leaf_index}" in re.sub(r"<[^>]+>", "", body)
    assert f'<a href="{proof_url.replace("&", "&amp;")}" class="proof" download>Proof</a>' in body
    # and the file it links to verifies offline against the node's keys
    download = client.get(proof_url)
    assert download["Content-Disposition"] == f'attachment; filename="trade-{trade.pk}-proof.json"'
    bundle = json.loads(download.content)
    assert verify_inclusion(bundle, trusted_keys()).startswith(f"leaf {leaf.leaf_index} is in the signed tree")


def test_trades_page_in_chinese_links_the_proof(market, django_capture_on_commit_callbacks):
    # given
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    buyer = market.investor(cash="100000")
    buy(market, buyer, 1)
    with django_capture_on_commit_callbacks(execute=True):
        block_seal()

    # when
    body = text(client_for(buyer.owner).get("/trades/"))

    # then
    assert ">已入块</span>" in body
    assert re.search(r'class="proof" download>证明</a>', body)


def test_trades_data_reports_the_rows_status_for_the_page_to_refresh(market, django_capture_on_commit_callbacks):
    # given
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    buyer, other = market.investor(cash="100000"), market.investor(cash="100000")
    mine, theirs = buy(market, buyer, 1), buy(market, other, 2)
    client = client_for(buyer.owner, "en")
    url = f"/trades/data/?ids={mine.pk},{theirs.pk}"
    before = client.get(url).json()

    # when
    with django_capture_on_commit_callbacks(execute=True):
        block_seal()
    after = client.get(url)

    # then only the user's own trade is reported, first matched, then sealed
    assert [(r["id"], r["status"], r["leaf_index"]) for r in before["rows"]] == [(mine.pk, "matched", None)]
    assert before["newest_id"] == mine.pk
    assert "no-cache" in after["Cache-Control"]
    [row] = after.json()["rows"]
    leaf = Leaf.objects.get(entry_id=mine.entry_id)
    assert (row["id"], row["status"], row["status_label"], row["leaf_index"]) == (
        mine.pk,
        "sealed",
        "Sealed",
        leaf.leaf_index,
    )
    assert f"/api/v1/trades/{mine.pk}/proof/?download=1" in row["ledger_html"]
    assert client.get("/trades/data/?ids=x").status_code == 400


def test_a_supervisor_sees_the_block_of_a_trade_as_a_link(ledger, auditor):
    # when
    rows = auditor.get("/trades/").context["rows"]

    # then
    assert {r["ledger"]["block_url"] for r in rows} == {"/ledger/blocks/1/"}
    assert {r["status"] for r in rows} == {"sealed"}


def test_a_trades_entry_links_back_to_the_trade_other_entries_name_none(ledger, auditor):
    # (found by a walk: a trade's page led to its entry, the entry not back to the trade)
    # given the two trades' TRADE entries, and a set-up entry (a deposit, a key) that is about no trade
    leaves = {t.pk: Leaf.objects.get(entry_id=t.entry_id) for t in ledger.trades}
    about_trades = ["TRADE", "SETTLEMENT", "SETTLEMENT_HOLD", "SETTLEMENT_RELEASE", "SETTLEMENT_FAILED", "CORRECTION"]
    other_leaf = Leaf.objects.exclude(entry__kind__in=about_trades).order_by("leaf_index").first()

    for trade_id, leaf in leaves.items():
        # when a supervisor opens a TRADE entry
        body = text(auditor.get(f"/ledger/entries/{leaf.leaf_index}/"))
        # then it links that trade's page, and only that one
        assert f'<dd id="entry-trades"><a href="/trades/{trade_id}/">{trade_id}</a></dd>' in body
        other = next(pk for pk in leaves if pk != trade_id)
        assert f'href="/trades/{other}/"' not in body

    # when a supervisor opens that entry, then no trade is named
    response = auditor.get(f"/ledger/entries/{other_leaf.leaf_index}/")
    assert response.status_code == 200 and response.context["trades"] == []
    assert 'id="entry-trades"' not in text(response)
    # and the trade pages it links open for the supervisor
    assert all(auditor.get(f"/trades/{pk}/").status_code == 200 for pk in leaves)


def test_the_trades_an_entrys_payload_names_are_read_safely():
    from ledger.views import _read

    def _trade_ids(canonical: bytes) -> list[int]:
        from ledger.views import _trade_ids as of

        return of(_read(canonical))

    # a trade's, a net settlement's, and payloads that name no trade or are not what they should be
    assert _trade_ids(b'{"kind":"TRADE","payload":{"trade_id":7}}') == [7]
    assert _trade_ids(b'{"kind":"SETTLEMENT","payload":{"trade_ids":[3,4]}}') == [3, 4]
    assert _trade_ids(b'{"kind":"DEPOSIT","payload":{"account":"INV1"}}') == []
    assert _trade_ids(b'{"kind":"X","payload":{"trade_id":"7"}}') == []
    assert _trade_ids(b'{"kind":"X","payload":{"trade_id":true}}') == []
    assert _trade_ids(b'{"kind":"X","payload":{"trade_ids":"1,2"}}') == []
    assert _trade_ids(b'{"kind":"X","payload":[1]}') == []
    assert _trade_ids(b"[1, 2]") == []
    assert _trade_ids(b"\xff not json") == []
