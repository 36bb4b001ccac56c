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

from django.db import transaction

from core import errors as err
from core.audit import audit_record
from core.models import User
from exchange.models import Order
from exchange.services import OrderRequest, order_cancel, order_place

from . import selectors


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
