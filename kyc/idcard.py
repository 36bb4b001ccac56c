"""PRC resident identity card numbers (GB 11643-1999): 18 characters, ISO 7064 MOD 11-2 check.

The reasons are returned in English, marked for translation; the caller translates them.
Only ASCII digits (and X) make a valid number: ``str.isdigit`` and ``int`` also take
fullwidth and Arabic-Indic digits, which would give one identity a second spelling.
Callers normalize first (``core.crypto.normalize_identifier``).
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django.utils.translation import gettext_noop

from registry.calendar import SHANGHAI

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK = "10X98765432"
DIGITS = frozenset("0123456789")


def check_character(first17: str) -> str:
    return CHECK[sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True)) % 11]


def validate_resident_id(value: str) -> str | None:
    """None if valid, else the reason."""
    value = value.strip().upper()
    if len(value) != 18 or not set(value[:17]) <= DIGITS or value[17] not in DIGITS | {"X"}:
        return gettext_noop("A resident ID number has 17 digits and a check digit (0-9 or X).")
    try:
        born = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return gettext_noop("The date of birth in the ID number is not a real date.")
    # Born no later than today in China, read from Django's clock (the process's own date is China's too, as Django
    # sets TZ to TIME_ZONE, but only Django's clock is the one tests and the rest of the code pin).
    if born > timezone.now().astimezone(SHANGHAI).date() or born.year < 1900:
        return gettext_noop("The date of birth in the ID number is not plausible.")
    if check_character(value[:17]) != value[17]:
        return gettext_noop("The ID number's check digit is wrong.")
    return None
