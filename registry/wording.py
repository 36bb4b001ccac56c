"""How a security change reads to the holders of the orders it cancelled: the summary ``registry.listing``
writes for them ("band_pct 30.00 → 20.00; lot_size 100 → 300", in no one's language), in the reader's language.
Wording only, no writes: ``exchange.models.Order.closed_reason_text`` reads it without importing the services."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.money import percent_text

from .models import Security

# How a change's summary names each field to a reader (the security form's labels, without their units where
# the value says them).
_PARAMETER_LABELS = {
    "name": _("Name"),
    "issuer": _("Issuer"),
    "risk_rating": _("Risk rating"),
    "lot_size": _("Lot size"),
    "tick_size": _("Tick size"),
    "reference_price": _("Reference price"),
    "band_pct": _("Price band"),
    "max_holders": _("Holder cap"),
    "trading_modes": _("Trading modes"),
    "settlement_mode": _("Settlement"),
    "qualified_only": _("Qualified investors only"),
    "min_holding_days": _("Minimum holding period (trading days)"),
}
_MODE_LABELS = {"market_making": _("Market making"), "rfq": _("Request for quote"), "negotiated": _("Negotiated")}
_CHANGE_RE = re.compile(r"(?P<field>[a-z_]+) (?P<before>.*) → (?P<after>.*)", re.DOTALL)


def _value_text(field: str, value: str) -> str:
    """A value as ``_shown`` wrote it, as a reader reads it; one it cannot read, as written."""
    try:
        if field == "band_pct":
            return f"±{percent_text(Decimal(value))}%"
        if field == "risk_rating":
            return f"R{int(value)}"
    except (InvalidOperation, ValueError):
        return value
    if field == "trading_modes":
        return gettext(", ").join(str(_MODE_LABELS.get(m, m)) for m in value.split(",")) if value else value
    if field == "settlement_mode" and value in Security.SettlementMode.values:
        return str(Security.SettlementMode(value).label)
    if field == "qualified_only" and value in ("true", "false"):
        return gettext("Yes") if value == "true" else gettext("No")
    return value


def change_summary_text(summary: str) -> str:
    """A change's summary as ``security_change`` writes it for the orders it cancels ("band_pct 30.00 → 20.00;
    lot_size 100 → 300", in no one's language) in the active language: "Price band ±30% → ±20%; Lot size 100 →
    300". A part it does not know (a field of a later version, a summary cut at the column's length) is shown as
    written."""
    parts = []
    # A name or an issuer may hold "; " itself: a part starts only where a field's name follows.
    for part in re.split(r"; (?=[a-z_]+ )", summary):
        m = _CHANGE_RE.fullmatch(part)
        if m is None or m["field"] not in _PARAMETER_LABELS:
            parts.append(part)
            continue
        field = m["field"]
        before, after = _value_text(field, m["before"]), _value_text(field, m["after"])
        parts.append(f"{_PARAMETER_LABELS[field]} {before} → {after}")
    return gettext("; ").join(parts)
