"""Races of the back office and of supervision that the trading path's tests do not force (DESIGN.md §3, §6), on
PostgreSQL with real threads (one connection each) and committed transactions, each interleaving forced: one side
stopped at a named point of its transaction (``tests.test_restriction_race.stopped_in``) while the other commits.

* A withdrawal at the counter that read the account not frozen, then waited for its cash row while a whole-account
  freeze was approved, pays nothing out: the freeze's approval commits first, so the withdrawal is refused as the
  freeze's, even when cash arrived meanwhile (a deposit, a sale's proceeds) and is free again.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from balances import services as balances_services
from balances.services import cash_deposit, cash_withdraw
from core import errors as err
from ledger.models import Entry
from supervision import services as sv
from tests.conftest import cash_of
from tests.test_restriction_race import WAIT, start, stopped_in

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
