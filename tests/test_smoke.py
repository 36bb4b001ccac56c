from decimal import Decimal

from exchange.models import Order
from exchange.services import OrderRequest, order_place


def test_buy_fills_against_quote(market):
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    inv = market.investor(cash="100000")
    order, created = order_place(
        placed_by=inv.owner,
        account=inv,
        request=OrderRequest(market.security.code, "buy", 500, Decimal("10.20"), "IOC", "c1"),
    )
    assert created
    assert order.status == Order.Status.FILLED
    assert order.filled_quantity == 500
