"""ledger_verify against tampering by a database superuser (triggers bypassed), on PostgreSQL."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from exchange.services import OrderRequest, order_place
from ledger.models import Block, Leaf
from ledger.services import block_seal
from ledger.verification import ledger_verify
from tests.tampering import LEDGER_TABLES, superuser_rewrite


@pytest.fixture
def ledger(market, django_capture_on_commit_callbacks):
    """Three blocks: set-up entries; two trades; two more trades."""
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10", ask_qty=5000)
    buyer = market.investor(cash="100000")

    def buy(n):
        order_place(
            placed_by=buyer.owner,
            account=buyer,
            request=OrderRequest(market.security.code, "buy", 100, Decimal("10.10"), "IOC", f"t{n}"),
        )

    with django_capture_on_commit_callbacks(execute=True):
        block_seal()
        buy(1), buy(2)
        block_seal()
        buy(3), buy(4)
        block_seal()
    assert Block.objects.count() == 3
    return market


def tamper(sql: str, params=None) -> None:
    """What a superuser can do: switch the append-only triggers (and FK checks) off and rewrite rows."""
    superuser_rewrite(sql, params, tables=LEDGER_TABLES + ["exchange_trade"])


def leaf_in_block(height: int, nth: int = 0) -> Leaf:
    return Leaf.objects.filter(block_id=height).order_by("leaf_index")[nth]


def test_an_untouched_ledger_verifies(ledger, capsys):
    report = ledger_verify()
    assert report.ok, [str(p) for p in report.problems]
    assert (report.blocks, report.trades, report.external_checkpoints) == (3, 4, 3)
    call_command("ledger_verify", "--no-progress")
    assert "ledger OK" in capsys.readouterr().out


def test_one_changed_byte_is_named(ledger):
    leaf = leaf_in_block(1, 1)
    tamper(
        "UPDATE ledger_entry SET canonical = set_byte(canonical, 59, get_byte(canonical, 59) # 1) WHERE id = %s",
        [leaf.entry_id],
    )
    first = ledger_verify().first
    assert (first.block, first.leaf_index, first.entry_id) == (1, leaf.leaf_index, leaf.entry_id)
    with pytest.raises(CommandError, match=f"block 1, leaf {leaf.leaf_index}"):
        call_command("ledger_verify", "--no-progress")


def test_a_rewritten_entry_with_a_fresh_leaf_hash_is_named(ledger):
    leaf = leaf_in_block(2, 0)
    tamper(
        "UPDATE ledger_entry SET canonical = set_byte(canonical, 59, get_byte(canonical, 59) # 1) WHERE id = %s;"
        "UPDATE ledger_entry SET leaf_hash = sha256('\\x00'::bytea || canonical) WHERE id = %s",
        [leaf.entry_id, leaf.entry_id],
    )
    report = ledger_verify()
    assert (report.first.block, report.first.entry_id) == (2, leaf.entry_id)
    assert report.first.message == "entry differs from the leaf sealed at this index"
    assert any("root" in p.message and p.block == 2 for p in report.problems)


def test_one_changed_entry_is_named_in_its_block_and_the_later_blocks_are_not_listed_for_it(ledger):
    # (found by a probe: one changed entry listed the root, header and checkpoint of every later block too)
    leaf = leaf_in_block(1, 1)
    tamper(
        "UPDATE ledger_entry SET canonical = set_byte(canonical, 59, get_byte(canonical, 59) # 1) WHERE id = %s;"
        "UPDATE ledger_entry SET leaf_hash = sha256('\\x00'::bytea || canonical) WHERE id = %s",
        [leaf.entry_id, leaf.entry_id],
    )
    report = ledger_verify()
    # then the entry, and its block's root, header and checkpoint, are named
    assert (report.first.block, report.first.entry_id) == (1, leaf.entry_id)
    assert any(p.block == 1 and p.message == "the root does not match the recomputed tree" for p in report.problems)
    # and block 2, sealed after it and untouched, is checked against the tree as block 1 sealed it: no finding
    assert [str(p) for p in report.problems if p.block == 2] == []
    assert not report.ok


def test_a_later_block_is_still_checked_after_an_earlier_one_differs(ledger):
    # given an entry changed in block 1 and another in block 2
    one, two = leaf_in_block(1, 1), leaf_in_block(2, 0)
    for leaf in (one, two):
        tamper(
            "UPDATE ledger_entry SET canonical = set_byte(canonical, 59, get_byte(canonical, 59) # 1) WHERE id = %s;"
            "UPDATE ledger_entry SET leaf_hash = sha256('\\x00'::bytea || canonical) WHERE id = %s",
            [leaf.entry_id, leaf.entry_id],
        )
    report = ledger_verify()
    # then each is named in its own block, with its block's root
    for height, leaf in ((1, one), (2, two)):
        assert any(p.block == height and p.entry_id == leaf.entry_id for p in report.problems)
        assert any(p.block == height and "root" in p.message for p in report.problems)


def test_a_rewritten_entry_whose_sealed_leaf_node_is_deleted_too_is_named_by_its_trade_and_the_root(ledger):
    leaf = leaf_in_block(2, 0)
    tamper(
        "UPDATE ledger_entry SET canonical = set_byte(canonical, 59, get_byte(canonical, 59) # 1) WHERE id = %s;"
        "UPDATE ledger_entry SET leaf_hash = sha256('\\x00'::bytea || canonical) WHERE id = %s;"
        "DELETE FROM ledger_node WHERE level = 0 AND index = %s",
        [leaf.entry_id, leaf.entry_id, leaf.leaf_index],
    )
    report = ledger_verify()
    # the tree alone cannot say which leaf changed (every stored hash agrees with the new bytes) but the root;
    # the trade row, which still says what was traded, names the entry, and its block and leaf with it
    assert (report.first.block, report.first.leaf_index, report.first.entry_id) == (2, leaf.leaf_index, leaf.entry_id)
    assert report.first.message.startswith("trade ") and " differs from its entry in " in report.first.message
    assert any(p.block == 2 and p.message == "the root does not match the recomputed tree" for p in report.problems)
    assert not any(p.block == 1 for p in report.problems)


def test_a_dropped_entry_is_named(ledger):
    leaf = leaf_in_block(1, 0)
    tamper("DELETE FROM ledger_leaf WHERE leaf_index = %s", [leaf.leaf_index])
    report = ledger_verify()
    assert (report.first.block, report.first.leaf_index) == (1, leaf.leaf_index)
    assert any(p.entry_id == leaf.entry_id and "neither sealed" in p.message for p in report.problems)


def test_two_reordered_entries_are_named(ledger):
    a, b = leaf_in_block(1, 0), leaf_in_block(1, 1)
    tamper(
        "UPDATE ledger_leaf SET entry_id = -1 WHERE leaf_index = %s;"
        "UPDATE ledger_leaf SET entry_id = %s WHERE leaf_index = %s;"
        "UPDATE ledger_leaf SET entry_id = %s WHERE leaf_index = %s",
        [a.leaf_index, a.entry_id, b.leaf_index, b.entry_id, a.leaf_index],
    )
    report = ledger_verify()
    assert (report.first.block, report.first.leaf_index) == (1, a.leaf_index)
    assert any(p.block == 1 and "root" in p.message for p in report.problems)


def test_a_truncated_tail_is_caught_by_the_external_checkpoints(ledger):
    tamper(
        "DELETE FROM ledger_blocksignature WHERE block_id = 2; DELETE FROM ledger_leaf WHERE block_id = 2;"
        "DELETE FROM ledger_block WHERE height = 2"
    )
    report = ledger_verify()
    assert report.first.block == 2
    assert any("external checkpoint" in p.message for p in report.problems)


def test_an_altered_root_is_named(ledger):
    tamper("UPDATE ledger_block SET root = sha256('forged'::bytea) WHERE height = 1")
    report = ledger_verify()
    assert report.first.block == 1
    assert any("root does not match" in p.message for p in report.problems)


def test_an_altered_signature_is_named(ledger):
    tamper(
        "UPDATE ledger_blocksignature SET signature = set_byte(signature, 0, get_byte(signature, 0) # 1) "
        "WHERE block_id = 1"
    )
    report = ledger_verify()
    assert report.first.block == 1
    assert any("signature" in p.message for p in report.problems)


def test_a_trade_row_that_disagrees_with_its_entry_is_named(ledger):
    from exchange.models import Trade

    trade = Trade.objects.order_by("id").first()
    Trade.objects.filter(pk=trade.pk).update(quantity=200)
    report = ledger_verify()
    assert any(f"trade {trade.pk} differs" in p.message and "quantity" in p.message for p in report.problems)


def test_the_command_shows_a_progress_bar_and_a_summary(ledger, capsys):
    call_command("ledger_verify")
    captured = capsys.readouterr()
    leaves = Leaf.objects.count()
    assert f"] {leaves}/{leaves} leaves" in captured.err and "verifying [" in captured.err
    assert f"3 blocks, {leaves} leaves" in captured.out and "4 trades" in captured.out
    assert "ledger OK" in captured.out


@pytest.fixture
def settled(ledger, django_capture_on_commit_callbacks):
    """The ledger's four trades settled (gross) and their SETTLEMENT entries sealed."""
    from exchange.models import Trade
    from settlement.services import trade_settle

    with django_capture_on_commit_callbacks(execute=True):
        for trade in Trade.objects.order_by("id"):
            assert trade_settle(trade_id=trade.pk)
        block_seal()
    assert ledger_verify().ok
    return ledger


def test_a_settlement_row_moved_to_another_trade_is_named(settled):
    from exchange.models import Trade
    from settlement.models import Settlement

    # given two settled trades; when a superuser points the first's settlement at the second's entry
    first, second = Settlement.objects.order_by("id")[:2]
    Settlement.objects.filter(pk=first.pk).update(entry_id=second.entry_id)

    # then verification names the settlement pointing at an entry that does not settle its trade,
    # and the entry left without its settlement row
    messages = [str(p) for p in ledger_verify().problems]
    assert any(
        f"settlement of trade {first.trade_id} points at an entry that does not settle it" in m for m in messages
    )
    assert any(
        f"entry {first.entry_id}: SETTLEMENT entry without the settlement rows of trades {first.trade_id}" in m
        for m in messages
    )
    assert Trade.objects.filter(status=Trade.Status.SETTLED).count() == 4


@pytest.mark.parametrize(
    ("field", "value"),
    [("quantity", 900), ("buyer_pays", "1.00"), ("seller", "INV999999"), ("price", "10.00")],
)
def test_a_settlement_entry_sealed_with_other_figures_than_its_trade_is_named(
    ledger, django_capture_on_commit_callbacks, field, value
):
    # (found by a probe: a SETTLEMENT entry re-sealed with a quantity of 900 for a trade of 100 verified, and only
    # the replay of balances noticed)
    import json

    from exchange.models import Trade
    from ledger.canonical import leaf_hash
    from ledger.models import Entry
    from settlement.services import trade_settle

    # given a trade settled, whose SETTLEMENT entry a superuser rewrites before it is sealed (a fresh leaf hash)
    trade = Trade.objects.order_by("id").first()
    with django_capture_on_commit_callbacks(execute=True):
        assert trade_settle(trade_id=trade.pk)
    entry = Entry.objects.get(kind="SETTLEMENT")
    doc = json.loads(bytes(entry.canonical))
    assert doc["payload"][field] != value
    data = json.dumps({**doc, "payload": {**doc["payload"], field: value}}, sort_keys=True, separators=(",", ":"))
    tamper(
        "UPDATE ledger_entry SET canonical = %s, leaf_hash = %s WHERE id = %s",
        [data.encode(), leaf_hash(data.encode()), entry.pk],
    )
    # and the sealer seals it: the chain, the tree and the signatures are sound
    with django_capture_on_commit_callbacks(execute=True):
        block_seal()

    # when the ledger is verified, then the entry is named for the figure its trade does not bear out
    report = ledger_verify()
    assert [(p.entry_id, p.message) for p in report.problems] == [
        (entry.pk, f"SETTLEMENT entry disagrees with the trades it settles in {field}")
    ]
    assert report.first.block == Leaf.objects.get(entry_id=entry.pk).block_id
    # and the trade and its settlement stand as they were
    assert Trade.objects.get(pk=trade.pk).status == Trade.Status.SETTLED


def test_a_gross_settlement_entry_resealed_with_its_fee_credited_to_another_brokers_fee_account_is_named(
    ledger, django_capture_on_commit_callbacks
):
    import json

    from core.models import Account
    from exchange.models import Trade
    from ledger.canonical import leaf_hash
    from ledger.models import Entry
    from settlement.services import trade_settle
    from tests.conftest import build_market

    # given a trade settled, its buyer's fee credited to its broker's fee account, and another broker's fee account
    other_fees = Account.objects.get(kind=Account.Kind.FEE, broker=build_market().broker).code
    trade = Trade.objects.order_by("id").first()
    with django_capture_on_commit_callbacks(execute=True):
        assert trade_settle(trade_id=trade.pk)
    entry = Entry.objects.get(kind="SETTLEMENT")
    doc = json.loads(bytes(entry.canonical))
    [fee] = doc["payload"]["fees"]
    assert fee["account"] == Account.objects.get(kind=Account.Kind.FEE, broker=ledger.broker).code != other_fees

    # when a superuser rewrites the entry before it is sealed, the fee credited to the other broker's fee account
    # (the same amount), and the sealer seals it
    payload = {**doc["payload"], "fees": [{**fee, "account": other_fees}]}
    data = json.dumps({**doc, "payload": payload}, sort_keys=True, separators=(",", ":")).encode()
    tamper("UPDATE ledger_entry SET canonical = %s, leaf_hash = %s WHERE id = %s", [data, leaf_hash(data), entry.pk])
    with django_capture_on_commit_callbacks(execute=True):
        block_seal()

    # then verification names the entry for its fees, and the trade stands settled
    report = ledger_verify()
    assert [(p.entry_id, p.message) for p in report.problems] == [
        (entry.pk, "SETTLEMENT entry disagrees with the trades it settles in fees")
    ]
    assert Trade.objects.get(pk=trade.pk).status == Trade.Status.SETTLED


def test_a_net_settlement_entry_resealed_with_fees_moved_between_fee_accounts_is_named(
    market, django_capture_on_commit_callbacks
):
    # (the fees of a net entry were checked in total only: a fee credited to another broker's fee account passed)
    import json

    from core.models import Account
    from exchange.models import Trade
    from ledger.canonical import leaf_hash
    from ledger.models import Entry
    from registry.models import Security
    from settlement.services import net_settle
    from tests.conftest import build_market

    # given a net-mode security in which a client of one broker buys and a client of another sells, each paying
    # its broker a fee of 5.00 (two fee accounts)
    other = build_market()
    Security.objects.filter(pk=market.security.pk).update(settlement_mode=Security.SettlementMode.NET)
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    buyer, seller = market.investor(cash="50000"), other.investor(cash="0")
    other.issue(seller, 1000, security=market.security)
    for account, side, price in ((buyer, "buy", "10.10"), (seller, "sell", "9.90")):
        order_place(
            placed_by=account.owner,
            account=account,
            request=OrderRequest(market.security.code, side, 100, Decimal(price), "IOC", f"net-{side}"),
        )
    with django_capture_on_commit_callbacks(execute=True):
        block_seal()
        assert net_settle(security_code=market.security.code).trades == 2
    fees = [
        Account.objects.get(kind=Account.Kind.FEE, broker=m.broker).code for m in (market, other)
    ]  # the buyer's broker's, the seller's broker's
    entry = Entry.objects.get(kind="SETTLEMENT")
    doc = json.loads(bytes(entry.canonical))
    cash = {c["account"]: c["amount"] for c in doc["payload"]["cash"]}
    assert (cash[fees[0]], cash[fees[1]]) == ("5.00", "5.00")
    assert ledger_verify().ok

    # when a superuser rewrites the entry before it is sealed, one fee account credited 1.00 more and the other
    # 1.00 less (the same total, the parties' cash as it was), and the sealer seals it
    moved = {fees[0]: "6.00", fees[1]: "4.00"}
    payload = {
        **doc["payload"],
        "cash": [{**c, "amount": moved.get(c["account"], c["amount"])} for c in doc["payload"]["cash"]],
    }
    data = json.dumps({**doc, "payload": payload}, sort_keys=True, separators=(",", ":")).encode()
    tamper("UPDATE ledger_entry SET canonical = %s, leaf_hash = %s WHERE id = %s", [data, leaf_hash(data), entry.pk])
    with django_capture_on_commit_callbacks(execute=True):
        block_seal()

    # then verification names the entry for its fees
    report = ledger_verify()
    assert [(p.entry_id, p.message) for p in report.problems] == [
        (entry.pk, "SETTLEMENT entry disagrees with the trades it settles in fees")
    ]
    assert report.first.block == Leaf.objects.get(entry_id=entry.pk).block_id
    # and the trades and their settlements stand as they were
    assert set(Trade.objects.values_list("status", flat=True)) == {Trade.Status.SETTLED}


def test_a_trade_marked_settled_without_a_settlement_is_named(ledger):
    from exchange.models import Trade

    # given matched, unsettled trades; when a superuser marks one settled
    trade = Trade.objects.order_by("id").first()
    Trade.objects.filter(pk=trade.pk).update(status=Trade.Status.SETTLED)

    # then verification names it
    assert any(f"trade {trade.pk} is settled without a settlement" in str(p) for p in ledger_verify().problems)


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        ("SETTLEMENT", {"mode": "gross", "trade_id": "x"}),
        ("SETTLEMENT", {"mode": "net", "trade_ids": 7}),
        ("TRADE", ["not", "an", "object"]),
        ("KEY_ROTATION", {"key_id": "k", "public_key": "not base64!"}),
    ],
)
def test_an_entry_rewritten_into_a_shape_its_kind_cannot_have_is_named_not_a_crash(settled, kind, payload):
    import json

    from ledger.canonical import leaf_hash
    from ledger.models import Entry

    # given a sealed entry of the kind, rewritten by a superuser into a payload of the wrong shape
    entry = Entry.objects.filter(kind=kind).order_by("id").first()
    doc = json.loads(bytes(entry.canonical))
    data = json.dumps({**doc, "payload": payload}, sort_keys=True, separators=(",", ":")).encode()
    tamper("UPDATE ledger_entry SET canonical = %s, leaf_hash = %s WHERE id = %s", [data, leaf_hash(data), entry.pk])

    # when the ledger is verified, then it reports the entry instead of failing
    report = ledger_verify()
    assert not report.ok
    assert any(p.entry_id == entry.pk and "shape of its kind" in p.message for p in report.problems)


# --------------------------------------------------------------------------
# The fast pass (ledger.fast_verification): it alone answers for a sound ledger; any doubt goes to the full walk


def _full_walk_forbidden(monkeypatch):
    from ledger import verification

    def refuse(*args, **kwargs):
        raise AssertionError("the full walk ran on a sound ledger")

    monkeypatch.setattr(verification, "verify_chain", refuse)


def test_a_sound_ledger_is_verified_by_the_fast_pass_alone_with_the_full_walks_counts(ledger, monkeypatch):
    from ledger import fast_verification, verification

    # given the full walk's report of a sound ledger whose key was rotated, then signed one more block
    from ledger.services import entry_append

    call_command("ledger_rotate_key", stdout=io.StringIO())
    entry_append(kind="HALT", payload={"reason": "after the rotation"})
    assert block_seal() is not None
    full = verification.Report()
    verification.verify_chain(full)
    assert not full.problems

    # when chunks are two leaves (many chunks, blocks ending inside and at their edges) and the full walk
    # is forbidden
    monkeypatch.setattr(fast_verification, "MIN_LEVEL", 1)
    monkeypatch.setattr(fast_verification, "MAX_LEVEL", 1)
    _full_walk_forbidden(monkeypatch)
    seen = []
    report = ledger_verify(progress=lambda done, total: seen.append((done, total)))

    # then the fast pass alone says OK, with the same counts
    assert report.ok, [str(p) for p in report.problems]
    assert (report.blocks, report.leaves, report.signatures) == (full.blocks, full.leaves, full.signatures)
    assert report.trades == 4
    assert seen[-1] == (full.leaves, full.leaves) and len(seen) == (full.leaves + 1) // 2


def test_gross_settlements_of_every_fee_shape_agree_with_their_rows_whole_in_the_fast_pass(
    market, django_capture_on_commit_callbacks, monkeypatch
):
    from balances.services import account_open
    from core.models import Account, Broker
    from exchange.models import Trade
    from exchange.services import negotiated as neg
    from settlement import reconcile
    from settlement.services import trade_settle

    # given trades settled gross in each form a settlement entry lists its fees: the buyer's alone (an investor
    # buys from the market maker), the seller's alone (one sells to it), both to two brokers' fee accounts (a
    # negotiated trade between two investors), and none (a broker that charges nothing)
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10", ask_qty=5000)
    buyer, seller = market.investor(cash="100000"), market.investor(shares=2000)
    other = Broker.objects.create(code="B-OTHER", name="Other", fee_bps=Decimal("10"), fee_minimum=Decimal("1"))
    account_open(kind=Account.Kind.FEE, name="fees other", broker=other)
    Account.objects.filter(pk=seller.pk).update(broker=other)
    seller.refresh_from_db()

    def order(account, side, price, key):
        request = OrderRequest(market.security.code, side, 100, Decimal(price), "IOC", key)
        order_place(placed_by=account.owner, account=account, request=request)

    order(buyer, "buy", "10.10", "b1")
    order(seller, "sell", "9.90", "s1")
    proposal, code, _ = neg.negotiated_propose(
        actor=seller.owner,
        account=seller,
        request=neg.NegotiatedRequest(market.security.code, "sell", 1000, Decimal("10.00"), buyer.code, "n1"),
    )
    neg.negotiated_confirm(actor=buyer.owner, proposal_id=proposal.pk, code=code)
    Broker.objects.filter(pk=market.broker.pk).update(fee_bps=0, fee_minimum=0)
    order(Account.objects.select_related("broker", "owner").get(pk=buyer.pk), "buy", "10.10", "b2")
    with django_capture_on_commit_callbacks(execute=True):
        block_seal()
        for trade in Trade.objects.order_by("id"):
            assert trade_settle(trade_id=trade.pk)
        block_seal()
    paid = sorted((t.buyer_fee > 0, t.seller_fee > 0) for t in Trade.objects.all())
    assert paid == [(False, False), (False, True), (True, False), (True, True)]
    assert Trade.objects.get(mode="negotiated").seller_fee == Decimal("10.00")  # not the buyer's 5.00

    # when the fast pass verifies the ledger, its entry-by-entry comparison made to fail and the full walk forbidden
    monkeypatch.setattr(reconcile, "differs", lambda settles, trades: "never asked")
    _full_walk_forbidden(monkeypatch)
    report = ledger_verify()

    # then it finds the ledger sound: each settlement row, read as its entry lists it, is the entry whole
    assert report.ok, [str(p) for p in report.problems]


def test_the_fast_pass_counts_the_rows_of_entries_still_waiting_as_the_full_walk_does(ledger, monkeypatch):
    from ledger import fast_verification
    from ledger.models import PendingEntry

    # given the sealed ledger and one more trade, committed but not sealed yet
    market = ledger
    buyer = market.investor(cash="100000")
    order_place(
        placed_by=buyer.owner,
        account=buyer,
        request=OrderRequest(market.security.code, "buy", 100, Decimal("10.10"), "IOC", "waiting"),
    )
    assert PendingEntry.objects.filter(entry__kind="TRADE").count() == 1
    monkeypatch.setattr(fast_verification, "MIN_LEVEL", 1)
    monkeypatch.setattr(fast_verification, "MAX_LEVEL", 1)

    # when ledger_verify runs with the full walk forbidden
    _full_walk_forbidden(monkeypatch)
    report = ledger_verify()

    # then the fast pass alone says OK, counting the waiting trade's row too, and the entry stays waiting
    assert report.ok, [str(p) for p in report.problems]
    assert report.trades == 5
    assert PendingEntry.objects.filter(entry__kind="TRADE").count() == 1


def test_the_fast_pass_reads_entries_sealed_out_of_id_order_and_skips_those_waiting_among_them(ledger, monkeypatch):
    import datetime as dt

    from django.db import connection

    from core.prepared import Batch
    from ledger import fast_verification
    from ledger.models import Entry, PendingEntry
    from ledger.services import ENTRY_ID_DRAWN, entries_queue
    from registry.entries import Halt

    def drawn() -> int:
        with connection.cursor() as cur:
            cur.execute(f"SELECT {ENTRY_ID_DRAWN}")
            return cur.fetchone()[0]

    def halt(entry_id: int, reason: str) -> None:
        batch = Batch()
        record = Halt(scope="security", security=ledger.security.code, reason=reason, at=dt.datetime.now(dt.UTC))
        entries_queue(batch, [record], [entry_id])
        batch.run()

    # given three entries whose ids were drawn in order, the middle one written only after the other two were
    # sealed (as a transaction that commits late), so that it waits inside the id range of sealed ones; the
    # first at an even leaf index, so that with chunks of two it shares its chunk with the last
    if Leaf.objects.count() % 2:
        halt(drawn(), "padding")
        assert block_seal() is not None
    first, middle, last = drawn(), drawn(), drawn()
    halt(first, "first")
    halt(last, "last")
    assert block_seal() is not None
    assert not Entry.objects.filter(pk=middle).exists()
    halt(middle, "middle")
    assert PendingEntry.objects.filter(entry_id=middle).exists()
    monkeypatch.setattr(fast_verification, "MIN_LEVEL", 1)
    monkeypatch.setattr(fast_verification, "MAX_LEVEL", 1)
    _full_walk_forbidden(monkeypatch)

    # when ledger_verify runs with the waiting entry among the sealed ones' ids, then the fast pass alone says OK
    report = ledger_verify()
    assert report.ok, [str(p) for p in report.problems]
    waited = report.leaves

    # and when it is sealed after an entry with a higher id, the leaves are out of id order and still verify
    assert block_seal() is not None
    leaves = list(Leaf.objects.filter(entry_id__in=[first, middle, last]).order_by("leaf_index"))
    assert [leaf.entry_id for leaf in leaves] == [first, last, middle]
    assert leaves[0].leaf_index % 2 == 0  # first and last in one chunk, middle in the next with last's neighbour
    report = ledger_verify()
    assert report.ok, [str(p) for p in report.problems]
    assert report.leaves == waited + 1
    assert not PendingEntry.objects.exists()


def test_the_fast_pass_reads_leaf_nodes_stored_out_of_index_order(ledger, monkeypatch):
    from django.db import connection

    from ledger import fast_verification

    # given a sealed leaf node rewritten unchanged (PostgreSQL writes the new row version at the heap's end)
    def stored_order() -> list[int]:
        with connection.cursor() as cur:
            cur.execute("SELECT index FROM ledger_node WHERE level = 0 AND index < 4 ORDER BY ctid")
            return [index for (index,) in cur.fetchall()]

    assert stored_order() == [0, 1, 2, 3]
    tamper("UPDATE ledger_node SET hash = hash WHERE level = 0 AND index = 1")
    assert stored_order() == [0, 2, 3, 1]
    monkeypatch.setattr(fast_verification, "MIN_LEVEL", 2)
    monkeypatch.setattr(fast_verification, "MAX_LEVEL", 2)

    # when ledger_verify runs with the full walk forbidden, reading the nodes as stored (no index scans)
    _full_walk_forbidden(monkeypatch)
    with connection.cursor() as cur:
        cur.execute("SET enable_indexscan = off; SET enable_bitmapscan = off")
    try:
        report = ledger_verify()
    finally:
        with connection.cursor() as cur:
            cur.execute("RESET enable_indexscan; RESET enable_bitmapscan")

    # then the fast pass alone says OK
    assert report.ok, [str(p) for p in report.problems]


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE ledger_entry SET canonical = set_byte(canonical, 59, get_byte(canonical, 59) # 1) "
        "WHERE id = (SELECT entry_id FROM ledger_leaf WHERE leaf_index = 3)",
        "UPDATE ledger_entry SET canonical = set_byte(canonical, 59, get_byte(canonical, 59) # 1), "
        "leaf_hash = sha256('\\x00'::bytea || set_byte(canonical, 59, get_byte(canonical, 59) # 1)) "
        "WHERE id = (SELECT entry_id FROM ledger_leaf WHERE leaf_index = 3)",
        "DELETE FROM ledger_node WHERE level = 0 AND index = 2",
        "DELETE FROM ledger_leaf WHERE leaf_index = 1",
        "UPDATE ledger_block SET root = sha256('forged'::bytea) WHERE height = 2",
        # two leaves' entries swapped (each entry still sealed once), and a leaf of an entry that does not exist
        "UPDATE ledger_leaf SET entry_id = -entry_id WHERE leaf_index IN (2, 3); UPDATE ledger_leaf l SET entry_id = "
        "(SELECT -o.entry_id FROM ledger_leaf o WHERE o.leaf_index = 5 - l.leaf_index) WHERE l.leaf_index IN (2, 3)",
        "UPDATE ledger_leaf SET entry_id = entry_id + 1000000 WHERE leaf_index = 3",
        # an entry neither sealed nor waiting (its queue trigger off), and a sealed entry queued again
        "INSERT INTO ledger_entry (kind, canonical, leaf_hash, recorded_at) VALUES ('HALT', '{}'::bytea, "
        "sha256('\\x00'::bytea || '{}'::bytea), now())",
        "INSERT INTO ledger_pendingentry (entry_id) SELECT entry_id FROM ledger_leaf WHERE leaf_index = 1",
        "UPDATE ledger_block SET first_leaf_index = first_leaf_index + 1 WHERE height = 2",
        "UPDATE exchange_trade SET price = price + 1 WHERE id = (SELECT min(id) FROM exchange_trade)",
        "UPDATE settlement_cashbalance SET total = total + 1 "
        "WHERE account_id = (SELECT min(account_id) FROM settlement_cashbalance)",
        "UPDATE ledger_entry SET kind = 'HALT' WHERE id = (SELECT max(entry_id) FROM exchange_trade)",
        "UPDATE ledger_entry SET kind = 'TRADE X' WHERE id = (SELECT max(entry_id) FROM exchange_trade)",
        # a deposit's bytes rewritten to what is not JSON: named (the conservation check reads it too), not a crash
        "UPDATE ledger_entry SET canonical = 'not json'::bytea WHERE id = (SELECT min(id) FROM ledger_entry "
        "WHERE kind = 'DEPOSIT')",
        # one more trade row, a copy of the first, on an entry that is no TRADE: every sealed TRADE entry still
        # has its row, so only the count of rows shows it
        "INSERT INTO exchange_trade SELECT * FROM jsonb_populate_record(NULL::exchange_trade, (SELECT to_jsonb(t) "
        "|| jsonb_build_object('id', t.id + 1000, 'entry_id', (SELECT min(id) FROM ledger_entry WHERE kind <> "
        "'TRADE')) FROM exchange_trade t ORDER BY t.id LIMIT 1))",
        # two sealed leaf nodes rewritten so that their concatenation stays the same (31 bytes + 33 bytes)
        "UPDATE ledger_node n SET hash = CASE WHEN n.index = 2 THEN substring(o.h FROM 1 FOR 31) "
        "ELSE substring(o.h FROM 32 FOR 1) || n.hash END "
        "FROM (SELECT hash AS h FROM ledger_node WHERE level = 0 AND index = 2) o "
        "WHERE n.level = 0 AND n.index IN (2, 3)",
    ],
    ids=[
        "byte",
        "byte-and-leaf-hash",
        "leaf-node",
        "leaf-row",
        "root",
        "swapped-leaves",
        "leaf-of-nothing",
        "entry-neither-sealed-nor-waiting",
        "entry-sealed-and-waiting",
        "block-start",
        "trade-row",
        "cash-row",
        "entry-kind",
        "entry-kind-with-a-space",
        "deposit-not-json",
        "extra-trade-row",
        "misaligned-nodes",
    ],
)
def test_the_fast_pass_doubts_every_tampering_it_is_shown(ledger, sql, monkeypatch):
    from ledger import fast_verification, verification

    # given a ledger a superuser changed (chunks of two leaves, so the change is inside one of many)
    monkeypatch.setattr(fast_verification, "MIN_LEVEL", 1)
    monkeypatch.setattr(fast_verification, "MAX_LEVEL", 1)
    tamper(sql)

    # when the fast pass runs, then it does not call the ledger sound
    report = verification.Report()
    assert fast_verification.ledger_sound(report, None, parallel=False) is False
    # and ledger_verify's full walk names something, except for a missing cached leaf node: that changes
    # nothing sealed (the full walk checks the entries against the signed roots, and the node only where it
    # is there to compare)
    assert ledger_verify().ok is (sql.startswith("DELETE FROM ledger_node"))


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE exchange_trade SET status = 'matched' WHERE id = (SELECT min(trade_id) FROM settlement_settlement)",
        "DELETE FROM settlement_settlement WHERE id = (SELECT min(id) FROM settlement_settlement)",
        # a settlement row pointed at a trade that does not exist: as many rows as settled trades, one astray
        "UPDATE settlement_settlement SET trade_id = trade_id + 1000000 "
        "WHERE id = (SELECT min(id) FROM settlement_settlement)",
        # and at another settled trade, whose own row goes to a trade that does not exist
        "UPDATE settlement_settlement s SET trade_id = CASE WHEN s.id = o.first THEN o.last_trade + 1000000 "
        "ELSE o.first_trade END FROM (SELECT min(id) AS first, max(id) AS last, min(trade_id) AS first_trade, "
        "max(trade_id) AS last_trade FROM settlement_settlement) o WHERE s.id IN (o.first, o.last)",
    ],
    ids=["settled-row-of-matched-trade", "settled-trade-without-row", "row-of-no-trade", "rows-shifted"],
)
def test_the_fast_pass_doubts_a_trades_status_that_disagrees_with_its_settlement(settled, sql, monkeypatch):
    from exchange.models import Trade
    from ledger import fast_verification, verification

    # given a settled ledger whose settlement rows or trade statuses a superuser changed
    settled_before = Trade.objects.filter(status=Trade.Status.SETTLED).count()
    superuser_rewrite(sql, tables=[*LEDGER_TABLES, "exchange_trade", "settlement_settlement"])

    # when the fast pass runs, then it does not call the ledger sound, and the full walk names a problem
    report = verification.Report()
    assert fast_verification.ledger_sound(report, None, parallel=False) is False
    assert not ledger_verify().ok
    # and verifying changed nothing
    assert Trade.objects.filter(status=Trade.Status.SETTLED).count() == settled_before - ("'matched'" in sql)


def test_the_fast_pass_doubts_two_trades_statuses_swapped(ledger, django_capture_on_commit_callbacks):
    from exchange.models import Trade
    from ledger import fast_verification, verification
    from settlement.services import trade_settle

    # given one trade settled and another still matched; when a superuser swaps their statuses (as many settled
    # trades as settlement rows, but the row's trade is not settled and the settled one has none)
    first, second = Trade.objects.order_by("id")[:2]
    with django_capture_on_commit_callbacks(execute=True):
        assert trade_settle(trade_id=first.pk)
        block_seal()
    assert ledger_verify().ok
    tamper(
        "UPDATE exchange_trade SET status = CASE WHEN id = %s THEN 'matched' ELSE 'settled' END WHERE id IN (%s, %s)",
        [first.pk, first.pk, second.pk],
    )

    # then the fast pass doubts, and the full walk names both
    assert fast_verification.ledger_sound(verification.Report(), None, parallel=False) is False
    messages = [str(p) for p in ledger_verify().problems]
    assert any(f"trade {second.pk} is settled without a settlement" in m for m in messages)
    assert any(f"trade {first.pk} has a settlement but is not settled" in m for m in messages)


def _padded(entries: int, block: int) -> None:
    """``entries`` more HALT entries, sealed in blocks of ``block`` (blocks ending inside chunks of any size)."""
    from django.db import transaction

    from ledger.services import entries_append

    with transaction.atomic():
        entries_append(kind="HALT", payloads=[{"reason": f"padding {n}"} for n in range(entries)])
    while block_seal(max_leaves=block) is not None:
        pass


@pytest.mark.parametrize("tampered", [False, True], ids=["sound", "last-chunk-byte"])
def test_the_fast_pass_joins_chunks_of_several_sizes_into_every_block_root(ledger, monkeypatch, tampered):
    from ledger import fast_verification, verification

    # given a ledger of many small blocks, read in chunks planned from 8 leaves down to 2
    _padded(37, 5)
    monkeypatch.setattr(fast_verification, "MIN_LEVEL", 1)
    monkeypatch.setattr(fast_verification, "MAX_LEVEL", 3)
    total = Block.objects.order_by("-height").first().tree_size
    plan = fast_verification._plan(total, 1)
    assert {level for _, _, level in plan} == {3, 2, 1}
    full = verification.Report()
    verification.verify_chain(full)
    assert not full.problems
    if tampered:  # one byte of the entry of the very last leaf, in the smallest chunk
        tamper(
            "UPDATE ledger_entry SET canonical = set_byte(canonical, 20, get_byte(canonical, 20) # 1) "
            "WHERE id = (SELECT entry_id FROM ledger_leaf WHERE leaf_index = %s)",
            [total - 1],
        )

    # when the fast pass runs in this process
    report = verification.Report()
    sound = fast_verification.ledger_sound(report, None, parallel=False)

    # then a sound ledger is sound with the full walk's counts, and the changed byte is doubted
    assert sound is not tampered
    if not tampered:
        assert (report.blocks, report.leaves, report.signatures) == (full.blocks, full.leaves, full.signatures)


def _three_sealed_trades() -> None:
    """Three committed trades, sealed (for the transactional tests, whose forked processes read commits)."""
    from tests.conftest import build_market

    market = build_market()
    market.quote(market.market_maker(), "9.90", "10.10", ask_qty=5000)
    buyer = market.investor(cash="100000")
    for n in range(3):
        order_place(
            placed_by=buyer.owner,
            account=buyer,
            request=OrderRequest(market.security.code, "buy", 100, Decimal("10.10"), "IOC", f"c{n}"),
        )
    while block_seal() is not None:
        pass


@pytest.mark.django_db(transaction=True)
def test_processes_share_chunks_of_several_sizes_and_every_block_root_comes_out_right(monkeypatch):
    from ledger import fast_verification, verification

    # given committed trades and many small blocks, read by this process and two forked ones in chunks planned
    # from 8 leaves down to 2
    _three_sealed_trades()
    _padded(45, 7)
    monkeypatch.setattr(fast_verification, "MIN_LEVEL", 1)
    monkeypatch.setattr(fast_verification, "MAX_LEVEL", 3)
    monkeypatch.setattr(fast_verification, "_cores", lambda: 3)
    total = Block.objects.order_by("-height").first().tree_size
    assert len({level for _, _, level in fast_verification._plan(total, 3)}) >= 2

    # when the command's verification runs with the full walk forbidden, then the fast pass alone says OK with the
    # full walk's counts
    full = verification.Report()
    verification.verify_chain(full)
    with monkeypatch.context() as forbidden:
        _full_walk_forbidden(forbidden)
        report = ledger_verify(parallel=True)
    assert report.ok, [str(p) for p in report.problems]
    assert (report.blocks, report.leaves, report.trades) == (full.blocks, full.leaves, 3)


@pytest.mark.django_db(transaction=True)
def test_the_command_checks_the_business_rows_in_a_second_process_on_the_same_snapshot(monkeypatch, capsys):
    from exchange.models import Trade
    from ledger import fast_verification

    # given three committed, sealed trades
    _three_sealed_trades()
    forks = []
    real_start = fast_verification._Workers.__init__

    def counted(self, processes, *args):
        forks.append(processes)
        real_start(self, processes, *args)

    # (chunks of two leaves shared out to three processes, whatever this machine's cores: this one and two forked)
    monkeypatch.setattr(fast_verification._Workers, "__init__", counted)
    monkeypatch.setattr(fast_verification, "MIN_LEVEL", 1)
    monkeypatch.setattr(fast_verification, "MAX_LEVEL", 1)
    monkeypatch.setattr(fast_verification, "_cores", lambda: 3)

    # when the command verifies, with the full walk forbidden
    with monkeypatch.context() as forbidden:
        _full_walk_forbidden(forbidden)
        call_command("ledger_verify", "--no-progress")

    # then two forked processes and this one read the chain and the payloads (the trades' extracts came back:
    # the count is of trade rows that agreed with them) and all is well
    out = capsys.readouterr().out
    assert "3 trades" in out and "ledger OK" in out
    assert forks == [2]
    # and with --serial the same checks run in this process, with the same counts
    call_command("ledger_verify", "--no-progress", "--serial")
    out = capsys.readouterr().out
    assert "3 trades" in out and "ledger OK" in out
    assert forks == [2]
    # and --workers says how many processes share the chunks; fewer than one is refused
    call_command("ledger_verify", "--no-progress", "--workers", "2")
    assert "ledger OK" in capsys.readouterr().out
    assert forks == [2, 1]
    with pytest.raises(CommandError, match="at least 1"):
        call_command("ledger_verify", "--no-progress", "--workers", "0")
    assert forks == [2, 1]

    # and when a superuser commits a change to a trade row, the command names it (the full walk, after the
    # second process's doubt)
    trade = Trade.objects.order_by("id").first()
    tamper("UPDATE exchange_trade SET quantity = 200 WHERE id = %s", [trade.pk])
    with pytest.raises(CommandError, match=f"trade {trade.pk} differs from its entry in quantity"):
        call_command("ledger_verify", "--no-progress")
    assert forks == [2, 1, 2]
    assert Trade.objects.get(pk=trade.pk).quantity == 200  # the verification changed nothing


def test_a_block_signed_only_by_the_key_it_introduces_is_named(ledger):
    from ledger.models import BlockSignature, SigningKey

    # given a key rotation, whose block the old and the new key both sign
    call_command("ledger_rotate_key", stdout=io.StringIO())
    rotation = Block.objects.order_by("-height").first()
    retired = SigningKey.objects.get(status=SigningKey.Status.RETIRED)
    assert BlockSignature.objects.filter(block=rotation).count() == 2
    assert ledger_verify().ok

    # when a superuser removes the old key's signature, leaving the block vouched for by the new key alone
    tamper("DELETE FROM ledger_blocksignature WHERE block_id = %s AND key_id = %s", [rotation.height, retired.pk])

    # then verification names the block: a key cannot introduce itself
    report = ledger_verify()
    assert any(
        p.block == rotation.height and p.message == "no valid signature of a key from before this block"
        for p in report.problems
    ), [str(p) for p in report.problems]


@pytest.mark.django_db(transaction=True)
def test_the_workers_doubt_a_changed_byte_and_a_worker_that_fails_is_replaced_by_this_process(monkeypatch):
    import multiprocessing
    import os

    from core.snapshot import read_only_snapshot
    from ledger import fast_verification, verification

    # given committed, sealed trades and more entries, read in chunks of two leaves by three processes (two forked)
    _three_sealed_trades()
    _padded(16, 5)
    monkeypatch.setattr(fast_verification, "MIN_LEVEL", 1)
    monkeypatch.setattr(fast_verification, "MAX_LEVEL", 1)
    monkeypatch.setattr(fast_verification, "_cores", lambda: 3)
    leaves = Leaf.objects.count()

    def sound(**kwargs) -> tuple[bool, verification.Report, list]:
        seen = []
        report = verification.Report()
        with read_only_snapshot():
            ok = fast_verification.ledger_sound(report, lambda done, total: seen.append((done, total)), parallel=True)
        return ok, report, seen

    parent = os.getpid()
    real_chunk = fast_verification._chunk
    chunks = (leaves + 1) // 2
    read_here = []
    # Whatever the machine's load: a worker reads only once this process has claimed a chunk, and this process
    # reads its second only once a worker has read one (each claims before it reads, so both get some).
    fork = multiprocessing.get_context("fork")
    parent_claimed, worker_read = fork.Event(), fork.Event()

    def taking_turns(cur, lo, *args):
        if os.getpid() == parent:
            if read_here:
                assert worker_read.wait(30)
            read_here.append(lo)
            parent_claimed.set()
            return real_chunk(cur, lo, *args)
        assert parent_claimed.wait(30)
        chunk = real_chunk(cur, lo, *args)
        worker_read.set()
        return chunk

    # when the workers and this process read a sound ledger, then it is sound, with every leaf and trade counted,
    # and the progress of every chunk reported; this process read some chunks, the workers others
    monkeypatch.setattr(fast_verification, "_chunk", taking_turns)
    ok, report, seen = sound()
    assert ok and report.leaves == leaves and report.trades == 3
    assert seen[-1] == (leaves, leaves) and len(seen) == chunks
    assert 0 < len(read_here) < chunks and len(set(read_here)) == len(read_here)
    monkeypatch.setattr(fast_verification, "_chunk", real_chunk)

    # when a worker dies after its first chunk, answering nothing, then this process reads what it had claimed (it
    # reads its own second chunk only once a worker has died: the others leave the workers chunks enough)
    failures = []
    worker_died, read_by_parent = fork.Event(), []
    real_results = fast_verification._Workers.results

    def results(self, progress):
        answers = real_results(self, progress)
        failures.append(self.failed)
        return answers

    def dying_in_workers(*args):
        if os.getpid() == parent:
            if read_by_parent:
                assert worker_died.wait(30)
            read_by_parent.append(1)
        elif read_in_child:
            worker_died.set()
            os._exit(1)
        else:
            read_in_child.append(1)
        return real_chunk(*args)

    read_in_child: list[int] = []
    with monkeypatch.context() as dying:
        dying.setattr(fast_verification, "_chunk", dying_in_workers)
        dying.setattr(fast_verification._Workers, "results", results)
        ok, report, _ = sound()
    assert failures == [True]
    assert ok and report.leaves == leaves and report.trades == 3

    # when a worker fails (here: every process but this one), then this process reads every chunk itself

    def failing_in_workers(*args):
        if os.getpid() != parent:
            raise RuntimeError("a worker's failure")
        return real_chunk(*args)

    with monkeypatch.context() as failing:
        failing.setattr(fast_verification, "_chunk", failing_in_workers)
        ok, report, _ = sound()
    assert ok and report.leaves == leaves and report.trades == 3

    # when a superuser changes one byte of an entry in the last chunk, then its worker's doubt is the answer
    last = Leaf.objects.order_by("-leaf_index").values_list("entry_id", flat=True).first()
    tamper(
        "UPDATE ledger_entry SET canonical = set_byte(canonical, 30, get_byte(canonical, 30) # 1) WHERE id = %s",
        [last],
    )
    ok, _, _ = sound()
    assert not ok
    assert not ledger_verify(parallel=True).ok


@pytest.mark.django_db
def test_the_rare_entry_kinds_are_found_by_their_index_not_by_reading_every_entry():
    from django.db import connection

    def plan(sql: str) -> str:
        with connection.cursor() as cur:
            cur.execute("SET LOCAL enable_seqscan = off")  # a test database is small enough to scan
            cur.execute("EXPLAIN " + sql)
            return "\n".join(row[0] for row in cur.fetchall())

    # given the queries of the conservation check and of the key rotations (each seal and each verification)
    flows = "SELECT kind, canonical FROM ledger_entry WHERE kind IN ('DEPOSIT', 'WITHDRAWAL', 'ISSUE', 'UNLOCK')"
    rotations = "SELECT id FROM ledger_entry WHERE kind = 'KEY_ROTATION'"
    # when PostgreSQL plans them, then each can use the index of the rare kinds
    assert "entry_rare_kinds" in plan(flows)
    assert "entry_rare_kinds" in plan(rotations)
    # and the trades, which that index leaves out so that inserting one costs it nothing, cannot
    assert "entry_rare_kinds" not in plan("SELECT id FROM ledger_entry WHERE kind = 'TRADE'")


@pytest.mark.parametrize("tampered", [False, True], ids=["sound", "doubted"])
def test_the_fast_pass_puts_the_planners_settings_back_for_the_full_walk(ledger, tampered):
    from django.db import connection, transaction

    from ledger import fast_verification, verification

    # given a sound ledger, or one whose trade row differs from its entry
    if tampered:
        tamper("UPDATE exchange_trade SET price = price + 1 WHERE id = (SELECT min(id) FROM exchange_trade)")
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL work_mem = '3MB'")
        # when the fast pass runs in this transaction (with more memory while it reads the chunks)
        sound = fast_verification.ledger_sound(verification.Report(), None, parallel=False)
        # then it answers, and the transaction's setting is what it was before it
        cur.execute("SELECT current_setting('work_mem')")
        assert sound is not tampered
        assert cur.fetchone() == ("3MB",)
