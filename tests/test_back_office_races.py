"""Races of the back office and of supervision that the trading path's tests do not force (DESIGN.md §3, §6), on
PostgreSQL with real threads (one connection each) and committed transactions, each interleaving forced: one side
stopped at a named point of its transaction (``tests.test_restriction_race.stopped_in``) while the other commits.

* A withdrawal at the counter that read the account not frozen, then waited for its cash row while a whole-account
  freeze was approved, pays nothing out: the freeze's approval commits first, so the withdrawal is refused as the
  freeze's, even when cash arrived meanwhile (a deposit, a sale's proceeds) and is free again.
* Two withdrawals proposed at the counter, each within the free cash and together above it, approved at once from
  two sessions: one pays out; the other, waiting for the cash row, then finds too little and stays proposed.
  (Sound: the cash row's lock; no test forced it before.)
* A correction that takes back shares the account holds only under a freeze, approved while a regulator releases
  that freeze: whichever locks the freeze first goes first; the correction draws on the freeze (which then frees
  the rest) or, after the release, on the shares it freed; the balances always what the active freezes hold, and
  they replay from the ledger. (Sound: the freeze's row lock; no test forced it before.)
* A depository operator's hold of a sealed trade while the settlement worker settles it: whichever locks the trade
  first decides; the trade is settled (the hold refused: not pending) or held (the settlement does nothing), never
  both. (Sound: the trade's row lock; no test forced it before.)
* Two blocks scanned at once by two workers, each finding the same lasting condition (a holder cap near its limit,
  one key), raise one open alert, not two: the second scan waits for the first's alert of that rule and key, and
  then finds it open.
"""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from django.db import connection

from balances import services as balances_services
from balances.replay import replay_check
from balances.services import cash_deposit, cash_withdraw
from core import errors as err
from core.models import AuditEvent, Broker
from counter import services as counter
from counter.models import CashRequest
from exchange.models import Trade
from exchange.services import OrderRequest, order_place
from ledger.models import Entry
from ledger.services import block_seal
from settlement import services as settlement
from settlement.models import Settlement, SettlementAction
from settlement.services import trade_settle
from supervision import services as sv
from supervision.models import Correction, Freeze
from surveillance import services as surveillance
from surveillance.models import Alert, Rule
from tests.conftest import cash_of, position_of
from tests.supervision_fixtures import payloads
from tests.test_restriction_race import WAIT, Side, start, stopped_in, waits_for_a_lock

pytestmark = pytest.mark.django_db(transaction=True)

D = Decimal
LEGAL = {"legal_reference": "(2026)沪74执777号", "legal_authority": "上海金融法院"}


@pytest.mark.parametrize("cash_arrives", [False, True], ids=["nothing-arrives", "a-deposit-arrives"])
def test_a_withdrawal_waiting_while_a_whole_account_freeze_is_approved_pays_nothing_out(sup, cash_arrives):
    market, reg1, reg2, _mm, investor = sup
    freeze = sv.freeze_propose(
        actor=reg1, account=investor.code, whole_account=True, reason="Asset preservation", **LEGAL
    )
    withdrawals = Entry.objects.filter(kind="WITHDRAWAL").count()

    # given a withdrawal of CNY 1,000 that has read the account (not frozen) and is about to lock its cash row
    with stopped_in(balances_services, "cash_lock", thread="withdraw") as stop:
        withdraw = start(
            "withdraw", lambda: cash_withdraw(actor=market.staff, account=investor, amount=D("1000"), reference="W1")
        )
        assert stop.reached.wait(WAIT)
        # when the whole-account freeze is approved (all CNY 50,000 frozen), and CNY 1,000 may arrive after it
        sv.freeze_approve(actor=reg2, freeze_id=freeze.pk)
        if cash_arrives:
            cash_deposit(actor=market.staff, account=investor, amount=D("1000"), reference="D1")
        stop.go.set()
        outcome = withdraw.result()

    # then the withdrawal is refused as the frozen account's, and nothing left the account
    assert isinstance(outcome, err.AccountFrozen), outcome
    cash = cash_of(investor)
    total = D("51000") if cash_arrives else D("50000")
    assert (cash.total, cash.frozen, cash.reserved) == (total, D("50000"), D("0"))
    assert Entry.objects.filter(kind="WITHDRAWAL").count() == withdrawals


def test_two_withdrawals_within_the_free_cash_and_together_above_it_approved_at_once_pay_out_one(sup):
    market, _reg1, _reg2, _mm, investor = sup
    # given two staff proposals to pay out CNY 30,000 each of the CNY 50,000 free (two people above CNY 10,000)
    Broker.objects.filter(pk=market.broker.pk).update(cash_approval_threshold=D("10000.00"))
    first, second = (
        counter.counter_cash(
            staff=market.staff, account_code=investor.code, direction="withdraw", amount=D("30000"), reference=ref
        ).request
        for ref in ("W-1", "W-2")
    )
    withdrawals = Entry.objects.filter(kind="WITHDRAWAL").count()

    # when the checker approves both at once from two sessions, the first holding the cash row
    with stopped_in(balances_services, "cash_lock", thread="approve-first", after=True) as stop:
        one = start("approve-first", lambda: counter.cash_request_approve(staff=market.checker, request_id=first.pk))
        assert stop.reached.wait(WAIT)
        two = start("approve-second", lambda: counter.cash_request_approve(staff=market.checker, request_id=second.pk))
        waits_for_a_lock(two)
        stop.go.set()
        outcomes = (one.result(), two.result())

    # then the first pays out and the second is refused for want of cash, left proposed, and nothing else moved
    assert outcomes[0].status == CashRequest.Status.APPROVED
    assert isinstance(outcomes[1], err.InsufficientCash), outcomes[1]
    assert dict(CashRequest.objects.filter(pk__in=[first.pk, second.pk]).values_list("pk", "status")) == {
        first.pk: CashRequest.Status.APPROVED,
        second.pk: CashRequest.Status.PROPOSED,
    }
    cash = cash_of(investor)
    assert (cash.total, cash.reserved, cash.frozen) == (D("20000"), D("0"), D("0"))
    assert Entry.objects.filter(kind="WITHDRAWAL").count() == withdrawals + 1


@pytest.mark.parametrize("first", ["correction", "release"])
def test_a_correction_drawing_on_a_freeze_released_at_once_leaves_the_freezes_and_balances_agreeing(sup, first):
    market, reg1, reg2, _mm, investor = sup
    # given a settled buy of 300 shares (1,300 held), all of them frozen, and a reversal of the buy proposed, which
    # can only take the 300 shares back from the freeze
    order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest(market.security.code, "buy", 300, D("10.10"), "IOC", "corrected"),
    )
    block_seal()
    trade = Trade.objects.filter(buyer=investor).latest("id").pk
    assert trade_settle(trade_id=trade)
    freeze = sv.freeze_approve(
        actor=reg2,
        freeze_id=sv.freeze_propose(
            actor=reg1, account=investor.code, security=market.security.code, quantity=1300, reason="Court", **LEGAL
        ).pk,
    )
    correction = sv.correction_propose(actor=reg1, trade_id=trade, new_price=None, new_quantity=0, reason="Error")

    # when the regulator approves the reversal and another releases the freeze at once, one holding the freeze
    sides = {
        "correction": ("_transfers_promised", lambda: sv.correction_approve(actor=reg2, correction_id=correction.pk)),
        "release": ("_transfers_pending", lambda: sv.freeze_release(actor=reg1, freeze_id=freeze.pk, reason="Paid")),
    }
    second = next(name for name in sides if name != first)
    with stopped_in(sv, sides[first][0], thread=first, after=True) as stop:
        one = start(first, sides[first][1])
        assert stop.reached.wait(WAIT)
        two = start(second, sides[second][1])
        waits_for_a_lock(two)
        stop.go.set()
        outcomes = {first: one.result(), second: two.result()}

    # then both went through, the correction drawing on the freeze only if it locked it first
    assert not [o for o in outcomes.values() if isinstance(o, Exception)], outcomes
    assert Correction.objects.get(pk=correction.pk).status == Correction.Status.EXECUTED
    (entry,) = payloads("CORRECTION")
    assert [use["quantity"] for use in entry["frozen_used"]] == ([300] if first == "correction" else [])
    freeze.refresh_from_db()
    assert (freeze.status, freeze.held_quantity) == (Freeze.Status.RELEASED, 0)
    pos = position_of(investor, market.security)
    assert (pos.total, pos.frozen, pos.reserved) == (1000, 0, 0)
    assert replay_check() == []


@pytest.mark.parametrize("first", ["settle", "hold"])
def test_a_hold_placed_while_the_worker_settles_the_trade_either_holds_it_or_is_refused(sup, first):
    market, _reg1, _reg2, _mm, investor = sup
    # given a sealed buy of 100 waiting to settle
    order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest(market.security.code, "buy", 100, D("10.10"), "IOC", "held-or-settled"),
    )
    block_seal()
    trade = Trade.objects.get(buyer=investor)
    reserved = cash_of(investor).reserved
    assert reserved > 0

    # when the worker settles it and a depository operator holds it at once, one holding the trade's row
    sides = {
        "settle": lambda: settlement.trade_settle(trade_id=trade.pk),
        "hold": lambda: settlement.trade_hold(actor=market.depository, trade_id=trade.pk, reason="Court enquiry"),
    }
    second = next(name for name in sides if name != first)
    with stopped_in(settlement, "_lock_trade", thread=first, after=True) as stop:
        one = start(first, sides[first])
        assert stop.reached.wait(WAIT)
        two = start(second, sides[second])
        waits_for_a_lock(two)
        stop.go.set()
        outcomes = {first: one.result(), second: two.result()}

    # then the first decides, and the second changes nothing
    trade.refresh_from_db()
    holds = SettlementAction.objects.filter(trade=trade, action=SettlementAction.Action.HOLD).count()
    if first == "settle":
        assert outcomes["settle"] is True and isinstance(outcomes["hold"], settlement.TradeNotPending)
        assert (trade.status, holds, Settlement.objects.filter(trade=trade).count()) == ("settled", 0, 1)
        assert cash_of(investor).reserved == 0
    else:
        assert outcomes["hold"].status == "held" and outcomes["settle"] is False
        assert (trade.status, holds, Settlement.objects.filter(trade=trade).count()) == ("held", 1, 0)
        assert cash_of(investor).reserved == reserved
    assert replay_check() == []


def finished_or_waiting(side: Side) -> None:
    """Return once ``side`` has finished, or PostgreSQL shows its backend waiting for a lock."""
    deadline = time.monotonic() + WAIT
    while side.is_alive() and time.monotonic() < deadline:
        with connection.cursor() as cur:
            cur.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [side.pid])
            row = cur.fetchone()
        if row and row[0] == "Lock":
            return
        time.sleep(0.02)
    assert not side.is_alive(), f"{side.name} neither finished nor waited for a lock"


def test_two_blocks_scanned_at_once_raise_one_open_alert_of_a_lasting_condition(sup):
    market, _reg1, _reg2, _mm, investor = sup
    # given the holder-cap rule alone, alerting at 1 % of the cap, and two sealed blocks, each with a trade in the
    # security (so each block's scan finds "security:<code>" near its cap)
    surveillance.rules_seed()
    Rule.objects.exclude(code=Rule.Code.HOLDER_CAP).update(enabled=False)
    rule = Rule.objects.get(code=Rule.Code.HOLDER_CAP)
    Rule.objects.filter(pk=rule.pk).update(thresholds={**rule.thresholds, "percent_of_max": 1})
    heights = []
    for n in (1, 2):
        order_place(
            placed_by=investor.owner,
            account=investor,
            request=OrderRequest(market.security.code, "buy", 100, D("10.10"), "IOC", f"scan-{n}"),
        )
        heights.append(block_seal().block.height)

    # when the first block's scan has written its alert and not yet committed, and the second block's scan runs
    with stopped_in(Alert.objects, "get_or_create", thread="scan-first", after=True) as stop:
        first = start("scan-first", lambda: surveillance.block_scan(height=heights[0]))
        assert stop.reached.wait(WAIT)
        second = start("scan-second", lambda: surveillance.block_scan(height=heights[1]))
        finished_or_waiting(second)
        stop.go.set()
        written = (first.result(), second.result())

    # then the first block's alert is the one open alert of the condition; the second scan wrote none
    assert written == (1, 0)
    key = f"security:{market.security.code}"
    assert list(Alert.objects.filter(rule=rule, key=key).values_list("block_height", "state")) == [
        (heights[0], Alert.State.NEW)
    ]
    # and scanning the second block again (a retry) still writes none
    assert surveillance.block_scan(height=heights[1]) == 0


def test_one_freeze_proposal_sent_twice_at_once_with_its_key_proposes_one_freeze(sup):
    # given a regulator's system that sends one freeze proposal twice at once, with its client_request_id
    market, reg1, _reg2, _mm, investor = sup
    terms = {
        "account": investor.code,
        "amount": "1000.00",
        "legal_reference": "(2026)沪74执778号",
        "reason": "Court order",
        "client_request_id": "court-778",
    }

    # when the first has written its freeze and stops before committing, and the second is sent meanwhile
    with stopped_in(sv, "audit_record", thread="first") as first_stop:
        first = start("first", lambda: sv.freeze_propose_once(actor=reg1, **terms))
        assert first_stop.reached.wait(WAIT)
        second = start("second", lambda: sv.freeze_propose_once(actor=reg1, **terms))
        waits_for_a_lock(second)  # on the key's unique index, behind the first's insert
        first_stop.go.set()
    first.join(WAIT)
    second.join(WAIT)

    # then one freeze is proposed, and both answers name it: the first made it, the second found it
    made, found = first.outcome, second.outcome
    assert not isinstance(found, Exception), found
    assert (made[1], found[1], made[0].pk == found[0].pk) == (True, False, True)
    assert Freeze.objects.count() == 1
    assert AuditEvent.objects.filter(action="freeze_propose").count() == 1


def test_a_blocks_scan_takes_no_lock_a_trade_for_findings_of_its_own_trades(market):
    # given a sealed block of 40 trades at the band's edge, each a finding of its own (a trade's key is never another
    # block's), and the band-edge rule alone
    surveillance.rules_seed()
    Rule.objects.exclude(code=Rule.Code.BAND_EDGE).update(enabled=False)
    mm = market.market_maker()
    market.quote(mm, "9.90", "13.00", ask_qty=10_000)
    investor = market.investor(cash="100000")
    for n in range(40):
        order_place(
            placed_by=investor.owner,
            account=investor,
            request=OrderRequest(market.security.code, "buy", 100, D("13.00"), "IOC", f"edge-{n}"),
        )
    height = block_seal().block.height

    # when its scan has looked for the open alerts and writes the first one
    with stopped_in(Alert.objects, "get_or_create", thread="scan") as stop:
        scan = start("scan", lambda: surveillance.block_scan(height=height))
        assert stop.reached.wait(WAIT)
        with connection.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_locks WHERE pid = %s AND locktype = 'advisory'", [scan.pid])
            (held,) = cur.fetchone()
        stop.go.set()
        written = scan.result()

    # then it holds its block's lock alone (a lock a trade would fill PostgreSQL's shared lock table on a busy
    # day), and writes the 40 alerts
    assert held == 1
    assert written == 40 == Alert.objects.filter(rule__code=Rule.Code.BAND_EDGE).count()
