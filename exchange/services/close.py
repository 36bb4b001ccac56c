"""The end of a trading day: DAY orders expire, each security's price closes, a CLOSE entry records it.

``day_close(now)`` closes every trading day whose close (15:00 Shanghai,
``registry.calendar``) has passed and that is not closed yet, oldest first;
a day's trades are those matched from the previous trading day's close up to
its own (so in demo mode, where ``MARKET_ALWAYS_OPEN`` trades around the
clock, what trades after 15:00 belongs to the next day, as DAY orders placed
then do). Catch-up: if the beat was down, each missed trading day is closed
in order, at most the last ``CATCH_UP_DAYS``; on the very first run only the
most recent day is closed.

One day's close is one transaction: the listed and halted securities' rows
locked in pk order (the global lock order), then the balances of the quotes
it pulls (cash by account pk, then positions). Each security's closing price
is its last trade's price of the day, or its reference price unchanged when
it did not trade, and becomes its reference price, so the next day's band is
centred on it. Active quotes outside the new band are pulled, their
reservations released (a quote outside the band could otherwise fill an
order at a price the band forbids); orders resting from after the close stay,
since they fill only at a quote's price, which is inside the band. One
``DayClose`` row a date (a unique constraint) makes the close happen once:
a second worker waits on the security locks, then finds the row and does
nothing; with no security to lock, the unique constraint refuses it.
"""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.utils import timezone

from balances.services import cash_lock
from ledger.services import entry_write
from registry import calendar
from registry.models import Security

from .. import pretrade
from ..entries import CloseEntry, SecurityClose
from ..models import DayClose, Quote, Trade
from .book import Book
from .orders import orders_expire

CATCH_UP_DAYS = 20


def days_to_close(now: dt.datetime) -> list[dt.date]:
    """The trading days whose close has passed and that are not closed yet, oldest first."""
    last = calendar.last_close(now).date()
    latest = DayClose.objects.order_by("-date").values_list("date", flat=True).first()
    days: list[dt.date] = []
    day = last
    while len(days) < CATCH_UP_DAYS and (latest is None or day > latest):
        days.append(day)
        if latest is None:
            break
        day = calendar.previous_trading_day(day)
    return days[::-1]


def day_close(*, now: dt.datetime | None = None) -> list[dt.date]:
    """Expire the DAY orders of the past days, then close each day not closed yet. Returns the days closed now.

    Idempotent: a second run expires nothing and closes nothing.
    """
    now = now or timezone.now()
    orders_expire(now=now)
    return [day for day in days_to_close(now) if _day_close(day, now)]


def _day_close(day: dt.date, now: dt.datetime) -> bool:
    try:
        with transaction.atomic():
            securities = list(
                Security.objects.select_for_update(no_key=True)
                .filter(status__in=[Security.Status.LISTED, Security.Status.HALTED])
                .order_by("pk")
            )
            # Re-read under the locks: another worker may have closed the day while we waited.
            if DayClose.objects.filter(date=day).exists():
                return False
            start = calendar.close_of(calendar.previous_trading_day(day))
            end = calendar.close_of(day)
            last_trades = {
                row["security_id"]: row
                for row in Trade.objects.filter(security__in=securities, matched_at__gte=start, matched_at__lt=end)
                .order_by("security_id", "-id")
                .distinct("security_id")
                .values("security_id", "id", "price")
            }
            previous = {s.pk: s.reference_price for s in securities}
            changed = []
            for security in securities:
                trade = last_trades.get(security.pk)
                if trade is not None and trade["price"] != security.reference_price:
                    security.reference_price = trade["price"]
                    changed.append(security)
            if changed:
                Security.objects.bulk_update(changed, ["reference_price"])
            pulled = _quotes_outside_band_pull(securities, now)
            entry = entry_write(
                CloseEntry(
                    date=day.isoformat(),
                    closed_at=now,
                    securities=[
                        SecurityClose(
                            code=s.code,
                            close=s.reference_price,
                            previous_reference=previous[s.pk],
                            traded=s.pk in last_trades,
                            last_trade_id=last_trades[s.pk]["id"] if s.pk in last_trades else None,
                            pulled_quote_ids=pulled.get(s.pk, []),
                        )
                        for s in securities
                    ],
                ),
                recorded_at=now,
            )
            DayClose.objects.create(date=day, closed_at=now, entry=entry)
    except IntegrityError:
        # Only the unique date can fail here: a concurrent worker closed the day (with no security to lock).
        if DayClose.objects.filter(date=day).exists():
            return False
        raise
    return True


def _quotes_outside_band_pull(securities: list[Security], now: dt.datetime) -> dict[int, list[int]]:
    """Pull the active quotes priced outside their security's (new) band; the securities are locked."""
    by_security = {s.pk: s for s in securities}
    quotes = [
        q
        for q in Quote.objects.filter(security_id__in=by_security, status=Quote.Status.ACTIVE).order_by("id")
        if not pretrade.price_fits(by_security[q.security_id], q.price)
    ]
    if not quotes:
        return {}
    cash = cash_lock(q.account_id for q in quotes if q.side == Quote.Side.BID)
    pulled: dict[int, list[int]] = {}
    for security_id in sorted({q.security_id for q in quotes}):
        mine = [q for q in quotes if q.security_id == security_id]
        book = Book(now=now, security=by_security[security_id], cash=cash)
        book.lock_releases(quotes=mine)  # the positions; the cash of every security's bids is locked above
        book.pull_quotes(mine)
        book.write()
        pulled[security_id] = [q.pk for q in mine]
    return pulled
