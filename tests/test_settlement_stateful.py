"""A hypothesis state machine over the whole market: deposits, withdrawals, quotes, orders, cancels,
sealing, settlement, holds, releases and refusals, and supervision: freezes (cash, shares, whole
accounts), releases, forced transfers and corrections. After every step: cash and shares are conserved,
no available balance is negative, and replaying the ledger rebuilds every balance, frozen parts included."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from balances.models import CashBalance, Position
from balances.replay import ledger_balances, replay_check
from balances.services import cash_deposit, cash_withdraw
from core.errors import DomainError
from core.models import Account, Role, User
from exchange.models import Order, Trade
from exchange.services import OrderRequest, order_cancel, order_place, quotes_pull
from ledger.services import block_seal
from registry.models import Security
from settlement.services import net_settle, trade_hold, trade_refuse, trade_release, trade_settle, trades_settle
from supervision import services as sv
from supervision.models import Freeze
from tests.conftest import Market as Cast
from tests.conftest import build_market, rows_written

LEGAL = {"legal_reference": "(2026) test court order", "legal_date": dt.date(2026, 11, 30)}

TICK = Decimal("0.01")


@dataclass
class Start:
    """The market every run of the machine starts from: two securities (one settled net), two market makers,
    three investors and two regulators. Built once; each run works in a savepoint rolled back after it."""

    market: Cast
    net: Security
    makers: list[int]
    investors: list[int]
    regulators: list[User]

    @classmethod
    def build(cls) -> Start:
        market = build_market()
        net = market.new_security("NET1", settlement_mode=Security.SettlementMode.NET)
        makers = [market.market_maker(cash="50000", shares=5000) for _ in range(2)]
        for mm in makers:
            market.issue(mm, 5000, security=net)
        investors = [market.investor(cash="20000", shares=1000) for _ in range(3)]
        market.issue(investors[0], 1000, security=net)
        regulators = [market.user(Role.REGULATOR) for _ in range(2)]
        return cls(market, net, [a.pk for a in makers], [a.pk for a in investors], regulators)


class Market(RuleBasedStateMachine):
    def __init__(self, start: Start) -> None:
        super().__init__()
        self.market = start.market
        self.net = start.net
        # The accounts as the database has them now (a run before this one changed and rolled them back).
        accounts = Account.objects.select_related("broker", "owner").in_bulk(start.makers + start.investors)
        self.makers = [accounts[pk] for pk in start.makers]
        self.investors = [accounts[pk] for pk in start.investors]
        self.securities = [self.market.security, self.net]
        self.regulators = start.regulators
        self.n = 0
        self.checked_at = None  # rows_written() when the invariant last held

    def _try(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DomainError:
            return None

    @rule(
        m=st.integers(0, 1),
        s=st.integers(0, 1),
        mid=st.integers(-30, 30),
        spread=st.integers(1, 20),
        bq=st.integers(1, 20),
        aq=st.integers(1, 20),
    )
    def quote(self, m, s, mid, spread, bq, aq):
        price = Decimal("10.00") + mid * TICK
        self._try(
            self.market.quote,
            self.makers[m],
            str(price - spread * TICK),
            str(price + spread * TICK),
            bq * 100,
            aq * 100,
            security=self.securities[s],
        )

    @rule(
        i=st.integers(0, 2),
        s=st.integers(0, 1),
        side=st.sampled_from(["buy", "sell"]),
        lots=st.integers(1, 10),
        off=st.integers(-30, 30),
        tif=st.sampled_from(["IOC", "DAY"]),
    )
    def order(self, i, s, side, lots, off, tif):
        self.n += 1
        inv = self.investors[i]
        req = OrderRequest(self.securities[s].code, side, lots * 100, Decimal("10.00") + off * TICK, tif, f"o{self.n}")
        self._try(order_place, placed_by=inv.owner, account=inv, request=req)

    @rule(k=st.integers(0, 50))
    def cancel(self, k):
        open_orders = list(Order.objects.filter(status__in=Order.OPEN_STATUSES).order_by("id"))
        if open_orders:
            order = open_orders[k % len(open_orders)]
            self._try(order_cancel, actor=order.account.owner, order_id=order.pk)

    @rule(m=st.integers(0, 1))
    def pull(self, m):
        self._try(quotes_pull, user=self.makers[m].owner)

    @rule(i=st.integers(0, 2), amount=st.integers(1, 5000), out=st.booleans())
    def cash(self, i, amount, out):
        move = cash_withdraw if out else cash_deposit
        self._try(move, actor=self.market.staff, account=self.investors[i], amount=Decimal(amount))

    @rule()
    def seal(self):
        block_seal()

    @rule(k=st.integers(0, 50))
    def settle(self, k):
        trades = list(Trade.objects.filter(status=Trade.Status.MATCHED).order_by("id"))
        if trades:
            trade_settle(trade_id=trades[k % len(trades)].pk)

    @rule(k=st.integers(0, 50))
    def settle_batch(self, k):
        """The pending trades from the k-th on, as the settle task and the sweep give them (a batch)."""
        trades = list(Trade.objects.filter(status=Trade.Status.MATCHED).order_by("id").values_list("id", flat=True))
        if trades:
            trades_settle(trade_ids=trades[k % len(trades) :])

    @rule()
    def settle_net(self):
        net_settle(security_code=self.net.code)

    @rule(k=st.integers(0, 50), action=st.sampled_from(["hold", "release", "refuse"]))
    def supervise(self, k, action):
        trades = list(Trade.objects.exclude(status__in=[Trade.Status.SETTLED, Trade.Status.FAILED]).order_by("id"))
        if trades:
            fn = {"hold": trade_hold, "release": trade_release, "refuse": trade_refuse}[action]
            self._try(fn, actor=self.market.depository, trade_id=trades[k % len(trades)].pk, reason="test")

    def _approved(self, propose, approve, **kwargs):
        proposal = self._try(propose, actor=self.regulators[0], **kwargs)
        if proposal is not None:
            self._try(approve, self.regulators[1], proposal.pk)

    @rule(
        i=st.integers(0, 2),
        what=st.sampled_from(["cash", "shares", "account"]),
        s=st.integers(0, 1),
        size=st.integers(1, 3000),
    )
    def freeze(self, i, what, s, size):
        target = {"account": self.investors[i].code, "reason": "test", **LEGAL}
        if what == "cash":
            target["amount"] = Decimal(size)
        elif what == "shares":
            target.update(security=self.securities[s].code, quantity=size)
        else:
            target["whole_account"] = True
        self._approved(sv.freeze_propose, lambda u, pk: sv.freeze_approve(actor=u, freeze_id=pk), **target)
        for inv in self.investors:
            inv.refresh_from_db()

    @rule(k=st.integers(0, 50))
    def release(self, k):
        active = list(Freeze.objects.filter(status=Freeze.Status.ACTIVE).order_by("id"))
        if active:
            self._try(sv.freeze_release, actor=self.regulators[0], freeze_id=active[k % len(active)].pk, reason="t")
            for inv in self.investors:
                inv.refresh_from_db()

    @rule(k=st.integers(0, 50), to=st.integers(0, 2), size=st.integers(1, 1000))
    def forced_transfer(self, k, to, size):
        active = list(Freeze.objects.filter(status=Freeze.Status.ACTIVE).order_by("id"))
        if not active:
            return
        freeze = active[k % len(active)]
        kwargs = {"freeze_id": freeze.pk, "receiver": self.investors[to].code, "reason": "t", **LEGAL}
        if freeze.kind == Freeze.Kind.SHARES:
            kwargs.update(security=freeze.security.code, quantity=size)
        else:
            kwargs["amount"] = Decimal(size)
        self._approved(
            sv.forced_transfer_propose, lambda u, pk: sv.forced_transfer_approve(actor=u, transfer_id=pk), **kwargs
        )

    @rule(k=st.integers(0, 50), lots=st.integers(0, 5), off=st.integers(-20, 20))
    def correct(self, k, lots, off):
        settled = list(Trade.objects.filter(status=Trade.Status.SETTLED).order_by("id"))
        if settled:
            trade = settled[k % len(settled)]
            self._approved(
                sv.correction_propose,
                lambda u, pk: sv.correction_approve(actor=u, correction_id=pk),
                trade_id=trade.pk,
                new_price=trade.price + off * TICK,
                new_quantity=lots * 100,
                reason="t",
            )

    @invariant()
    def balances_replay_and_are_conserved(self):
        written = rows_written()
        if written == self.checked_at:
            return  # not a row written since it last held (a refused step): the same database, already checked
        assert replay_check() == []
        with connection.cursor() as cur:
            cur.execute("SELECT count(*) FROM settlement_cashbalance WHERE total - reserved - frozen < 0")
            assert cur.fetchone()[0] == 0
            cur.execute("SELECT count(*) FROM settlement_position WHERE total - reserved - frozen - locked < 0")
            assert cur.fetchone()[0] == 0
        cash_ledger, _, _ = ledger_balances()
        assert sum(CashBalance.objects.values_list("total", flat=True)) == sum(cash_ledger.values())
        for security in Security.objects.all():
            held = sum(Position.objects.filter(security=security).values_list("total", flat=True))
            assert held == security.issued_quantity
        self.checked_at = written


def test_random_market_keeps_every_invariant(db):
    start = Start.build()

    class Rolled(Market):
        """Each run of the machine in its own savepoint, rolled back afterwards."""

        def teardown(self):
            transaction.savepoint_rollback(self._savepoint)

    def make():
        sid = transaction.savepoint()
        machine = Rolled(start)
        machine._savepoint = sid
        return machine

    run_state_machine_as_test(
        make,
        settings=settings(
            max_examples=25,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
