"""Writes of trading: orders, quotes and matching (market making).

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
then balances in the global order (``balances.models``), and writes its
TRADE entries in the same transaction. Every pre-trade rule is in
``exchange.pretrade``.

The package: ``inputs`` (prices and quantities from outside), ``book`` (the
fill and reservation book of one matching transaction, fees, the TRADE
entries), ``orders`` (order entry, cancel, expiry) and ``quotes`` (publish,
pull) and ``close`` (the end of a trading day). Callers use the names below.
"""

from .close import day_close
from .inputs import MAX_QUANTITY, parse_price, parse_quantity
from .negotiated import negotiated_securities, negotiated_withdraw_locked, negotiated_withdraw_to_frozen
from .orders import OrderRequest, order_cancel, order_place, orders_cancel_locked, orders_expire
from .quotes import (
    QuoteRequest,
    QuoteResult,
    market_making_close_forbidden,
    quote_publish,
    quotes_pull,
    quotes_pull_locked,
)
from .rfq import rfqs_close_frozen

__all__ = [
    "MAX_QUANTITY",
    "OrderRequest",
    "QuoteRequest",
    "QuoteResult",
    "day_close",
    "negotiated_securities",
    "negotiated_withdraw_locked",
    "negotiated_withdraw_to_frozen",
    "order_cancel",
    "orders_cancel_locked",
    "order_place",
    "orders_expire",
    "parse_price",
    "parse_quantity",
    "quote_publish",
    "quotes_pull",
    "market_making_close_forbidden",
    "quotes_pull_locked",
    "rfqs_close_frozen",
]
