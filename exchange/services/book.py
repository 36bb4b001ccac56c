"""The fill and reservation book of one matching transaction: fees, reservations, fills, and the writes at the
end (trades with their TRADE entries, then every changed row)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection

from balances.models import CashBalance, Position
from balances.services import cash_lock, positions_lock
from core import errors as err
from core.models import Account, User
from core.money import ZERO, fee, notional
from core.prepared import Batch, Insert, Statement, Update
from ledger.services import entries_queue, entries_write
from registry import gate
from registry.models import Security

from .. import hooks, live, pretrade
from ..entries import TradeEntry
from ..models import Order, Quote, Trade

_SECURITY_FIELDS = [f.attname for f in Security._meta.concrete_fields]
_LOCK_SECURITY = Statement(
    "lock_security",
    f"SELECT {', '.join(f's.{f}' for f in _SECURITY_FIELDS)}, COALESCE(m.halted, false), m.reason"
    " FROM exchange_security s LEFT JOIN registry_marketstate m ON m.id = 1 WHERE s.code = $1 FOR NO KEY UPDATE OF s",
    ["text"],
)


def lock_security(code: str) -> Security:
    """The security row, locked, with ``market_halted``: whether the whole market is halted, read in the same
    statement (the market switch is checked on every order and quote, at no extra round trip) after taking the
    switch's gate shared (``registry.gate``) in the same round trip.

    ``FOR NO KEY UPDATE``: orders and quotes of the security still queue behind each other, but the
    foreign-key checks of rows that refer to the security (a position settlement creates, checked at its
    commit while it holds balance rows an order waits for) are not blocked: no deadlock between them."""
    # Written out and prepared (core.prepared), as the other reads inside the security lock on the order
    # path: building the ORM's SQL, then planning it, costs more CPU than running it (make bench).
    # The market switch's gate first, in the same round trip (registry.gate): a market halt in flight is waited
    # for and then read, and a halt waits for this transaction.
    with connection.cursor() as cur:
        _LOCK_SECURITY.execute(cur, [code], first=[gate.SHARED])
        row = cur.fetchone()
    if row is None:
        raise err.UnknownSecurity()
    n = len(_SECURITY_FIELDS)
    security = Security.from_db("default", _SECURITY_FIELDS, row[:n])
    security.market_halted, security.market_halt_reason = row[n], row[n + 1]
    live.market_changed()  # after commit: the market watch's open pages get the new rows
    return security


def commission(account: Account, amount: Decimal) -> Decimal:
    """Commission an account pays on a trade of ``amount``: its broker's schedule, nothing without a broker."""
    broker = account.broker
    if broker is None:
        return ZERO
    return fee(amount, bps=broker.fee_bps, minimum=broker.fee_minimum)


def buy_reservation(
    account: Account, limit_price: Decimal, quantity: int, *, filled_value: Decimal = ZERO, fees: Decimal = ZERO
) -> Decimal:
    """Cash a buy order holds for ``quantity`` unfilled shares: their worst-case cost, plus what the order's
    commission could still grow by once its fills so far cost ``filled_value`` and paid ``fees`` (nothing
    filled: a new order, an RFQ or a negotiated proposal). The fills never pay more in all than the order
    reserved when placed: the commission is on the order's filled value (monotone in it), and no fill is above
    the limit."""
    if quantity == 0:
        return ZERO
    value = notional(limit_price, quantity)
    return value + commission(account, filled_value + value) - fees


def seller_commission(account: Account, value: Decimal) -> Decimal:
    # A seller never pays more commission than the trade brings in.
    return min(commission(account, value), value)


# --------------------------------------------------------------------------
# The fill book-keeping shared by order entry and quote publication


@dataclass
class Fill:
    quote: Quote | None  # None for a trade not made against a quote (an accepted RFQ answer)
    order: Order | None  # the investor order; None for an accepted RFQ answer
    quantity: int
    price: Decimal
    buyer: Account
    seller: Account
    buyer_fee: Decimal
    seller_fee: Decimal


@dataclass
class Book:
    """Changes to write at the end of one matching transaction."""

    now: dt.datetime
    security: Security
    fills: list[Fill] = field(default_factory=list)
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

    def reserve_purchase(
        self,
        account: Account,
        price: Decimal,
        quantity: int,
        *,
        actor: User,
        seller: Account | None = None,
        what: str = "order",
    ) -> Decimal:
        """A new buy order's or negotiated proposal's ``account``: the investor's rules (``seller``, where known,
        for the holder cap), then its cash locked, checked and reserved for ``quantity`` at ``price`` and their
        commission (``buy_reservation``), which it returns. ``what`` names the order or the trade in a refusal."""
        pretrade.check_investor(
            account=account,
            security=self.security,
            side="buy",
            quantity=quantity,
            available_shares=None,
            now=self.now,
            seller=seller,
            actor=actor,
        )
        self.cash = cash_lock([account.pk])
        reserved = buy_reservation(account, price, quantity)
        pretrade.check_cash(self.cash[account.pk].available, reserved, what=what, row=self.cash[account.pk])
        self.reserve_cash(account.pk, reserved)
        return reserved

    def reserve_sale(self, account: Account, quantity: int, *, actor: User, what: str = "order") -> None:
        """A sale's ``account`` (a new sell order, negotiated proposal or an investor's request for quote accepted):
        its position locked, then the rules that read it (all the shares held free may be sold at once, odd lot
        included; the investor's; enough shares) and the shares reserved."""
        self.positions = positions_lock(self.security.pk, [account.pk])
        row = self.positions[account.pk]
        pretrade.check_quantity(self.security, quantity, whole_holding=row.available)
        pretrade.check_investor(
            account=account,
            security=self.security,
            side="sell",
            quantity=quantity,
            available_shares=row.available,
            now=self.now,
            actor=actor,
        )
        pretrade.check_shares(row.available, quantity, what=what, row=row)
        self.reserve_shares(account.pk, quantity)

    def lock_releases(self, orders: Iterable[Order] = (), quotes: Iterable[Quote] = ()) -> None:
        """Lock the balance rows that ending ``orders`` and pulling ``quotes`` of this book's security release:
        each buyer's cash, then each seller's position, in pk order (the caller holds the security's lock).
        A caller that goes through several securities locks the cash of all of them first and gives it to each
        book (``Book(cash=…)``): cash is then not locked again here, after a position of an earlier security."""
        orders, quotes = list(orders), list(quotes)
        buying = [o.account_id for o in orders if o.side == Order.Side.BUY]
        buying += [q.account_id for q in quotes if q.side == Quote.Side.BID]
        selling = [o.account_id for o in orders if o.side == Order.Side.SELL]
        selling += [q.account_id for q in quotes if q.side == Quote.Side.ASK]
        missing = [a for a in buying if a not in self.cash]
        if missing:
            self.cash |= cash_lock(missing)
        self.positions = positions_lock(self.security.pk, selling)

    def end_orders(
        self,
        orders: Iterable[Order],
        *,
        status: str = Order.Status.CANCELLED,
        closed_by: str = Order.ClosedBy.NOBODY_ELSE,
        reason: str = "",
    ) -> None:
        """End what is left of open orders, read under the security's lock, with ``status`` and release what they
        hold (``lock_releases`` first); ``closed_by`` and ``reason`` say why when it was not their owner, so that
        neither the client nor surveillance reads the cancel as the client's own. Written by ``write``. For a
        cancel, a security change, a freeze and the day's end alike."""
        reason = reason[: Order._meta.get_field("closed_reason").max_length]
        for order in orders:
            self.close_order(order, cancel_rest=True, rest_status=status)
            order.closed_by, order.closed_reason = closed_by, reason
            self.dirty_orders[order.pk] = order

    def pull_quotes(
        self, quotes: Iterable[Quote], *, status: str = Quote.Status.PULLED, write_now: bool = False
    ) -> None:
        """Withdraw active quotes of this book's security with ``status`` and release their reservations
        (``lock_releases`` first). Written by ``write``, or at once with ``write_now`` (a publication replacing them:
        one active quote a side, so the old ones must be written before the new ones are inserted)."""
        quotes = list(quotes)
        for quote in quotes:
            if quote.side == Quote.Side.BID:
                self.reserve_cash(quote.account_id, -notional(quote.price, quote.quantity))
            else:
                self.reserve_shares(quote.account_id, -quote.quantity)
            quote.status = status
            quote.updated_at = self.now
            if not write_now:
                self.dirty_quotes[quote.pk] = quote
        if write_now and quotes:
            Quote.objects.bulk_update(quotes, ["status", "updated_at"])

    def fill_buy_order(self, order: Order, quote: Quote, quantity: int) -> bool:
        """An investor buy order takes ``quantity`` from an ask quote; the fill's fee is what it adds to the
        order's commission (the minimum once an order). False if the buyer cannot pay, which an order placed
        with its commission reserved never meets (what the price improves is released)."""
        account = order.account
        value = notional(quote.price, quantity)
        filled_value = order.filled_value + value
        buyer_fee = commission(account, filled_value) - order.fees
        still_reserved = buy_reservation(
            account,
            order.limit_price,
            order.remaining_quantity - quantity,
            filled_value=filled_value,
            fees=order.fees + buyer_fee,
        )
        top_up = value + buyer_fee + still_reserved - order.reserved_cash
        if top_up > 0 and self.cash[account.pk].available < top_up:
            return False
        self.reserve_cash(account.pk, top_up)
        order.reserved_cash = still_reserved
        self._record(order, quote, quantity, buyer=account, seller=quote.account, buyer_fee=buyer_fee, seller_fee=ZERO)
        return True

    def fill_sell_order(self, order: Order, quote: Quote, quantity: int) -> bool:
        """An investor sell order gives ``quantity`` to a bid quote; its shares stay reserved until settlement.
        Its fee, as a buy order's, is what the fill adds to the order's commission."""
        value = notional(quote.price, quantity)
        seller_fee = seller_commission(order.account, order.filled_value + value) - order.fees
        self._record(
            order,
            quote,
            quantity,
            buyer=quote.account,
            seller=order.account,
            buyer_fee=ZERO,
            seller_fee=seller_fee,
        )
        return True

    def _record(self, order, quote, quantity, *, buyer, seller, buyer_fee, seller_fee) -> None:
        order.filled_quantity += quantity
        order.filled_value += notional(quote.price, quantity)
        order.fees += buyer_fee + seller_fee  # the order's side pays; the quote's pays nothing
        quote.quantity -= quantity
        if quote.quantity == 0:
            quote.status = Quote.Status.FILLED
        quote.updated_at = self.now
        self.dirty_quotes[quote.pk] = quote
        self.fills.append(
            Fill(
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

    def write(self, *, order: Order | None = None) -> list[Trade]:
        """Write ``order`` (a new one, its id drawn), the trades with their ledger entries, then every changed
        row: in one round trip (``core.prepared.Batch``) when every key is known beforehand and each table
        changes one row, as for an order that fills against quotes."""
        batch = Batch()
        if order is not None:
            _ORDERS.add(batch, [order])
        trades = trades_write(self.security, self.fills, self.now, batch=batch)
        many = []
        for update, rows in (
            (_QUOTE_UPDATE, list(self.dirty_quotes.values())),
            (_ORDER_UPDATE, list(self.dirty_orders.values())),
            (_CASH_UPDATE, [self.cash[a] for a in sorted(self.dirty_cash)]),
            (_POSITION_UPDATE, [self.positions[a] for a in sorted(self.dirty_positions)]),
        ):
            if len(rows) == 1:
                update.add(batch, rows[0])
            elif rows:
                many.append((update, rows))
        # The trades' insert may meet the database's own refusals (a trade of an account frozen since the request
        # read it): each path that writes trades then raises the domain error, not a 500.
        with err.database_refusals():
            batch.run()
        for update, rows in many:
            type(rows[0]).objects.bulk_update(rows, [f.name for f in update.fields])
        # Orders the exchange cancelled are told to their owners once this commits (``hooks.orders_closed``); an
        # order path that cancels nothing of the kind fires nothing and costs nothing more.
        closed = [pk for pk, o in self.dirty_orders.items() if o.closed_by]
        if closed:
            hooks.orders_closed.fire(order_ids=sorted(closed))
        return trades


_ORDERS = Insert(Order)
_QUOTE_UPDATE = Update(Quote, ["quantity", "status", "updated_at"])
# What matching, cancelling and expiring change on an order: whoever read an order before locking its security
# re-reads all of these under the lock, or writes stale ones back.
ORDER_CHANGES = [
    "filled_quantity",
    "filled_value",
    "fees",
    "status",
    "reserved_cash",
    "closed_by",
    "closed_reason",
    "updated_at",
]
_ORDER_UPDATE = Update(Order, ORDER_CHANGES)
_CASH_UPDATE = Update(CashBalance, ["reserved"])
_POSITION_UPDATE = Update(Position, ["reserved"])


_TRADES = Insert(Trade)
# A trade id drawn ahead, in a statement of the caller's, so that the trade's TRADE entry can name it.
TRADE_ID_DRAWN = "nextval(pg_get_serial_sequence('exchange_trade', 'id'))"


def trades_write(security: Security, fills: list[Fill], now: dt.datetime, *, batch: Batch) -> list[Trade]:
    """Queue the trades of ``fills`` on ``batch``, written when it runs, with their TRADE entries (also queued
    when every fill brings a drawn entry id, else written at once)."""
    if not fills:
        return []
    # Trade ids are taken first so that each TRADE entry can name its trade and each trade can point at its
    # entry. A quote read by order entry brings a trade id and an entry id drawn for the fill it may give
    # (``_crossing_quotes``); fills of resting orders draw their trade ids here, and their entries' ids come
    # back from the entries' insert.
    missing = [f for f in fills if getattr(f.quote, "trade_id", None) is None]
    drawn = iter([])
    if missing:
        with connection.cursor() as cur:
            cur.execute(
                f"SELECT {TRADE_ID_DRAWN} FROM generate_series(1, %s)",
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
            buy_order_id=f.order.pk if f.order is not None and f.order.side == Order.Side.BUY else None,
            sell_order_id=f.order.pk if f.order is not None and f.order.side == Order.Side.SELL else None,
            quote_id=f.quote.pk if f.quote is not None else None,
            matched_at=now,
        )
        for trade_id, f in zip(ids, fills, strict=True)
    ]
    entry_ids = [getattr(f.quote, "entry_id", None) for f in fills]
    if None not in entry_ids:
        entries = entries_queue(batch, records, entry_ids, recorded_at=now)
    else:
        entries = entries_write(records, recorded_at=now)
    trades = [
        Trade(
            id=trade_id,
            security=security,
            price=f.price,
            quantity=f.quantity,
            buyer=f.buyer,
            seller=f.seller,
            buy_order=f.order if f.order is not None and f.order.side == Order.Side.BUY else None,
            sell_order=f.order if f.order is not None and f.order.side == Order.Side.SELL else None,
            quote=f.quote,
            buyer_fee=f.buyer_fee,
            seller_fee=f.seller_fee,
            entry=entry,
            matched_at=now,
        )
        for trade_id, f, entry in zip(ids, fills, entries, strict=True)
    ]
    _TRADES.add(batch, trades)
    live.trades_changed([(t.pk, t.buyer.owner_id, t.seller.owner_id) for t in trades], "matched")
    return trades
