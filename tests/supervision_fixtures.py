"""What the supervision tests share (tests/test_supervision.py, tests/test_trading_restriction.py,
tests/test_blocked_since_read.py): a freeze proposed by one regulator and approved by another, the trading an
investor or a market maker does through the services, the ledger's payloads of a kind, and rows written directly,
past every service (for what the database itself refuses, or a row landing in the middle of an approval). Their
fixture of two regulators, a quote and an investor is ``sup`` in tests/conftest.py."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from django.utils import timezone

from core.models import Account, User
from exchange.models import NegotiatedTrade, Order, Quote, RfqAnswer, RfqRequest
from exchange.services import OrderRequest, order_place
from exchange.services import negotiated as neg
from exchange.services import rfq as rfq_svc
from exchange.services.rfq import RfqRequestInput
from ledger.models import Entry
from registry.models import Security
from supervision import services as sv
from supervision.models import Freeze

D = Decimal


def freeze_approved(reg1: User, reg2: User, account: Account, *, reason: str, legal: dict, **scope) -> Freeze:
    """A freeze of ``account`` of ``scope`` (``whole_account=True``, ``trading=True``, ``security=`` and
    ``quantity=``, ``amount=``; ``expires_at=``) proposed by ``reg1`` and approved by ``reg2``."""
    freeze = sv.freeze_propose(actor=reg1, account=account.code, reason=reason, **scope, **legal)
    return sv.freeze_approve(actor=reg2, freeze_id=freeze.pk)


def payloads(kind: str) -> list[dict]:
    """The payloads of the ledger's entries of ``kind``, in order."""
    return [
        json.loads(bytes(c))["payload"]
        for c in Entry.objects.filter(kind=kind).order_by("id").values_list("canonical", flat=True)
    ]


def placed(market, account: Account, side: str, qty: int, price: str, coid: str, tif: str = "IOC") -> Order:
    """The account owner's order in the market's security, through the service."""
    return order_place(
        placed_by=account.owner,
        account=account,
        request=OrderRequest(market.security.code, side, qty, D(price), tif, coid),
    )[0]


def proposed(
    account: Account, security: Security, side: str, qty: int, to: Account, coid: str, price: str = "10.00"
) -> tuple[NegotiatedTrade, str, bool]:
    """The account owner's negotiated proposal to ``to``, through the service: (proposal, code, created)."""
    return neg.negotiated_propose(
        actor=account.owner,
        account=account,
        request=neg.NegotiatedRequest(security.code, side, qty, D(price), to.code, coid),
    )


def rfq_asked(account: Account, security: Security, side: str, qty: int, coid: str) -> tuple[RfqRequest, bool]:
    """The account owner's request for quote, through the service: (request, created)."""
    return rfq_svc.rfq_request(
        requested_by=account.owner, account=account, request=RfqRequestInput(security.code, side, qty, coid)
    )


# Rows written directly: no service, no check, nothing reserved unless ``fields`` say so.


def _moment() -> dict:
    now = timezone.now()
    return {"created_at": now, "expires_at": now + dt.timedelta(minutes=1)}


def raw_order(account: Account, security: Security, **fields) -> Order:
    """A DAY buy of 100 at 9.50, unless ``fields`` say otherwise."""
    now = timezone.now()
    row = {"side": "buy", "limit_price": D("9.50"), "quantity": 100, "time_in_force": "DAY"}
    row |= {"client_order_id": "raw", "placed_by": account.owner, "created_at": now, "updated_at": now}
    return Order.objects.create(account=account, security=security, **(row | fields))


def raw_quote(account: Account, security: Security, **fields) -> Quote:
    """A bid of 100 at 9.80, unless ``fields`` say otherwise."""
    now = timezone.now()
    row = {"side": "bid", "price": D("9.80"), "quantity": 100, "original_quantity": 100}
    row |= {"created_at": now, "updated_at": now}
    return Quote.objects.create(account=account, security=security, **(row | fields))


def raw_rfq_request(account: Account, security: Security, **fields) -> RfqRequest:
    """A request to buy 100, for a minute."""
    row = {"side": "buy", "quantity": 100, "client_request_id": "raw", "requested_by": account.owner, **_moment()}
    return RfqRequest.objects.create(account=account, security=security, **(row | fields))


def raw_rfq_answer(request: RfqRequest, account: Account, **fields) -> RfqAnswer:
    """A firm answer of 100 at 10.00, for a minute."""
    row = {"price": D("10.00"), "quantity": 100, "answered_by": account.owner, **_moment()}
    return RfqAnswer.objects.create(request=request, account=account, **(row | fields))


def raw_proposal(proposer: Account, counterparty: Account, security: Security, **fields) -> NegotiatedTrade:
    """A proposal to sell 100 at 10.00, for a minute."""
    row = {"side": "sell", "quantity": 100, "price": D("10.00"), "client_request_id": "raw"}
    row |= {"proposed_by": proposer.owner, "code_hash": "x" * 64, **_moment()}
    return NegotiatedTrade.objects.create(
        security=security, proposer=proposer, counterparty=counterparty, **(row | fields)
    )
