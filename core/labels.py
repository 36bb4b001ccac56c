"""Labels in the active language for the codes that pages show: ledger entry kinds, audit actions and
outcomes, roles; and a duration as words (``duration_text``). The codes themselves stay as they are in the
data, the API and the CSV exports; a page shows the label and keeps the code at hand (a title or a data
attribute) for those who search by it.

The entry kinds are ``ledger.models.EntryKind``'s values; core cannot import ledger, so the labels are kept
here and ``tests/test_translations.py`` checks that every kind has one. An unknown code is shown as it is.
"""

from __future__ import annotations

from django.urls import Resolver404, resolve
from django.utils.translation import get_language, gettext, ngettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from .audit_actions import REFUSED_ACTIONS, refused_action

ENTRY_KINDS = {
    "ISSUE": pgettext_lazy("entry kind", "Issue"),
    "DEPOSIT": pgettext_lazy("entry kind", "Deposit"),
    "WITHDRAWAL": pgettext_lazy("entry kind", "Withdrawal"),
    "TRADE": pgettext_lazy("entry kind", "Trade"),
    "SETTLEMENT": pgettext_lazy("entry kind", "Settlement"),
    "SETTLEMENT_FAILED": pgettext_lazy("entry kind", "Settlement failed"),
    "SETTLEMENT_HOLD": pgettext_lazy("entry kind", "Settlement hold"),
    "SETTLEMENT_RELEASE": pgettext_lazy("entry kind", "Settlement release"),
    "SETTLEMENT_INSTRUCTION": pgettext_lazy("entry kind", "Settlement instruction"),
    "SETTLEMENT_INSTRUCTION_END": pgettext_lazy("entry kind", "Settlement instruction ended"),
    "FREEZE": pgettext_lazy("entry kind", "Freeze"),
    "UNFREEZE": pgettext_lazy("entry kind", "Unfreeze"),
    "FORCED_TRANSFER": pgettext_lazy("entry kind", "Forced transfer"),
    "HALT": pgettext_lazy("entry kind", "Halt"),
    "RESUME": pgettext_lazy("entry kind", "Resume"),
    "CORRECTION": pgettext_lazy("entry kind", "Correction"),
    "DISCLOSURE": pgettext_lazy("entry kind", "Disclosure"),
    "KEY_ROTATION": pgettext_lazy("entry kind", "Key rotation"),
    "LISTING": pgettext_lazy("entry kind", "Listing"),
    "SECURITY_CHANGE": pgettext_lazy("entry kind", "Security change"),
    "DELISTING": pgettext_lazy("entry kind", "Delisting"),
    "UNLOCK": pgettext_lazy("entry kind", "Unlock"),
    "CLOSE": pgettext_lazy("entry kind", "Day close"),
    "IDENTITY_REVEAL": pgettext_lazy("entry kind", "Identity reveal"),
}

AUDIT_ACTIONS = {
    "login": _("Log in"),
    "login_failed": _("Failed login"),
    "login_locked": _("Login locked"),
    "logout": _("Log out"),
    "otp_enrolled": _("Authenticator enrolled"),
    "otp_verified": _("Second factor verified"),
    "otp_recovery_code": _("Recovery code used"),
    "api_token": _("API token issued"),
    "api_token_revoke": _("API token revoked"),
    "password_change": _("Password changed"),
    "password_reset_request": _("Password reset link sent"),
    "password_reset": _("Password reset"),
    "email_change_request": _("Email address change requested"),
    "email_change": _("Email address confirmed"),
    "email_remove": _("Email address removed"),
    "cash_deposit": _("Cash deposit"),
    "cash_withdraw": _("Cash withdrawal"),
    "securities_issue": _("Securities issued"),
    "counter_cash_propose": _("Counter cash proposed"),
    "counter_cash_approve": _("Counter cash approved"),
    "counter_cash_reject": _("Counter cash rejected"),
    "counter_cash_withdraw_request": _("Counter cash request withdrawn"),
    "counter_order_place": _("Order placed at the counter"),
    "counter_order_cancel": _("Order cancelled at the counter"),
    "kyc_register": _("Account opening registered"),
    "kyc_open_at_counter": _("Account opened at the counter"),
    "kyc_update": _("KYC data changed"),
    "kyc_assess": _("Risk questionnaire"),
    "kyc_document_add": _("ID document uploaded"),
    "kyc_document_view": _("ID document viewed"),
    "kyc_qualify": _("Qualified-investor attestation"),
    "kyc_apply": _("Application sent"),
    "kyc_submit": _("Submitted for approval"),
    "kyc_approve": _("Approval"),
    "kyc_reject": _("Rejection"),
    "kyc_expire": _("Risk assessment expired"),
    "kyc_normalize": _("Identity normalised"),
    "identity_reveal": _("Identity revealed to a regulator"),
    "freeze_propose": _("Freeze proposed"),
    "freeze_approve": _("Freeze approved"),
    "freeze_reject": _("Freeze rejected"),
    "freeze_withdraw": _("Freeze withdrawn"),
    "freeze_release": _("Freeze released"),
    "freeze_expire": _("Freeze expired"),
    "frozen_orders_cancel": _("Orders and proposals of a frozen account closed"),
    "forced_transfer_propose": _("Forced transfer proposed"),
    "forced_transfer_approve": _("Forced transfer approved"),
    "forced_transfer_reject": _("Forced transfer rejected"),
    "forced_transfer_withdraw": _("Forced transfer withdrawn"),
    "correction_propose": _("Correction proposed"),
    "correction_approve": _("Correction approved"),
    "correction_reject": _("Correction rejected"),
    "correction_withdraw": _("Correction withdrawn"),
    "settlement_hold": _("Settlement held"),
    "settlement_release": _("Settlement released"),
    "settlement_refuse": _("Settlement refused"),
    "settlement_instruction_create": _("Settlement instruction set"),
    "settlement_instruction_end": _("Settlement instruction ended"),
    "security_list": _("Security listed"),
    "security_change": _("Security changed"),
    "security_delist": _("Security delisted"),
    "security_halt": _("Trading halt"),
    "security_resume": _("Trading resumed"),
    "market_halt": _("Market halt"),
    "market_resume": _("Market resumed"),
    "holiday_add": _("Holiday added"),
    "holiday_remove": _("Holiday removed"),
    "disclosure_publish": _("Disclosure published"),
    "alert_change": _("Surveillance alert changed"),
    "alert_reopen": _("Surveillance alert reopened"),
    "surveillance_rule_change": _("Surveillance rule changed"),
    "ledger_verify": _("Ledger verified"),
    "negotiated.propose": _("Negotiated transfer proposed"),
    "negotiated.confirm": _("Negotiated transfer confirmed"),
    "negotiated.withdraw": _("Negotiated transfer withdrawn"),
    "quotes_pull_venue_rules": _("Quotes pulled: not allowed under the venue's rules"),
    "orders_cancel_venue_rules": _("Orders cancelled: not allowed under the venue's rules"),
    "audit_export": _("Audit trail exported"),
    "evidence_export": _("Evidence bundle exported"),
    "register_export": _("Shareholder register exported"),
    "issuance_propose": _("Issuance proposed"),
    "issuance_approve": _("Issuance approved"),
    "issuance_reject": _("Issuance rejected"),
    "issuance_withdraw": _("Issuance withdrawn"),
}

OUTCOMES = {"ok": _("done"), "refused": _("refused"), "failed": _("failed")}


def entry_kind_label(code: str) -> str:
    return str(ENTRY_KINDS.get(code, code))


def audit_action_label(code: str, target: str = "") -> str:
    """An audit action in words. A refusal recorded under its URL's name and path (the URLs
    ``core.audit_actions`` does not name, and every refusal recorded before it did) is named as that module
    names it now, else as a refused request to its path; any other unknown code as it is."""
    if code in AUDIT_ACTIONS:
        return str(AUDIT_ACTIONS[code])
    if isinstance(REFUSED_ACTIONS.get(code), str):
        return str(AUDIT_ACTIONS.get(REFUSED_ACTIONS[code], code))
    if target.startswith("/"):
        action = _refused_action_of(code, target)
        if action in AUDIT_ACTIONS:
            return str(AUDIT_ACTIONS[action])
        return gettext("Refused request to %(path)s") % {"path": target}
    return code


def _refused_action_of(view_name: str, path: str) -> str | None:
    try:
        match = resolve(path)
    except Resolver404:
        return None
    if match.view_name != view_name:
        return None
    named = refused_action(view_name, match.kwargs, {})
    return named[0] if named is not None else None


# What an audit record's object names before its id ("trade 5", "alert:1"): the record keeps the identifier it
# is searched by; a page shows the kind in words.
AUDIT_TARGET_KINDS = {
    "trade": pgettext_lazy("audit object", "Trade"),
    "instruction": pgettext_lazy("audit object", "Settlement instruction"),
    "alert": pgettext_lazy("audit object", "Alert"),
    "kyc": pgettext_lazy("audit object", "KYC application"),
    "cash request": pgettext_lazy("audit object", "Cash request"),
    "negotiated": pgettext_lazy("audit object", "Negotiated transfer"),
    "freeze": pgettext_lazy("audit object", "Freeze"),
    "forced transfer": pgettext_lazy("audit object", "Forced transfer"),
    "correction": pgettext_lazy("audit object", "Correction"),
}


def audit_target_label(target: str, action: str = "") -> str:
    """An audit record's object as a page shows it: "trade 5" is "Trade 5" (成交 5); a code is itself. A correction's
    record names its trade by the bare number (``supervision.services``: a trade's evidence finds it so), shown as
    the trade it is: "Correction approved · 2" read as correction 2 (found by a walk)."""
    if action.startswith("correction_") and target.isascii() and target.isdigit():
        return f"{AUDIT_TARGET_KINDS['trade']} {target}"
    for prefix, label in AUDIT_TARGET_KINDS.items():
        for separator in (" ", ":"):
            if target.startswith(prefix + separator) and target[len(prefix) + 1 :].isdigit():
                return f"{label} {target[len(prefix) + 1 :]}"
    return target


# The figures a surveillance alert keeps (surveillance.rules: its detail's keys), named in words on its page.
ALERT_DETAILS = {
    "price": _("price"),
    "quantity": _("quantity"),
    "holders": _("holders"),
    "max_holders": _("holder cap"),
    "band_low": _("band low"),
    "band_high": _("band high"),
    "edge": _("edge"),
    "day": _("day"),
    "value": _("value"),
    "daily_average": _("daily average"),
    "events": _("events"),
    "window_seconds": _("window (seconds)"),
    "disclosure": _("disclosure"),
    "title": _("title"),
    "published_at": _("published at"),
    "net_quantity": _("net quantity"),
}


def alert_detail_label(key: str) -> str:
    return str(ALERT_DETAILS.get(key, key))


def outcome_label(code: str) -> str:
    return str(OUTCOMES.get(code, code))


def role_label(code: str) -> str:
    from .models import Role

    try:
        return str(Role(code).label)
    except ValueError:
        return code


def choice_label(choices, value: str) -> str:
    """The label of ``value`` among a model's ``choices`` (a ``TextChoices``) in the active language; an unknown
    value as it is."""
    try:
        return str(choices(value).label)
    except ValueError:
        return value


def duration_text(seconds: int) -> str:
    """How long a link works, in words of the active language: whole hours ("24 hours"), else minutes ("30
    minutes", never "0 hours"), at least one; rounded down, so a page never promises more time than there is."""
    seconds = int(seconds)
    if seconds >= 3600 and seconds % 3600 == 0:
        hours = seconds // 3600
        return ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours}
    minutes = max(1, seconds // 60)
    return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}


def sentence_gap() -> str:
    """What goes between two sentences joined in the active language: a space in English, nothing in Chinese, whose
    full stop (。) is itself the gap (found by a walk: "可用股份为 1,700 股。 其中 1,000 股…")."""
    return "" if (get_language() or "").startswith("zh") else " "
