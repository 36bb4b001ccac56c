"""A crossed trade between two chosen accounts, for the demo and the tests of the wash-trade rule.

The matching engine always puts a market maker on one side, so two investor accounts of one identity trade with
each other only by negotiated transfer, which needs the session open and a code passed between them.
``crossed_trade_write`` writes the trade such a transfer writes (``mode`` negotiated: investors never meet in
market making), at any hour: the seller's shares and the buyer's cash (value and fee) reserved, a TRADE entry
and the trade row in one transaction, under the security's lock and the balance locks in the global order;
settlement then settles it like any other. It skips the pre-trade rules on purpose (it is not an order path):
use it only to stage data, never from a page or the API.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from balances.services import cash_lock, positions_lock
from core import errors as err
from core.models import Account
from exchange.entries import TradeEntry
from exchange.models import Trade
from exchange.services.book import commission, lock_security, seller_commission
from ledger.services import entry_write


def crossed_trade_write(*, security_code: str, buyer: Account, seller: Account, price: Decimal, quantity: int) -> Trade:
    if quantity <= 0 or price <= 0 or buyer.pk == seller.pk:
        raise err.InvalidInput()
    with transaction.atomic():
        security = lock_security(security_code)
        value = (price * quantity).quantize(Decimal("0.01"))
        buyer_fee, seller_fee = commission(buyer, value), seller_commission(seller, value)
        cash = cash_lock([buyer.pk])[buyer.pk]
        position = positions_lock(security.pk, [seller.pk])[seller.pk]
        if cash.available < value + buyer_fee:
            raise err.InsufficientCash()
        if position.available < quantity:
            raise err.InsufficientShares()
        cash.reserved += value + buyer_fee
        cash.save(update_fields=["reserved"])
        position.reserved += quantity
        position.save(update_fields=["reserved"])
        now = timezone.now()
        trade = Trade(
            security=security,
            price=price,
            quantity=quantity,
            buyer=buyer,
            seller=seller,
            buyer_fee=buyer_fee,
            seller_fee=seller_fee,
            mode=Trade.Mode.NEGOTIATED,
            matched_at=now,
        )
        trade.pk = Trade.objects.raw("SELECT nextval(pg_get_serial_sequence('exchange_trade', 'id')) AS id")[0].pk
        trade.entry = entry_write(
            TradeEntry(
                trade_id=trade.pk,
                security=security.code,
                price=price,
                quantity=quantity,
                buyer=buyer.code,
                seller=seller.code,
                buyer_fee=buyer_fee,
                seller_fee=seller_fee,
                buy_order_id=None,
                sell_order_id=None,
                quote_id=None,
                matched_at=now,
            ),
            recorded_at=now,
        )
        trade.save(force_insert=True)
        return trade
