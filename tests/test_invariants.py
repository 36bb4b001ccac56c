"""Random sequences of market actions keep every balance invariant (hypothesis, PostgreSQL).

After every step:
* no available balance is negative (PostgreSQL would have refused it anyway);
* each reserved balance is exactly what its open orders, active quotes and
  unsettled trades hold;
* each order's filled quantity, filled value and commission are its trades' (these sequences correct no trade: a
  correction of a fill of an open order moves the order's sums, ``tests/test_supervision.py``);
* cash is conserved (sum of totals = deposits − withdrawals on the ledger) and
  so is each security (sum of holdings = issued = ISSUE entries).
"""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal

from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from balances.models import CashBalance, Position
from balances.services import cash_deposit, cash_withdraw
from core.errors import DomainError
from core.models import Account
from exchange.models import Order, Quote, Trade
from exchange.services import OrderRequest, order_cancel, order_place, quotes_pull
from ledger.models import Entry
from registry.models import Security
from tests.conftest import build_market, rows_written


def assert_balances_consistent() -> None:
    cash_expected: dict[int, Decimal] = defaultdict(lambda: Decimal("0.00"))
    shares_expected: dict[tuple[int, int], int] = defaultdict(int)
    for o in Order.objects.filter(status__in=Order.OPEN_STATUSES):
        if o.side == "buy":
            cash_expected[o.account_id] += o.reserved_cash
        else:
            shares_expected[(o.account_id, o.security_id)] += o.quantity - o.filled_quantity
    for q in Quote.objects.filter(status=Quote.Status.ACTIVE):
        if q.side == "bid":
            cash_expected[q.account_id] += q.price * q.quantity
        else:
            shares_expected[(q.account_id, q.security_id)] += q.quantity
    for t in Trade.objects.filter(status=Trade.Status.MATCHED):
        cash_expected[t.buyer_id] += t.price * t.quantity + t.buyer_fee
        shares_expected[(t.seller_id, t.security_id)] += t.quantity

    # each order's filled value and commission are its trades' (one minimum an order, never more than reserved)
    for o in Order.objects.prefetch_related("buy_trades", "sell_trades"):
        trades = list(o.buy_trades.all() if o.side == "buy" else o.sell_trades.all())
        assert o.filled_quantity == sum(t.quantity for t in trades), o.pk
        assert o.filled_value == sum((t.price * t.quantity for t in trades), Decimal("0.00")), o.pk
        assert o.fees == sum((t.buyer_fee if o.side == "buy" else t.seller_fee for t in trades), Decimal("0.00")), o.pk

    for cash in CashBalance.objects.all():
        assert cash.available >= 0
        assert cash.reserved == cash_expected[cash.account_id], cash.account_id
    for pos in Position.objects.all():
        assert pos.available >= 0
        assert pos.reserved == shares_expected[(pos.account_id, pos.security_id)]

    flows = Decimal("0.00")
    issued: dict[str, int] = defaultdict(int)
    for entry in Entry.objects.filter(kind__in=["DEPOSIT", "WITHDRAWAL", "ISSUE"]):
        payload = json.loads(bytes(entry.canonical))["payload"]
        if entry.kind == "ISSUE":
            issued[payload["security"]] += payload["quantity"]
        else:
            flows += Decimal(payload["amount"]) * (1 if entry.kind == "DEPOSIT" else -1)
    assert sum(c.total for c in CashBalance.objects.all()) == flows
    for security in Security.objects.all():
        held = sum(p.total for p in Position.objects.filter(security=security))
        assert held == security.issued_quantity == issued[security.code]


prices = st.integers(min_value=-40, max_value=40)  # ticks around the 10.00 reference
actions = st.lists(
    st.one_of(
        st.tuples(
            st.just("quote"), st.integers(0, 1), prices, st.integers(1, 30), st.integers(1, 20), st.integers(1, 20)
        ),
        st.tuples(
            st.just("order"),
            st.integers(0, 2),
            st.sampled_from(["buy", "sell"]),
            st.integers(1, 15),
            prices,
            st.sampled_from(["IOC", "DAY"]),
        ),
        st.tuples(st.just("cancel"), st.integers(0, 20)),
        st.tuples(st.just("pull"), st.integers(0, 1)),
        st.tuples(st.just("cash"), st.integers(0, 2), st.integers(-5000, 5000)),
    ),
    max_size=25,
)


def test_random_market_activity_keeps_balances_consistent(db):
    # given one market, built once: each example's steps run in a savepoint rolled back after them
    market = build_market()
    maker_ids = [market.market_maker(cash="50000", shares=5000).pk for _ in range(2)]
    investor_ids = [market.investor(cash="20000", shares=2000).pk for _ in range(3)]

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(steps=actions)
    def run(steps):
        with transaction.atomic():
            accounts = Account.objects.select_related("broker", "owner").in_bulk(maker_ids + investor_ids)
            steps_run(market, [accounts[pk] for pk in maker_ids], [accounts[pk] for pk in investor_ids], steps)
            transaction.set_rollback(True)

    run()


def steps_run(market, makers, investors, steps) -> None:
    """``steps`` on ``market``, the balances checked after each one that wrote a row (where
    ``assert_balances_consistent`` held at a count of rows written, it holds at the same count)."""
    tick = Decimal("0.01")
    checked_at = None
    orders: list[Order] = []
    for n, step in enumerate(steps):
        try:
            match step:
                case ("quote", m, mid, spread, bq, aq):
                    mid_price = Decimal("10.00") + mid * tick
                    market.quote(
                        makers[m],
                        str(mid_price - spread * tick),
                        str(mid_price + spread * tick),
                        bq * 100,
                        aq * 100,
                    )
                case ("order", i, side, lots, off, tif):
                    order, _ = order_place(
                        placed_by=investors[i].owner,
                        account=investors[i],
                        request=OrderRequest(
                            market.security.code, side, lots * 100, Decimal("10.00") + off * tick, tif, f"h{n}"
                        ),
                    )
                    orders.append(order)
                case ("cancel", k) if orders:
                    order = orders[k % len(orders)]
                    order_cancel(actor=order.account.owner, order_id=order.pk)
                case ("pull", m):
                    quotes_pull(user=makers[m].owner)
                case ("cash", i, amount) if amount > 0:
                    cash_deposit(actor=market.staff, account=investors[i], amount=Decimal(amount))
                case ("cash", i, amount) if amount < 0:
                    cash_withdraw(actor=market.staff, account=investors[i], amount=Decimal(-amount))
        except DomainError:
            pass
        if (written := rows_written()) != checked_at:
            assert_balances_consistent()
            checked_at = written
