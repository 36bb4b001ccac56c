"""Reads for the supervisors: one account seen through (DESIGN §6, JR/T 0184-2020 §15: query records down to the
entries) — who holds it, what it holds and what of it is frozen, the legal orders on it, its open orders and its
trades, each a link on to its ledger entry, its audit trail and, for a regulator, the holder's identity."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Exists, OuterRef, QuerySet

from core.models import Account, User
from core.money import notional
from core.names import account_name_for
from exchange import selectors as exchange_selectors
from exchange.models import NegotiatedTrade, Order, RfqAnswer, Trade
from kyc.models import KycProfile

from .models import Correction, Freeze


@dataclass
class AccountOverview:
    account: Account
    name: str  # as the viewer may see it (an investor's masked)
    balances: dict  # exchange.selectors.account_balances: cash and positions
    part_frozen: bool  # a legal order holds some of its cash or shares
    kyc: KycProfile | None  # an investor's account opening: its state, risk level, qualification (no personal data)
    waiting: list = field(default_factory=list)  # ``account_other_holdings``, where the reader shows them


def account_overview(account: Account, viewer: User) -> AccountOverview:
    kyc = None
    if account.owner_id is not None:
        kyc = (
            KycProfile.objects.filter(user_id=account.owner_id)
            .only("state", "risk_level", "qualified_investor", "expires_at", "user_id")
            .first()
        )
    balances = exchange_selectors.account_balances(account)
    return AccountOverview(
        account=account,
        name=account_name_for(account, viewer),
        balances=balances,
        # read off the balances just read (a frozen part is held: its position is listed), not asked again
        part_frozen=bool(balances["cash"]["frozen"]) or any(p["frozen"] for p in balances["positions"]),
        kyc=kyc,
    )


def account_freezes(account: Account) -> QuerySet[Freeze]:
    """Every freeze of the account, newest first: in force, ended, and proposals (a supervisor's view)."""
    return (
        Freeze.objects.filter(account=account)
        .select_related("account", "security", "proposed_by", "decided_by", "ended_by")
        .order_by("-id")
    )


def account_open_orders(account: Account) -> QuerySet[Order]:
    """The account's orders still working, newest first."""
    return (
        Order.objects.filter(account=account, status__in=Order.OPEN_STATUSES).select_related("security").order_by("-id")
    )


@dataclass
class Holding:
    """Something else than an order or a quote that holds part of an account's cash or shares while it waits:
    a negotiated proposal the account made, or a market maker's firm answer to a request for quote."""

    kind: str  # "negotiated" or "rfq_answer"
    number: int  # the proposal's, or the request's
    security: str
    side: str  # the account's side
    price: Decimal
    quantity: int
    cash: Decimal | None  # what it holds: cash, or shares (``quantity``)
    until: dt.datetime


WAITING_MAX = 50  # the account's page and API list at most these of ``account_other_holdings``


def account_other_holdings(account: Account, limit: int) -> list[Holding]:
    """The negotiated proposals the account made that wait, and (a market maker's) its firm answers, each with
    what it holds (as ``exchange.reconcile.reservations`` counts it): the rest of its reserved cash and shares
    beside its open orders and quotes, soonest to end first. Two queries."""
    held = [
        Holding(
            "negotiated",
            p.pk,
            p.security.code,
            p.side,
            p.price,
            p.quantity,
            p.reserved_cash if p.side == NegotiatedTrade.Side.BUY else None,
            p.expires_at,
        )
        for p in NegotiatedTrade.objects.filter(proposer=account, status=NegotiatedTrade.Status.PROPOSED)
        .select_related("security")
        .order_by("expires_at", "pk")[:limit]
    ]
    for a in (
        RfqAnswer.objects.filter(account=account, status=RfqAnswer.Status.FIRM)
        .select_related("request__security")
        .order_by("expires_at", "pk")[:limit]
    ):
        # The market maker sells to an investor who buys (its shares held), buys from one who sells (its cash).
        sells = a.request.side == Order.Side.BUY
        side = Order.Side.SELL if sells else Order.Side.BUY
        cash = None if sells else notional(a.price, a.quantity)
        held.append(
            Holding("rfq_answer", a.request_id, a.request.security.code, side, a.price, a.quantity, cash, a.expires_at)
        )
    return sorted(held, key=lambda h: h.until)[:limit]


def account_trades(viewer: User, account: Account) -> QuerySet[Trade]:
    """The account's trades, newest first, each with where its entry is sealed."""
    return exchange_selectors.trades_of_account(exchange_selectors.trades_visible(viewer), account)


def accounts_under_order() -> QuerySet[Account]:
    """The accounts a legal order holds now (a freeze in force of any kind), by code."""
    in_force = Freeze.objects.filter(account=OuterRef("pk"), status=Freeze.Status.ACTIVE)
    return Account.objects.filter(Exists(in_force)).select_related("broker").order_by("code")


def corrected_terms(trade_ids: list[int]) -> dict[int, dict]:
    """The terms (price, quantity, fees, as its ledger entry wrote them) each of these trades stands at after its last
    executed correction, in one query; a trade never corrected is not in the answer (its own terms hold)."""
    return dict(
        Correction.objects.filter(trade_id__in=trade_ids, status=Correction.Status.EXECUTED)
        .order_by("trade_id", "-id")
        .distinct("trade_id")
        .values_list("trade_id", "legs__terms")
    )
