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
