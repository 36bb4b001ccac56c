"""Rules that depend on the day or the hour, at their boundaries: the exchange's day is Asia/Shanghai's
(UTC+8), the server's clock and the ledger's are UTC."""

import datetime as dt
from contextlib import contextmanager
from decimal import Decimal
from unittest import mock

from exchange.models import Order, Trade
from exchange.services import OrderRequest, order_place
from registry.calendar import SHANGHAI
from tests.conftest import cash_of

D = Decimal


@contextmanager
def at(moment: dt.datetime):
    """Run with the clock at ``moment`` (the ledger records that time)."""
    with mock.patch("django.utils.timezone.now", return_value=moment.astimezone(dt.UTC)):
        yield


def beijing(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SHANGHAI)


def _rest(account, side, coid, *, price="10.00", tif="DAY"):
    order, _ = order_place(
        placed_by=account.owner,
        account=account,
        request=OrderRequest(account.security_code, side, 100, D(price), tif, coid),
    )
    assert order.status == Order.Status.OPEN
    return order


# --------------------------------------------------------------------------
# DAY orders end at the close, whether or not the expiry task has run yet


def test_a_day_order_of_a_past_day_does_not_fill_before_the_expiry_task_runs(market):
    # given (the market kept open around the clock, as in the demo) a buy resting since Wednesday morning and one
    # placed after Wednesday's close, both DAY at 10.00, and the expiry task not run yet
    mm = market.market_maker()
    buyer = market.investor(cash="5000")
    buyer.security_code = market.security.code
    with at(beijing(2026, 12, 2, 10, 0)):
        old = _rest(buyer, "buy", "b-old")
    with at(beijing(2026, 12, 2, 15, 10)):
        new = _rest(buyer, "buy", "b-new")
    reserved = cash_of(buyer).reserved

    # when a market maker's ask at 10.00 reaches the book at 15:10:30, after the close
    with at(beijing(2026, 12, 2, 15, 10, 30)):
        market.quote(mm, "9.90", "10.00")

    # then only the order of the day in progress filled; Wednesday morning's is over and bought nothing
    assert list(Trade.objects.filter(buyer=buyer).values_list("buy_order_id", flat=True)) == [new.pk]
    old.refresh_from_db()
    assert (old.status, old.filled_quantity) == (Order.Status.OPEN, 0)  # left for the expiry task
    assert cash_of(buyer).reserved == reserved  # the old order still holds its cash; the fill holds the new one's
