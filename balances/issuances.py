"""Issuances by two people (DESIGN.md §1: privileged actions that move assets need two different people).

A depository operator proposes an issuance, checked in full then (everything
``securities_issue`` checks that does not depend on the moment: the holders,
their quantities and lock-ups, the security, the issued total); a *different*
depository operator approves it, which runs ``securities_issue`` in the
approval's transaction: its checks again (the holder cap as it stands then),
the holders' positions, the lock-ups and the ISSUE entry, as one issuance
always did. A refused approval changes nothing and leaves the proposal
proposed. Another depository operator may reject it (with a reason), its
proposer withdraw it; neither issues anything.

Maker-checker as supervision's proposals (``supervision.services``): the role
is checked before any lookup, the proposal row is locked first of all (two
approvals at once: the second finds it decided), PostgreSQL refuses a proposal
decided by its proposer (``issuance_decided_by_another``), every step is an
audit record in the step's transaction, and a refused step reaches the trail
from the page or the API that answered it (``core.audit.refusal_audited``).
"""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from core import errors as err
from core.audit import audit_record
from core.idempotency import key_checked, made_before
from core.models import Account, Role, User
from registry.models import Security

from . import hooks
from .models import IssuanceProposal, Position
from .services import (
    MAX_ISSUED,
    Holding,
    check_qualified_holders,
    issuance_checked,
    securities_issue,
    security_issuable,
)

# The codes and words of supervision's refusals of the same steps (``supervision.services``): one API, one
# vocabulary.
NotProposed, SameProposer = err.NotProposed, err.SameProposer

DEPOSITORY = frozenset({Role.DEPOSITORY_OPERATOR})


def _require_depository(actor: User) -> None:
    if actor.role not in DEPOSITORY:
        raise err.PermissionDenied(gettext("Your role may not decide this proposal."))


def _allocation(h: Holding) -> dict:
    return {
        "account": h.account.code,
        "quantity": h.quantity,
        "locked_quantity": h.locked_quantity or None,
        "locked_until": h.locked_until.isoformat() if h.locked_until else None,
    }


def issuance_propose(**kwargs) -> IssuanceProposal:
    """Propose an issuance of ``security_code`` to the holders of ``allocations``; nothing is issued until another
    depository operator approves it (``issuance_approve``): ``issuance_propose_once``'s proposal."""
    return issuance_propose_once(**kwargs)[0]


def _retried(actor: User, key: str, security_code: str, allocations, reference: str) -> IssuanceProposal | None:
    """The proposal ``actor`` made before with an API client's ``key``, or None: the same security, holders and
    reference (read as the proposal stores them, without the checks of the moment, which a retry after the
    approval would fail), or ``RequestIdConflict`` when the key was used for another."""
    if not key:
        return None
    holdings = sorted((h if isinstance(h, Holding) else Holding(*h) for h in allocations), key=lambda h: h.account.pk)
    terms = (security_code, [_allocation(h) for h in holdings], reference)
    rows = IssuanceProposal.objects.filter(proposed_by=actor, client_request_id=key).select_related("security")
    return made_before(rows, lambda first: (first.security.code, first.allocations, first.reference) == terms)


def issuance_propose_once(
    *,
    actor: User,
    security_code: str,
    allocations: list[Holding] | list[tuple[Account, int]],
    reference: str = "",
    client_request_id: str = "",
    ip: str | None = None,
) -> tuple[IssuanceProposal, bool]:
    """The proposal, and whether this call made it: with an API client's ``client_request_id``, a retry answers the
    proposal made first (``False``), whatever became of it since; the key used for another is a
    ``RequestIdConflict``. Two sent at once make one (a unique index per proposer: the second finds the first)."""
    client_request_id = key_checked(client_request_id)
    if actor.role in DEPOSITORY and (
        first := _retried(actor, client_request_id, security_code, allocations, reference)
    ):
        return first, False
    holdings = issuance_checked(actor=actor, allocations=allocations, reference=reference)
    security = security_issuable(Security.objects.filter(code=security_code).first())
    total = sum(h.quantity for h in holdings)
    # Checked again when issued: told now, rather than at the approval, when it cannot be issued as it stands.
    if security.issued_quantity + total > MAX_ISSUED:
        raise err.InvalidInput(gettext("The issued total would be too large."))
    held = Position.objects.filter(security=security, account_id__in=[h.account.pk for h in holdings])
    check_qualified_holders(security, holdings, dict(held.values_list("account_id", "total")))
    holdings.sort(key=lambda h: h.account.pk)
    try:
        with transaction.atomic():
            proposal = IssuanceProposal.objects.create(
                security=security,
                allocations=[_allocation(h) for h in holdings],
                quantity=total,
                reference=reference,
                proposed_by=actor,
                proposed_at=timezone.now(),
                client_request_id=client_request_id,
            )
            audit_record(
                actor=actor,
                action="issuance_propose",
                target=security.code,
                ip=ip,
                detail={"issuance": proposal.pk, "quantity": total, "holders": len(holdings), "reference": reference},
            )
    except IntegrityError as exc:  # the same key sent twice at once: the other one proposed it
        if "issuance_request_once" not in str(exc):
            raise
        return _retried(actor, client_request_id, security_code, allocations, reference), False
    return proposal, True


def _locked(issuance_id: int) -> IssuanceProposal:
    row = IssuanceProposal.objects.select_for_update(of=("self",)).select_related("security", "proposed_by")
    row = row.filter(pk=issuance_id).first()
    if row is None:
        raise err.NotFound(gettext("No such proposal."))
    return row


def _decide(row: IssuanceProposal, actor: User) -> None:
    if row.status != IssuanceProposal.Status.PROPOSED:
        raise NotProposed()
    if row.proposed_by_id == actor.pk:
        raise SameProposer()


def _holdings(row: IssuanceProposal) -> list[Holding]:
    """The proposal's holders as ``securities_issue`` takes them (accounts are never deleted: PROTECT)."""
    accounts = {a.code: a for a in Account.objects.filter(code__in=[a["account"] for a in row.allocations])}
    return [
        Holding(
            accounts[a["account"]],
            a["quantity"],
            a["locked_quantity"] or 0,
            dt.date.fromisoformat(a["locked_until"]) if a["locked_until"] else None,
        )
        for a in row.allocations
    ]


def issuance_approve(*, actor: User, issuance_id: int, ip: str | None = None) -> IssuanceProposal:
    """A second depository operator approves: the shares are issued now (``securities_issue``, its checks again,
    the ISSUE entry), in this transaction; its investor holders are told after commit
    (``hooks.issuance_approved``). A refusal (the holder cap reached meanwhile, the security delisted, a lock-up
    date passed) changes nothing and tells no one: the proposal stays proposed, to be rejected or withdrawn."""
    _require_depository(actor)  # before any lookup
    with transaction.atomic():
        row = _locked(issuance_id)
        _decide(row, actor)
        entry = securities_issue(
            actor=actor,
            security_code=row.security.code,
            allocations=_holdings(row),
            reference=row.reference,
            ip=ip,
            proposal=row,
        )
        row.status, row.decided_by, row.decided_at = IssuanceProposal.Status.APPROVED, actor, timezone.now()
        row.entry = entry.pk
        row.save(update_fields=["status", "decided_by", "decided_at", "entry"])
        # The entry is named by the ``securities_issue`` record, whose action the offline verifier matches to ISSUE
        # (``ledger.verifier.ACTION_ENTRIES``); this one names the proposal.
        audit_record(
            actor=actor,
            action="issuance_approve",
            target=row.security.code,
            ip=ip,
            detail={"issuance": row.pk, "quantity": row.quantity, "proposed_by": row.proposed_by.username},
        )
        # Its holders are told once the shares are theirs: after commit (a refused approval tells no one).
        hooks.issuance_approved.fire(issuance_id=row.pk)
        return row


def _close(*, actor: User, issuance_id: int, reason: str, ip: str | None, withdraw: bool) -> IssuanceProposal:
    """Reject (another depository operator) or withdraw (the proposer) a proposal, with a reason: nothing issued.
    The role first, before any lookup, as supervision's ``_proposal_close``."""
    _require_depository(actor)
    reason = err.reason_checked(reason)
    with transaction.atomic():
        row = _locked(issuance_id)
        if row.status != IssuanceProposal.Status.PROPOSED:
            raise NotProposed()
        if withdraw:
            if row.proposed_by_id != actor.pk:
                raise err.PermissionDenied(gettext("Only the proposer withdraws a proposal."))
            row.status = IssuanceProposal.Status.WITHDRAWN
        else:
            _decide(row, actor)
            row.status, row.decided_by, row.decided_at = IssuanceProposal.Status.REJECTED, actor, timezone.now()
        row.decision_reason = reason
        row.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
        audit_record(
            actor=actor,
            action="issuance_withdraw" if withdraw else "issuance_reject",
            target=row.security.code,
            ip=ip,
            detail={"issuance": row.pk, "reason": reason},
        )
        return row


def issuance_reject(*, actor: User, issuance_id: int, reason: str, ip: str | None = None) -> IssuanceProposal:
    return _close(actor=actor, issuance_id=issuance_id, reason=reason, ip=ip, withdraw=False)


def issuance_withdraw(*, actor: User, issuance_id: int, reason: str, ip: str | None = None) -> IssuanceProposal:
    return _close(actor=actor, issuance_id=issuance_id, reason=reason, ip=ip, withdraw=True)


def proposal_audit_name(pk: int) -> str | None:
    """How a refused request about the issuance proposal numbered in its address is named on the audit trail
    (``core.audit_actions.register_proposal_target_name``): by its security's code, as its done records are; None
    where no proposal has that number."""
    row = IssuanceProposal.objects.select_related("security").filter(pk=pk).first()
    return row.security.code if row is not None else None
