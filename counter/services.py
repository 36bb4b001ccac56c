"""Writes of the broker counter: orders a staff member places or cancels for a client.

Cash, account opening and KYC have their own services, which check that the
actor is staff of the client's broker and record the audit event
(``balances.services.cash_deposit`` / ``cash_withdraw``,
``kyc.services.kyc_register``). ``exchange.services.order_place`` authorises
the staff member itself (``exchange.pretrade.check_may_act``); the counter finds
the client by account code (NotFound for anyone else's) and writes the audit
event in the order's transaction. A refused attempt is recorded too, after its
transaction has rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from balances.models import CashBalance
from balances.services import (
    cash_amount_checked,
    cash_deposit,
    cash_lock,
    cash_needs_second_person,
    cash_withdraw,
)
from core import errors as err
from core.audit import audit_record
from core.models import Account, User
from exchange.models import Order
from exchange.services import OrderRequest, order_cancel, order_place

from . import selectors
from .models import CashOnce, CashRequest

CashRequestClosed = err.error_class(
    "CashRequestClosed",
    "cash_request_not_open",
    gettext_lazy("The request is no longer waiting for approval."),
    409,
)


class MakerChecker(err.DomainError):
    code = "maker_checker"
    status = 403
    default_message = gettext_lazy("A second staff member must approve: you proposed this movement.")


def counter_order_place(
    *, staff: User, account_code: str, request: OrderRequest, ip: str | None = None
) -> tuple[Order, bool]:
    """Place an order for one of the staff member's clients. Returns (order, created), like ``order_place``."""
    account = selectors.client_get(staff, account_code)
    try:
        with transaction.atomic():
            order, created = order_place(placed_by=staff, account=account, request=request)
            if created:
                audit_record(
                    actor=staff,
                    action="counter_order_place",
                    target=account.code,
                    ip=ip,
                    detail={
                        "order": order.pk,
                        "security": request.security,
                        "side": request.side,
                        "quantity": request.quantity,
                        "limit_price": str(request.limit_price),
                        "client_order_id": request.client_order_id,
                    },
                )
            return order, created
    except err.DomainError as exc:
        audit_record(
            actor=staff,
            action="counter_order_place",
            outcome="refused",
            target=account.code,
            ip=ip,
            detail={"code": exc.code, "security": request.security, "side": request.side},
        )
        raise


def counter_order_cancel(*, staff: User, account_code: str, order_id: int, ip: str | None = None) -> Order:
    """Cancel the rest of a client's open order; NotFound unless the order is that client's."""
    account = selectors.client_get(staff, account_code)
    with transaction.atomic():
        selectors.client_order(account, order_id)
        order = order_cancel(actor=staff, order_id=order_id)
        audit_record(actor=staff, action="counter_order_cancel", target=account.code, ip=ip, detail={"order": order.pk})
        return order


# --------------------------------------------------------------------------
# Cash: one person up to the broker's threshold, two above it


@dataclass(frozen=True)
class CashOutcome:
    """What ``counter_cash`` did: moved the cash at once (``cash``) or proposed it (``request``)."""

    cash: CashBalance | None = None
    request: CashRequest | None = None


class CashRepeated(err.DomainError):
    code = "cash_repeated"
    status = 409
    default_message = gettext_lazy("This cash movement was already sent; it was not carried out twice.")


def _once(account: Account, direction: str, keys: list[str], request: CashRequest | None = None) -> None:
    """Keep the movement's keys (``CashOnce``), or refuse it as a repeat of one that has them already."""
    for key in keys:
        try:
            with transaction.atomic():  # a savepoint: the refusal leaves the caller's transaction usable
                CashOnce.objects.create(account=account, direction=direction, key=key, request=request)
        except IntegrityError:
            if key.startswith("ref:"):
                raise CashRepeated(
                    gettext(
                        "The reference %(reference)s was already used for this account's %(direction)s: a bank slip "
                        "is moved once. Check the earlier movement, or give this one its own reference."
                    )
                    % {"reference": key[4:], "direction": CashRequest.Direction(direction).label.lower()}
                ) from None
            raise CashRepeated() from None


def counter_cash(
    *,
    staff: User,
    account_code: str,
    direction: str,
    amount: Decimal | str,
    reference: str = "",
    ip: str | None = None,
    once: str = "",
) -> CashOutcome:
    """Deposit or pay out for a client: at once up to the broker's threshold, else a request for a second person.

    The amount is checked against the limit per movement either way, and a withdrawal against the available
    cash (nothing is reserved: the approval checks again). The movement is carried out once: its bank
    ``reference`` and its ``once`` key (the page form's token, "form:…", or an API client's request id, "api:…")
    may not have moved this account's cash in this direction before (``CashOnce``; ``CashRepeated`` if they
    have), whoever sends it and however many times.
    """
    account = selectors.client_get(staff, account_code)
    if direction not in CashRequest.Direction.values:
        raise err.InvalidInput(gettext('direction must be "deposit" or "withdraw".'))
    withdraw = direction == CashRequest.Direction.WITHDRAW
    value = cash_amount_checked(account, amount)
    reference = reference.strip()
    if len(reference) > 100:
        raise err.InvalidInput(gettext("The reference is too long (at most 100 characters)."))
    keys = ([f"ref:{reference}"] if reference else []) + ([once] if once else [])
    if not cash_needs_second_person(account, value):
        service = cash_withdraw if withdraw else cash_deposit
        with transaction.atomic():
            _once(account, direction, keys)
            cash = service(actor=staff, account=account, amount=value, reference=reference, ip=ip)
        return CashOutcome(cash=cash)
    with transaction.atomic():
        if withdraw and cash_lock([account.pk])[account.pk].available < value:
            raise err.InsufficientCash()
        request = CashRequest.objects.create(
            account=account, direction=direction, amount=value, reference=reference, proposed_by=staff
        )
        _once(account, direction, keys, request)
        audit_record(
            actor=staff,
            action="counter_cash_propose",
            target=account.code,
            ip=ip,
            detail={"request": request.pk, "direction": direction, "amount": str(value), "reference": reference},
        )
    return CashOutcome(request=request)


def _request_locked(staff: User, request_id: int) -> CashRequest:
    """The request, locked, if it is one of the staff member's broker's; NotFound otherwise."""
    broker_id = selectors.require_staff(staff)
    request = (
        CashRequest.objects.select_for_update(of=("self",))
        .select_related("account", "proposed_by")
        .filter(pk=request_id, account__broker_id=broker_id)
        .first()
    )
    if request is None:
        raise err.NotFound(gettext("No such cash request."))
    if request.status != CashRequest.Status.PROPOSED:
        raise CashRequestClosed()
    return request


def _decided(request: CashRequest, status: str, *, by: User | None, reason: str = "") -> CashRequest:
    request.status, request.decided_by, request.decided_at, request.reason = status, by, timezone.now(), reason
    request.save(update_fields=["status", "decided_by", "decided_at", "reason"])
    if status != CashRequest.Status.APPROVED:  # nothing moved: the slip and the form may be sent again
        request.keys.all().delete()
    return request


def cash_request_approve(*, staff: User, request_id: int, ip: str | None = None) -> CashRequest:
    """A second staff member approves: the cash moves now, in this transaction (DEPOSIT / WITHDRAWAL entry).

    A withdrawal finds the available cash under the cash row's lock; short of it, InsufficientCash and nothing
    changes (the request stays proposed).
    """
    try:
        with transaction.atomic():
            request = _request_locked(staff, request_id)
            if staff.pk == request.proposed_by_id:
                raise MakerChecker()
            service = cash_withdraw if request.direction == CashRequest.Direction.WITHDRAW else cash_deposit
            service(
                actor=staff,
                account=request.account,
                amount=request.amount,
                reference=request.reference,
                ip=ip,
                proposed_by=request.proposed_by,
            )
            _decided(request, CashRequest.Status.APPROVED, by=staff)
            audit_record(
                actor=staff,
                action="counter_cash_approve",
                target=request.account.code,
                ip=ip,
                detail={"request": request.pk, "direction": request.direction, "amount": str(request.amount)},
            )
            return request
    except err.DomainError as exc:
        if isinstance(exc, err.NotFound):
            raise
        # The refused attempt is recorded after its transaction rolled back.
        audit_record(
            actor=staff,
            action="counter_cash_approve",
            outcome="refused",
            target=f"cash request {request_id}",
            ip=ip,
            detail={"code": exc.code},
        )
        raise


@transaction.atomic
def cash_request_reject(*, staff: User, request_id: int, reason: str, ip: str | None = None) -> CashRequest:
    """A second staff member refuses the movement, with a reason; no cash moves."""
    request = _request_locked(staff, request_id)
    if staff.pk == request.proposed_by_id:
        raise MakerChecker(gettext("Withdraw your own request instead of rejecting it."))
    _decided(request, CashRequest.Status.REJECTED, by=staff, reason=err.reason_checked(reason))
    audit_record(
        actor=staff,
        action="counter_cash_reject",
        target=request.account.code,
        ip=ip,
        detail={"request": request.pk, "reason": request.reason},
    )
    return request


@transaction.atomic
def cash_request_withdraw(*, staff: User, request_id: int, reason: str = "", ip: str | None = None) -> CashRequest:
    """The proposer takes the request back (an optional reason); no cash moves."""
    request = _request_locked(staff, request_id)
    if staff.pk != request.proposed_by_id:
        raise err.PermissionDenied(gettext("Only the staff member who proposed it can withdraw the request."))
    reason = (reason or "").strip()
    if len(reason) > err.REASON_MAX_LENGTH:
        raise err.ReasonTooLong()
    _decided(request, CashRequest.Status.WITHDRAWN, by=None, reason=reason)
    audit_record(
        actor=staff,
        action="counter_cash_withdraw_request",
        target=request.account.code,
        ip=ip,
        detail={"request": request.pk, "reason": reason},
    )
    return request
