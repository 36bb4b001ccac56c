"""``{% load labels %}``: codes shown as labels, and durations as words, in the active language (``core.labels``)."""

from django import template

from core import labels, money
from core.crypto import mask_reference
from core.names import account_name_for

register = template.Library()

register.filter("entry_kind", labels.entry_kind_label)
register.filter("audit_action", labels.audit_action_label)
register.filter("audit_target", labels.audit_target_label)
register.filter("alert_detail", labels.alert_detail_label)
register.filter("audit_outcome", labels.outcome_label)
register.filter("role_label", labels.role_label)
register.filter("duration", labels.duration_text)


@register.filter
def amount(value) -> str:
    """A Decimal amount grouped by thousands ("12,553,137.50"); text (already formatted) as it is."""
    if value is None or isinstance(value, str):
        return value or ""
    return money.amount_text(value)


@register.filter
def shares(value) -> str:
    """A share quantity grouped by thousands ("1,000,000"); text (already formatted) as it is."""
    if value is None or isinstance(value, str):
        return value or ""
    return money.shares_text(value)


@register.filter
def account_name(account, viewer) -> str:
    """``account``'s name as ``viewer`` may see it: an investor's masked but to the investor and their broker's
    staff (``core.names``)."""
    return account_name_for(account, viewer)


@register.filter
def legal_reference_masked(reference: str) -> str:
    """A legal order's reference as its holder sees it (``core.crypto.mask_reference``)."""
    return mask_reference(reference or "")
