"""Quotes ended more than QUOTE_RETENTION_DAYS ago and named by nothing are deleted every hour
(exchange.services.retention, exchange.tasks.quotes_ended_delete): each requote left two rows for ever (found by a
soak of a live exchange). Kept: active quotes, young ended ones, and those a trade, a CLOSE entry or an audit
record names."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from core.models import AuditEvent
from exchange.models import DayClose, Quote, Trade
from exchange.services import (
    OrderRequest,
    day_close,
    market_making_close_forbidden,
    order_place,
    quotes_pull,
    retention,
)
from exchange.tasks import quotes_ended_delete
from ledger.models import Entry
from registry.models import Security

D = Decimal
LATER = dt.timedelta(days=31)  # past the retention of 30 days these tests set


@pytest.fixture(autouse=True)
def _a_month(settings):
    # a venue that decided to keep ended quotes a month (the default, 0, keeps them all)
    settings.QUOTE_RETENTION_DAYS = 30


def _rows() -> dict[int, tuple]:
    return {q.pk: (q.status, q.quantity, q.price, q.updated_at) for q in Quote.objects.all()}


def test_old_replaced_and_pulled_quotes_go_and_live_filled_and_young_ones_stay(market):
    # given a market maker who requoted twice (four replaced rows) and now quotes 9.90 / 10.10,
    mm = market.market_maker()
    market.quote(mm, "9.70", "10.30")
    market.quote(mm, "9.80", "10.20")
    live = market.quote(mm, "9.90", "10.10")
    replaced = set(Quote.objects.filter(account=mm, status=Quote.Status.REPLACED).values_list("pk", flat=True))
    # a second one whose ask filled in part before it pulled everything, and whose bid was only pulled
    mm2 = market.market_maker()
    traded = market.quote(mm2, "9.85", "10.05")
    investor = market.investor(cash="50000")
    order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest(market.security.code, "buy", 100, D("10.05"), "IOC", "fill-1"),
    )
    quotes_pull(user=mm2.owner)
    trade = Trade.objects.get()
    assert trade.quote_id == traded.ask.pk
    # and, a month on, a third one's quotes replaced only a day before the run
    mm3 = market.market_maker()
    market.quote(mm3, "9.60", "10.40")
    market.quote(mm3, "9.65", "10.35")
    young = set(Quote.objects.filter(account=mm3, status=Quote.Status.REPLACED).values_list("pk", flat=True))
    now = timezone.now() + LATER
    Quote.objects.filter(pk__in=young).update(updated_at=now - dt.timedelta(days=1))
    kept_before = {pk: row for pk, row in _rows().items() if pk not in replaced | {traded.bid.pk}}

    # when the hourly task runs a month later
    deleted = retention.quotes_ended_delete(now=now)

    # then the old replaced quotes and the pulled bid that never filled are gone, and nothing else changed:
    # the live quotes, the ask its trade names, the young replaced ones
    assert deleted == 5
    assert not Quote.objects.filter(pk__in=replaced | {traded.bid.pk}).exists()
    assert _rows() == kept_before
    assert {live.bid.pk, live.ask.pk, traded.ask.pk} | young <= set(kept_before)
    assert Trade.objects.get().quote_id == traded.ask.pk
    # and a second run deletes nothing more
    assert retention.quotes_ended_delete(now=now) == 0
    assert _rows() == kept_before


def test_a_quote_a_close_pulled_stays_named_by_its_close_entry(market):
    # given a quote the day's close pulled (priced outside the band of the new reference price), and one replaced
    mm = market.market_maker()
    market.quote(mm, "9.80", "10.20")
    market.quote(mm, "9.90", "10.10")
    replaced = set(Quote.objects.filter(status=Quote.Status.REPLACED).values_list("pk", flat=True))
    Security.objects.filter(pk=market.security.pk).update(reference_price=D("20.00"))
    closed_at = timezone.now()
    assert day_close(now=closed_at)
    pulled = set(Quote.objects.filter(status=Quote.Status.PULLED).values_list("pk", flat=True))
    payload = json.loads(bytes(Entry.objects.get(pk=DayClose.objects.get().entry_id).canonical))["payload"]
    assert sorted(pulled) == sorted(i for s in payload["securities"] for i in s["pulled_quote_ids"])
    assert len(pulled) == 2

    # when the task runs a month later
    deleted = retention.quotes_ended_delete(now=closed_at + LATER)

    # then only the replaced quotes went; the pulled ones, which the CLOSE entry names, stay
    assert deleted == 2
    assert set(Quote.objects.values_list("pk", flat=True)) == pulled
    assert not Quote.objects.filter(pk__in=replaced).exists()


def test_a_quote_the_venue_rules_pulled_stays_named_by_its_audit_record(market, settings):
    # given quotes the venue's rules pulled (a restart under cn-regional-2017) and one pulled by its market maker
    mm, mm2 = market.market_maker(), market.market_maker()
    market.quote(mm, "9.90", "10.10")
    other = market.new_security("V" + market.security.code)
    market.issue(mm2, 1000, security=other)
    market.quote(mm2, "9.90", "10.10", security=other)
    quotes_pull(user=mm2.owner)
    own_pull = set(Quote.objects.filter(account=mm2).values_list("pk", flat=True))
    settings.VENUE_PROFILE = "cn-regional-2017"
    closed = market_making_close_forbidden()
    venue_pulled = set(closed.quotes[market.security.code])
    assert AuditEvent.objects.get(action="quotes_pull_venue_rules").detail["quotes"] == sorted(venue_pulled)

    # when the task runs a month later
    deleted = retention.quotes_ended_delete(now=timezone.now() + LATER)

    # then the market maker's own pull went, the venue's stays
    assert deleted == 2
    assert set(Quote.objects.values_list("pk", flat=True)) == venue_pulled
    assert not Quote.objects.filter(pk__in=own_pull).exists()


def test_ended_quotes_are_deleted_in_batches_until_none_is_left(market):
    # given seven requotes (fourteen replaced rows) and the quote in force
    mm = market.market_maker()
    for i in range(8):
        market.quote(mm, f"9.{80 + i}", "10.20")
    live = set(Quote.objects.filter(status=Quote.Status.ACTIVE).values_list("pk", flat=True))

    # when they are deleted three a transaction
    deleted = retention.quotes_ended_delete(now=timezone.now() + LATER, batch=3)

    # then all fourteen went, over five batches, and the live two stayed
    assert deleted == 14
    assert set(Quote.objects.values_list("pk", flat=True)) == live


def test_a_retention_of_zero_keeps_every_quote(market, settings):
    mm = market.market_maker()
    market.quote(mm, "9.80", "10.20")
    market.quote(mm, "9.90", "10.10")
    before = _rows()
    settings.QUOTE_RETENTION_DAYS = 0

    assert retention.quotes_ended_delete(now=timezone.now() + dt.timedelta(days=3650)) == 0
    assert _rows() == before


def test_the_task_runs_the_service(market):
    # given old replaced quotes
    mm = market.market_maker()
    market.quote(mm, "9.80", "10.20")
    market.quote(mm, "9.90", "10.10")
    Quote.objects.filter(status=Quote.Status.REPLACED).update(updated_at=timezone.now() - LATER)

    # when the task runs, twice
    assert quotes_ended_delete.apply().get() == 2
    assert quotes_ended_delete.apply().get() == 0

    # then only the active quotes are left
    assert set(Quote.objects.values_list("status", flat=True)) == {Quote.Status.ACTIVE}


def test_beat_runs_it_every_hour_at_background_priority():
    entries = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "exchange.tasks.quotes_ended_delete"]
    assert len(entries) == 1 and entries[0]["schedule"] == 3600.0
    assert settings.CELERY_TASK_ROUTES["exchange.tasks.quotes_ended_delete"] == {
        "priority": settings.CELERY_BACKGROUND_PRIORITY
    }
    import config.settings

    assert config.settings.QUOTE_RETENTION_DAYS == 0  # kept unless the venue decides otherwise
