"""Market-making matching rules (DESIGN.md §2), on PostgreSQL."""

from decimal import Decimal

import pytest

from exchange.models import Order, Quote, Trade
from exchange.services import OrderRequest, order_cancel, order_place, quotes_pull
from ledger.canonical import leaf_hash
from ledger.models import Entry
from tests.conftest import api_for, cash_of, position_of

D = Decimal


def place(account, side, qty, price, tif="DAY", coid=None, security=None, market=None):
    code = security.code if security else market.security.code
    order, _ = order_place(
        placed_by=account.owner,
        account=account,
        request=OrderRequest(code, side, qty, D(price), tif, coid or f"{side}-{qty}-{price}-{tif}-{account.pk}"),
    )
    return order


def test_buy_takes_best_price_first_then_earliest_quote_at_quote_price(market):
    # given three ask quotes: 10.20 (mm_a), 10.10 (mm_b, earlier), 10.10 (mm_c, later)
    mm_a, mm_b, mm_c = market.market_maker(), market.market_maker(), market.market_maker()
    market.quote(mm_a, "9.80", "10.20", ask_qty=1000)
    q_b = market.quote(mm_b, "9.80", "10.10", ask_qty=300).ask
    q_c = market.quote(mm_c, "9.80", "10.10", ask_qty=300).ask
    investor = market.investor(cash="100000")

    # when the investor buys 500 at up to 10.30
    order = place(investor, "buy", 500, "10.30", market=market)

    # then 300 fill at 10.10 from the earliest quote, 200 at 10.10 from the next; none at 10.20
    trades = list(Trade.objects.order_by("id"))
    assert [(t.quote_id, t.price, t.quantity) for t in trades] == [(q_b.pk, D("10.10"), 300), (q_c.pk, D("10.10"), 200)]
    assert order.status == Order.Status.FILLED and order.filled_quantity == 500
    q_b.refresh_from_db()
    q_c.refresh_from_db()
    assert (q_b.quantity, q_b.status) == (0, Quote.Status.FILLED)
    assert (q_c.quantity, q_c.status) == (100, Quote.Status.ACTIVE)
    # and the 10.20 quote is untouched
    assert Quote.objects.get(account=mm_a, side="ask", status="active").quantity == 1000


def test_sell_takes_highest_bid_at_the_bid_price(market):
    mm_low, mm_high = market.market_maker(), market.market_maker()
    market.quote(mm_low, "9.70", "10.30")
    market.quote(mm_high, "9.90", "10.30")
    seller = market.investor(shares=1000)

    order = place(seller, "sell", 400, "9.50", "IOC", market=market)

    trade = Trade.objects.get()
    assert (trade.price, trade.quantity, trade.buyer_id, trade.seller_id) == (D("9.90"), 400, mm_high.pk, seller.pk)
    assert order.status == Order.Status.FILLED


def test_partial_fill_then_ioc_cancels_the_rest_and_releases_its_cash(market):
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.00", ask_qty=200)
    investor = market.investor(cash="100000")

    order = place(investor, "buy", 500, "10.00", "IOC", market=market)

    assert order.status == Order.Status.CANCELLED
    assert order.filled_quantity == 200
    assert order.reserved_cash == 0
    # 200 × 10.00 = 2000.00 plus the 5.00 minimum fee stays reserved until settlement
    cash = cash_of(investor)
    assert (cash.total, cash.reserved, cash.available) == (D("100000.00"), D("2005.00"), D("97995.00"))


def test_partial_fill_of_a_day_order_rests_with_the_remaining_reservation(market):
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.00", ask_qty=200)
    investor = market.investor(cash="100000")

    order = place(investor, "buy", 500, "10.00", "DAY", market=market)

    assert order.status == Order.Status.PARTIALLY_FILLED
    assert order.remaining_quantity == 300
    # the first fill paid the order's commission (the 5.00 minimum: 2.5 bps of all 5,000.00 is 1.25), so the
    # rest holds 300 × 10.00 and no more fee; the fill's obligation: 2000.00 + 5.00
    assert (order.filled_value, order.fees) == (D("2000.00"), D("5.00"))
    assert order.reserved_cash == D("3000.00")
    assert cash_of(investor).reserved == D("5005.00")


def test_an_order_filled_by_several_quotes_pays_one_minimum_and_never_more_than_its_review_said(market):
    # Given two market makers' asks of 100 at 10.10, and an investor with exactly what a buy of 200 at 10.10
    # reserves: 2,020.00 and the 5.00 minimum commission (the ticket's "at most")
    market.quote(market.market_maker(), "9.90", "10.10", ask_qty=100)
    market.quote(market.market_maker(), "9.90", "10.10", ask_qty=100)
    investor = market.investor(cash="2025")

    # When they buy 200 at 10.10, IOC
    order = place(investor, "buy", 200, "10.10", "IOC", market=market)

    # Then both quotes fill it, the first fill pays the minimum and the second nothing more
    trades = list(Trade.objects.filter(buy_order=order).order_by("id"))
    assert order.status == Order.Status.FILLED and [t.quantity for t in trades] == [100, 100]
    assert [t.buyer_fee for t in trades] == [D("5.00"), D("0.00")]
    assert (order.filled_value, order.fees, order.reserved_cash) == (D("2020.00"), D("5.00"), D("0.00"))
    # and the cash held for settlement is exactly the 2,025.00 reserved: nothing left free, nothing over
    cash = cash_of(investor)
    assert (cash.total, cash.reserved, cash.available) == (D("2025.00"), D("2025.00"), D("0.00"))
    # and the API says what the order cost and paid
    served = api_for(investor.owner).get(f"/api/v1/orders/{order.pk}/").json()
    assert (served["filled_value"], served["fees"], served["reserved_cash"]) == ("2020.00", "5.00", "0.00")


def test_price_improvement_is_released(market):
    mm = market.market_maker()
    market.quote(mm, "9.80", "10.00")
    investor = market.investor(cash="100000")

    place(investor, "buy", 1000, "11.00", "IOC", market=market)

    # reserved at 11.00 (11000 + 5 fee minimum... 2.75 → 5.00), filled at 10.00 (10000 + 5.00)
    assert cash_of(investor).reserved == D("10005.00")


def test_no_crossing_quote_day_order_rests_and_ioc_is_cancelled(market):
    mm = market.market_maker()
    market.quote(mm, "9.80", "10.20")
    resting_buyer = market.investor(cash="100000")
    ioc_buyer = market.investor(cash="100000")

    day = place(resting_buyer, "buy", 100, "10.00", "DAY", market=market)
    ioc = place(ioc_buyer, "buy", 100, "10.00", "IOC", market=market)

    assert (day.status, day.filled_quantity) == (Order.Status.OPEN, 0)
    assert cash_of(resting_buyer).reserved == D("1005.00")
    assert (ioc.status, ioc.filled_quantity) == (Order.Status.CANCELLED, 0)
    assert cash_of(ioc_buyer).reserved == 0
    assert not Trade.objects.exists()


def test_investors_never_match_each_other(market):
    mm = market.market_maker()
    market.quote(mm, "9.00", "11.00")
    buyer = market.investor(cash="100000")
    seller = market.investor(shares=1000)

    buy = place(buyer, "buy", 100, "10.50", "DAY", market=market)
    sell = place(seller, "sell", 100, "9.50", "DAY", market=market)

    assert not Trade.objects.exists()
    assert buy.status == sell.status == Order.Status.OPEN


def test_new_quote_executes_crossing_resting_orders_best_limit_then_time_at_quote_price(market):
    # given resting buys at 10.30 (later), 10.50, 10.30 (earlier is the first 10.30)
    mm = market.market_maker()
    market.quote(mm, "9.80", "10.80")
    a, b, c = (market.investor(cash="100000") for _ in range(3))
    first_1030 = place(a, "buy", 300, "10.30", market=market)
    best = place(b, "buy", 300, "10.50", market=market)
    later_1030 = place(c, "buy", 300, "10.30", market=market)

    # when the market maker improves its ask to 10.20 for 700 shares
    result = market.quote(mm, "9.80", "10.20", ask_qty=700)

    # then the 10.50 order fills first, then the earlier 10.30, then 100 of the later one, all at 10.20
    fills = [(t.buy_order_id, t.price, t.quantity) for t in result.trades]
    assert fills == [(best.pk, D("10.20"), 300), (first_1030.pk, D("10.20"), 300), (later_1030.pk, D("10.20"), 100)]
    later_1030.refresh_from_db()
    assert later_1030.status == Order.Status.PARTIALLY_FILLED and later_1030.remaining_quantity == 200
    result.ask.refresh_from_db()
    assert result.ask.status == Quote.Status.FILLED
    # the best order reserved at 10.50 (3150 + 5) and its obligation is 3060 + 5: 90.00 released
    assert cash_of(b).reserved == D("3065.00")


def test_new_bid_executes_resting_sells(market):
    mm = market.market_maker()
    market.quote(mm, "9.50", "10.50")
    seller = market.investor(shares=1000)
    sell = place(seller, "sell", 500, "9.80", market=market)

    result = market.quote(mm, "9.90", "10.50", bid_qty=2000)

    assert [(t.sell_order_id, t.price, t.quantity) for t in result.trades] == [(sell.pk, D("9.90"), 500)]
    sell.refresh_from_db()
    assert sell.status == Order.Status.FILLED
    assert position_of(seller, market.security).reserved == 500  # delivery obligation until settlement


def test_replacing_a_quote_releases_the_old_reservation(market):
    mm = market.market_maker(cash="100000", shares=10_000)
    market.quote(mm, "9.00", "11.00", bid_qty=1000, ask_qty=2000)
    assert (cash_of(mm).reserved, position_of(mm, market.security).reserved) == (D("9000.00"), 2000)

    market.quote(mm, "9.50", "10.50", bid_qty=500, ask_qty=300)

    assert (cash_of(mm).reserved, position_of(mm, market.security).reserved) == (D("4750.00"), 300)
    assert Quote.objects.filter(account=mm, status=Quote.Status.REPLACED).count() == 2
    assert Quote.objects.filter(account=mm, status=Quote.Status.ACTIVE).count() == 2


def test_pull_all_quotes_releases_everything(market):
    mm = market.market_maker()
    other = market.new_security("S-PULL")
    market.issue(mm, 5000, security=other)
    market.quote(mm, "9.00", "11.00")
    market.quote(mm, "9.00", "11.00", security=other)

    assert quotes_pull(user=mm.owner) == 4

    assert not Quote.objects.filter(account=mm, status=Quote.Status.ACTIVE).exists()
    assert cash_of(mm).reserved == 0
    assert position_of(mm, market.security).reserved == 0 and position_of(mm, other).reserved == 0


def test_cancel_releases_the_rest_and_a_second_cancel_is_refused(market):
    from core.errors import OrderNotOpen

    mm = market.market_maker()
    market.quote(mm, "9.00", "11.00")
    investor = market.investor(cash="100000")
    order = place(investor, "buy", 100, "10.00", market=market)

    cancelled = order_cancel(actor=investor.owner, order_id=order.pk)

    assert cancelled.status == Order.Status.CANCELLED and cancelled.reserved_cash == 0
    assert cash_of(investor).reserved == 0
    with pytest.raises(OrderNotOpen):
        order_cancel(actor=investor.owner, order_id=order.pk)


def test_a_cancel_that_read_the_order_before_a_fill_keeps_the_fills_value_and_fees(market):
    # (found by a probe: a cancel racing a fill read the order, then waited for the security's lock while the
    # fill committed, and wrote back the filled value and fees it had read: 0.00 beside a trade of 1,250.00)
    from unittest import mock

    from exchange.services import orders as order_services

    mm = market.market_maker()
    market.quote(mm, "9.00", "11.00")
    investor = market.investor(cash="100000")
    order = place(investor, "buy", 300, "10.00", market=market)
    real_lock = order_services.lock_security

    def fill_then_lock(code):
        # given the fill lands between the cancel's read of the order and its lock of the security
        market.quote(mm, "9.00", "10.00", ask_qty=100)
        return real_lock(code)

    # when the investor cancels
    with mock.patch.object(order_services, "lock_security", fill_then_lock):
        cancelled = order_cancel(actor=investor.owner, order_id=order.pk)

    # then the order keeps what the fill wrote, and its rest is cancelled and released
    trade = Trade.objects.get(buy_order=order)
    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == (Order.Status.CANCELLED, 100) == (cancelled.status, 100)
    assert (
        (order.filled_value, order.fees) == (trade.price * trade.quantity, trade.buyer_fee) == (D("1000.00"), D("5.00"))
    )
    assert order.reserved_cash == 0 and cash_of(investor).reserved == D("1005.00")  # the trade's, until it settles


def test_each_trade_has_its_ledger_entry_in_the_same_transaction(market):
    mm = market.market_maker()
    market.quote(mm, "9.80", "10.20")
    investor = market.investor(cash="100000")
    entries_before = Entry.objects.count()

    place(investor, "buy", 300, "10.20", "IOC", market=market)

    trade = Trade.objects.select_related("entry").get()
    assert Entry.objects.count() == entries_before + 1
    assert trade.entry.kind == "TRADE"
    data = bytes(trade.entry.canonical)
    assert bytes(trade.entry.leaf_hash) == leaf_hash(data)
    import json

    payload = json.loads(data)["payload"]
    assert payload["trade_id"] == trade.pk
    assert payload["price"] == "10.20" and payload["quantity"] == 300
    assert payload["buyer"] == investor.code and payload["seller"] == mm.code
    assert payload["buyer_fee"] == "5.00" and payload["seller_fee"] == "0.00"


def test_fee_is_the_brokers_bps_above_the_minimum(market):
    mm = market.market_maker(cash="10000000", shares=1_000_000)
    market.quote(mm, "9.80", "10.00", ask_qty=100_000)
    investor = market.investor(cash="2000000")

    place(investor, "buy", 100_000, "10.00", "IOC", market=market)

    # 1,000,000.00 × 2.5 bps = 250.00
    assert Trade.objects.get().buyer_fee == D("250.00")
