"""Writes of the trading calendar: the holidays the exchange operator keeps.

Rules, each with its own error: only exchange operators add or remove a
holiday; its date is after today in Shanghai and at most five years ahead (a holiday never rewrites a day
that has begun, so no DAY order, close or trade of it changes meaning); it is
a weekday (weekends are closed anyway; PostgreSQL refuses a weekend too); one
holiday a date (a unique constraint; the second of two racing adds gets the
same error); a name of at most 100 characters. Each change writes an audit
record in the same transaction. A holiday is not a ledger entry: it records
no change of anyone's rights or assets, only when trading may happen; the
CLOSE entries of the days that did trade are the ledger's record.
"""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core import errors as err
from core.audit import audit_record
from core.models import Role, User

from . import calendar
from .models import Holiday

HOLIDAY_NAME_MAX_LENGTH = 100
# Calendars are published a year or two ahead; a date beyond the end of the fifth year from now is a typo.
HOLIDAY_HORIZON_YEARS = 5

HolidayNotFuture = err.error_class(
    "HolidayNotFuture", "holiday_not_future", _("A holiday can only be added or removed for a date after today."), 409
)
HolidayOnWeekend = err.error_class(
    "HolidayOnWeekend", "holiday_on_weekend", _("That date is a Saturday or a Sunday: the market is closed anyway.")
)
HolidayTooFar = err.error_class("HolidayTooFar", "holiday_too_far", _("A holiday can be set at most five years ahead."))
HolidayExists = err.error_class("HolidayExists", "holiday_exists", _("That date is already a holiday."), 409)
HolidayNotFound = err.error_class("HolidayNotFound", "holiday_not_found", _("That date is not a holiday."), 404)
HolidayNameRequired = err.error_class("HolidayNameRequired", "holiday_name_required", _("Give the holiday a name."))
HolidayNameTooLong = err.error_class(
    "HolidayNameTooLong", "holiday_name_too_long", _("The holiday's name is longer than 100 characters.")
)


def require_operator(actor: User) -> None:
    if actor.role != Role.EXCHANGE_OPERATOR:
        raise err.PermissionDenied(gettext("Only exchange operators keep the trading calendar."))


def _require_future(day: dt.date) -> None:
    if day <= calendar.today():
        raise HolidayNotFuture()


def _require_within_horizon(day: dt.date) -> None:
    last = dt.date(calendar.today().year + HOLIDAY_HORIZON_YEARS, 12, 31)
    if day > last:
        raise HolidayTooFar(
            gettext("A holiday can be set at most five years ahead, until %(last)s.") % {"last": last.isoformat()}
        )


def _changed() -> None:
    # This process sees the change at once; the others within calendar.HOLIDAY_MEMO_SECONDS.
    calendar.holidays_forget()
    transaction.on_commit(calendar.holidays_forget)


def holiday_add(*, actor: User, date: dt.date, name: str, ip: str | None = None) -> Holiday:
    """Close the market on ``date`` (a future weekday)."""
    require_operator(actor)
    name = (name or "").strip()
    if not name:
        raise HolidayNameRequired()
    if len(name) > HOLIDAY_NAME_MAX_LENGTH:
        raise HolidayNameTooLong()
    if date.weekday() >= 5:
        raise HolidayOnWeekend()
    _require_future(date)
    _require_within_horizon(date)
    try:
        with transaction.atomic():
            holiday = Holiday.objects.create(date=date, name=name, created_by=actor, created_at=timezone.now())
            audit_record(actor=actor, action="holiday_add", target=date.isoformat(), ip=ip, detail={"name": name})
            _changed()
    except IntegrityError as exc:
        if Holiday.objects.filter(date=date).exists():
            raise HolidayExists() from exc
        raise
    return holiday


def holiday_remove(*, actor: User, date: dt.date, ip: str | None = None) -> None:
    """Open the market again on ``date`` (a future holiday)."""
    require_operator(actor)
    _require_future(date)
    with transaction.atomic():
        holiday = Holiday.objects.select_for_update().filter(date=date).first()
        if holiday is None:
            raise HolidayNotFound()
        holiday.delete()
        audit_record(
            actor=actor, action="holiday_remove", target=date.isoformat(), ip=ip, detail={"name": holiday.name}
        )
        _changed()


def holidays_upcoming(*, at: dt.datetime | None = None) -> list[Holiday]:
    return list(Holiday.objects.filter(date__gte=calendar.today(at)).order_by("date"))
