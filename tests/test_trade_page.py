"""A trade's page (issue 13 item 3, issue 14 item 5): matched, sealed, co-signed by the regulator, settled as
separate steps; only those who may see the trade open it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.models import Role
from exchange import selectors as exchange_selectors
from exchange.services import OrderRequest, order_place
from ledger import checkpoint, witness, witnessing
from ledger.models import SigningKey
from ledger.services import block_seal
from settlement.services import trade_settle
from tests.conftest import log_in
from tests.test_cosigning import InProcess

pytestmark = pytest.mark.django_db


def _trade(market):
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="100000")
    order, _ = order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest(market.security.code, "buy", 100, Decimal("10.10"), "IOC", "page-1"),
    )
    return investor, order.buy_trades.get()


def _step(page: str, step: str) -> str:
    start = page.index(f'id="step-{step}"')
    return page[page.rfind("<li", 0, start) : page.index("</li>", start)]


def witness_for_exchange(settings, tmp_path) -> None:
    settings.WITNESS_KEY_FILE = tmp_path / "w.pem"
    settings.WITNESS_NAME = "regulator.test/witness"
    witness.key_create()
    key = SigningKey.objects.get()
    witness.log_trust(
        origin=settings.LEDGER_ORIGIN, verifier_keys=[checkpoint.verifier_key(key.name, bytes(key.public_key))]
    )
    settings.LEDGER_WITNESSES = [f"http://witness.test {witness.verifier_key()}"]
    settings.LEDGER_FINAL_COSIGNATURES = 1


def test_the_steps_follow_the_trade(market, client, settings, tmp_path):
    investor, trade = _trade(market)
    log_in(client, investor.owner)
    # given a matched trade: only the first step is done
    page = client.get(f"/trades/{trade.pk}/").content.decode()
    assert 'class="step done" id="step-matched"' in _step(page, "matched")
    assert "pending" in _step(page, "sealed") and "skipped" in _step(page, "cosigned")
    # when sealed (no witness configured yet)
    block = block_seal().block
    page = client.get(f"/trades/{trade.pk}/").content.decode()
    assert "done" in _step(page, "sealed") and "skipped" in _step(page, "cosigned")
    assert "pending" in _step(page, "settled")
    # when a witness is configured and co-signs
    witness_for_exchange(settings, tmp_path)
    page = client.get(f"/trades/{trade.pk}/").content.decode()
    assert "pending" in _step(page, "cosigned")
    witnessing.cosign_head(post=InProcess())
    page = client.get(f"/trades/{trade.pk}/").content.decode()
    assert "done" in _step(page, "cosigned") and "regulator.test/witness" in _step(page, "cosigned")
    assert f'data-tree-size="{block.tree_size}"' in page
    assert "--witness regulator.test/witness+" in page  # the offline command names the witness
    # when settled
    assert trade_settle(trade_id=trade.pk)
    page = client.get(f"/trades/{trade.pk}/").content.decode()
    assert "done" in _step(page, "settled")
    # and the proof of that checkpoint is served for the panel
    proof = client.get(f"/api/v1/trades/{trade.pk}/proof/", {"tree_size": block.tree_size}).json()
    assert proof["tree_size"] == block.tree_size and "regulator.test/witness" in proof["checkpoint"]
    assert client.get(f"/api/v1/trades/{trade.pk}/proof/", {"tree_size": 999999}).status_code == 400
    assert client.get(f"/api/v1/trades/{trade.pk}/proof/", {"tree_size": "x"}).status_code == 400


def test_the_check_promises_a_co_signature_only_where_a_witness_is_configured(market, client, settings, tmp_path):
    # (found by a walk-through: with no witness configured, the step said so, while the panel below promised that
    # the check proves the regulator's witness co-signed the ledger)
    investor, trade = _trade(market)
    block_seal()
    log_in(client, investor.owner)
    client.cookies["django_language"] = "en"

    # given no witness: the panel promises two things, not the co-signature
    page = client.get(f"/trades/{trade.pk}/").content.decode()
    promises = page.split('id="verify-promises"')[1].split("</ul>")[0]
    assert "proves two things" in page and "proves three things" not in page
    assert promises.count("<li>") == 2 and "co-signed" not in promises

    # when a witness is configured, the panel promises its co-signature too
    witness_for_exchange(settings, tmp_path)
    page = client.get(f"/trades/{trade.pk}/").content.decode()
    promises = page.split('id="verify-promises"')[1].split("</ul>")[0]
    assert "proves three things" in page and promises.count("<li>") == 3 and "co-signed" in promises


def test_only_those_who_may_see_the_trade_open_it(market, client):
    investor, trade = _trade(market)
    stranger = market.investor(cash="10")
    log_in(client, stranger.owner)
    assert client.get(f"/trades/{trade.pk}/").status_code == 404
    assert client.get("/trades/999999/").status_code == 404
    client.logout()
    log_in(client, market.user(Role.REGULATOR))
    assert client.get(f"/trades/{trade.pk}/").status_code == 200


def test_the_witnesses_api(market, client, settings, tmp_path):
    block_seal()
    log_in(client, market.investor(cash="10").owner)
    body = client.get("/api/v1/ledger/witnesses/").json()
    assert body == {"final_cosignatures": 0, "final_tree_size": body["final_tree_size"], "witnesses": []}
    witness_for_exchange(settings, tmp_path)
    assert client.get("/api/v1/ledger/witnesses/").json()["final_tree_size"] is None
    witnessing.cosign_head(post=InProcess())
    body = client.get("/api/v1/ledger/witnesses/").json()
    assert body["final_cosignatures"] == 1 and body["final_tree_size"] is not None
    assert body["witnesses"][0]["verifier_key"] == witness.verifier_key()


def test_a_refused_trade_shows_no_fee_charged_where_the_investor_looks(market, client):
    # Given a purchase of 100 at 10.10 whose settlement the depository refused (nothing moved, no fee taken)
    from django.utils import timezone

    from settlement import statements
    from settlement.services import trade_refuse

    investor, trade = _trade(market)
    block_seal()
    trade_refuse(actor=market.depository, trade_id=trade.pk, reason="Erroneous instruction")
    trade.refresh_from_db()
    assert trade.status == "failed" and trade.buyer_fee == Decimal("5.00")  # what it would have cost stays recorded

    # When the investor opens their trades, the trade's page and their statement
    log_in(client, investor.owner)
    listed = client.get("/trades/").context["rows"]
    page = client.get(f"/trades/{trade.pk}/").context["fee"]
    # (the statement of the day the trade was matched: "today" read here was the next day when a Shanghai midnight
    # passed after the trade; found by crossing a clock boundary inside the tests)
    day = timezone.localdate(trade.matched_at, statements.BEIJING)
    statement = statements.account_statement(investor, day, day)

    # Then each shows the fee as charged: none
    assert [r["fee"] for r in listed if r["id"] == trade.pk] == ["0.00"] and page == "0.00"
    assert [t.fee for t in statement.trades if t.id == trade.pk] == [Decimal("0.00")]


# --------------------------------------------------------------------------
# A held trade says who holds it; a regulator's reason is not told to the trade's parties (no tipping-off)

REGULATOR_REASON = "调查中 hold investor4"


def _held(market, how: str):
    """The investor's sealed trade, held by a regulator's standing instruction, the depository's, or by hand."""
    import datetime as dt

    from django.utils import timezone

    from settlement.instructions import instruction_create
    from settlement.services import trade_hold

    investor, trade = _trade(market)
    if how != "by hand":
        instruction_create(
            actor=market.user(Role.REGULATOR) if how == "regulator" else market.depository,
            account_code=investor.code,
            security_code=None,
            min_amount=None,
            reason=REGULATOR_REASON if how == "regulator" else "Court order 9",
            ends_at=timezone.now() + dt.timedelta(days=1),
        )
    block_seal()
    if how == "by hand":
        trade_hold(actor=market.depository, trade_id=trade.pk, reason="Second look")
    else:
        assert trade_settle(trade_id=trade.pk) is False
    block_seal()  # the hold's entry too
    trade.refresh_from_db()
    assert trade.status == "held"
    return investor, trade


def _hold_entry_leaf(trade) -> int:
    from ledger.models import Leaf
    from settlement.models import SettlementAction

    return Leaf.objects.get(entry_id=SettlementAction.objects.get(trade=trade).entry_id).leaf_index


@pytest.mark.parametrize(
    ("how", "says", "reason", "by"),
    [
        ("regulator", "Held under a standing settlement instruction of the regulator.", None, "regulator"),
        (
            "depository",
            "Held under a standing settlement instruction of the depository.",
            "Court order 9",
            "depository",
        ),
        ("by hand", "Held by the depository.", "Second look", None),
    ],
)
def test_the_investor_sees_who_holds_the_trade_and_a_regulators_reason_nowhere(market, client, how, says, reason, by):
    from tests.conftest import snapshot

    # given the investor's trade held (by a regulator's instruction, the depository's, or by hand)
    investor, trade = _held(market, how)
    log_in(client, investor.owner)
    before = snapshot()

    # when the investor opens the trade's page (in English and Chinese), its API and the hold's ledger entry
    english = client.get(f"/trades/{trade.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    chinese = client.get(f"/trades/{trade.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    api = client.get(f"/api/v1/trades/{trade.pk}/", HTTP_ACCEPT_LANGUAGE="en").json()
    entry = client.get(f"/api/v1/ledger/entries/{_hold_entry_leaf(trade)}/").json()

    # then the step says who holds it, with the reason of the depository's hold or instruction only
    step = _step(english, "settled")
    assert says in step
    assert (f"Reason: {reason}" in step) if reason else ("Reason:" not in step)
    assert ("Held by the depository." in step) == (how == "by hand")
    assert [(a["action"], a["reason"], a["standing_instruction_by"]) for a in api["lifecycle"]["actions"]] == [
        ("hold", reason, by)
    ]
    # and a regulator's reason is nowhere the investor looks, not even in the ledger entry's bytes
    if how == "regulator":
        assert REGULATOR_REASON not in english and REGULATOR_REASON not in chinese
        assert "监管" in _step(chinese, "settled")
        assert set(entry) == {"leaf_index", "leaf_hash", "block_height"}
    else:
        assert "canonical" in entry
    # and reading changed nothing: the trade is still held
    assert snapshot() == before


@pytest.mark.parametrize(("role", "sees"), [(Role.REGULATOR, True), (Role.DEPOSITORY_OPERATOR, True),
                                            (Role.AUDITOR, True), (Role.BROKER_STAFF, False)])  # fmt: skip
def test_staff_who_read_instructions_see_a_regulators_reason_on_the_trade_page(market, client, role, sees):
    _investor, trade = _held(market, "regulator")
    # when staff open the trade's page
    log_in(client, market.staff if role == Role.BROKER_STAFF else market.user(role))
    step = _step(client.get(f"/trades/{trade.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode(), "settled")
    # then those who read instructions see its reason, marked as not shown to the parties; the broker's staff not
    assert "Held under a standing settlement instruction of the regulator." in step
    assert (f"Reason: {REGULATOR_REASON}" in step) is sees
    assert ("(The trade's parties are not shown this reason.)" in step) is sees


@pytest.mark.parametrize("who", ["staff", "regulator"])
def test_staff_and_supervisors_read_both_parties_and_their_fees_where_a_party_reads_its_side(market, client, who):
    # (found by a probe: the broker's staff read "Side: Buy" of a trade between two of their clients, with no
    # buyer, seller or fee, where the trade list names both)
    from core.money import amount_text
    from exchange import selectors
    from exchange.selectors import account_code_masked

    investor, trade = _trade(market)
    buy_fee, sell_fee = (amount_text(selectors.fee_charged(trade, s)) for s in ("buy", "sell"))
    # when the broker's staff, or a regulator, open the trade's page
    log_in(client, market.staff if who == "staff" else market.user(Role.REGULATOR))
    page = client.get(f"/trades/{trade.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    facts = page[page.index('id="trade-facts"') : page.index('id="trade-steps"')]
    # then it names the buyer (their client) and the seller (the market maker: masked to the broker's staff, as the
    # trade list masks it), each fee where its party is shown, and no side
    assert ">Side<" not in facts and ">Buyer<" in facts and ">Seller<" in facts
    # (a regulator's party leads to the account's page)
    link = '<a class="code" href="/supervision/accounts/{0}/">{0}</a>'
    shown = '<span class="code">{0}</span>' if who == "staff" else link
    assert f'data-field="buyer">{shown.format(investor.code)}' in facts
    assert f'data-field="buyer_fee">{buy_fee}<' in facts
    if who == "staff":
        masked = account_code_masked(trade.seller.code)
        assert f'data-field="seller"><span class="code muted">{masked}</span>' in facts
        assert trade.seller.code not in page and 'data-field="seller_fee"' not in facts
    else:
        assert f'data-field="seller">{shown.format(trade.seller.code)}' in facts
        assert f'data-field="seller_fee">{sell_fee}<' in facts
    # and the investor reads their side and their own fee, not the other party
    client.logout()
    log_in(client, investor.owner)
    mine = client.get(f"/trades/{trade.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    facts = mine[mine.index('id="trade-facts"') : mine.index('id="trade-steps"')]
    assert ">Side<" in facts and ">Buyer<" not in facts and 'data-field="seller"' not in facts
    assert trade.seller.code not in mine


def test_a_supervisor_goes_from_a_trade_to_its_ledger_entry_a_party_reads_the_leaf_as_text(market, client):
    # (found by a walk: the trade page and the trades list linked the block, not the trade's own entry)
    # given a sealed trade, a regulator and the buying investor
    investor, trade = _trade(market)
    block_seal()
    regulator = market.user(Role.REGULATOR)
    trade = exchange_selectors.trades_visible(regulator).get(pk=trade.pk)  # with its leaf and block
    entry_url = f"/ledger/entries/{trade.leaf_index}/"

    # when the regulator opens the trade's page, the trades list and the list's polled ledger cell
    log_in(client, regulator)
    page = client.get(f"/trades/{trade.pk}/").content.decode()
    listed = client.get("/trades/").content.decode()
    polled = client.get(f"/trades/data/?ids={trade.pk}").json()

    # then each links the trade's entry, beside the block's link as before, and the entry is the trade's
    assert f'<a href="{entry_url}" id="trade-entry-link">第 {trade.leaf_index} 号记录</a>' in _step(page, "sealed")
    assert f'href="/ledger/blocks/{trade.block_height}/"' in _step(page, "sealed")
    # (the list said "叶子" for the very record the trade page numbers: one term wherever a trade's record is named)
    assert f'<a href="{entry_url}" class="entry-link">第 {trade.leaf_index} 号记录</a>' in listed
    (row,) = polled["rows"]
    assert f'href="{entry_url}"' in row["ledger_html"]
    entry_page = client.get(entry_url)
    assert entry_page.status_code == 200 and "TRADE" in entry_page.content.decode()

    # when the investor, a party who may not open the ledger explorer, opens the same pages
    client.logout()
    log_in(client, investor.owner)
    page = client.get(f"/trades/{trade.pk}/").content.decode()
    listed = client.get("/trades/").content.decode()

    # then the leaf is text, not a link (the explorer would refuse them), and the record number is still shown
    assert entry_url not in page and entry_url not in listed
    assert f"第 {trade.leaf_index} 号记录" in _step(page, "sealed")
    assert f"第 {trade.leaf_index} 号记录" in listed
    assert "叶子" not in page and "叶子" not in listed
    assert client.get(entry_url).status_code == 403
