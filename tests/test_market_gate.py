"""The market switch's gate (registry.gate) on real PostgreSQL, with committed transactions on their own threads:
a market halt waits for the orders and settlements that read the market open, and those that come while it is
being made wait for it and then read the market halted. (Found by a probe: trades matched after a market HALT
entry, by orders that had read the switch just before the halt committed.)"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connections

from balances.models import CashBalance
from core import errors as err
from core.models import Role
from exchange.models import Order, Trade
from exchange.services import OrderRequest, order_place
from ledger.models import Entry
from ledger.services import block_seal
from registry import gate, services
from registry.models import MarketState
from settlement.models import Settlement
from settlement.services import trade_settle, trades_settle
from tests.conftest import build_market

pytestmark = pytest.mark.django_db(transaction=True)

D = Decimal


def _pause_after(monkeypatch, owner, name):
    """Wrap ``owner.name`` so that its first call, once it returned, waits for ``release`` (``held`` is set then).
    The caller's transaction stays open meanwhile, holding what it has locked."""
    held, release = threading.Event(), threading.Event()
    real = getattr(owner, name)
    calls = []

    def paused(*args, **kwargs):
        result = real(*args, **kwargs)
        calls.append(1)
        if len(calls) == 1:
            held.set()
            assert release.wait(10)
        return result

    monkeypatch.setattr(owner, name, paused)
    return held, release


def _on_thread(fn):
    def call():
        try:
            return fn()
        except err.DomainError as exc:
            return exc
        finally:
            connections.close_all()

    return call


def _given_a_quote_and_an_investor():
    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="50000")
    operator = market.user(Role.EXCHANGE_OPERATOR)
    return market, investor, operator


def _buy(market, investor):
    def buy():
        request = OrderRequest(market.security.code, "buy", 100, D("10.10"), "IOC", "gate-1")
        return order_place(placed_by=investor.owner, account=investor, request=request)[0]

    return buy


def _halt(operator):
    return lambda: services.market_halt(actor=operator, reason="Systems incident")


def _entry_ids(kind):
    return list(Entry.objects.filter(kind=kind).order_by("id").values_list("id", flat=True))


def _race(first, second, held, release):
    """Start ``first``; once it is held, start ``second``; tell whether ``second`` waited for ``first``; release."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        one = pool.submit(_on_thread(first))
        assert held.wait(10)
        two = pool.submit(_on_thread(second))
        time.sleep(0.5)
        waited = not two.done()
        release.set()
        return waited, one.result(10), two.result(10)


def test_a_market_halt_waits_for_an_order_that_read_the_market_open(monkeypatch):
    market, investor, operator = _given_a_quote_and_an_investor()
    from exchange.services import orders

    # given an order that has locked its security and read the market open, and has not committed
    held, release = _pause_after(monkeypatch, orders, "lock_security")
    # when the operator halts the market meanwhile
    waited, order, state = _race(_buy(market, investor), _halt(operator), held, release)

    # then the halt waited for the order, which traded: its TRADE entry comes before the HALT entry
    assert waited is True
    assert (order.status, state.halted) == (Order.Status.FILLED, True)
    trade = Trade.objects.get()
    assert _entry_ids("TRADE") == [trade.entry_id]
    assert trade.entry_id < _entry_ids("HALT")[0]
    assert trade.matched_at <= MarketState.objects.get().changed_at


def test_an_order_that_comes_while_the_market_is_being_halted_waits_and_is_refused(monkeypatch):
    market, investor, operator = _given_a_quote_and_an_investor()
    cash_before = CashBalance.objects.filter(account=investor).values_list("total", "reserved").get()

    # given a market halt that has written its HALT entry and has not committed
    held, release = _pause_after(monkeypatch, services, "audit_record")
    # when an investor's order comes meanwhile
    waited, state, refused = _race(_halt(operator), _buy(market, investor), held, release)

    # then the order waited for the halt and was refused: no order, no trade, no cash held
    assert waited is True
    assert state.halted is True
    assert isinstance(refused, err.MarketHalted)
    assert not Order.objects.exists()
    assert not Trade.objects.exists()
    assert CashBalance.objects.filter(account=investor).values_list("total", "reserved").get() == cash_before


def _a_sealed_trade(market, investor):
    _buy(market, investor)()
    block_seal()
    return Trade.objects.get()


SETTLES = {
    "one by one": lambda trade: lambda: trade_settle(trade_id=trade.pk),
    "in a batch": lambda trade: lambda: trades_settle(trade_ids=[trade.pk]),
}


@pytest.mark.parametrize("how", list(SETTLES))
def test_a_settlement_that_comes_while_the_market_is_being_halted_waits_and_leaves_the_trade_pending(monkeypatch, how):
    market, investor, operator = _given_a_quote_and_an_investor()
    trade = _a_sealed_trade(market, investor)

    # given a market halt that has not committed
    held, release = _pause_after(monkeypatch, services, "audit_record")
    # when a worker settles the trade meanwhile
    waited, _state, settled = _race(_halt(operator), SETTLES[how](trade), held, release)

    # then the settlement waited for the halt, read the market halted and moved nothing
    assert waited is True
    assert settled in (False, 0)
    trade.refresh_from_db()
    assert trade.status == Trade.Status.MATCHED
    assert not Settlement.objects.exists()
    assert _entry_ids("SETTLEMENT") == []


@pytest.mark.parametrize("how", list(SETTLES))
def test_a_market_halt_waits_for_a_settlement_that_read_the_market_open(monkeypatch, how):
    market, investor, operator = _given_a_quote_and_an_investor()
    trade = _a_sealed_trade(market, investor)

    # given a settlement that has read the market open and has not committed
    held, release = _pause_after(monkeypatch, gate, "halted")
    # when the operator halts the market meanwhile
    waited, settled, state = _race(SETTLES[how](trade), _halt(operator), held, release)

    # then the halt waited for the settlement, which settled: its entry comes before the HALT entry
    assert waited is True
    assert settled in (True, 1)
    assert state.halted is True
    assert Settlement.objects.get().trade_id == trade.pk
    assert _entry_ids("SETTLEMENT")[0] < _entry_ids("HALT")[0]
