"""Prices and quantities from the outside world, checked before any lock is taken."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from core import errors as err
from core.models import PRICE


def parse_price(value: object) -> Decimal:
    """A price from the outside world: a decimal string or Decimal, never a float."""
    if isinstance(value, float | bool) or value is None:
        raise err.InvalidInput(_('Prices are decimal strings, such as "10.50".'))
    try:
        price = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise err.InvalidInput(_("The price is not a decimal number.")) from exc
    if not price.is_finite() or price <= 0:
        raise err.InvalidInput(_("The price must be a positive number."))
    if price.adjusted() >= PRICE["max_digits"] - PRICE["decimal_places"]:
        raise err.InvalidInput(_("The price is too large."))
    return price


# More shares than any security has; it keeps price × quantity within decimal precision and the columns.
MAX_QUANTITY = 10**12


def parse_quantity(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise err.InvalidInput(_("Quantities are whole numbers of shares."))
    if value <= 0:
        raise err.InvalidInput(_("The quantity must be positive."))
    if value > MAX_QUANTITY:
        raise err.InvalidInput(_("The quantity is too large."))
    return value
