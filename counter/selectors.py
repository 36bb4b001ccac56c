"""Reads of the broker counter: a staff member's own clients, their orders, trades and statements.

Who sees what: broker staff (role ``broker_staff`` with a broker) see the
investor accounts of their own broker and nothing else. ``client_get`` raises
``NotFound`` for every other account, so a client of another broker cannot be
told apart from an account that does not exist; anybody who is not broker
staff gets ``PermissionDenied``.

An order was entered at the counter when the person who placed it is not the
account's owner (``placed_by_id != account.owner_id``).

Statements are built by ``settlement.statements``, the one implementation that
the investor's own statement page uses too; the names are re-exported here.
"""

from __future__ import annotations

from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _

from balances.models import Position
from core import crypto
from core import errors as err
from core.models import Account, Role, User
from exchange.models import Order
from kyc.models import KycProfile
from settlement.statements import (  # noqa: F401 - re-exported for the counter's views and API
    BEIJING,
    STATEMENT_DATES,
    CashMovement,
    Holding,
    Movement,
    Statement,
    TradeView,
    account_statement,
    account_trades,
    statement_dates_error,
    trade_view,
    trade_views,
)

from .models import CashRequest

MAX_QUERY = 100

# --------------------------------------------------------------------------
# Clients


def require_staff(user: User) -> int:
    """The broker the user serves at the counter; PermissionDenied for anybody else."""
    if not user.is_authenticated or user.role != Role.BROKER_STAFF or user.broker_id is None:
        raise err.PermissionDenied(_("Only broker staff use the counter."))
    return user.broker_id


def _clients(broker_id: int) -> QuerySet[Account]:
    return (
        Account.objects.filter(kind=Account.Kind.INVESTOR, broker_id=broker_id)
        .select_related("owner", "broker")
        .annotate(
            username=F("owner__username"),
            kyc_id=F("owner__kyc__id"),
            kyc_state=F("owner__kyc__state"),
            kyc_applied_at=F("owner__kyc__applied_at"),
            kyc_reviewed_at=F("owner__kyc__reviewed_at"),
            kyc_expires_at=F("owner__kyc__expires_at"),
            id_number_masked=F("owner__kyc__id_number_masked"),
            phone_masked=F("owner__kyc__phone_masked"),
            risk_level=F("owner__kyc__risk_level"),
            cash_total=F("cash__total"),
            cash_available=F("cash__total") - F("cash__reserved") - F("cash__frozen"),
            # What a legal order froze: the counter says so before staff try to trade or pay out for the client.
            cash_frozen=F("cash__frozen"),
            shares_frozen=Exists(Position.objects.filter(account=OuterRef("pk"), frozen__gt=0)),
        )
    )


def _looks_like_id_number(text: str) -> bool:
    compact = "".join(text.split())
    return 5 <= len(compact) <= 30 and compact.isalnum() and any(c.isdigit() for c in compact)


def clients_of(staff: User, *, query: str = "") -> QuerySet[Account]:
    """The staff member's broker's investor accounts, newest first, optionally searched.

    ``query`` matches part of the account code or user name; one Chinese
    character, the name's first (the surname, which the mask keeps); the
    real name's whole words through their blind indexes (the name is
    stored encrypted: "陈静 Chen Jing" is found by "chen jing" or "jing", not by
    "jin"); a whole ID number through its blind index (the number itself
    is stored encrypted); a phone number only in its masked form as shown on
    the pages (``138****8000``), since phones have no blind index.
    """
    broker_id = require_staff(staff)
    qs = _clients(broker_id).order_by("-id")
    text = query.strip()[:MAX_QUERY]  # a NUL never gets here: core.middleware refuses it
    if not text:
        return qs
    match = (
        Q(code__icontains=text)
        | Q(owner__username__icontains=text)
        | Q(owner__kyc__name_index__contains=crypto.ring().name_index(text))
        | Q(owner__kyc__phone_masked=text)
    )
    if len(text) == 1 and not text.isascii():  # a surname: the first character of the name, which its mask keeps
        match |= Q(name__startswith=text)
    if _looks_like_id_number(text):
        match |= Q(owner__kyc__identity=crypto.ring().index(text))
    return qs.filter(match)


def client_get(staff: User, code: str) -> Account:
    """One of the staff member's clients by account code; NotFound for any other account."""
    broker_id = require_staff(staff)
    account = _clients(broker_id).filter(code=code).first()
    if account is None:
        raise err.NotFound(_("No such client."))
    return account


def client_kyc(account: Account) -> KycProfile | None:
    return KycProfile.objects.filter(user_id=account.owner_id).first()


def order_entered_at_counter(order: Order, account: Account) -> bool:
    return order.placed_by_id != account.owner_id


def client_orders(account: Account) -> QuerySet[Order]:
    return Order.objects.filter(account=account).select_related("security", "placed_by", "account").order_by("-id")


client_trades = account_trades
client_statement = account_statement


def client_order(account: Account, order_id: int) -> Order:
    order = client_orders(account).filter(pk=order_id).first()
    if order is None:
        raise err.NotFound(_("No such order."))
    return order


# --------------------------------------------------------------------------
# Cash requests (two people above the broker's threshold)


def cash_requests_of(staff: User, *, status: str | None = None) -> QuerySet[CashRequest]:
    """The staff member's broker's cash requests, newest first; ``status`` filters (unknown: InvalidInput)."""
    broker_id = require_staff(staff)
    qs = (
        CashRequest.objects.filter(account__broker_id=broker_id)
        .select_related("account", "proposed_by", "decided_by")
        .order_by("-id")
    )
    if status:
        if status not in CashRequest.Status.values:
            raise err.InvalidInput(_("Unknown status."))
        qs = qs.filter(status=status)
    return qs
