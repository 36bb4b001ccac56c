"""What a refused request was trying to do, named as the audit trail names the action once it is done.

A staff member's refused write is recorded after the answer (``core.audit.refusal_audited``), often before any
service ran, so the request is all there is to name it by. It is named as the service names the deed
(``settlement_refuse`` on ``trade 5``), so that one filter of the trail finds the attempts and the deed, and the
trail shows the action in words (``core.labels.AUDIT_ACTIONS``). The action comes from the URL's name (and, where
one address does several things, its ``action`` argument or the form posted); the object from the URL's
arguments (or the form posted), written as the services write it. Found by an outside tester: refusals were
recorded as ``api-trade-refuse`` on ``/api/v1/trades/5/refuse/``, shown raw and not found by ``trade 5``.

A URL not named here keeps its name and path; the trail shows such a record, and those written before, as a
refused request to that path. Core imports no app: the URL names are data here, as the action codes are in
``core.labels``, and ``tests/test_audit_refusals.py`` checks that each names a URL and a labelled action.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

Arguments = Mapping[str, object]


@dataclass(frozen=True)
class ByArguments:
    """Where one address does several things: the action named by the URL's arguments ``names`` (or, ``posted``,
    by the posted form's fields), joined by "/", looked up in ``actions``."""

    names: tuple[str, ...]
    actions: Mapping[str, str]
    posted: bool = False

    def __call__(self, kwargs: Arguments, posted: Mapping[str, str]) -> str | None:
        source = posted if self.posted else kwargs
        return self.actions.get("/".join(str(source.get(name, "")) for name in self.names))


_SETTLEMENT = ByArguments(
    ("action",), {"hold": "settlement_hold", "release": "settlement_release", "refuse": "settlement_refuse"}
)
_DECISIONS = ByArguments(
    ("what", "action"),
    {
        "freeze/approve": "freeze_approve",
        "freeze/reject": "freeze_reject",
        "freeze/withdraw": "freeze_withdraw",
        "freeze/release": "freeze_release",
        "transfer/approve": "forced_transfer_approve",
        "transfer/reject": "forced_transfer_reject",
        "transfer/withdraw": "forced_transfer_withdraw",
        "correction/approve": "correction_approve",
        "correction/reject": "correction_reject",
        "correction/withdraw": "correction_withdraw",
    },
)
# The supervision console posts a freeze or a forced transfer, named by its ``form`` field.
_CONSOLE = ByArguments(("form",), {"freeze": "freeze_propose", "transfer": "forced_transfer_propose"}, posted=True)
_KYC_STAFF = ByArguments(
    ("action",),
    {
        "identity": "kyc_update",
        "questionnaire": "kyc_assess",
        "documents": "kyc_document_add",
        "qualification": "kyc_qualify",
        "submit": "kyc_submit",
        "approve": "kyc_approve",
        "reject": "kyc_reject",
    },
)

# URL name → the action its write is: a code, or named by its arguments.
REFUSED_ACTIONS: dict[str, str | ByArguments] = {
    # settlement: the API and the monitor
    "api-trade-hold": "settlement_hold",
    "api-trade-release": "settlement_release",
    "api-trade-refuse": "settlement_refuse",
    "settlement-trade-action": _SETTLEMENT,
    "api-settlement-instructions": "settlement_instruction_create",
    "settlement-instruction-create": "settlement_instruction_create",
    "api-settlement-instruction-end": "settlement_instruction_end",
    "settlement-instruction-end": "settlement_instruction_end",
    # supervision: freezes, forced transfers, corrections
    "api-freezes": "freeze_propose",
    "api-freeze-approve": "freeze_approve",
    "api-freeze-reject": "freeze_reject",
    "api-freeze-withdraw": "freeze_withdraw",
    "api-freeze-release": "freeze_release",
    "api-forced-transfers": "forced_transfer_propose",
    "api-forced-transfers-approve": "forced_transfer_approve",
    "api-forced-transfers-reject": "forced_transfer_reject",
    "api-forced-transfers-withdraw": "forced_transfer_withdraw",
    "api-corrections": "correction_propose",
    "api-corrections-approve": "correction_approve",
    "api-corrections-reject": "correction_reject",
    "api-corrections-withdraw": "correction_withdraw",
    "supervision": _CONSOLE,
    "supervision-corrections": "correction_propose",
    "supervision-decide": _DECISIONS,
    # the market and its securities (exchange operators), issuances (the depository)
    "api-market-halt": "market_halt",
    "api-market-resume": "market_resume",
    "operations-market": ByArguments(("action",), {"halt": "market_halt", "resume": "market_resume"}),
    "api-securities": "security_list",
    "operations-security-new": "security_list",
    "api-security": "security_change",
    "operations-security-edit": "security_change",
    "api-security-delist": "security_delist",
    "operations-security-delist": "security_delist",
    "api-security-halt": "security_halt",
    "api-security-resume": "security_resume",
    "operations-security": ByArguments(("action",), {"halt": "security_halt", "resume": "security_resume"}),
    "api-holidays": "holiday_add",
    "operations-holiday-add": "holiday_add",
    "api-holiday": "holiday_remove",
    "operations-holiday-remove": "holiday_remove",
    "api-disclosures": "disclosure_publish",
    "security-disclosure-upload": "disclosure_publish",
    # (an issuance is proposed at these addresses, and issued by its approval: found by a review, their refusals
    # were named securities_issue, and a decision's by its URL)
    "api-security-issuances": "issuance_propose",
    "depository": "issuance_propose",
    "api-issuance-proposals-approve": "issuance_approve",
    "api-issuance-proposals-reject": "issuance_reject",
    "api-issuance-proposals-withdraw": "issuance_withdraw",
    "depository-issuance-decide": ByArguments(
        ("action",), {"approve": "issuance_approve", "reject": "issuance_reject", "withdraw": "issuance_withdraw"}
    ),
    # surveillance
    "api-alert": "alert_change",
    "surveillance-alert-change": "alert_change",
    "api-alert-reopen": "alert_reopen",
    "surveillance-alert-reopen": "alert_reopen",
    "api-surveillance-rule": "surveillance_rule_change",
    "surveillance-rule-change": "surveillance_rule_change",
    # the broker's counter and its KYC reviews, the regulator's reveal
    "api-counter-clients": "kyc_open_at_counter",
    "counter-open": "kyc_open_at_counter",
    "api-counter-deposit": "counter_cash_propose",
    "api-counter-withdraw": "counter_cash_propose",
    "counter-deposit": "counter_cash_propose",
    "counter-withdraw": "counter_cash_propose",
    "api-counter-cash-request-approve": "counter_cash_approve",
    "counter-cash-request-approve": "counter_cash_approve",
    "api-counter-cash-request-reject": "counter_cash_reject",
    "counter-cash-request-reject": "counter_cash_reject",
    "api-counter-cash-request-withdraw": "counter_cash_withdraw_request",
    "counter-cash-request-withdraw": "counter_cash_withdraw_request",
    "api-counter-orders": "counter_order_place",
    "counter-order-new": "counter_order_place",
    "api-counter-order": "counter_order_cancel",
    "counter-order-cancel": "counter_order_cancel",
    "api-kyc-application": "kyc_update",
    "api-kyc-application-questionnaire": "kyc_assess",
    "api-kyc-application-documents": "kyc_document_add",
    "api-kyc-application-qualification": "kyc_qualify",
    "api-kyc-submit": "kyc_submit",
    "api-kyc-approve": "kyc_approve",
    "api-kyc-reject": "kyc_reject",
    "kyc-application-action": _KYC_STAFF,
    "api-kyc-reveal": "identity_reveal",
    "kyc-reveal-do": "identity_reveal",
    "ledger-verify": "ledger_verify",
    # a user's own settings (core.settings_views)
    "settings-password": "password_change",
    "settings-email": "email_change_request",
    "settings-email-remove": "email_remove",
    "settings-email-confirm": "email_change",
    # the user's own API tokens (core.tokens)
    "api-tokens": "api_token",
    "api-tokens-page": "api_token",
    "api-token-detail": "api_token_revoke",
    "api-token-revoke": "api_token_revoke",
}

# The URL argument that names the object, and how the services write it (first found wins: a counter order's
# record names its account, not the order).
_TARGET_ARGUMENTS = (
    ("trade_id", "trade {}"),
    ("instruction_id", "instruction {}"),
    ("alert_id", "alert:{}"),
    ("profile_id", "kyc {}"),
    ("request_id", "cash request {}"),
    ("code", "{}"),
    ("date", "{}"),
)
# An object named by its number in the address whose records, once done, name it otherwise: a KYC application's
# name its investor's user name. Its app registers how to read that name (``register_target_name``); a number
# that names nothing is recorded in the address's shape.
_TARGET_NAMES: dict[str, Callable[[object], str | None]] = {}


def register_target_name(argument: str, name: Callable[[object], str | None]) -> None:
    """``name(value)``: the object the URL argument ``argument`` numbers, as its done records name it, or None."""
    _TARGET_NAMES[argument] = name


# A proposal decided by its number (the API's ``pk``, the page's ``what``/``pk``): its done record names its
# account, trade or security, which the request does not. The proposal's app registers how to read that name
# (``register_proposal_target_name``), so that a refused approval, rejection or withdrawal is found beside the done
# ones (an account's or a trade's audit trail and evidence; found by a walk: a refused approval of a correction
# was missing from its trade's evidence); a number that names no proposal is recorded as the proposal.
_PROPOSAL_TARGETS = {
    "freeze": "freeze {}",
    "forced_transfer": "forced transfer {}",
    "correction": "correction {}",
    "issuance": "issuance {}",
}
_PROPOSAL_NAMES: dict[str, Callable[[int], str | None]] = {}


def register_proposal_target_name(kind: str, name: Callable[[int], str | None]) -> None:
    """``name(number)``: what the done records of the proposal of ``kind`` (a key of ``_PROPOSAL_TARGETS``) with
    that number (a positive bigint) name, or None."""
    _PROPOSAL_NAMES[kind] = name


# The pages whose posted form names the action or the object; only theirs is read (they read it themselves: the
# middleware that records the refusal never parses a body a view did not). An API view's body is read when the
# view parsed it (``core.api.errors``).
FORM_PAGES = frozenset(
    {
        "supervision",
        "supervision-corrections",
        "operations-holiday-add",
        "operations-security-new",
        "settlement-instruction-create",
        "depository",
    }
)
# A creation names no object in its address: the fields of its form or body that name what it asks for (the
# page's field, the API's), and how the services write it; each present is named, in this order (found by a
# review: a refused API creation was recorded with no object at all). A settlement instruction names its account
# or security, or both, as "account INV000011", "security 830001".
_POSTED_TARGETS: dict[str, tuple[tuple[str, str], ...]] = {
    "freeze_propose": (("freeze-account", "{}"), ("account", "{}")),
    "forced_transfer_propose": (("transfer-freeze", "freeze {}"), ("freeze", "freeze {}")),
    "correction_propose": (("trade", "{}"),),
    "holiday_add": (("date", "{}"),),
    "security_list": (("code", "{}"),),
    "settlement_instruction_create": (("account", "account {}"), ("security", "security {}")),
    "issuance_propose": (("issue-security", "{}"),),
}


# Actions whose object is always the same one.
_FIXED_TARGETS = {"ledger_verify": "ledger"}


def _target(action: str, kwargs: Arguments, posted: Mapping[str, str]) -> str:
    if action in _FIXED_TARGETS:
        return _FIXED_TARGETS[action]
    if "pk" in kwargs:
        kind = action.rpartition("_")[0]
        if kind not in _PROPOSAL_TARGETS:
            return ""
        pk = kwargs["pk"]
        number = int(pk) if isinstance(pk, int) or (isinstance(pk, str) and pk.isascii() and pk.isdigit()) else 0
        named = _PROPOSAL_NAMES[kind](number) if kind in _PROPOSAL_NAMES and 0 < number < 2**63 else None
        return named or _PROPOSAL_TARGETS[kind].format(pk)
    for name, shape in _TARGET_ARGUMENTS:
        if name in kwargs:
            named = _TARGET_NAMES[name](kwargs[name]) if name in _TARGET_NAMES else None
            return named or shape.format(kwargs[name])
    named = []
    for field, shape in _POSTED_TARGETS.get(action, ()):
        value = posted.get(field)
        # What was typed, if it is text or a number (a JSON body may hold anything), as the services write it.
        value = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
        if value:
            named.append(shape.format(value[:80]))
    return " ".join(named)


def actions_named() -> set[str]:
    """Every action a refusal may be recorded under (each has its words in ``core.labels.AUDIT_ACTIONS``)."""
    return {
        a
        for named in REFUSED_ACTIONS.values()
        for a in (named.actions.values() if isinstance(named, ByArguments) else [named])
    }


def refused_action(view_name: str, kwargs: Arguments, posted: Mapping[str, str]) -> tuple[str, str] | None:
    """The action and object a refused request to the URL named ``view_name`` (with its ``kwargs``, and the
    form ``posted`` to a page) was attempting, as the trail records them when done; None if not known."""
    named = REFUSED_ACTIONS.get(view_name)
    action = named(kwargs, posted) if isinstance(named, ByArguments) else named
    if action is None:
        return None
    return action, _target(action, kwargs, posted)
