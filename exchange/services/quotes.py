"""A market maker's two-sided quotes: publish (executing the resting orders it crosses), replace, pull; and the
system's close of the quotes and orders the venue's rules forbid (``market_making_close_forbidden``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from balances.services import cash_lock, positions_lock
from core import errors as err
from core.audit import audit_record
from core.errors import DomainError
from core.models import Account, User
from core.money import notional
from registry import calendar, profile
from registry.models import Security

from .. import live, pretrade
from ..models import Order, Quote, Trade
from .book import Book, lock_security
from .inputs import parse_price, parse_quantity

# --------------------------------------------------------------------------
# Quotes


@dataclass(frozen=True)
class QuoteRequest:
    security: str
    bid_price: Decimal
    bid_quantity: int
    ask_price: Decimal
    ask_quantity: int


@dataclass
class QuoteResult:
    bid: Quote
    ask: Quote
    trades: list[Trade]


@transaction.atomic
def quote_publish(*, user: User, request: QuoteRequest) -> QuoteResult:
    """Post or replace a market maker's two-sided quote, then execute the resting orders it crosses."""
    account = pretrade.market_maker_account(user)
    bid_price, ask_price = parse_price(request.bid_price), parse_price(request.ask_price)
    bid_qty, ask_qty = parse_quantity(request.bid_quantity), parse_quantity(request.ask_quantity)
    security = lock_security(request.security)
    now = timezone.now()  # under the lock, as an order's (exchange.services.orders)
    pretrade.check_tradable(security, now=now)
    for side, price in ((Quote.Side.BID, bid_price), (Quote.Side.ASK, ask_price)):
        pretrade.check_price(security, price, quote_side=side)
    for qty in (bid_qty, ask_qty):
        pretrade.check_quantity(security, qty)
    pretrade.check_spread(bid_price, ask_price)
    pretrade.check_market_not_crossed(security, account, bid_price, ask_price)

    resting = (
        Order.objects.select_related("account__broker")
        .filter(
            security=security, status__in=Order.OPEN_STATUSES, account__frozen=False, account__trading_restricted=False
        )
        .exclude(account=account)
        # A DAY order placed before the last close is over, though the expiry task (every minute) has not ended it
        # yet (found by a probe: with the market open around the clock, a quote at 15:00:30 filled a DAY order of
        # the morning; with the beat down overnight, the next morning's first quote would).
        .exclude(time_in_force=Order.TimeInForce.DAY, created_at__lt=calendar.last_close(now))
    )  # a frozen account's order never fills (its freeze cancels it; this one was placed in the same instant)
    buys = list(resting.filter(side=Order.Side.BUY, limit_price__gte=ask_price).order_by("-limit_price", "id"))
    sells = list(resting.filter(side=Order.Side.SELL, limit_price__lte=bid_price).order_by("limit_price", "id"))

    book = Book(now=now, security=security)
    book.cash = cash_lock([account.pk, *(o.account_id for o in buys)])
    book.positions = positions_lock(security.pk, [account.pk, *(o.account_id for o in sells)])
    # Read again under the cash lock, which a whole-account freeze's approval holds to its commit: one approved
    # while this waited is seen (the first read was before any lock; found by a review).
    account.refresh_from_db(fields=["frozen", "trading_restricted"])
    pretrade.check_account_not_frozen(account)

    _quotes_release(book, account, security)
    bid_reserve = notional(bid_price, bid_qty)
    pretrade.check_cash(book.cash[account.pk].available, bid_reserve, what="bid", row=book.cash[account.pk])
    pretrade.check_shares(book.positions[account.pk].available, ask_qty, what="ask", row=book.positions[account.pk])
    book.reserve_cash(account.pk, bid_reserve)
    book.reserve_shares(account.pk, ask_qty)
    bid, ask = Quote.objects.bulk_create(
        [
            Quote(
                account=account,
                security=security,
                side=side,
                price=price,
                quantity=qty,
                original_quantity=qty,
                created_at=now,
                updated_at=now,
            )
            for side, price, qty in ((Quote.Side.BID, bid_price, bid_qty), (Quote.Side.ASK, ask_price, ask_qty))
        ]
    )
    bid.account = ask.account = account

    cap = _HolderCap(security)
    for order in buys:
        if ask.quantity == 0:
            break
        if not _still_allowed(order, security, now, available_shares=None):
            continue  # it rests, as an order no quote crosses, until the rules let it fill
        newcomer = cap.room_for(order.account)
        if newcomer is False:
            continue  # it rests, as an order no quote crosses, until a holder leaves
        if book.fill_buy_order(order, ask, min(order.remaining_quantity, ask.quantity)):
            cap.made(newcomer)
            book.close_order(order, cancel_rest=False)
            book.dirty_orders[order.pk] = order
    if sells and bid.quantity:
        # The market maker buys from them: it counts as a holder as every account does (the register counts it).
        pretrade.check_holder_room(account, security)
    offered = _shares_offered(security, {o.account_id for o in sells}) if sells else {}
    taken: dict[int, int] = {}
    for order in sells:
        if bid.quantity == 0:
            break
        # What the seller may sell of its holding, for the holding period: its free shares and those its open
        # sales hold, less what this quote has taken already (found by a probe: each sale judged with its own
        # shares alone refused both of two sales of one holding, where one could fill).
        held = book.positions[order.account_id].available + offered[order.account_id] - taken.get(order.account_id, 0)
        if not _still_allowed(order, security, now, available_shares=held):
            continue
        quantity = min(order.remaining_quantity, bid.quantity)
        taken[order.account_id] = taken.get(order.account_id, 0) + quantity
        book.fill_sell_order(order, bid, quantity)
        book.close_order(order, cancel_rest=False)
        book.dirty_orders[order.pk] = order
    # A bid fill keeps its cash reserved as the obligation; nothing to release.
    trades = book.write()
    return QuoteResult(bid=bid, ask=ask, trades=trades)


def _shares_offered(security: Security, account_ids: set[int]) -> dict[int, int]:
    """The shares each account's open sales of the security still hold (their unfilled quantities)."""
    rows = (
        Order.objects.filter(
            security=security, account_id__in=account_ids, side=Order.Side.SELL, status__in=Order.OPEN_STATUSES
        )
        .values("account_id")
        .annotate(q=Sum(F("quantity") - F("filled_quantity")))
    )
    offered = dict.fromkeys(account_ids, 0)
    offered.update({row["account_id"]: row["q"] for row in rows})
    return offered


def _still_allowed(order: Order, security: Security, now, *, available_shares: int | None) -> bool:
    """Whether a resting order may still fill when a new quote reaches it: every investor rule again, as at its
    placement (found by a probe: after a security's risk rating rose, its qualified-only flag was set or its
    holding period lengthened, resting orders the rules now refuse still filled). One that may not rests."""
    try:
        pretrade.check_investor(
            account=order.account,
            security=security,
            side=order.side,
            quantity=order.remaining_quantity,
            available_shares=available_shares,
            now=now,
        )
    except DomainError:
        return False
    return True


class _HolderCap:
    """The holder cap at the moment a new quote fills resting buys: an order placed while there was room may
    find none now (found by a probe: four resting buys placed under a cap of 3 all filled, making 5 holders).
    Each buyer that would be a new holder is counted against it, those this quote has just made included."""

    def __init__(self, security: Security) -> None:
        self.security = security
        self.holders: int | None = None  # counted when the first new holder comes
        self.added: set[str] = set()

    def room_for(self, account: Account) -> str | None | bool:
        """``None`` when a fill makes no new holder, the buyer's identity when it would and there is room, and
        ``False`` when there is none."""
        who = pretrade.new_holder(account, self.security.pk)
        if who is None or who in self.added:
            return None
        if self.holders is None:
            self.holders = pretrade.holder_count(self.security.pk)
        return who if self.holders + len(self.added) < profile.max_holders(self.security) else False

    def made(self, who: str | None) -> None:
        if who:
            self.added.add(who)


def _quotes_release(book: Book, account: Account, security: Security, *, status: str = Quote.Status.REPLACED) -> int:
    """Withdraw the account's active quotes in ``security`` and release their reservations."""
    active = list(Quote.objects.filter(account=account, security=security, status=Quote.Status.ACTIVE))
    book.pull_quotes(active, status=status, write_now=True)  # before the replacing quotes are inserted
    return len(active)


def quotes_pull(*, user: User, security_code: str | None = None) -> int:
    """Pull all of a market maker's quotes (in one security, or everywhere). Returns how many."""
    account = pretrade.market_maker_account(user)
    if security_code and not Security.objects.filter(code=security_code).exists():
        raise err.UnknownSecurity()  # a misspelt code pulled nothing and said so with a 200
    with transaction.atomic():
        codes = Quote.objects.filter(account=account, status=Quote.Status.ACTIVE)
        if security_code:
            codes = codes.filter(security__code=security_code)
        security_ids = sorted(set(codes.values_list("security_id", flat=True)))
        # Securities in pk order, then the market maker's balances.
        securities = list(Security.objects.select_for_update(no_key=True).filter(pk__in=security_ids).order_by("pk"))
        return quotes_pull_locked(account, securities)


def quotes_pull_locked(account: Account, securities: list[Security], *, now: dt.datetime | None = None) -> int:
    """Pull the account's active quotes in ``securities``, whose rows the caller's transaction has locked (in pk
    order, before any balance row), releasing their reservations. Returns how many. For ``quotes_pull`` and for
    a whole-account freeze (``supervision.services.freeze_approve``, at its moment ``now``, which its notice
    counts)."""
    pulled = 0
    now = now or timezone.now()
    cash = cash_lock([account.pk])
    for security in securities:
        book = Book(now=now, security=security, cash=cash)
        book.positions = positions_lock(security.pk, [account.pk])
        pulled += _quotes_release(book, account, security, status=Quote.Status.PULLED)
        book.write()
    return pulled


VENUE_PULL_ACTION = "quotes_pull_venue_rules"
VENUE_CANCEL_ACTION = "orders_cancel_venue_rules"


@dataclass
class ForbiddenClosed:
    """What ``market_making_close_forbidden`` closed: quote ids pulled and order ids cancelled, by security code."""

    quotes: dict[str, list[int]]
    orders: dict[str, list[int]]

    def __len__(self) -> int:
        return sum(len(ids) for ids in self.quotes.values()) + sum(len(ids) for ids in self.orders.values())


def market_making_close_forbidden(*, now=None) -> ForbiddenClosed:
    """Pull the active quotes and cancel the resting orders of every security in which market making (and so any
    order: an order trades only against quotes) is not allowed (the venue's profile, read from the settings at
    start-up, forbids it: ``cn-regional-2017``), releasing their reservations, with one audit record a security
    for its quotes and one for its orders (by "system"). A cancelled order says why: ``closed_by`` ``venue_rules``,
    the profile's name its ``closed_reason``, told to its owner as any cancel by the exchange
    (``hooks.orders_closed``). A run that finds none changes nothing.

    Found by a tester: quotes published under ``open`` stayed active, and kept their cash and shares reserved,
    after a restart under ``cn-regional-2017``, where no order can reach them; and the resting orders, which no
    quote could fill, held their cash or shares until the day's end. Run by beat (``exchange.tasks.close_unfit``).
    Neither quotes nor orders are ledger entries, so neither is their close (as a market maker's own pull, or an
    owner's cancel); the audit trail records it. A security's own switch turned off closes both at once, in the
    change's transaction (``exchange.services.listing``)."""
    candidates = set(Quote.objects.filter(status=Quote.Status.ACTIVE).values_list("security_id", flat=True))
    candidates |= set(Order.objects.filter(status__in=Order.OPEN_STATUSES).values_list("security_id", flat=True))
    forbidden = [
        s.pk for s in Security.objects.filter(pk__in=candidates) if not profile.mode_allowed(s, profile.MARKET_MAKING)
    ]
    closed = ForbiddenClosed(quotes={}, orders={})
    if not forbidden:
        return closed
    now = now or timezone.now()
    venue = profile.current().name
    with transaction.atomic():
        # Securities in pk order, then the cash of the bids and the buys by account pk, then each security's
        # positions (the global order); what was read above is read again under the locks.
        securities = {
            s.pk: s
            for s in Security.objects.select_for_update(no_key=True).filter(pk__in=forbidden).order_by("pk")
            if not profile.mode_allowed(s, profile.MARKET_MAKING)
        }
        quotes = list(
            Quote.objects.select_related("account")
            .filter(security_id__in=securities, status=Quote.Status.ACTIVE)
            .order_by("id")
        )
        orders = list(
            Order.objects.select_related("account")
            .filter(security_id__in=securities, status__in=Order.OPEN_STATUSES)
            .order_by("id")
        )
        if not quotes and not orders:
            return closed
        buying = {q.account_id for q in quotes if q.side == Quote.Side.BID}
        buying |= {o.account_id for o in orders if o.side == Order.Side.BUY}
        cash = cash_lock(sorted(buying))
        for security_id in sorted({q.security_id for q in quotes} | {o.security_id for o in orders}):
            security = securities[security_id]
            its_quotes = [q for q in quotes if q.security_id == security_id]
            its_orders = [o for o in orders if o.security_id == security_id]
            book = Book(now=now, security=security, cash=cash)
            book.lock_releases(its_orders, its_quotes)
            book.pull_quotes(its_quotes)
            book.end_orders(its_orders, closed_by=Order.ClosedBy.VENUE_RULES, reason=venue)
            book.write()
            if its_quotes:
                closed.quotes[security.code] = [q.pk for q in its_quotes]
                reason = "market making is not allowed under the venue's rules"
                _venue_audited(VENUE_PULL_ACTION, security, venue, reason, quotes=its_quotes)
            if its_orders:
                closed.orders[security.code] = [o.pk for o in its_orders]
                reason = "orders are not allowed under the venue's rules"
                _venue_audited(VENUE_CANCEL_ACTION, security, venue, reason, orders=its_orders)
        live.market_changed()
    return closed


def _venue_audited(action: str, security: Security, venue: str, reason: str, **closed: list) -> None:
    """The audit record of one security's quotes (``quotes=``) or orders (``orders=``) the venue's rules closed."""
    ((key, rows),) = closed.items()
    audit_record(
        actor=None,
        username="system",
        action=action,
        target=security.code,
        detail={
            "profile": venue,
            "reason": reason,
            key: [r.pk for r in rows],
            "accounts": sorted({r.account.code for r in rows}),
        },
    )
