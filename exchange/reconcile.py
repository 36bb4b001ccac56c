"""What the ledger's checks need to know of trading, registered from ``ExchangeConfig.ready``.

* ``ledger_verify``: every trade row agrees with its TRADE entry, and every
  TRADE entry has its trade row.
* ``ledger_replay --check``: open orders, active quotes, firm RFQ answers, open negotiated
  proposals and unsettled trades
  are what balances must hold reserved.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Mapping

from django.db import connection
from django.utils.translation import gettext_noop as _

from balances.replay import Reservation
from ledger.hooks import BusinessCheck
from ledger.verification import CHUNK, Report, rows_against_entries, rows_agree, rows_tally

from .entries import TradeEntry
from .models import NegotiatedTrade, Order, Quote, RfqAnswer, Trade

# What a trade row must agree on with its TRADE entry, in this order. Read from the payload as it is
# (strings for decimals) rather than through TradeEntry.read: the comparison needs no types, and the
# verification reads every TRADE entry (make bench).
TRADE_FIELDS = ("trade_id", "security", "price", "quantity", "buyer", "seller", "buyer_fee", "seller_fee")
assert set(TRADE_FIELDS) <= set(TradeEntry.__dataclass_fields__), "TRADE_FIELDS names TradeEntry's fields"


_trade_fields_of = operator.itemgetter(*TRADE_FIELDS)


def _trade_fields(kind: str, payload: dict) -> tuple:
    try:
        return _trade_fields_of(payload)  # every field there (a sound entry): one C call
    except KeyError:
        return tuple(payload.get(k) for k in TRADE_FIELDS)


def _trades_query(keys: str = "t.id, t.entry_id") -> str:
    """Every trade row as (``keys``: trade id, entry id; security, price, quantity, buyer, seller, fees): plain rows,
    decimals as PostgreSQL writes them (str(Decimal) of a numeric(…, 2) column is the same text): building model
    instances, then Decimals, was most of the verification's time (measured with `make bench`)."""
    account = Trade._meta.get_field("buyer").related_model._meta.db_table
    security_table = Trade._meta.get_field("security").related_model._meta.db_table
    return (
        f"SELECT {keys}, s.code, t.price::text, t.quantity, b.code, se.code, t.buyer_fee::text, "
        f"t.seller_fee::text FROM {Trade._meta.db_table} t JOIN {security_table} s ON s.id = t.security_id "
        f"JOIN {account} b ON b.id = t.buyer_id JOIN {account} se ON se.id = t.seller_id"
    )


def _check_trades(report: Report, entries: Mapping[int, tuple], waiting: Callable[[], set[int]]) -> None:
    query = _trades_query() + " ORDER BY t.id"  # in chunks, a server-side cursor
    with connection.chunked_cursor() as cur:
        cur.itersize = CHUNK
        cur.execute(query)
        report.trades += rows_against_entries(
            report,
            ((row[0], row[1], (row[0], *row[2:])) for row in cur),
            entries,
            waiting,
            fields=TRADE_FIELDS,
            name="trade",
            no_entry=_("trade %(trade)s has no sealed TRADE entry"),
            differs=_("trade %(trade)s differs from its entry in %(fields)s"),
            no_row=_("TRADE entry without its trade row"),
        )


def _trade_rows(lo: int, hi: int) -> list[tuple]:
    """The trade rows of the entries lo..hi as (entry id, *TRADE_FIELDS), for the fast pass: in that order from
    PostgreSQL, so that each row is the tuple psycopg2 made (rebuilding them was a tenth of the chunk's Python)."""
    with connection.cursor() as cur:
        cur.execute(_trades_query("t.entry_id, t.id") + " WHERE t.entry_id BETWEEN %s AND %s", [lo, hi])
        return cur.fetchall()


def _trades_tally(report: Report) -> int:
    total, waiting = rows_tally(Trade._meta.db_table)
    report.trades += total
    return total - waiting


TRADES_CHECK = BusinessCheck(
    name="trades",
    kinds=frozenset({"TRADE"}),
    extract=_trade_fields,
    check=_check_trades,
    rows_of=_trade_rows,
    agrees=rows_agree,
    tally=_trades_tally,
)


def reservations() -> Iterator[Reservation]:
    """What each balance must hold reserved for trading: open orders, active quotes, firm RFQ answers,
    unsettled trades."""
    for o in Order.objects.filter(status__in=Order.OPEN_STATUSES).only(
        "account_id", "security_id", "side", "reserved_cash", "quantity", "filled_quantity"
    ):
        if o.side == Order.Side.BUY:
            yield Reservation(o.account_id, None, o.reserved_cash)
        else:
            yield Reservation(o.account_id, o.security_id, o.remaining_quantity)
    for q in Quote.objects.filter(status=Quote.Status.ACTIVE).only(
        "account_id", "security_id", "side", "price", "quantity"
    ):
        if q.side == Quote.Side.BID:
            yield Reservation(q.account_id, None, q.price * q.quantity)
        else:
            yield Reservation(q.account_id, q.security_id, q.quantity)
    # A firm answer holds the market maker's side: shares when the investor buys, price × quantity when it sells.
    for a in RfqAnswer.objects.filter(status=RfqAnswer.Status.FIRM).select_related("request"):
        if a.request.side == Order.Side.BUY:
            yield Reservation(a.account_id, a.request.security_id, a.quantity)
        else:
            yield Reservation(a.account_id, None, a.price * a.quantity)
    for n in NegotiatedTrade.objects.filter(status=NegotiatedTrade.Status.PROPOSED).only(
        "proposer_id", "security_id", "side", "reserved_cash", "quantity"
    ):
        if n.side == NegotiatedTrade.Side.BUY:
            yield Reservation(n.proposer_id, None, n.reserved_cash)
        else:
            yield Reservation(n.proposer_id, n.security_id, n.quantity)
    pending = Trade.objects.filter(status__in=[Trade.Status.MATCHED, Trade.Status.HELD]).only(
        "buyer_id", "seller_id", "security_id", "price", "quantity", "buyer_fee"
    )
    for t in pending:
        yield Reservation(t.buyer_id, None, t.value + t.buyer_fee)
        yield Reservation(t.seller_id, t.security_id, t.quantity)
