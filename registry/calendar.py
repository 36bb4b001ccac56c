"""Trading calendar: sessions in Asia/Shanghai time on working days.

``settings.MARKET_ALWAYS_OPEN`` (on in demo mode) keeps the market open.
Public holidays are not modelled yet: a working day is Monday to Friday.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

SHANGHAI = ZoneInfo("Asia/Shanghai")
SESSIONS = ((dt.time(9, 30), dt.time(11, 30)), (dt.time(13, 0), dt.time(15, 0)))


def market_is_open(at: dt.datetime | None = None) -> bool:
    if getattr(settings, "MARKET_ALWAYS_OPEN", False):
        return True
    local = (at or timezone.now()).astimezone(SHANGHAI)
    if local.weekday() >= 5:
        return False
    now = local.time()
    return any(start <= now < end for start, end in SESSIONS)


def last_close(at: dt.datetime | None = None) -> dt.datetime:
    """The most recent close of a trading day (15:00 Shanghai on a working day) at or before ``at``.

    DAY orders live until this moment: one placed before it has expired. The
    close is the calendar's even when ``MARKET_ALWAYS_OPEN`` keeps trading going
    around the clock, so a demo's DAY orders still end with their day.
    """
    local = (at or timezone.now()).astimezone(SHANGHAI)
    close_time = SESSIONS[-1][1]
    day = local.date()
    while True:
        close = dt.datetime.combine(day, close_time, tzinfo=SHANGHAI)
        if day.weekday() < 5 and close <= local:
            return close
        day -= dt.timedelta(days=1)


def session_now(at: dt.datetime | None = None) -> str | None:
    """The session trading is in at ``at`` ("morning" or "afternoon"), or None between sessions."""
    if getattr(settings, "MARKET_ALWAYS_OPEN", False):
        return "continuous"
    local = (at or timezone.now()).astimezone(SHANGHAI)
    if local.weekday() >= 5:
        return None
    for name, (start, end) in zip(("morning", "afternoon"), SESSIONS, strict=True):
        if start <= local.time() < end:
            return name
    return None


def next_open(at: dt.datetime | None = None) -> dt.datetime | None:
    """The start of the next session after ``at`` (None while the market is kept open around the clock)."""
    if getattr(settings, "MARKET_ALWAYS_OPEN", False):
        return None
    local = (at or timezone.now()).astimezone(SHANGHAI)
    day = local.date()
    while True:
        if day.weekday() < 5:
            for start, _end in SESSIONS:
                moment = dt.datetime.combine(day, start, tzinfo=SHANGHAI)
                if moment > local:
                    return moment
        day += dt.timedelta(days=1)
