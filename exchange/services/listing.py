"""What trading does when an operator changes or delists a security (``registry.listing``).

Runs inside the registry's transaction, under the security's row lock, then
locks balances in the global order (cash by account pk, then positions).

* A resting order is kept while it still fits the rules: a buy's quantity
  in whole lots (a sale may be an odd lot: all of a holding at once), its
  limit on a tick and inside the band, market making on; a quote likewise,
  its placed quantity in whole lots. One that no longer fits is cancelled, with the change as its
  ``closed_reason``, and its reservation released. A client who wants the
  order under the new rules places it again; nothing is silently re-priced.
* A quote that no longer fits is pulled and its reservation released.
* A delisting cancels every resting order and pulls every quote.
* A change of settlement mode is refused while trades of the security wait to
  settle (they would change mode halfway); the operator halts, lets them
  settle, and changes it then.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from core import errors as err
from registry.models import Security

from .. import pretrade
from ..models import Order, Quote, Trade
from .book import Book

SettlementModeBusy = err.error_class(
    "SettlementModeBusy",
    "settlement_mode_busy",
    _("Trades of this security are waiting to settle; change its settlement mode when they have settled."),
    409,
)


def _fits(security: Security, price: Decimal, quantity: int | None) -> bool:
    """``quantity``: what must be in whole lots, or None when nothing must (a sale)."""
    if security.status == Security.Status.DELISTED or not security.mode_market_making:
        return False
    in_lots = quantity is None or quantity % security.lot_size == 0
    return in_lots and pretrade.price_fits(security, price)


def _close_unfit(security_id: int) -> None:
    from .negotiated import negotiated_withdraw_unfit
    from .rfq import rfqs_close_unfit

    negotiated_withdraw_unfit(security_id=security_id)
    rfqs_close_unfit(security_id=security_id)


def on_security_changed(security: Security, fields: set[str], now: dt.datetime, reason: str) -> list[int]:
    if (
        "settlement_mode" in fields
        and Trade.objects.filter(security=security, status__in=[Trade.Status.MATCHED, Trade.Status.HELD]).exists()
    ):
        raise SettlementModeBusy()
    if not fields & {"status", "lot_size", "tick_size", "reference_price", "band_pct", "trading_modes"}:
        return []
    # Negotiated proposals and requests for quote the change strands close once it commits, each in a transaction
    # of its own and its own lock order (they lock balances of their own, which this transaction's book, below,
    # would take out of order): a change rolled back closes nothing.
    transaction.on_commit(lambda: _close_unfit(security.pk), robust=True)
    orders = [
        o
        for o in Order.objects.filter(security=security, status__in=Order.OPEN_STATUSES).order_by("id")
        # A sale may be an odd lot (all of a holding at once), and what is left of an order or a quote after
        # such a fill may be too: the lot is judged on what was placed, and not at all for a sale (found by a
        # probe: any change of the band or reference price cancelled an odd-lot sale).
        if not _fits(security, o.limit_price, None if o.side == Order.Side.SELL else o.quantity)
    ]
    quotes = [
        q
        for q in Quote.objects.filter(security=security, status=Quote.Status.ACTIVE).order_by("id")
        if not _fits(security, q.price, q.original_quantity)
    ]
    if not orders and not quotes:
        return []
    book = Book(now=now, security=security)
    book.lock_releases(orders, quotes)
    delisted = security.status == Security.Status.DELISTED
    closed_by = Order.ClosedBy.SECURITY_DELISTED if delisted else Order.ClosedBy.SECURITY_CHANGED
    book.end_orders(orders, closed_by=closed_by, reason=reason)
    book.pull_quotes(quotes)
    book.write()  # no fills: the orders, the quotes and the released reservations
    return [o.pk for o in orders]
