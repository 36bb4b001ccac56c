"""Races on real PostgreSQL with committed transactions (one connection per thread)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.db.models import Sum

from balances.models import CashBalance, Position
from core.errors import DomainError
from exchange.models import Order, Quote, Trade
from exchange.services import OrderRequest, order_place
from tests.conftest import build_market

pytestmark = pytest.mark.django_db(transaction=True)


def run_concurrently(fns):
    """Start every callable at the same moment, each on its own thread and DB connection."""
    barrier = threading.Barrier(len(fns))

    def call(fn):
        try:
            barrier.wait()
            return fn()
        except DomainError as exc:
            return exc
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(fns)) as pool:
        return list(pool.map(call, fns))


def assert_no_negative_available():
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM settlement_cashbalance WHERE total - reserved - frozen < 0")
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT count(*) FROM settlement_position WHERE total - reserved - frozen - locked < 0")
        assert cur.fetchone()[0] == 0


def test_twenty_concurrent_buyers_never_fill_more_than_the_quote():
    # given one ask of 1,000 shares and 20 buyers who each want 100
    market = build_market()
    mm = market.market_maker()
    ask = market.quote(mm, "9.90", "10.10", ask_qty=1000).ask
    buyers = [market.investor(cash="5000") for _ in range(20)]
    mm_shares_reserved = Position.objects.get(account=mm, security=market.security).reserved

    def buy(account):
        return lambda: order_place(
            placed_by=account.owner,
            account=account,
            request=OrderRequest(market.security.code, "buy", 100, Decimal("10.10"), "IOC", "race"),
        )

    # when they all buy at once
    results = run_concurrently([buy(b) for b in buyers])

    # then exactly 1,000 shares traded: ten buyers filled, ten cancelled with nothing
    orders = [order for order, _created in results]
    assert sum(o.filled_quantity for o in orders) == 1000
    assert sorted(o.status for o in orders) == ["cancelled"] * 10 + ["filled"] * 10
    ask.refresh_from_db()
    assert (ask.quantity, ask.status) == (0, Quote.Status.FILLED)
    assert Trade.objects.aggregate(q=Sum("quantity"))["q"] == 1000
    # each filled buyer holds exactly its obligation, each unfilled one holds nothing
    for order in orders:
        reserved = CashBalance.objects.get(account_id=order.account_id).reserved
        assert reserved == (Decimal("1015.00") if order.filled_quantity else Decimal("0.00"))
    # the market maker's share reservation is unchanged: the fills became obligations
    assert Position.objects.get(account=mm, security=market.security).reserved == mm_shares_reserved
    assert_no_negative_available()


def test_concurrent_orders_of_one_investor_never_overspend():
    # given an investor with cash for exactly two 100-share orders, across two securities
    market = build_market()
    other = market.new_security("S-RACE2")
    mm = market.market_maker()
    market.issue(mm, 50_000, security=other)
    market.quote(mm, "9.90", "10.10")
    market.quote(mm, "9.90", "10.10", security=other)
    investor = market.investor(cash="2030.00")  # 2 × (1010.00 + 5.00)

    def buy(code, n):
        return lambda: order_place(
            placed_by=investor.owner,
            account=investor,
            request=OrderRequest(code, "buy", 100, Decimal("10.10"), "DAY", f"o{n}"),
        )

    # when it sends eight orders at once
    results = run_concurrently([buy((market.security, other)[n % 2].code, n) for n in range(8)])

    # then two are accepted and six are refused for lack of cash
    accepted = [r for r in results if isinstance(r, tuple)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(accepted) == 2 and len(refused) == 6
    assert {e.code for e in refused} == {"insufficient_cash"}
    cash = CashBalance.objects.get(account=investor)
    assert (cash.total, cash.reserved) == (Decimal("2030.00"), Decimal("2030.00"))
    assert_no_negative_available()


def test_concurrent_retries_of_one_client_order_id_make_one_order():
    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="100000")

    def place():
        return order_place(
            placed_by=investor.owner,
            account=investor,
            request=OrderRequest(market.security.code, "buy", 100, Decimal("10.10"), "IOC", "retry-me"),
        )

    results = run_concurrently([place] * 6)

    assert len({order.pk for order, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert Order.objects.filter(account=investor).count() == 1
    assert Trade.objects.count() == 1
