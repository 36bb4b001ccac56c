"""Trading calendar: sessions in Asia/Shanghai time on trading days.

A trading day is Monday to Friday and not a holiday the operator keeps
(``registry.holidays``). ``settings.MARKET_ALWAYS_OPEN`` (on in demo mode)
keeps the market open around the clock, but the day still ends at the
calendar's close (``last_close``): DAY orders expire and prices close then.

``market_is_open`` runs on every order, so the holiday dates are read from a
process-local memo, not the database: it is reloaded at most every
``HOLIDAY_MEMO_SECONDS`` and at once in the process that changes the list.
A stale memo in another process cannot matter: a holiday is added or removed
only for a date after today (Shanghai), and the first session of any day
starts at 09:30, hours after the memo has been reloaded.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

SHANGHAI = ZoneInfo("Asia/Shanghai")
SESSIONS = ((dt.time(9, 30), dt.time(11, 30)), (dt.time(13, 0), dt.time(15, 0)))
SESSION_NAMES = ("morning", "afternoon")
# The session ``session_now`` names while ``MARKET_ALWAYS_OPEN`` keeps trading going around the clock.
CONTINUOUS = "continuous"
CLOSE_TIME = SESSIONS[-1][1]
HOLIDAY_MEMO_SECONDS = 60.0

_memo_lock = threading.Lock()
_memo: tuple[float, frozenset[dt.date]] | None = None


def holidays() -> frozenset[dt.date]:
    """Every holiday date (a few a year: the whole table), from the memo."""
    global _memo
    memo = _memo
    if memo is not None and time.monotonic() - memo[0] < HOLIDAY_MEMO_SECONDS:
        return memo[1]
    from .models import Holiday  # the calendar is imported before the app registry is ready

    dates = frozenset(Holiday.objects.values_list("date", flat=True))
    with _memo_lock:
        _memo = (time.monotonic(), dates)
    return dates


def holidays_forget() -> None:
    """Drop the memo (the holiday list changed in this process)."""
    global _memo
    with _memo_lock:
        _memo = None


def is_trading_day(day: dt.date) -> bool:
    return day.weekday() < 5 and day not in holidays()


def local(at: dt.datetime | None = None) -> dt.datetime:
    return (at or timezone.now()).astimezone(SHANGHAI)


def today(at: dt.datetime | None = None) -> dt.date:
    """The date in Shanghai."""
    return local(at).date()


def close_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, CLOSE_TIME, tzinfo=SHANGHAI)


def previous_trading_day(day: dt.date) -> dt.date:
    day -= dt.timedelta(days=1)
    while not is_trading_day(day):
        day -= dt.timedelta(days=1)
    return day


def market_is_open(at: dt.datetime | None = None) -> bool:
    if getattr(settings, "MARKET_ALWAYS_OPEN", False):
        return True
    return session_of(local(at)) is not None


def session_of(moment: dt.datetime) -> str | None:
    """The calendar's session at ``moment`` (Shanghai time), whatever ``MARKET_ALWAYS_OPEN`` says."""
    now = moment.time()
    # The clock first: outside the sessions (most of the day) the holiday memo is not needed.
    for name, (start, end) in zip(SESSION_NAMES, SESSIONS, strict=True):
        if start <= now < end:
            return name if is_trading_day(moment.date()) else None
    return None


def session_end(at: dt.datetime | None = None) -> dt.datetime | None:
    """The end of the session the clock is in at ``at`` (11:30 or 15:00 Shanghai), or None: between sessions, and
    while ``MARKET_ALWAYS_OPEN`` keeps trading going around the clock. What is firm "for a while" (a request for
    quote and its answers, a negotiated proposal) ends with it at the latest: nothing can trade after it."""
    if getattr(settings, "MARKET_ALWAYS_OPEN", False):
        return None
    moment = local(at)  # the clock alone: on a day that is not a trading day nothing is asked, so no holiday read
    for start, end in SESSIONS:
        if start <= moment.time() < end:
            return dt.datetime.combine(moment.date(), end, tzinfo=SHANGHAI)
    return None


def last_close(at: dt.datetime | None = None) -> dt.datetime:
    """The most recent close of a trading day (15:00 Shanghai) at or before ``at``.

    DAY orders live until this moment: one placed before it has expired. The
    close is the calendar's even when ``MARKET_ALWAYS_OPEN`` keeps trading going
    around the clock, so a demo's DAY orders still end with their day.
    """
    moment = local(at)
    day = moment.date()
    if not (is_trading_day(day) and close_of(day) <= moment):
        day = previous_trading_day(day)
    return close_of(day)


def session_now(at: dt.datetime | None = None) -> str | None:
    """The session trading is in at ``at`` ("morning" or "afternoon"), or None between sessions."""
    if getattr(settings, "MARKET_ALWAYS_OPEN", False):
        return CONTINUOUS
    return session_of(local(at))


def next_open(at: dt.datetime | None = None) -> dt.datetime | None:
    """The start of the next session after ``at`` (None while the market is kept open around the clock)."""
    if getattr(settings, "MARKET_ALWAYS_OPEN", False):
        return None
    moment = local(at)
    day = moment.date()
    while True:
        if is_trading_day(day):
            for start, _end in SESSIONS:
                opening = dt.datetime.combine(day, start, tzinfo=SHANGHAI)
                if opening > moment:
                    return opening
        day += dt.timedelta(days=1)
