"""Writes of the exchange: accounts, securities, quotes, orders and matching.

The market-making engine (DESIGN.md §2):

* an investor order executes against the best crossing quotes, best price
  first, then the earliest quote, at the quote's price, with partial fills;
  the rest rests (DAY) or is cancelled (IOC);
* when a market maker posts or improves a quote, resting investor orders
  that it crosses execute against it, best limit first, then the earliest;
* investors never match each other; nobody trades against their own quote.

Reservations make every match settleable: an order reserves its cash
(limit × quantity + fee) or its shares when accepted; a quote reserves its bid
cash and its ask shares. A fill turns the filled part of a reservation into a
settlement obligation (still counted in ``reserved`` until settlement); a
cancel, an IOC remainder, a replaced or pulled quote release the rest.

Every function takes the security row lock first (see ``exchange.models``),
then balances in the global order (``settlement.models``), and writes its
TRADE entries in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, connection, transaction
from django.db.models import Model
from django.utils import timezone
from django.utils.translation import gettext as _

from balances.models import CashBalance, Position
from balances.services import cash_lock, positions_lock
from core import errors as err
from core.models import PRICE, Account, Role, User
from core.money import ZERO, fee, notional
from ledger.services import entries_write
from registry.models import Security

from . import pretrade
from .calendar import last_close
from .entries import TradeEntry
from .models import Order, Quote, Trade

# --------------------------------------------------------------------------
# Validation shared by orders and quotes


def parse_price(value: object) -> Decimal:
    """A price from the outside world: a decimal string or Decimal, never a float."""
    if isinstance(value, float | bool) or value is None:
        raise err.InvalidInput(_('Prices are decimal strings, such as "10.50".'))
    try:
        price = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise err.InvalidInput(_("The price is not a decimal number.")) from exc
    if not price.is_finite() or price <= 0:
        raise err.InvalidInput(_("The price must be a positive number."))
    if price.adjusted() >= PRICE["max_digits"] - PRICE["decimal_places"]:
        raise err.InvalidInput(_("The price is too large."))
    return price


# More shares than any security has; it keeps price × quantity within decimal precision and the columns.
MAX_QUANTITY = 10**12


def parse_quantity(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise err.InvalidInput(_("Quantities are whole numbers of shares."))
    if value <= 0:
        raise err.InvalidInput(_("The quantity must be positive."))
    if value > MAX_QUANTITY:
        raise err.InvalidInput(_("The quantity is too large."))
    return value


def _lock_security(code: str) -> Security:
    # Hand-written (as the other reads inside the security lock on the order
    # path): building the ORM's SQL costs more CPU than running it (make bench).
    security = next(
        iter(Security.objects.raw("SELECT * FROM exchange_security WHERE code = %s FOR UPDATE", [code])), None
    )
    if security is None:
        raise err.UnknownSecurity()
    return security


def _fee(account: Account, amount: Decimal) -> Decimal:
    """Commission an account pays on a trade of ``amount``: its broker's schedule, nothing without a broker."""
    broker = account.broker
    if broker is None:
        return ZERO
    return fee(amount, bps=broker.fee_bps, minimum=broker.fee_minimum)


def _buy_reservation(account: Account, limit_price: Decimal, quantity: int) -> Decimal:
    """Cash a buy order holds for ``quantity`` unfilled shares: the worst-case cost plus its fee."""
    if quantity == 0:
        return ZERO
    value = notional(limit_price, quantity)
    return value + _fee(account, value)


def _seller_fee(account: Account, value: Decimal) -> Decimal:
    # A seller never pays more commission than the trade brings in.
    return min(_fee(account, value), value)


# --------------------------------------------------------------------------
# The fill book-keeping shared by order entry and quote publication


@dataclass
class _Fill:
    quote: Quote
    order: Order | None  # the investor order (None never happens today; kept explicit)
    quantity: int
    price: Decimal
    buyer: Account
    seller: Account
    buyer_fee: Decimal
    seller_fee: Decimal


@dataclass
class _Book:
    """Changes to write at the end of one matching transaction."""

    now: dt.datetime
    security: Security
    fills: list[_Fill] = field(default_factory=list)
    cash: dict[int, CashBalance] = field(default_factory=dict)
    positions: dict[int, Position] = field(default_factory=dict)
    dirty_cash: set[int] = field(default_factory=set)
    dirty_positions: set[int] = field(default_factory=set)
    dirty_quotes: dict[int, Quote] = field(default_factory=dict)
    dirty_orders: dict[int, Order] = field(default_factory=dict)

    def reserve_cash(self, account_id: int, amount: Decimal) -> None:
        """Add ``amount`` (negative to release) to the reserved cash; the caller checked availability."""
        if amount:
            self.cash[account_id].reserved += amount
            self.dirty_cash.add(account_id)

    def reserve_shares(self, account_id: int, quantity: int) -> None:
        if quantity:
            self.positions[account_id].reserved += quantity
            self.dirty_positions.add(account_id)

    def fill_buy_order(self, order: Order, quote: Quote, quantity: int) -> bool:
        """An investor buy order takes ``quantity`` from an ask quote. False if the buyer cannot pay the fee."""
        account = order.account
        value = notional(quote.price, quantity)
        buyer_fee = _fee(account, value)
        remaining = order.remaining_quantity - quantity
        still_reserved = _buy_reservation(account, order.limit_price, remaining)
        # Usually negative (price improvement is released); positive only when a
        # per-trade minimum fee on a small fill costs more than the order reserved.
        top_up = value + buyer_fee + still_reserved - order.reserved_cash
        if top_up > 0 and self.cash[account.pk].available < top_up:
            return False
        self.reserve_cash(account.pk, top_up)
        order.reserved_cash = still_reserved
        self._record(order, quote, quantity, buyer=account, seller=quote.account, buyer_fee=buyer_fee, seller_fee=ZERO)
        return True

    def fill_sell_order(self, order: Order, quote: Quote, quantity: int) -> bool:
        """An investor sell order gives ``quantity`` to a bid quote; its shares stay reserved until settlement."""
        value = notional(quote.price, quantity)
        self._record(
            order,
            quote,
            quantity,
            buyer=quote.account,
            seller=order.account,
            buyer_fee=ZERO,
            seller_fee=_seller_fee(order.account, value),
        )
        return True

    def _record(self, order, quote, quantity, *, buyer, seller, buyer_fee, seller_fee) -> None:
        order.filled_quantity += quantity
        quote.quantity -= quantity
        if quote.quantity == 0:
            quote.status = Quote.Status.FILLED
        quote.updated_at = self.now
        self.dirty_quotes[quote.pk] = quote
        self.fills.append(
            _Fill(
                quote=quote,
                order=order,
                quantity=quantity,
                price=quote.price,
                buyer=buyer,
                seller=seller,
                buyer_fee=buyer_fee,
                seller_fee=seller_fee,
            )
        )

    def close_order(self, order: Order, *, cancel_rest: bool, rest_status: str = Order.Status.CANCELLED) -> None:
        """Set the order's status after matching; a remainder that ends (an IOC's, a cancel's, an expiry's)
        takes ``rest_status`` and is released."""
        if order.remaining_quantity == 0:
            order.status = Order.Status.FILLED
        elif cancel_rest:
            order.status = rest_status
        elif order.filled_quantity:
            order.status = Order.Status.PARTIALLY_FILLED
        else:
            order.status = Order.Status.OPEN
        if not order.is_open:
            self._release_order(order)
        order.updated_at = self.now

    def _release_order(self, order: Order) -> None:
        if order.side == Order.Side.BUY:
            self.reserve_cash(order.account_id, -order.reserved_cash)
            order.reserved_cash = ZERO
        else:
            self.reserve_shares(order.account_id, -order.remaining_quantity)

    def write(self) -> list[Trade]:
        """Write trades with their ledger entries, then every changed row."""
        trades = _trades_write(self.security, self.fills, self.now)
        if self.dirty_quotes:
            _rows_update(Quote, list(self.dirty_quotes.values()), ["quantity", "status", "updated_at"])
        if self.dirty_orders:
            _rows_update(
                Order, list(self.dirty_orders.values()), ["filled_quantity", "status", "reserved_cash", "updated_at"]
            )
        if self.dirty_cash:
            _rows_update(CashBalance, [self.cash[a] for a in sorted(self.dirty_cash)], ["reserved"])
        if self.dirty_positions:
            _rows_update(Position, [self.positions[a] for a in sorted(self.dirty_positions)], ["reserved"])
        return trades


def _rows_update(model: type[Model], rows: list[Model], fields: list[str]) -> None:
    """``bulk_update``, but a lone row gets one plain ``UPDATE … WHERE pk``, written out.

    An order usually changes one quote and one balance; building bulk_update's
    CASE … WHEN for a single row costs about three times the plain UPDATE, and
    the ORM's ``update()`` still more CPU than the statement (measured with
    ``make bench``). The values are the fields' own (``get_db_prep_save``).
    """
    if len(rows) != 1:
        model.objects.bulk_update(rows, fields)
        return
    row, meta = rows[0], model._meta
    columns = [meta.get_field(name) for name in fields]
    sql = "UPDATE {} SET {} WHERE {} = %s".format(
        connection.ops.quote_name(meta.db_table),
        ", ".join(f"{connection.ops.quote_name(f.column)} = %s" for f in columns),
        connection.ops.quote_name(meta.pk.column),
    )
    with connection.cursor() as cur:
        cur.execute(sql, [f.get_db_prep_save(getattr(row, f.attname), connection) for f in columns] + [row.pk])


def _trades_write(security: Security, fills: list[_Fill], now: dt.datetime) -> list[Trade]:
    if not fills:
        return []
    # Trade ids are taken first so that each TRADE entry can name its trade
    # and each trade can point at its entry, with one INSERT each.
    # A quote read by order entry brings a trade id drawn for its possible fill
    # (``_crossing_quotes``); fills of resting orders draw theirs here.
    missing = [f for f in fills if getattr(f.quote, "trade_id", None) is None]
    drawn = iter([])
    if missing:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT nextval(pg_get_serial_sequence('exchange_trade', 'id')) FROM generate_series(1, %s)",
                [len(missing)],
            )
            drawn = iter([row[0] for row in cur.fetchall()])
    ids = [getattr(f.quote, "trade_id", None) or next(drawn) for f in fills]
    records = [
        TradeEntry(
            trade_id=trade_id,
            security=security.code,
            price=f.price,
            quantity=f.quantity,
            buyer=f.buyer.code,
            seller=f.seller.code,
            buyer_fee=f.buyer_fee,
            seller_fee=f.seller_fee,
            buy_order_id=f.order.pk if f.order.side == Order.Side.BUY else None,
            sell_order_id=f.order.pk if f.order.side == Order.Side.SELL else None,
            quote_id=f.quote.pk,
            matched_at=now,
        )
        for trade_id, f in zip(ids, fills, strict=True)
    ]
    entries = entries_write(records, recorded_at=now)
    trades = [
        Trade(
            id=trade_id,
            security=security,
            price=f.price,
            quantity=f.quantity,
            buyer=f.buyer,
            seller=f.seller,
            buy_order=f.order if f.order.side == Order.Side.BUY else None,
            sell_order=f.order if f.order.side == Order.Side.SELL else None,
            quote=f.quote,
            buyer_fee=f.buyer_fee,
            seller_fee=f.seller_fee,
            entry=entry,
            matched_at=now,
        )
        for trade_id, f, entry in zip(ids, fills, entries, strict=True)
    ]
    return Trade.objects.bulk_create(trades)


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
    order = (
        Order.objects.select_related("security").filter(account=account, client_order_id=req.client_order_id).first()
    )
    if order is not None and not _same_request(order, req):
        raise err.IdempotencyConflict()
    return order


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
    # Nearly every order is new, so the first order is looked up only when this
    # one fails: a retry either stops at a check (market closed, cash spent, …)
    # or reaches its INSERT, which the unique constraint refuses; both roll back.
    try:
        with transaction.atomic():
            return _order_place(placed_by=placed_by, account=account, req=request), True
    except IntegrityError as exc:
        # A retry, possibly concurrent, with the same client_order_id.
        if "order_client_order_id_unique" not in str(exc):
            raise
        existing = _existing_order(account, request)
        if existing is None:  # pragma: no cover - the constraint says it exists
            raise
        return existing, False
    except err.DomainError:
        existing = _existing_order(account, request)
        if existing is None:
            raise
        return existing, False


def _order_place(*, placed_by: User, account: Account, req: OrderRequest) -> Order:
    now = timezone.now()
    security = _lock_security(req.security)
    pretrade.check_tradable(security, now=now)
    pretrade.check_price(security, req.limit_price)
    pretrade.check_quantity(security, req.quantity)
    book = _Book(now=now, security=security)
    buying = req.side == Order.Side.BUY
    quotes = _crossing_quotes(security, buying=buying, limit=req.limit_price)
    pretrade.check_self_trade(account, quotes)

    order = Order(
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
        pretrade.check_investor(
            account=account, security=security, side=req.side, quantity=req.quantity, available_shares=None, now=now
        )
        book.cash = cash_lock([account.pk])
        order.reserved_cash = _buy_reservation(account, req.limit_price, req.quantity)
        pretrade.check_cash(book.cash[account.pk].available, order.reserved_cash)
        book.reserve_cash(account.pk, order.reserved_cash)
    else:
        book.positions = positions_lock(security.pk, [account.pk])
        available = book.positions[account.pk].available
        pretrade.check_investor(
            account=account,
            security=security,
            side=req.side,
            quantity=req.quantity,
            available_shares=available,
            now=now,
        )
        pretrade.check_shares(available, req.quantity)
        book.reserve_shares(account.pk, req.quantity)

    fill = book.fill_buy_order if buying else book.fill_sell_order
    for quote in quotes:
        if order.remaining_quantity == 0 or not fill(order, quote, min(order.remaining_quantity, quote.quantity)):
            break
    book.close_order(order, cancel_rest=req.time_in_force == Order.TimeInForce.IOC)
    # Inserted in its final state, before the trades that refer to it.
    order.save(force_insert=True)
    book.write()
    return order


_QUOTE_FIELDS = [f.attname for f in Quote._meta.concrete_fields]
_ACCOUNT_FIELDS = [f.attname for f in Account._meta.concrete_fields]


def _crossing_sql(*, cmp: str, order: str) -> str:
    columns = ", ".join([f"q.{f}" for f in _QUOTE_FIELDS] + [f"a.{f}" for f in _ACCOUNT_FIELDS])
    return (
        f"SELECT {columns}, nextval(pg_get_serial_sequence('exchange_trade', 'id'))"
        " FROM exchange_quote q JOIN exchange_account a ON a.id = q.account_id"
        f" WHERE q.security_id = %s AND q.status = 'active' AND q.side = %s AND q.price {cmp} %s"
        f" ORDER BY q.price {order}, q.id"
    )


_CROSSING_ASKS = _crossing_sql(cmp="<=", order="ASC")
_CROSSING_BIDS = _crossing_sql(cmp=">=", order="DESC")


def _crossing_quotes(security: Security, *, buying: bool, limit: Decimal) -> list[Quote]:
    """Active quotes of the other side that cross ``limit``, best price first, then the earliest; with accounts.

    The statement of ``Quote.objects.select_related("account").filter(...).order_by(...)``,
    written out because it runs inside the security lock on every order (see ``_lock_security``);
    the ``quote_book`` index serves it. Each quote also brings a trade id (``quote.trade_id``)
    for the fill it may give, which spares drawing ids in a statement of their own after
    matching; the ids of quotes that do not fill are gaps, as a sequence has anyway.
    """
    # Fees are the investor's (order.account.broker); the quote's account only names a side.
    n = len(_QUOTE_FIELDS)
    with connection.cursor() as cur:
        cur.execute(
            _CROSSING_ASKS if buying else _CROSSING_BIDS,
            [security.pk, Quote.Side.ASK if buying else Quote.Side.BID, limit],
        )
        rows = cur.fetchall()
    quotes = []
    for row in rows:
        quote = Quote.from_db("default", _QUOTE_FIELDS, row[:n])
        quote.account = Account.from_db("default", _ACCOUNT_FIELDS, row[n:-1])
        quote.trade_id = row[-1]
        quotes.append(quote)
    return quotes


def order_cancel(*, actor: User, order_id: int) -> Order:
    """Cancel the rest of an open order and release what it still holds."""
    with transaction.atomic():
        order = Order.objects.select_related("security", "account__broker").filter(pk=order_id).first()
        if order is None or not pretrade.may_act_for(actor, order.account):
            raise err.NotFound(_("No such order."))
        _lock_security(order.security.code)
        order.refresh_from_db(fields=["status", "filled_quantity", "reserved_cash"])
        if not order.is_open:
            raise err.OrderNotOpen()
        book = _Book(now=timezone.now(), security=order.security)
        if order.side == Order.Side.BUY:
            book.cash = cash_lock([order.account_id])
        else:
            book.positions = positions_lock(order.security_id, [order.account_id])
        book.close_order(order, cancel_rest=True)
        book.dirty_orders[order.pk] = order
        book.write()
        return order


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
            security = Security.objects.select_for_update().get(pk=security_id)
            # Re-read under the lock: a fill or a cancel may have closed some since.
            orders = list(due.filter(security_id=security_id).select_related("account__broker").order_by("id"))
            if not orders:
                continue
            book = _Book(now=now, security=security)
            book.cash = cash_lock([o.account_id for o in orders if o.side == Order.Side.BUY])
            book.positions = positions_lock(security_id, [o.account_id for o in orders if o.side == Order.Side.SELL])
            for order in orders:
                book.close_order(order, cancel_rest=True, rest_status=Order.Status.EXPIRED)
                book.dirty_orders[order.pk] = order
            book.write()
            expired += len(orders)
    return expired


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


def _market_maker_account(user: User) -> Account:
    if user.role != Role.MARKET_MAKER:
        raise err.PermissionDenied(_("Only market makers publish quotes."))
    account = Account.objects.filter(owner=user, kind=Account.Kind.MARKET_MAKER).first()
    if account is None:
        raise err.NoAccount()
    return account


@transaction.atomic
def quote_publish(*, user: User, request: QuoteRequest) -> QuoteResult:
    """Post or replace a market maker's two-sided quote, then execute the resting orders it crosses."""
    account = _market_maker_account(user)
    bid_price, ask_price = parse_price(request.bid_price), parse_price(request.ask_price)
    bid_qty, ask_qty = parse_quantity(request.bid_quantity), parse_quantity(request.ask_quantity)
    now = timezone.now()
    security = _lock_security(request.security)
    pretrade.check_tradable(security, now=now)
    for price in (bid_price, ask_price):
        pretrade.check_price(security, price)
    for qty in (bid_qty, ask_qty):
        pretrade.check_quantity(security, qty)
    if bid_price >= ask_price:
        raise err.CrossedQuote()

    resting = (
        Order.objects.select_related("account__broker")
        .filter(security=security, status__in=Order.OPEN_STATUSES)
        .exclude(account=account)
    )
    buys = list(resting.filter(side=Order.Side.BUY, limit_price__gte=ask_price).order_by("-limit_price", "id"))
    sells = list(resting.filter(side=Order.Side.SELL, limit_price__lte=bid_price).order_by("limit_price", "id"))

    book = _Book(now=now, security=security)
    book.cash = cash_lock([account.pk, *(o.account_id for o in buys)])
    book.positions = positions_lock(security.pk, [account.pk, *(o.account_id for o in sells)])

    _quotes_release(book, account, security)
    bid_reserve = notional(bid_price, bid_qty)
    pretrade.check_cash(book.cash[account.pk].available, bid_reserve, what="bid")
    pretrade.check_shares(book.positions[account.pk].available, ask_qty, what="ask")
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

    for order in buys:
        if ask.quantity == 0:
            break
        if book.fill_buy_order(order, ask, min(order.remaining_quantity, ask.quantity)):
            book.close_order(order, cancel_rest=False)
            book.dirty_orders[order.pk] = order
    for order in sells:
        if bid.quantity == 0:
            break
        book.fill_sell_order(order, bid, min(order.remaining_quantity, bid.quantity))
        book.close_order(order, cancel_rest=False)
        book.dirty_orders[order.pk] = order
    # A bid fill keeps its cash reserved as the obligation; nothing to release.
    trades = book.write()
    return QuoteResult(bid=bid, ask=ask, trades=trades)


def _quotes_release(book: _Book, account: Account, security: Security, *, status: str = Quote.Status.REPLACED) -> int:
    """Withdraw the account's active quotes in ``security`` and release their reservations."""
    active = list(Quote.objects.filter(account=account, security=security, status=Quote.Status.ACTIVE))
    for quote in active:
        if quote.side == Quote.Side.BID:
            book.reserve_cash(account.pk, -notional(quote.price, quote.quantity))
        else:
            book.reserve_shares(account.pk, -quote.quantity)
        quote.status = status
        quote.updated_at = book.now
    if active:
        # Written now, before the replacing quotes are inserted (one active quote per side).
        Quote.objects.bulk_update(active, ["status", "updated_at"])
    return len(active)


def quotes_pull(*, user: User, security_code: str | None = None) -> int:
    """Pull all of a market maker's quotes (in one security, or everywhere). Returns how many."""
    account = _market_maker_account(user)
    with transaction.atomic():
        codes = Quote.objects.filter(account=account, status=Quote.Status.ACTIVE)
        if security_code:
            codes = codes.filter(security__code=security_code)
        security_ids = sorted(set(codes.values_list("security_id", flat=True)))
        # Securities in pk order, then the market maker's balances.
        securities = list(Security.objects.select_for_update().filter(pk__in=security_ids).order_by("pk"))
        pulled = 0
        now = timezone.now()
        cash = cash_lock([account.pk])
        for security in securities:
            book = _Book(now=now, security=security, cash=cash)
            book.positions = positions_lock(security.pk, [account.pk])
            pulled += _quotes_release(book, account, security, status=Quote.Status.PULLED)
            book.write()
        return pulled
