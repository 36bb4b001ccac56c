"""Notifications' transactional outbox (notifications.models.Outbox): an event is recorded in the transaction of
the change it tells of, and delivered after it by the task its commit queues, or by beat's sweep when that
message was lost (a fault walk: Redis restarted without its queue lost about a hundred "settled" notices).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from balances.services import cash_deposit
from exchange.models import Trade
from ledger.services import block_seal
from notifications import services, tasks
from notifications.models import Kind, Notification, Outbox
from tests.test_notifications import buy


def _lost(monkeypatch) -> None:
    """The message each commit queues never arrives (Redis lost its queue)."""
    monkeypatch.setattr(services, "_outbox_deliver_soon", lambda pk: None)


def _aged() -> None:
    """Every record as if made a minute ago: past the age at which beat's sweep takes it."""
    Outbox.objects.update(created_at=timezone.now() - dt.timedelta(minutes=1))


def test_a_fill_whose_delivery_was_lost_is_told_by_the_sweep_once(
    market, monkeypatch, django_capture_on_commit_callbacks
):
    # given an investor whose order filled, the block sealed, and every message the commits queued lost
    _lost(monkeypatch)
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="50000")
    Outbox.objects.all().delete()  # the set-up's own events
    with django_capture_on_commit_callbacks(execute=True):
        buy(market, investor, qty=100, coid="lost-1")
        sealed = block_seal()
    trade = Trade.objects.get()

    # then nothing is told yet, and the block's fills wait in the outbox, recorded with the block
    assert not Notification.objects.exists()
    assert list(Outbox.objects.values_list("event", "facts")) == [("block_sealed", {"height": sealed.block.height})]

    # and beat's sweep leaves it to its own task while it is young
    assert tasks.notify_pending() == 0

    # when beat's sweep runs once it is older
    _aged()
    assert tasks.notify_pending() == 1

    # then the investor is told of the fill, once, and the outbox is empty
    assert list(Notification.objects.values_list("user_id", "kind", "key")) == [
        (investor.owner_id, Kind.FILL, f"fill:{trade.pk}")
    ]
    assert not Outbox.objects.exists()

    # and a second sweep, or a late delivery of the lost message, writes nothing more
    assert tasks.notify_pending() == 0
    assert Notification.objects.count() == 1


def test_a_seal_whose_worker_died_after_its_commit_still_has_its_fills_recorded(market):
    # given a fill, and a seal that committed but whose after-commit work never ran (the worker killed there)
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="50000")
    buy(market, investor, qty=100, coid="killed-1")
    Outbox.objects.all().delete()
    sealed = block_seal()  # in a test transaction: its on-commit work never runs

    # then the block's fills are recorded all the same, and the sweep tells them
    assert list(Outbox.objects.values_list("event", "facts")) == [("block_sealed", {"height": sealed.block.height})]
    _aged()
    assert tasks.notify_pending() == 1
    assert Notification.objects.filter(user=investor.owner, kind=Kind.FILL).count() == 1


def test_a_change_rolled_back_records_nothing_and_tells_no_one(market):
    # given an investor account
    investor = market.investor(cash="100")
    Outbox.objects.all().delete()
    before = Notification.objects.count()

    # when a deposit is rolled back after it was made
    with pytest.raises(RuntimeError), transaction.atomic():
        cash_deposit(actor=market.checker, account=investor, amount=Decimal("500"), proposed_by=market.staff)
        assert Outbox.objects.filter(event="cash_deposited").count() == 1  # recorded inside the transaction
        raise RuntimeError("something later in the same transaction failed")

    # then nothing was recorded, and the sweep tells nothing
    assert not Outbox.objects.exists()
    assert tasks.notify_pending() == 0
    assert Notification.objects.count() == before


def test_an_event_that_fails_on_its_own_is_retried_then_set_aside_and_the_others_are_told(market, caplog):
    # given a deposit recorded, and an event whose facts its handler cannot read, recorded before it
    investor = market.investor(cash="100")
    Outbox.objects.all().delete()
    bad = Outbox.objects.create(event="trades_settled", facts={"trade_ids": "not a list of ids"})
    cash_deposit(actor=market.checker, account=investor, amount=Decimal("500"), proposed_by=market.staff)
    _aged()

    # when the sweep runs
    with caplog.at_level(logging.WARNING, logger="notifications.services"):
        assert tasks.notify_pending() == 1

    # then the deposit is told, the bad event counted once and kept, and the failure logged
    assert Notification.objects.filter(user=investor.owner, kind=Kind.DEPOSIT).count() == 1
    assert list(Outbox.objects.values_list("pk", "attempts")) == [(bad.pk, 1)]
    assert "notifications of trades_settled" in caplog.text

    # and after as many attempts as allowed it is set aside, left for a person, no longer tried
    for _ in range(services.OUTBOX_MAX_ATTEMPTS):
        tasks.notify_pending([bad.pk])
    bad.refresh_from_db()
    assert bad.attempts == services.OUTBOX_MAX_ATTEMPTS
    assert any(r.levelno == logging.ERROR for r in caplog.records)
    assert tasks.notify_pending() == 0
    bad.refresh_from_db()
    assert bad.attempts == services.OUTBOX_MAX_ATTEMPTS


def test_beat_sweeps_the_outbox_in_the_background_lane():
    sweep = settings.CELERY_BEAT_SCHEDULE["notifications-outbox-sweep"]
    assert (sweep["task"], sweep["schedule"]) == ("notifications.tasks.notify_pending", 30.0)
    assert settings.CELERY_TASK_ROUTES["notifications.tasks.notify_pending"] == {
        "priority": settings.CELERY_BACKGROUND_PRIORITY
    }


@pytest.mark.django_db(transaction=True)
def test_two_deliverers_at_once_tell_each_event_once(market):
    # given forty recorded deposits of forty investors, committed
    investors = [market.investor(cash="100") for _ in range(40)]
    Outbox.objects.all().delete()
    for investor in investors:
        with transaction.atomic():
            cash_deposit(actor=market.checker, account=investor, amount=Decimal("10"), proposed_by=market.staff)
    assert Outbox.objects.count() == 40
    _aged()
    start = threading.Barrier(2)

    def deliver():
        try:
            start.wait(10)
            return services.outbox_deliver()
        finally:
            connections.close_all()

    # when two workers deliver at the same moment
    with ThreadPoolExecutor(max_workers=2) as pool:
        counts = [f.result() for f in [pool.submit(deliver) for _ in range(2)]]

    # then between them they delivered each event once, and each investor was told once
    assert sum(counts) == 40
    assert not Outbox.objects.exists()
    told = Notification.objects.filter(kind=Kind.DEPOSIT, user__in=[i.owner for i in investors])
    assert told.count() == 40
    assert told.values("user").distinct().count() == 40
