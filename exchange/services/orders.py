"""Order entry, cancel and expiry. Every pre-trade rule is in ``exchange.pretrade``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from balances.services import cash_lock
from core import errors as err
from core.idempotency import made_before, made_once
from core.models import Account, User
from core.prepared import Statement
from ledger.services import ENTRY_ID_DRAWN
from registry.calendar import last_close
from registry.models import Security

from .. import pretrade
from ..models import Order, Quote
from .book import ORDER_CHANGES, TRADE_ID_DRAWN, Book, lock_security
from .inputs import parse_price, parse_quantity

# --------------------------------------------------------------------------
# Orders


@dataclass(frozen=True)
class OrderRequest:
    security: str
    side: str
    quantity: int
    limit_price: Decimal
    time_in_force: str
    client_order_id: str


def _same_request(order: Order, req: OrderRequest) -> bool:
    return (
        order.security.code == req.security
        and order.side == req.side
        and order.quantity == req.quantity
        and order.limit_price == req.limit_price
        and order.time_in_force == req.time_in_force
    )


def _existing_order(account: Account, req: OrderRequest) -> Order | None:
    rows = Order.objects.select_related("security").filter(account=account, client_order_id=req.client_order_id)
    return made_before(rows, lambda order: _same_request(order, req), conflict=err.IdempotencyConflict)


def order_place(*, placed_by: User, account: Account, request: OrderRequest) -> tuple[Order, bool]:
    """Accept an order, match it, and reserve what it needs. Returns (order, created).

    Idempotent on ``(account, client_order_id)``: a retry of the same request
    returns the first order and changes nothing; the same id with a different
    request is refused.
    """
    pretrade.check_may_act(placed_by, account)
    if request.side not in Order.Side.values:
        raise err.InvalidInput(_('side must be "buy" or "sell".'))
    if request.time_in_force not in Order.TimeInForce.values:
        raise err.InvalidInput(_('time_in_force must be "IOC" or "DAY".'))
    if not request.client_order_id or len(request.client_order_id) > 64:
        raise err.InvalidInput(_("client_order_id must be 1 to 64 characters."))
    parse_quantity(request.quantity)
    parse_price(request.limit_price)
    # A retry either stops at a check (market closed, cash spent, …) or reaches its INSERT, which the unique
    # constraint refuses; both roll back. A refusal that a freeze or restriction of this account since it was read
    # may explain says so, with why.
    return made_once(
        lambda: _order_place(placed_by=placed_by, account=account, req=request),
        index="order_client_order_id_unique",
        first=lambda: _existing_order(account, request),
        refused=lambda exc: pretrade.check_not_blocked_since_read(account, exc),
    )


def _order_place(*, placed_by: User, account: Account, req: OrderRequest) -> Order:
    security = lock_security(req.security)
    # The order's moment is taken under the lock: one taken before it, while an operator's change of the
    # security held it, dated a trade made in the new band before the change (found by a probe; corrections
    # and surveillance read the band of a trade's moment).
    now = timezone.now()
    pretrade.check_tradable(security, now=now)
    pretrade.check_price(security, req.limit_price)
    buying = req.side == Order.Side.BUY
    if buying:
        pretrade.check_quantity(security, req.quantity)  # a sale's, once its holding is known
    book = Book(now=now, security=security)
    order_id, quotes = _crossing_quotes(security, buying=buying, limit=req.limit_price)
    pretrade.check_self_trade(account, quotes)

    order = Order(
        id=order_id,
        account=account,
        security=security,
        side=req.side,
        limit_price=req.limit_price,
        quantity=req.quantity,
        time_in_force=req.time_in_force,
        client_order_id=req.client_order_id,
        placed_by=placed_by,
        created_at=now,
        updated_at=now,
    )
    if buying:
        order.reserved_cash = book.reserve_purchase(account, req.limit_price, req.quantity, actor=placed_by)
    else:
        book.reserve_sale(account, req.quantity, actor=placed_by)

    fill = book.fill_buy_order if buying else book.fill_sell_order
    for quote in quotes:
        if order.remaining_quantity == 0 or not fill(order, quote, min(order.remaining_quantity, quote.quantity)):
            break
    book.close_order(order, cancel_rest=req.time_in_force == Order.TimeInForce.IOC)
    # Inserted in its final state, before the trades that refer to it, in the same round trip.
    book.write(order=order)
    return order


_QUOTE_FIELDS = [f.attname for f in Quote._meta.concrete_fields]
_ACCOUNT_FIELDS = [f.attname for f in Account._meta.concrete_fields]


def _crossing(name: str, *, side: str, cmp: str, order: str) -> Statement:
    # One row per crossing quote, best first, or one row of NULLs when none crosses (the LEFT JOIN): each with
    # the order's id, drawn once (an uncorrelated subquery), and each quote's with a trade id and a TRADE
    # entry id for the fill it may give. A frozen or trading-restricted account's quote never fills (the freeze
    # or the restriction pulls them; this skips one published in the same instant).
    columns = ", ".join([f"q.{f}" for f in _QUOTE_FIELDS] + [f"a.{f}" for f in _ACCOUNT_FIELDS])
    return Statement(
        name,
        f"SELECT o.id, {columns}, CASE WHEN q.id IS NOT NULL THEN {TRADE_ID_DRAWN} END,"
        f" CASE WHEN q.id IS NOT NULL THEN {ENTRY_ID_DRAWN} END"
        " FROM (SELECT nextval(pg_get_serial_sequence('exchange_order', 'id')) AS id) o"
        " LEFT JOIN (exchange_quote q JOIN exchange_account a"
        " ON a.id = q.account_id AND NOT a.frozen AND NOT a.trading_restricted)"
        f" ON q.security_id = $1 AND q.status = 'active' AND q.side = '{side}' AND q.price {cmp} $2"
        f" ORDER BY q.price {order}, q.id",
        ["bigint", "numeric"],
    )


_CROSSING_ASKS = _crossing("crossing_asks", side=Quote.Side.ASK.value, cmp="<=", order="ASC")
_CROSSING_BIDS = _crossing("crossing_bids", side=Quote.Side.BID.value, cmp=">=", order="DESC")


def _crossing_quotes(security: Security, *, buying: bool, limit: Decimal) -> tuple[int, list[Quote]]:
    """A new order's id, and the active quotes of the other side that cross ``limit``, best price first, then
    the earliest; with accounts.

    The statement of ``Quote.objects.select_related("account").filter(...).order_by(...)``,
    written out and prepared because it runs inside the security lock on every order (see
    ``lock_security``); the ``quote_book`` index serves it. It also draws every key the order's writes need,
    so that they go to PostgreSQL in one round trip (``Book.write``): the order's id, and for each quote a
    trade id and a ledger entry id (``quote.trade_id``, ``quote.entry_id``) for the fill it may give. The ids
    of quotes that do not fill, and of orders refused, are gaps, as a sequence has anyway.
    """
    # Fees are the investor's (order.account.broker); the quote's account only names a side.
    n = len(_QUOTE_FIELDS)
    with connection.cursor() as cur:
        (_CROSSING_ASKS if buying else _CROSSING_BIDS).execute(cur, [security.pk, limit])
        rows = cur.fetchall()
    quotes = []
    for row in rows:
        if row[-1] is None:  # no quote crosses
            break
        quote = Quote.from_db("default", _QUOTE_FIELDS, row[1 : n + 1])
        quote.account = Account.from_db("default", _ACCOUNT_FIELDS, row[n + 1 : -2])
        quote.trade_id, quote.entry_id = row[-2:]
        quotes.append(quote)
    return rows[0][0], quotes


def order_cancel(*, actor: User, order_id: int) -> Order:
    """Cancel the rest of an open order and release what it still holds."""
    with transaction.atomic():
        order = Order.objects.select_related("security", "account__broker").filter(pk=order_id).first()
        if order is None or not pretrade.may_act_for(actor, order.account):
            raise err.NotFound(_("No such order."))
        lock_security(order.security.code)
        # Everything a fill may have changed since the read above (found by a probe: a cancel racing a fill wrote
        # back the filled value and fees read before the fill, 0.00 beside a trade of 1,250.00).
        order.refresh_from_db(fields=ORDER_CHANGES)
        if not order.is_open:
            raise err.OrderNotOpen()
        book = Book(now=timezone.now(), security=order.security)
        book.lock_releases([order])
        book.end_orders([order])
        book.write()
        return order


def orders_cancel_locked(
    account: Account, securities: list[Security], *, closed_by: str, reason: str, now: dt.datetime | None = None
) -> int:
    """Cancel the account's open orders in ``securities``, whose rows the caller's transaction has locked (in pk
    order, before any balance row), releasing what they hold; ``closed_by`` and ``reason`` say why (the exchange
    closed them, not their owner). Returns how many. For a whole-account freeze
    (``supervision.services.freeze_approve``): a frozen account trades no more (found by a review: its resting
    orders went on filling, and their proceeds arrived free). ``now`` is the cancel's moment (the approval's, so
    that its cancels are told apart from the beat's later ones for the same freeze)."""
    cancelled = 0
    now = now or timezone.now()
    # The cash before any position, whichever security's orders are buys (found by a review: locked in the loop,
    # a sale in a security of lower pk took its position first, and a settlement of the account's, cash then
    # position, deadlocked with it).
    cash = cash_lock([account.pk])
    for security in securities:
        orders = list(
            Order.objects.select_related("account__broker")
            .filter(account=account, security=security, status__in=Order.OPEN_STATUSES)
            .order_by("id")
        )
        if not orders:
            continue
        book = Book(now=now, security=security, cash=cash)
        book.lock_releases(orders)
        book.end_orders(orders, closed_by=closed_by, reason=reason)
        book.write()  # no fills: the orders and the released reservations
        cancelled += len(orders)
    return cancelled


def orders_expire(*, now: dt.datetime | None = None) -> int:
    """Expire the open DAY orders placed before the last close of a trading day and release what they hold.

    One transaction per security, locks in the global order (security, then balances by account pk).
    Idempotent: an expired order is not open, so a second run finds nothing. Returns how many expired.
    """
    now = now or timezone.now()
    close = last_close(now)
    due = Order.objects.filter(
        status__in=Order.OPEN_STATUSES, time_in_force=Order.TimeInForce.DAY, created_at__lt=close
    )
    expired = 0
    for security_id in sorted(set(due.values_list("security_id", flat=True))):
        with transaction.atomic():
            security = Security.objects.select_for_update(no_key=True).get(pk=security_id)  # as lock_security
            # Re-read under the lock: a fill or a cancel may have closed some since.
            orders = list(due.filter(security_id=security_id).select_related("account__broker").order_by("id"))
            if not orders:
                continue
            book = Book(now=now, security=security)
            book.lock_releases(orders)
            book.end_orders(orders, status=Order.Status.EXPIRED)
            book.write()
            expired += len(orders)
    return expired
