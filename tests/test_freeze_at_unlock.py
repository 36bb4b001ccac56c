"""Shares under lock-up and judicial freezes (DESIGN.md §3, §6).

A freeze holds only what is free when it is approved: shares under a lock-up were out of its reach, and when the
lock-up ended they came out free and could be sold (found by a review). Now a freeze of shares that held less than
it was ordered to, for want of locked shares (``unmet_quantity``), takes them as their lock-up ends, and a
whole-account freeze takes every share a lock-up of the account releases: from ``locked`` straight to ``frozen``
in the UNLOCK's own transaction, said by the UNLOCK entry (``frozen``), told to the holder. The balances still
replay from the ledger, and the ledger verifies."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from balances import services as balances_services
from balances.models import LockUp
from balances.replay import replay_check
from balances.services import Holding, lockups_release, securities_issue, shanghai_today
from core import errors as err
from exchange.services import OrderRequest, order_place
from ledger.models import Entry
from ledger.services import block_seal
from ledger.verification import ledger_verify
from notifications.messages import body, title
from notifications.services import event_notify
from registry.calendar import SHANGHAI
from supervision import hooks
from supervision import services as sv
from supervision.models import Freeze
from tests.conftest import api_for, log_in, position_of, snapshot
from tests.test_restriction_race import start, stopped_in, waits_for_a_lock

D = Decimal
LEGAL = {"legal_reference": "(2026)沪74执555号", "legal_authority": "上海金融法院"}


def payloads(kind: str) -> list[dict]:
    return [
        json.loads(bytes(c))["payload"]
        for c in Entry.objects.filter(kind=kind).order_by("id").values_list("canonical", flat=True)
    ]


def sell(market, account, qty: int, coid: str, security):
    return order_place(
        placed_by=account.owner,
        account=account,
        request=OrderRequest(security.code, "sell", qty, D("9.90"), "IOC", coid),
    )[0]


def unlock_day(until: dt.date) -> dt.datetime:
    return dt.datetime.combine(until, dt.time(0, 5), tzinfo=SHANGHAI)


@pytest.fixture
def locked(sup):
    """``sup``'s regulators and market maker; a new security the market maker bids 9.90 for, and an investor
    (alice) holding 1,400 of it, 1,000 under lock-up until the day after tomorrow."""
    market, reg1, reg2, mm, _investor = sup
    security = market.new_security("830555")
    market.issue(mm, 5000, security=security)
    market.quote(mm, "9.90", "10.10", security=security)
    alice = market.investor()
    until = shanghai_today() + dt.timedelta(days=2)
    securities_issue(
        actor=market.depository, security_code=security.code, allocations=[Holding(alice, 1400, 1000, until)]
    )
    return market, reg1, reg2, security, alice, until


def proposed(reg1, account, **scope) -> Freeze:
    return sv.freeze_propose(actor=reg1, account=account.code, reason="Asset preservation", **scope, **LEGAL)


def approved(reg1, reg2, account, **scope) -> Freeze:
    return sv.freeze_approve(actor=reg2, freeze_id=proposed(reg1, account, **scope).pk)


def transfer_proposed(reg1, freeze: Freeze, receiver, security, quantity: int):
    """A forced transfer of ``quantity`` shares the freeze holds to the court's receiver, proposed by ``reg1``."""
    return sv.forced_transfer_propose(
        actor=reg1, freeze_id=freeze.pk, receiver=receiver.code, security=security.code, quantity=quantity,
        reason="Judgment enforced", **LEGAL,
    )  # fmt: skip


def test_a_share_freeze_short_for_locked_shares_takes_them_as_the_lock_up_ends(locked, monkeypatch):
    market, reg1, reg2, security, alice, until = locked
    # given a freeze of 1,200 shares approved while only 400 were free (1,000 under lock-up)
    freeze = approved(reg1, reg2, alice, security=security.code, quantity=1200)
    assert (freeze.held_quantity, freeze.unmet_quantity) == (400, 800)
    assert "1200" in freeze.shortfall and "400" in freeze.shortfall
    pos = position_of(alice, security)
    assert (pos.total, pos.locked, pos.frozen, pos.available) == (1400, 1000, 400, 0)
    # and the regulator reads what it still waits for, on the API and the freezes page
    (listed,) = [f for f in api_for(reg1).get("/api/v1/freezes/").json()["results"] if f["id"] == freeze.pk]
    assert (listed["held_quantity"], listed["unmet_quantity"]) == (400, 800)
    client = Client()
    log_in(client, reg1)
    page = client.get(reverse("supervision-freezes")).content.decode()
    assert "另有 800 股待限售期满后冻结" in page
    fired = []
    monkeypatch.setattr(hooks.freeze_changed, "fire", lambda **facts: fired.append(facts))

    # when the lock-up ends
    assert lockups_release(now=unlock_day(until)) == 1

    # then the freeze takes the 800 it lacked at once: locked → frozen, and only 200 come out free
    pos = position_of(alice, security)
    assert (pos.total, pos.locked, pos.frozen, pos.available) == (1400, 0, 1200, 200)
    freeze.refresh_from_db()
    assert (freeze.status, freeze.held_quantity, freeze.unmet_quantity) == ("active", 1200, 0)
    assert "待限售期满后冻结" not in client.get(reverse("supervision-freezes")).content.decode()
    # and the UNLOCK entry says so, the balances replay from the ledger and the ledger verifies
    (unlock,) = payloads("UNLOCK")
    assert unlock["quantity"] == 1000 and unlock["frozen"] == [{"freeze": freeze.pk, "quantity": 800}]
    assert replay_check() == []
    block_seal()
    assert ledger_verify().ok
    # and a sale of more than the 200 is refused with the freeze's reason, and changes nothing
    before = snapshot()
    with pytest.raises(err.InsufficientShares, match="Asset preservation"):
        sell(market, alice, 300, "too-many", security)
    assert snapshot() == before
    assert sell(market, alice, 200, "free-part", security).filled_quantity == 200

    # and the holder is told what was frozen and why, in a notice of its own
    (facts,) = fired
    assert facts["event"] == "unlock_taken" and (facts["security"], facts["quantity"]) == (security.code, 800)
    (notice,) = event_notify(event="freeze_changed", facts=facts)
    assert notice.user_id == alice.owner_id
    assert title(notice) == "所持股份限售期满即被冻结"
    text = body(notice)
    assert "800" in text and security.code in text and "Asset preservation" in text

    # when the freeze is released: exactly the 1,200 are free again
    sv.freeze_release(actor=reg1, freeze_id=freeze.pk, reason="Order lifted")
    pos = position_of(alice, security)
    assert (pos.frozen, pos.available) == (0, 1200)
    assert payloads("UNFREEZE")[-1]["shares"] == [{"security": security.code, "quantity": 1200}]
    assert replay_check() == []


def test_a_whole_account_freeze_takes_every_share_a_lock_up_releases(locked):
    market, reg1, reg2, security, alice, until = locked
    # given a whole-account freeze approved while 1,000 shares were under lock-up
    freeze = approved(reg1, reg2, alice, whole_account=True)
    assert freeze.parts == {security.code: 400}

    # when the lock-up ends
    assert lockups_release(now=unlock_day(until)) == 1

    # then all 1,000 go to the freeze: nothing comes out free, and a forced transfer can reach them
    pos = position_of(alice, security)
    assert (pos.locked, pos.frozen, pos.available) == (0, 1400, 0)
    freeze.refresh_from_db()
    assert freeze.parts == {security.code: 1400}
    assert payloads("UNLOCK")[0]["frozen"] == [{"freeze": freeze.pk, "quantity": 1000}]
    assert replay_check() == []
    # and its release frees all of it
    sv.freeze_release(actor=reg1, freeze_id=freeze.pk, reason="Order lifted")
    assert position_of(alice, security).available == 1400
    assert replay_check() == []


def test_freezes_take_oldest_first_each_up_to_what_it_lacks_and_a_later_lock_up_serves_the_rest(locked):
    market, reg1, reg2, security, alice, until = locked
    # given a second lock-up of 500 a day later, and two freezes: the first of 700 (lacks 300), the second of 900
    later = until + dt.timedelta(days=1)
    securities_issue(
        actor=market.depository, security_code=security.code, allocations=[Holding(alice, 500, 500, later)]
    )
    first = approved(reg1, reg2, alice, security=security.code, quantity=700)
    second = approved(reg1, reg2, alice, security=security.code, quantity=900)
    assert (first.held_quantity, first.unmet_quantity) == (400, 300)
    assert (second.held_quantity, second.unmet_quantity) == (0, 900)

    # when the first lock-up (1,000) ends: the first freeze takes its 300, the second the other 700
    lockups_release(now=unlock_day(until))
    first.refresh_from_db(), second.refresh_from_db()
    assert (first.held_quantity, first.unmet_quantity, second.held_quantity, second.unmet_quantity) == (
        700,
        0,
        700,
        200,
    )
    assert payloads("UNLOCK")[0]["frozen"] == [
        {"freeze": first.pk, "quantity": 300},
        {"freeze": second.pk, "quantity": 700},
    ]
    # when the second (500) ends: the second freeze takes the 200 it still lacks; 300 come out free
    lockups_release(now=unlock_day(later))
    second.refresh_from_db()
    assert (second.held_quantity, second.unmet_quantity) == (900, 0)
    pos = position_of(alice, security)
    assert (pos.total, pos.locked, pos.frozen, pos.available) == (1900, 0, 1600, 300)
    assert payloads("UNLOCK")[1]["frozen"] == [{"freeze": second.pk, "quantity": 200}]
    assert replay_check() == []


def test_two_lock_ups_released_together_share_out_what_the_freezes_took_first_lock_up_first(locked):
    market, reg1, reg2, security, alice, until = locked
    # given a second lock-up of 500 ending the same day (1,500 locked in all), a freeze of 1,300 shares holding the
    # 400 free ones and waiting for 900, and then a whole-account freeze
    securities_issue(
        actor=market.depository, security_code=security.code, allocations=[Holding(alice, 500, 500, until)]
    )
    shares = approved(reg1, reg2, alice, security=security.code, quantity=1300)
    account = approved(reg1, reg2, alice, whole_account=True)
    assert (shares.held_quantity, shares.unmet_quantity) == (400, 900)

    # when both lock-ups end in one run
    assert lockups_release(now=unlock_day(until)) == 2

    # then the freeze of shares takes its 900 and the whole-account freeze the other 600, and each UNLOCK entry
    # names what was taken of its own lock-up: the first lock-up's 1,000 first (900 and 100), then the second's 500
    first, second = payloads("UNLOCK")
    assert (first["quantity"], first["frozen"]) == (1000, [
        {"freeze": shares.pk, "quantity": 900}, {"freeze": account.pk, "quantity": 100},
    ])  # fmt: skip
    assert (second["quantity"], second["frozen"]) == (500, [{"freeze": account.pk, "quantity": 500}])
    shares.refresh_from_db(), account.refresh_from_db()
    assert (shares.held_quantity, shares.unmet_quantity, account.parts.get(security.code)) == (1300, 0, 600)
    pos = position_of(alice, security)
    assert (pos.total, pos.locked, pos.frozen, pos.available) == (1900, 0, 1900, 0)
    assert replay_check() == []
    block_seal()
    assert ledger_verify().ok


def test_an_unlock_no_freeze_claims_keeps_its_first_form_and_a_released_freeze_takes_nothing(locked):
    market, reg1, reg2, security, alice, until = locked
    # given a freeze short for locked shares, released before the lock-up ends
    freeze = approved(reg1, reg2, alice, security=security.code, quantity=1200)
    sv.freeze_release(actor=reg1, freeze_id=freeze.pk, reason="Order lifted")

    # when the lock-up ends
    lockups_release(now=unlock_day(until))

    # then all 1,000 are free and the UNLOCK entry has no "frozen" key (the bytes of an unlock as before)
    pos = position_of(alice, security)
    assert (pos.locked, pos.frozen, pos.available) == (0, 0, 1400)
    (unlock,) = payloads("UNLOCK")
    assert unlock == {
        "security": security.code,
        "account": alice.code,
        "quantity": 1000,
        "until": str(until),
        "lockup": LockUp.objects.get(account=alice).pk,
    }
    freeze.refresh_from_db()
    assert (freeze.held_quantity, freeze.status) == (0, "released")


def test_the_database_refuses_an_unmet_quantity_beyond_the_order_or_on_a_cash_freeze(locked):
    market, reg1, reg2, security, alice, _until = locked
    shares = approved(reg1, reg2, alice, security=security.code, quantity=1200)
    cash = sv.freeze_propose(actor=reg1, account=alice.code, amount="10.00", reason="Court", **LEGAL)
    for freeze, unmet in ((shares, 1201), (shares, -1), (cash, 5)):
        with pytest.raises(IntegrityError, match="freeze_unmet_of_its_shares"), transaction.atomic():
            Freeze.objects.filter(pk=freeze.pk).update(unmet_quantity=unmet)


# --------------------------------------------------------------------------
# A freeze approved while the lock-up is being released (real threads, PostgreSQL's locks)


@pytest.mark.django_db(transaction=True)
def test_a_freeze_approved_after_the_unlock_locked_its_claims_is_seen_and_takes_the_shares(locked, monkeypatch):
    market, reg1, reg2, security, alice, until = locked
    claims_locked = []
    real = balances_services._claims_lock
    monkeypatch.setattr(balances_services, "_claims_lock", lambda *args: claims_locked.append(args) or real(*args))
    freeze = proposed(reg1, alice, security=security.code, quantity=1200)
    # given the unlock stopped once it has locked the freezes that claim the shares (none was active yet)
    with stopped_in(balances_services, "_claims_lock", thread="unlock", after=True) as stop:
        unlock = start("unlock", lambda: lockups_release(now=unlock_day(until)))
        assert stop.reached.wait(20)
        # when the freeze is approved meanwhile (400 free; 1,000 still locked, its unmet 800) and commits
        approval = start("approval", lambda: sv.freeze_approve(actor=reg2, freeze_id=freeze.pk).unmet_quantity)
        assert approval.result() == 800
        stop.go.set()
    # then the unlock sees it and releases again, the freeze's row locked first this time, and the freeze takes its 800
    assert unlock.result() == 1
    assert len(claims_locked) == 2
    freeze.refresh_from_db()
    assert (freeze.held_quantity, freeze.unmet_quantity) == (1200, 0)
    pos = position_of(alice, security)
    assert (pos.locked, pos.frozen, pos.available) == (0, 1200, 200)
    assert payloads("UNLOCK")[0]["frozen"] == [{"freeze": freeze.pk, "quantity": 800}]
    assert replay_check() == []


@pytest.mark.django_db(transaction=True)
def test_a_freeze_approved_while_the_unlock_holds_the_security_waits_and_holds_what_came_out_free(locked):
    market, reg1, reg2, security, alice, until = locked
    freeze = proposed(reg1, alice, security=security.code, quantity=1200)
    # given the unlock stopped with the security's and the position's rows locked
    with stopped_in(balances_services, "positions_lock", thread="unlock", after=True) as stop:
        unlock = start("unlock", lambda: lockups_release(now=unlock_day(until)))
        assert stop.reached.wait(20)
        # when the freeze is approved meanwhile: it waits for the security's row
        approval = start("approval", lambda: sv.freeze_approve(actor=reg2, freeze_id=freeze.pk).held_quantity)
        waits_for_a_lock(approval)
        stop.go.set()
    # then the unlock frees the 1,000 (no freeze claimed them) and the approval, after it, holds 1,200 of the 1,400
    assert unlock.result() == 1
    assert approval.result() == 1200
    freeze.refresh_from_db()
    assert freeze.unmet_quantity == 0
    pos = position_of(alice, security)
    assert (pos.locked, pos.frozen, pos.available) == (0, 1200, 200)
    assert "frozen" not in payloads("UNLOCK")[0]
    assert replay_check() == []


def test_the_migration_gives_an_active_freeze_approved_before_it_what_its_entry_says_it_lacked(locked):
    import importlib

    from django.apps import apps
    from django.db import connection

    migration = importlib.import_module("supervision.migrations.0005_freeze_unmet_quantity")
    market, reg1, reg2, security, alice, _until = locked
    # given freezes approved before the field existed: one of shares short of 800, one that held all it was asked,
    # and a released one (their unmet quantity as the new column's default left it)
    short = approved(reg1, reg2, alice, security=security.code, quantity=1200)
    whole = approved(reg1, reg2, market.investor(shares=500), security=market.security.code, quantity=300)
    ended = approved(reg1, reg2, alice, whole_account=True)
    sv.freeze_release(actor=reg1, freeze_id=ended.pk, reason="Lifted")
    Freeze.objects.update(unmet_quantity=0)

    # when the migration's data step runs
    migration.unmet_from_entries(apps, connection.schema_editor())

    # then the short one lacks what its FREEZE entry did not hold; the others lack nothing
    assert dict(Freeze.objects.values_list("pk", "unmet_quantity")) == {short.pk: 800, whole.pk: 0, ended.pk: 0}


# --------------------------------------------------------------------------
# A freeze still waiting for locked shares, used by a forced transfer or ended (found by a review)


def test_a_freeze_whose_held_shares_a_forced_transfer_moved_still_takes_those_it_waits_for(locked):
    market, reg1, reg2, security, alice, until = locked
    # given a freeze of 1,200 shares holding the 400 free ones and waiting for 800 under lock-up
    freeze = approved(reg1, reg2, alice, security=security.code, quantity=1200)
    receiver = market.investor()
    # when a forced transfer moves the 400 it holds to the court's receiver
    transfer = transfer_proposed(reg1, freeze, receiver, security, 400)
    sv.forced_transfer_approve(actor=reg2, transfer_id=transfer.pk)

    # then the freeze is not used up: it holds nothing now and still waits for the 800
    freeze.refresh_from_db()
    assert (freeze.status, freeze.held_quantity, freeze.unmet_quantity) == ("active", 0, 800)
    (listed,) = [f for f in api_for(reg1).get("/api/v1/freezes/").json()["results"] if f["id"] == freeze.pk]
    assert (listed["status"], listed["held_quantity"], listed["unmet_quantity"]) == ("active", 0, 800)
    pos = position_of(alice, security)
    assert (pos.total, pos.locked, pos.frozen, pos.available) == (1000, 1000, 0, 0)

    # when the lock-up ends: it takes the 800, and only 200 come out free
    assert lockups_release(now=unlock_day(until)) == 1
    freeze.refresh_from_db()
    assert (freeze.status, freeze.held_quantity, freeze.unmet_quantity) == ("active", 800, 0)
    pos = position_of(alice, security)
    assert (pos.total, pos.locked, pos.frozen, pos.available) == (1000, 0, 800, 200)
    assert payloads("UNLOCK")[0]["frozen"] == [{"freeze": freeze.pk, "quantity": 800}]
    assert replay_check() == []
    # and a second transfer can move them, which uses the freeze up
    transfer = sv.forced_transfer_propose(
        actor=reg1, freeze_id=freeze.pk, receiver=receiver.code, security=security.code, quantity=800,
        reason="Judgment enforced", **LEGAL,
    )  # fmt: skip
    sv.forced_transfer_approve(actor=reg2, transfer_id=transfer.pk)
    freeze.refresh_from_db()
    assert (freeze.status, freeze.held_quantity, freeze.unmet_quantity) == ("consumed", 0, 0)
    assert position_of(receiver, security).total == 1200
    assert replay_check() == []


def test_a_freeze_that_held_all_it_was_ordered_to_is_still_used_up_by_a_transfer_of_it(sup):
    market, reg1, reg2, _mm, investor = sup
    # given a freeze of 300 of the investor's 1,000 free shares (nothing under lock-up)
    freeze = approved(reg1, reg2, investor, security=market.security.code, quantity=300)
    assert (freeze.held_quantity, freeze.unmet_quantity) == (300, 0)
    receiver = market.investor()
    # when a forced transfer moves all 300
    transfer = sv.forced_transfer_propose(
        actor=reg1, freeze_id=freeze.pk, receiver=receiver.code, security=market.security.code, quantity=300,
        reason="Judgment enforced", **LEGAL,
    )  # fmt: skip
    sv.forced_transfer_approve(actor=reg2, transfer_id=transfer.pk)
    # then it is used up, as before
    freeze.refresh_from_db()
    assert (freeze.status, freeze.held_quantity, freeze.unmet_quantity) == ("consumed", 0, 0)


def test_a_released_or_expired_freeze_waits_for_nothing_more(locked):
    market, reg1, reg2, security, alice, until = locked
    # given two freezes short of 800 locked shares each
    released = approved(reg1, reg2, alice, security=security.code, quantity=1200)
    expiring = sv.freeze_propose(
        actor=reg1, account=alice.code, reason="Asset preservation", security=security.code, quantity=800,
        expires_at=timezone.now() + dt.timedelta(hours=1), **LEGAL,
    )  # fmt: skip
    expiring = sv.freeze_approve(actor=reg2, freeze_id=expiring.pk)
    assert (released.unmet_quantity, expiring.unmet_quantity) == (800, 800)

    # when one is released and the other expires
    sv.freeze_release(actor=reg1, freeze_id=released.pk, reason="Order lifted")
    assert sv.freezes_expire(now=timezone.now() + dt.timedelta(hours=2)) == 1

    # then neither says it still waits for shares, on the API either
    assert dict(Freeze.objects.filter(account=alice).values_list("status", "unmet_quantity")) == {
        "released": 0,
        "expired": 0,
    }
    listed = {f["id"]: f for f in api_for(reg1).get("/api/v1/freezes/").json()["results"]}
    assert listed[released.pk]["unmet_quantity"] == listed[expiring.pk]["unmet_quantity"] == 0
    # and the lock-up's end frees all its shares
    lockups_release(now=unlock_day(until))
    pos = position_of(alice, security)
    assert (pos.locked, pos.frozen, pos.available) == (0, 0, 1400)
    assert replay_check() == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("first", ["unlock", "transfer"])
def test_a_forced_transfer_of_a_freeze_approved_while_the_lock_up_ends_waits_for_it_and_both_hold(locked, first):
    market, reg1, reg2, security, alice, until = locked
    # given a freeze of 1,200 holding the 400 free shares, waiting for 800 locked, and a transfer of the 400
    freeze = approved(reg1, reg2, alice, security=security.code, quantity=1200)
    receiver = market.investor()
    transfer = transfer_proposed(reg1, freeze, receiver, security, 400)
    unlocking = lambda: lockups_release(now=unlock_day(until))  # noqa: E731
    approving = lambda: sv.forced_transfer_approve(actor=reg2, transfer_id=transfer.pk).status  # noqa: E731
    # when one of them has locked the freeze's row (the unlock its claims, the approval the positions as well)
    # and the other starts meanwhile: it waits for the first, no deadlock
    if first == "unlock":
        stopping = stopped_in(balances_services, "_claims_lock", thread="unlock", after=True)
    else:
        stopping = stopped_in(sv, "_receiver_checks", thread="approval")
    with stopping as stop:
        one = start("unlock", unlocking) if first == "unlock" else start("approval", approving)
        assert stop.reached.wait(20)
        other = start("approval", approving) if first == "unlock" else start("unlock", unlocking)
        waits_for_a_lock(other)
        stop.go.set()
    unlock, approval = (one, other) if first == "unlock" else (other, one)
    # then the 400 moved, and the freeze, not used up, took the 800 as the lock-up ended
    assert unlock.result() == 1 and approval.result() == "executed"
    freeze.refresh_from_db()
    assert (freeze.status, freeze.held_quantity, freeze.unmet_quantity) == ("active", 800, 0)
    pos = position_of(alice, security)
    assert (pos.total, pos.locked, pos.frozen, pos.available) == (1000, 0, 800, 200)
    assert position_of(receiver, security).total == 400
    assert replay_check() == []


def test_a_security_whose_claims_keep_moving_waits_for_the_next_run_and_the_others_are_released(
    locked, monkeypatch, caplog
):
    market, reg1, reg2, security, alice, until = locked
    # given a second security with a lock-up due the same day, and the first one's claims moving at every try
    other = market.new_security("830556")
    securities_issue(actor=market.depository, security_code=other.code, allocations=[Holding(alice, 300, 300, until)])
    real = balances_services._lockups_release_security

    def release(security_id, due, now):
        if security_id == security.pk:
            raise balances_services.ClaimsMoved()
        return real(security_id, due, now)

    monkeypatch.setattr(balances_services, "_lockups_release_security", release)

    # when the release runs: the other security's lock-up is released, this one's waits, and that is logged
    assert lockups_release(now=unlock_day(until)) == 1
    assert position_of(alice, other).locked == 0
    assert position_of(alice, security).locked == 1000
    assert f"the lock-ups of security {security.pk} wait" in caplog.text

    # and the next run releases it
    monkeypatch.setattr(balances_services, "_lockups_release_security", real)
    assert lockups_release(now=unlock_day(until)) == 1
    assert position_of(alice, security).locked == 0
    assert replay_check() == []
