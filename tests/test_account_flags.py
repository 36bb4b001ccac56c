"""An account's ``frozen`` and ``trading_restricted`` flags follow its active freezes, kept so by PostgreSQL
(supervision migration 0004): set and cleared by a trigger as freezes are approved, released, expire, or their
rows change by any path; refused when set any other way."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from core.models import Account, Role
from supervision import services as sv
from supervision.models import Freeze

LEGAL = {"legal_reference": "(2026)沪74执789号"}


@pytest.fixture
def regs(market):
    return market.user(Role.REGULATOR), market.user(Role.REGULATOR)


def flags(account) -> tuple[bool, bool]:
    return tuple(Account.objects.filter(pk=account.pk).values_list("frozen", "trading_restricted").get())


def approved(reg1, reg2, account, **scope) -> Freeze:
    freeze = sv.freeze_propose(actor=reg1, account=account.code, reason="An order of the court", **scope, **LEGAL)
    return sv.freeze_approve(actor=reg2, freeze_id=freeze.pk)


def refused_flag(account, **values) -> str:
    """The constraint that refused setting ``values`` on the account directly (the row unchanged)."""
    with pytest.raises(IntegrityError) as refused, transaction.atomic():
        Account.objects.filter(pk=account.pk).update(**values)
    return refused.value.__cause__.diag.constraint_name


def test_the_flags_follow_two_freezes_and_a_restriction_through_their_lives(market, regs):
    reg1, reg2 = regs
    investor = market.investor(cash="1000", shares=100)
    other = market.investor(cash="1000")
    # given no freeze: neither flag
    assert flags(investor) == (False, False)

    # when a proposal is made: still neither (only an active freeze counts)
    proposed = sv.freeze_propose(actor=reg1, account=investor.code, whole_account=True, reason="x", **LEGAL)
    assert flags(investor) == (False, False)
    sv.freeze_reject(actor=reg2, freeze_id=proposed.pk, reason="Not yet")
    assert flags(investor) == (False, False)

    # when two whole-account freezes and a restriction are approved
    first = approved(reg1, reg2, investor, whole_account=True)
    second = approved(reg1, reg2, investor, whole_account=True)
    restriction = approved(reg1, reg2, investor, trading=True)
    assert flags(investor) == (True, True)

    # then releasing one freeze keeps the account frozen; releasing the other ends it; the restriction stays
    sv.freeze_release(actor=reg1, freeze_id=first.pk, reason="Lifted")
    assert flags(investor) == (True, True)
    sv.freeze_release(actor=reg1, freeze_id=second.pk, reason="Lifted")
    assert flags(investor) == (False, True)
    sv.freeze_release(actor=reg1, freeze_id=restriction.pk, reason="Lifted")
    assert flags(investor) == (False, False)
    # and another account was never touched
    assert flags(other) == (False, False)


def test_an_expired_freeze_clears_the_flag(market, regs):
    reg1, reg2 = regs
    investor = market.investor(cash="1000")
    freeze = approved(reg1, reg2, investor, trading=True, expires_at=timezone.now() + timezone.timedelta(hours=1))
    assert flags(investor) == (False, True)
    # when the beat expires it, an hour on
    sv.freezes_expire(now=timezone.now() + timezone.timedelta(hours=2))
    freeze.refresh_from_db()
    assert freeze.status == Freeze.Status.EXPIRED
    assert flags(investor) == (False, False)


def test_no_update_sets_a_flag_its_freezes_do_not_say(market, regs):
    reg1, reg2 = regs
    free = market.investor(cash="1000")
    frozen = market.investor(cash="1000")
    approved(reg1, reg2, frozen, whole_account=True)

    # when any path sets a flag by hand, either way
    assert refused_flag(free, frozen=True) == "account_flags_follow_freezes"
    assert refused_flag(free, trading_restricted=True) == "account_flags_follow_freezes"
    assert refused_flag(frozen, frozen=False) == "account_flags_follow_freezes"
    # then nothing changed
    assert (flags(free), flags(frozen)) == ((False, False), (True, False))
    # and an update that leaves the flags as they are, or of another column, is taken
    when = timezone.now()
    Account.objects.filter(pk=frozen.pk).update(frozen=True, created_at=when)
    assert Account.objects.get(pk=frozen.pk).created_at == when


def test_a_new_account_starts_free(market):
    with pytest.raises(IntegrityError) as refused, transaction.atomic():
        Account.objects.create(code="FLAGS0001", kind=Account.Kind.INVESTOR, name="X", frozen=True)
    assert refused.value.__cause__.diag.constraint_name == "account_flags_follow_freezes"
    assert not Account.objects.filter(code="FLAGS0001").exists()


def test_a_freeze_row_changed_by_hand_moves_the_flag_with_it(market, regs):
    reg1, reg2 = regs
    investor = market.investor(cash="1000")
    other = market.investor(cash="1000")
    freeze = approved(reg1, reg2, investor, trading=True)

    # when a freeze's row is moved to another account, ended, or deleted, by hand (SQL, not the services)
    with connection.cursor() as cur:
        cur.execute("UPDATE supervision_freeze SET account_id = %s WHERE id = %s", [other.pk, freeze.pk])
    assert (flags(investor), flags(other)) == ((False, False), (False, True))
    with connection.cursor() as cur:
        cur.execute("UPDATE supervision_freeze SET kind = 'account' WHERE id = %s", [freeze.pk])
    assert flags(other) == (True, False)
    with connection.cursor() as cur:
        cur.execute("UPDATE supervision_freeze SET status = 'released' WHERE id = %s", [freeze.pk])
    assert flags(other) == (False, False)
    with connection.cursor() as cur:
        cur.execute("UPDATE supervision_freeze SET status = 'active' WHERE id = %s", [freeze.pk])
        assert flags(other) == (True, False)
        cur.execute("DELETE FROM supervision_freeze WHERE id = %s", [freeze.pk])
    # then the flags follow, whatever the path
    assert flags(other) == (False, False)
