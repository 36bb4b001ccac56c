"""Money and price arithmetic.

Cash is CNY as ``Decimal`` with two places; prices also carry two places, so
price × quantity is always an exact amount and reservations never round.
Floats are refused outright: a float reaching money code is a bug.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

# The one currency of cash (an answer's "currency").
CURRENCY = "CNY"
CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def to_decimal(value: Decimal | int | str) -> Decimal:
    if isinstance(value, float | bool):
        raise TypeError(f"money must not be a {type(value).__name__}: {value!r}")
    return value if isinstance(value, Decimal) else Decimal(value)


def money(value: Decimal | int | str) -> Decimal:
    """Quantize to the cent, half up (the rounding of Chinese fee schedules)."""
    return to_decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def notional(price: Decimal, quantity: int) -> Decimal:
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise TypeError("share quantities are integers")
    return money(to_decimal(price) * quantity)


def fee(amount: Decimal, *, bps: Decimal, minimum: Decimal) -> Decimal:
    """Commission on ``amount``: ``bps`` basis points, at least ``minimum``; none on nothing."""
    if amount <= 0 or (bps <= 0 and minimum <= 0):
        return ZERO
    return max(money(amount * bps / Decimal(10000)), money(minimum))


def amount_text(value: Decimal | int | None) -> str:
    """An amount as pages and messages show it: cents, thousands grouped ("12,553,137.50"); nothing for None.

    The same in both languages: Django's zh-hans number format has no thousands separator, while the
    pages group by thousands everywhere, and the JSON the pages poll shows the same text, so messages do it too.
    """
    return "" if value is None else f"{to_decimal(value):,.2f}"


def shares_text(value: int | None) -> str:
    """A share quantity as pages and messages show it: thousands grouped ("12,500"); nothing for None."""
    return "" if value is None else f"{value:,}"


def percent_text(value: Decimal) -> str:
    """A percentage as given, without trailing zeros ("10", "2.5")."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
