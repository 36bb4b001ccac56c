"""``{% load labels %}``: codes shown as labels in the active language (``core.labels``)."""

from django import template

from core import labels, money

register = template.Library()

register.filter("entry_kind", labels.entry_kind_label)
register.filter("audit_action", labels.audit_action_label)
register.filter("audit_outcome", labels.outcome_label)
register.filter("role_label", labels.role_label)
register.filter("amount", lambda value: "" if value in (None, "") else money.amount_text(value))
register.filter("shares", lambda value: "" if value in (None, "") else money.shares_text(value))
