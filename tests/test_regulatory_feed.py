"""The regulatory data feed: sealed entries as records in the JR/T 0315-2024 groups, each provable."""

from __future__ import annotations

import base64
import hashlib
import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from balances.services import cash_deposit
from core.models import Role
from exchange.models import Trade
from exchange.services import OrderRequest, order_place
from ledger import verifier
from ledger.models import Entry, Leaf, SigningKey
from ledger.services import block_seal
from registry import services as registry
from settlement.services import trade_settle
from tests.conftest import api_for

URL = "/api/v1/regulatory-feed/"


@pytest.fixture
def sealed(market):
    """Deposits, an issue, a trade and its settlement, a halt and a resume, all sealed; one deposit waiting."""
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="50000")
    order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest(market.security.code, "buy", 100, Decimal("10.10"), "IOC", "feed-1"),
    )
    trade = Trade.objects.get()
    block_seal()  # a trade settles once its TRADE entry is sealed
    assert trade_settle(trade_id=trade.pk)
    operator = market.user(Role.EXCHANGE_OPERATOR)
    registry.security_halt(actor=operator, code=market.security.code, reason="pending announcement")
    registry.security_resume(actor=operator, code=market.security.code, reason="announced")
    block_seal()
    cash_deposit(actor=market.staff, account=investor, amount=Decimal("7"))  # recorded, not sealed yet
    regulator = market.user(Role.REGULATOR)
    return market, investor, trade, regulator


def _all(client, limit=None):
    records, after = [], None
    while True:
        params = {"limit": limit} if limit else {}
        if after is not None:
            params["after"] = after
        body = client.get(URL, params).json()
        if not body["results"]:
            return records, body
        records += body["results"]
        after = body["next_after"]


def test_records_come_in_leaf_order_in_their_groups_and_only_sealed_entries(sealed):
    market, investor, trade, regulator = sealed

    records, last = _all(api_for(regulator))

    sealed_leaves = list(Leaf.objects.select_related("entry").order_by("leaf_index"))
    assert [r["leaf_index"] for r in records] == sorted(r["leaf_index"] for r in records)
    assert {r["leaf_index"] for r in records} == {lf.leaf_index for lf in sealed_leaves}
    assert last["tree_size"] == len(sealed_leaves)
    # the deposit recorded after the seal is not in the feed
    waiting = Entry.objects.filter(leaf__isnull=True).get()
    assert waiting.kind == "DEPOSIT" and waiting.recorded_at <= timezone.now()
    assert sum(1 for r in records if r["kind"] == "DEPOSIT") == Entry.objects.filter(kind="DEPOSIT").count() - 1

    groups = {(r["kind"], r["group"]) for r in records}
    assert {
        ("KEY_ROTATION", "entity"),
        ("DEPOSIT", "fund_settlement"),
        ("ISSUE", "registration"),
        ("TRADE", "transfer_report"),
        ("SETTLEMENT", "fund_settlement"),
        ("SETTLEMENT", "registration"),
        ("HALT", "supervisory"),
        ("RESUME", "supervisory"),
    } <= groups

    (transfer,) = [r["record"] for r in records if r["group"] == "transfer_report"]
    assert transfer["trade_id"] == trade.pk
    assert transfer["security_code"] == market.security.code
    assert (transfer["buyer_account"], transfer["quantity"], transfer["price"]) == (investor.code, 100, "10.10")

    cash, shares = [r for r in records if r["kind"] == "SETTLEMENT"]
    assert cash["leaf_index"] == shares["leaf_index"]
    assert (cash["group"], shares["group"]) == ("fund_settlement", "registration")
    assert {leg["account_code"]: leg["quantity"] for leg in shares["record"]["legs"]}[investor.code] == 100
    buyer_cash = [leg for leg in cash["record"]["legs"] if leg["account_code"] == investor.code]
    assert Decimal(buyer_cash[0]["amount"]) < 0
    assert sum(Decimal(leg["amount"]) for leg in cash["record"]["legs"]) == 0  # cash is moved, not made


def test_no_record_carries_personal_data(sealed):
    market, investor, _, regulator = sealed
    records, _ = _all(api_for(regulator))
    text = json.dumps(records, ensure_ascii=False)
    owner = investor.owner
    for personal in {investor.name, owner.first_name, owner.last_name, owner.email} - {""}:
        assert personal not in text
    assert investor.code in text  # accounts by code


def test_the_cursor_pages_through_the_leaves_without_gaps_or_repeats(sealed):
    _, _, _, regulator = sealed
    client = api_for(regulator)
    whole, _ = _all(client)

    paged, _ = _all(client, limit=2)

    assert paged == whole
    first = client.get(URL, {"limit": 2}).json()
    assert first["next_after"] == 1 and {r["leaf_index"] for r in first["results"]} == {0, 1}
    end = client.get(URL, {"after": whole[-1]["leaf_index"]}).json()
    assert end["results"] == [] and end["next_after"] == whole[-1]["leaf_index"]


@pytest.mark.parametrize("params", [{"after": "-1"}, {"after": "x"}, {"limit": "0"}, {"limit": "1e3"}])
def test_a_bad_cursor_is_a_400(sealed, params):
    _, _, _, regulator = sealed
    resp = api_for(regulator).get(URL, params)
    assert resp.status_code == 400
    assert resp.json()["code"] == "invalid_input"


@pytest.mark.parametrize(
    "role", [Role.INVESTOR, Role.BROKER_STAFF, Role.EXCHANGE_OPERATOR, Role.DEPOSITORY_OPERATOR, Role.MARKET_MAKER]
)
def test_only_regulators_and_auditors_read_the_feed(sealed, role):
    market = sealed[0]
    resp = api_for(market.user(role)).get(URL)
    assert resp.status_code == 403
    assert resp.json()["code"] == "permission_denied"
    assert api_for(market.user(Role.AUDITOR)).get(URL).status_code == 200


def test_each_record_proves_against_the_signed_checkpoint(sealed):
    # given the feed and the node's published key
    _, _, _, regulator = sealed
    client = api_for(regulator)
    records, _ = _all(client)
    key = SigningKey.objects.get()
    trusted = [(key.name, bytes(key.public_key), None)]

    for record in records:
        # the record's bytes are the leaf's, and the record is what those bytes say
        data = base64.b64decode(record["canonical"])
        assert hashlib.sha256(b"\x00" + data).hexdigest() == record["leaf_hash"]
        assert json.loads(data)["kind"] == record["kind"]
        # when the regulator asks for the leaf's inclusion proof, then the offline verifier accepts it
        bundle = client.get(f"/api/v1/ledger/entries/{record['leaf_index']}/proof/").json()
        assert bundle["leaf_hash"] == record["leaf_hash"]
        assert verifier.verify_inclusion(bundle, trusted).endswith(": OK")

    # and a record whose bytes were changed no longer matches its leaf
    forged = json.loads(base64.b64decode(records[1]["canonical"]))
    forged["payload"]["amount"] = "1000000"
    forged_bytes = json.dumps(forged, separators=(",", ":"), sort_keys=True).encode()
    assert hashlib.sha256(b"\x00" + forged_bytes).hexdigest() != records[1]["leaf_hash"]


@pytest.mark.usefixtures("shanghai_day_held")  # the entries written and the day exported one day
def test_the_daily_export_writes_the_days_records_as_json_lines(sealed, tmp_path):
    _, _, _, regulator = sealed
    today = timezone.localdate()
    block_seal()  # the waiting deposit too
    out = tmp_path / "feed" / f"{today}.jsonl"

    call_command("regulatory_feed_export", "--date", str(today), "--out", str(out))

    lines = [json.loads(line) for line in out.read_text().splitlines()]
    api, _ = _all(api_for(regulator))
    assert lines == api
    other = tmp_path / "other.jsonl"
    call_command("regulatory_feed_export", "--date", "2001-01-01", "--out", str(other))
    assert other.read_text() == ""


@pytest.mark.usefixtures("shanghai_day_held")  # the entries written and the day exported one day
def test_the_daily_export_refuses_while_an_entry_of_the_day_waits_and_writes_nothing(sealed, tmp_path):
    out = tmp_path / "day.jsonl"
    with pytest.raises(CommandError, match="not sealed yet"):
        call_command("regulatory_feed_export", "--date", str(timezone.localdate()), "--out", str(out))
    assert not out.exists()
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("regulatory_feed_export", "--date", "03/02/2026", "--out", str(out))
