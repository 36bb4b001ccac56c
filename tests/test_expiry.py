"""DAY orders end with their trading day: expiry releases what they hold and changes nothing else."""

import datetime as dt
from decimal import Decimal

import pytest

from balances.replay import replay_check
from exchange.models import Order
from exchange.services import OrderRequest, order_place, orders_expire
from registry.calendar import SHANGHAI, last_close
from tests.conftest import cash_of, position_of

D = Decimal


def rest(account, side, coid, tif="DAY"):
    order, _ = order_place(
        placed_by=account.owner,
        account=account,
        request=OrderRequest(account.security_code, side, 100, D("10.00"), tif, coid),
    )
    assert order.status == Order.Status.OPEN
    return order


@pytest.fixture
def resting(market):
    """A 9.90 / 10.10 quote; a buyer and a seller each resting a DAY order at 10.00 placed yesterday, and the buyer
    another placed after the last close."""
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    buyer = market.investor(cash="5000")
    seller = market.investor(shares=300)
    buyer.security_code = seller.security_code = market.security.code
    old_buy, old_sell, new_buy = rest(buyer, "buy", "b-old"), rest(seller, "sell", "s-old"), rest(buyer, "buy", "b-new")
    now = dt.datetime(2026, 12, 2, 16, 0, tzinfo=SHANGHAI)  # a Wednesday, after the close
    Order.objects.filter(pk__in=[old_buy.pk, old_sell.pk]).update(created_at=now - dt.timedelta(days=1))
    Order.objects.filter(pk=new_buy.pk).update(created_at=now - dt.timedelta(minutes=30))
    return market, buyer, seller, (old_buy, old_sell, new_buy), now


def test_last_close_is_the_most_recent_working_day_close(db):  # the calendar reads the holidays
    wednesday_noon = dt.datetime(2026, 12, 2, 12, 0, tzinfo=SHANGHAI)
    monday_morning = dt.datetime(2026, 11, 30, 9, 0, tzinfo=SHANGHAI)
    assert last_close(wednesday_noon) == dt.datetime(2026, 12, 1, 15, 0, tzinfo=SHANGHAI)
    assert last_close(wednesday_noon.replace(hour=15)) == dt.datetime(2026, 12, 2, 15, 0, tzinfo=SHANGHAI)
    assert last_close(monday_morning) == dt.datetime(2026, 11, 27, 15, 0, tzinfo=SHANGHAI)  # the Friday


def test_day_orders_of_a_past_day_expire_and_release_their_reservations(resting):
    # given yesterday's resting buy and sell, and a buy placed after today's close
    market, buyer, seller, (old_buy, old_sell, new_buy), now = resting
    new_buy_reserved = Order.objects.get(pk=new_buy.pk).reserved_cash
    assert cash_of(buyer).reserved == old_buy.reserved_cash + new_buy_reserved
    assert position_of(seller, market.security).reserved == 100

    # when the expiry runs after the close
    expired = orders_expire(now=now)

    # then yesterday's two orders expired and hold nothing; the new one still rests with its reservation
    assert expired == 2
    statuses = dict(Order.objects.filter(account__in=[buyer, seller]).values_list("client_order_id", "status"))
    assert statuses == {"b-old": "expired", "s-old": "expired", "b-new": "open"}
    assert Order.objects.get(pk=old_buy.pk).reserved_cash == 0
    assert cash_of(buyer).reserved == new_buy_reserved
    assert position_of(seller, market.security).reserved == 0
    assert (cash_of(buyer).total, position_of(seller, market.security).total) == (D("5000.00"), 300)
    assert replay_check() == []


def test_expiry_twice_changes_nothing_the_second_time(resting):
    _market, buyer, _seller, _orders, now = resting
    assert orders_expire(now=now) == 2
    before = list(Order.objects.order_by("id").values_list("id", "status", "reserved_cash", "updated_at"))
    cash_before = cash_of(buyer).reserved

    assert orders_expire(now=now) == 0

    assert list(Order.objects.order_by("id").values_list("id", "status", "reserved_cash", "updated_at")) == before
    assert cash_of(buyer).reserved == cash_before


def test_day_orders_placed_after_the_last_close_are_left_alone(resting):
    # given only orders placed after the last close
    _market, _buyer, _seller, (old_buy, old_sell, _new), now = resting
    Order.objects.filter(pk__in=[old_buy.pk, old_sell.pk]).update(created_at=now)

    # when the expiry runs, then nothing expires
    assert orders_expire(now=now) == 0
    assert not Order.objects.filter(status=Order.Status.EXPIRED).exists()
