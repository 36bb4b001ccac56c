"""The whole-ledger checks run on a live exchange: each reads one snapshot, so changes committed while it runs
are neither half-seen nor reported as damage (PostgreSQL, committed transactions, a second connection)."""

from __future__ import annotations

import threading
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.db import connections

from balances import replay
from balances.services import cash_deposit
from exchange.models import Trade
from exchange.services import OrderRequest, order_place
from ledger import verification
from ledger.models import Entry, Leaf, PendingEntry
from ledger.services import block_seal
from settlement.models import Settlement
from settlement.services import trade_settle
from tests.conftest import build_market, cash_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live():
    """A market with one sealed trade; ``live.moves()`` deposits, matches, seals and settles on another connection."""
    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10", ask_qty=5000)
    buyer = market.investor(cash="100000")

    def buy(ref: str) -> None:
        order_place(
            placed_by=buyer.owner,
            account=buyer,
            request=OrderRequest(market.security.code, "buy", 100, Decimal("10.10"), "IOC", ref),
        )

    def activity() -> None:
        try:
            cash_deposit(actor=market.staff, account=buyer, amount=Decimal("500.00"))
            buy(f"during-{Trade.objects.count()}")
            while block_seal() is not None:
                pass
            for trade in Trade.objects.filter(status=Trade.Status.MATCHED):
                trade_settle(trade_id=trade.pk)
            while block_seal() is not None:
                pass
        finally:
            connections.close_all()

    def moves() -> None:
        worker = threading.Thread(target=activity)
        worker.start()
        worker.join()

    buy("before")
    while block_seal() is not None:
        pass
    return SimpleNamespace(market=market, buyer=buyer, moves=moves)


def test_verification_judges_the_ledger_as_it_was_when_it_began(live, monkeypatch):
    # given verification that, after reading the chain and before checking trades and cash, lets the exchange
    # deposit, match, seal and settle on another connection (all committed)
    chain_checked = verification.verify_external_checkpoints

    def exchange_moves_meanwhile(*args, **kwargs):
        live.moves()
        return chain_checked(*args, **kwargs)

    monkeypatch.setattr(verification, "verify_external_checkpoints", exchange_moves_meanwhile)

    # when it runs
    during = verification.ledger_verify()

    # then nothing is reported and the new trade was not seen, though it is now sealed and settled
    assert during.ok, [str(p) for p in during.problems]
    assert during.trades == 1
    assert Entry.objects.filter(kind="TRADE").count() == 2 and not PendingEntry.objects.exists()

    # and the next verification sees both trades, and is just as clean
    monkeypatch.undo()
    after = verification.ledger_verify()
    assert after.ok, [str(p) for p in after.problems]
    assert (after.trades, after.leaves) == (2, Leaf.objects.count())


def test_the_replay_compares_balances_and_entries_of_one_moment(live, monkeypatch):
    # given a replay that, after rebuilding balances from the ledger and before reading the balance tables,
    # lets the exchange deposit, match, seal and settle on another connection
    rebuilt = replay.reserved_expected
    cash_before = cash_of(live.buyer).total

    def exchange_moves_meanwhile():
        live.moves()
        return rebuilt()

    monkeypatch.setattr(replay, "reserved_expected", exchange_moves_meanwhile)

    # when it runs
    during = replay.replay_check()

    # then it finds no difference, though the buyer's cash moved in between (a deposit, both trades settled)
    assert during == []
    assert Settlement.objects.count() == 2
    assert cash_of(live.buyer).total == cash_before + Decimal("500.00") - 2 * (Decimal("1010.00") + Decimal("5.00"))

    # and the next replay, with all of it, agrees too
    monkeypatch.undo()
    assert replay.replay_check() == []


@pytest.mark.usefixtures("shanghai_day_held")  # the deposit, the trades and the statement's day one day
def test_a_client_statement_is_of_one_moment(live, monkeypatch):
    # given a statement for today that, after reading the ledger entries and before reading the trades, lets the
    # exchange deposit, match, seal and settle on another connection
    # (the one statement builder, which the counter and the investor's own page both use)
    from settlement import statements

    today = statements.timezone.now().astimezone(statements.BEIJING).date()
    trades_of = statements.account_trades

    def exchange_moves_meanwhile(account):
        live.moves()
        return trades_of(account)

    monkeypatch.setattr(statements, "account_trades", exchange_moves_meanwhile)

    # when it is built
    statement = statements.account_statement(live.buyer, today, today)

    # then it shows the deposit, trade and cash of the moment it began, not a mix of before and after
    assert [t.id for t in statement.trades] == [Trade.objects.order_by("id").first().pk]
    assert [m.kind for m in statement.movements] == ["deposit"]
    assert statement.closing_cash == Decimal("100000.00")
    assert Settlement.objects.count() == 2  # though both trades have settled since
