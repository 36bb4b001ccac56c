"""The entry kind trading writes: TRADE, one per match, in the matching transaction.

A TRADE moves no balance (the trade's settlement does); ``ledger_verify``
compares each trade row with its entry (``exchange.reconcile``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from ledger.models import EntryKind
from ledger.payloads import Payload


@dataclass(frozen=True)
class TradeEntry(Payload):
    kind = EntryKind.TRADE
    trade_id: int
    security: str
    price: Decimal
    quantity: int
    buyer: str
    seller: str
    buyer_fee: Decimal
    seller_fee: Decimal
    buy_order_id: int | None
    sell_order_id: int | None
    quote_id: int | None
    matched_at: dt.datetime


@dataclass(frozen=True)
class SecurityClose(Payload):
    """One security's close: ``close`` is the last trade's price of the day, or ``previous_reference`` unchanged
    when it did not trade; it is the security's reference price (and band centre) from then on."""

    code: str
    close: Decimal
    previous_reference: Decimal
    traded: bool
    last_trade_id: int | None
    # Quotes left outside the new band, pulled at the close (their reservations released).
    pulled_quote_ids: list[int]


@dataclass(frozen=True)
class CloseEntry(Payload):
    """The end of one trading day (``date``, YYYY-MM-DD in Shanghai), written once (``exchange.services.close``)."""

    kind = EntryKind.CLOSE
    date: str
    closed_at: dt.datetime
    securities: list[SecurityClose]
