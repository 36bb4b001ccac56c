"""Suitability and the rule pack at order entry: each rejection has its code and changes nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone, translation

from balances.services import account_open
from core.models import Account
from demo.onboarding import resident_id
from exchange.models import Order, Trade
from exchange.pretrade import holder_count, trading_days_back
from exchange.services import OrderRequest, order_place
from kyc import services as kyc
from kyc.models import KycProfile
from ledger.services import block_seal
from registry.models import Security
from settlement.services import trade_settle
from tests.conftest import snapshot

D = Decimal


@pytest.fixture
def quoted(market):
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10", ask_qty=10_000, bid_qty=10_000)
    return market


def buy(account, market, *, coid="b", qty=100, security=None):
    return order_place(
        placed_by=account.owner,
        account=account,
        request=OrderRequest((security or market.security).code, "buy", qty, D("10.10"), "IOC", coid),
    )[0]


def sell(account, market, *, coid="s", qty=100):
    return order_place(
        placed_by=account.owner,
        account=account,
        request=OrderRequest(market.security.code, "sell", qty, D("9.90"), "IOC", coid),
    )[0]


def refused(code, fn, *args, **kwargs):
    before = snapshot()
    with pytest.raises(Exception) as raised:
        fn(*args, **kwargs)
    assert getattr(raised.value, "code", None) == code, raised.value
    assert snapshot() == before
    return raised.value


def test_an_investor_without_kyc_cannot_buy(quoted):
    user = quoted.user("investor", broker=quoted.broker)
    account = account_open(kind=Account.Kind.INVESTOR, name="nokyc", owner=user, broker=quoted.broker)
    refused("kyc_not_approved", buy, account, quoted)


def test_a_submitted_but_unapproved_investor_cannot_buy(quoted):
    profile = kyc.kyc_register(
        username="pending",
        password=None,
        broker=quoted.broker,
        identity=kyc.Identity("王芳", "resident_id", resident_id(9001), "13900000001", "上海市浦东新区世纪大道 1 号"),
        entered_by=quoted.staff,
    )
    account = Account.objects.select_related("broker", "owner").get(owner=profile.user)
    refused("kyc_not_approved", buy, account, quoted)


def test_an_expired_assessment_cannot_buy_or_sell(quoted):
    investor = quoted.investor(cash="10000", shares=500)
    KycProfile.objects.filter(user=investor.owner).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    refused("kyc_expired", buy, investor, quoted)
    refused("kyc_expired", sell, investor, quoted)


@pytest.mark.parametrize(("level", "risk", "ok"), [(2, 3, False), (3, 3, True), (4, 3, True)])
def test_investor_level_must_reach_the_security_risk_for_buys(quoted, level, risk, ok):
    Security.objects.filter(pk=quoted.security.pk).update(risk_rating=risk)
    investor = quoted.investor(cash="10000", level=level)
    if ok:
        assert buy(investor, quoted).status == Order.Status.FILLED
    else:
        refused("unsuitable_risk_level", buy, investor, quoted)


def test_sells_are_allowed_whatever_the_level(quoted):
    Security.objects.filter(pk=quoted.security.pk).update(risk_rating=5)
    investor = quoted.investor(shares=500, level=1)
    assert sell(investor, quoted).status == Order.Status.FILLED


def test_qualified_only_securities(quoted):
    Security.objects.filter(pk=quoted.security.pk).update(qualified_only=True)
    plain = quoted.investor(cash="10000")
    qualified = quoted.investor(cash="10000", qualified=True)
    refused("not_qualified_investor", buy, plain, quoted)
    assert buy(qualified, quoted).status == Order.Status.FILLED


def test_holder_cap_rejects_exactly_at_the_edge_and_counts_one_identity_once(quoted):
    # given a cap of 3 holders: the market maker holds (1) and two investors hold (2, 3)
    Security.objects.filter(pk=quoted.security.pk).update(max_holders=3)
    first, second = quoted.investor(cash="10000"), quoted.investor(cash="10000")
    assert buy(first, quoted, coid="1").filled_quantity == 100  # 2 holders: MM + first
    assert buy(second, quoted, coid="2").filled_quantity == 100  # 3 holders: at the cap
    # when a fourth identity tries to buy, then it is refused
    newcomer = quoted.investor(cash="10000")
    refused("holder_cap_reached", buy, newcomer, quoted, coid="3")
    # but existing holders may buy more
    assert buy(first, quoted, coid="4").filled_quantity == 100
    # and a second account of an existing holder's identity counts once
    first_profile = KycProfile.objects.get(user=first.owner)
    second_account_of_first = quoted.investor(cash="10000")
    KycProfile.objects.filter(user=second_account_of_first.owner).update(identity=first_profile.identity)
    assert buy(second_account_of_first, quoted, coid="5").filled_quantity == 100
    # and once every trade has settled, holders count by their positions alone: still 3
    block_seal()
    for trade_id in Trade.objects.filter(status=Trade.Status.MATCHED).values_list("pk", flat=True):
        assert trade_settle(trade_id=trade_id)
    assert not Trade.objects.exclude(status=Trade.Status.SETTLED).exists()
    assert holder_count(quoted.security.pk) == 3
    refused("holder_cap_reached", buy, newcomer, quoted, coid="6")
    assert buy(first, quoted, coid="7").filled_quantity == 100


def test_a_new_quote_fills_resting_buys_only_while_the_holder_cap_has_room(market):
    # (found by a probe: four resting buys placed under a cap of 3, while the ask was above them, all filled when
    # the market maker lowered its ask: 5 holders)
    mm = market.market_maker()
    market.quote(mm, "9.50", "10.50")
    Security.objects.filter(pk=market.security.pk).update(max_holders=3)
    investors = [market.investor(cash="10000") for _ in range(4)]
    resting = [
        order_place(
            placed_by=inv.owner,
            account=inv,
            request=OrderRequest(market.security.code, "buy", 100, D("10.00"), "DAY", f"r{n}"),
        )[0]
        for n, inv in enumerate(investors)
    ]
    assert all(o.status == Order.Status.OPEN for o in resting)  # each placed while 1 held: room for all
    # given a second account of the first buyer's identity also rests a buy
    twin = market.investor(cash="10000")
    KycProfile.objects.filter(user=twin.owner).update(identity=KycProfile.objects.get(user=investors[0].owner).identity)
    twin_order = order_place(
        placed_by=twin.owner,
        account=twin,
        request=OrderRequest(market.security.code, "buy", 100, D("10.00"), "DAY", "t"),
    )[0]
    # when the market maker lowers its ask to their price
    result = market.quote(mm, "9.50", "10.00", ask_qty=1000)
    # then the first two identities fill (3 holders with the market maker), the twin of the first too (one
    # identity), and the last two rest, untouched
    filled = {t.buy_order_id for t in result.trades}
    assert filled == {resting[0].pk, resting[1].pk, twin_order.pk}
    for order in resting[2:]:
        order.refresh_from_db()
        assert (order.status, order.filled_quantity) == (Order.Status.OPEN, 0)
    assert holder_count(market.security.pk) == 3
    # and once a holder sells out, the next quote fills the next in line
    block_seal()
    for trade_id in Trade.objects.filter(status=Trade.Status.MATCHED).values_list("pk", flat=True):
        assert trade_settle(trade_id=trade_id)
    order_place(
        placed_by=investors[1].owner,
        account=investors[1],
        request=OrderRequest(market.security.code, "sell", 100, D("9.50"), "IOC", "out"),
    )
    block_seal()
    for trade_id in Trade.objects.filter(status=Trade.Status.MATCHED).values_list("pk", flat=True):
        assert trade_settle(trade_id=trade_id)
    again = market.quote(mm, "9.50", "10.00", ask_qty=1000)
    assert [t.buy_order_id for t in again.trades] == [resting[2].pk]
    assert holder_count(market.security.pk) == 3


def test_minimum_holding_period_rejects_exactly_at_its_edge(quoted):
    Security.objects.filter(pk=quoted.security.pk).update(min_holding_days=5)
    investor = quoted.investor(cash="10000", shares=200)  # 200 held from the issuance
    buy(investor, quoted, coid="b1")
    block_seal()
    trade_settle(trade_id=Trade.objects.get().pk)
    # 300 shares, 100 of them bought just now: 200 may be sold, 201 not
    refused("holding_period", sell, investor, quoted, coid="s1", qty=300)
    assert sell(investor, quoted, coid="s2", qty=200).filled_quantity == 200


def test_trading_days_skip_weekends(db):  # the calendar reads the holidays
    monday = dt.datetime(2026, 11, 23, 10, tzinfo=dt.UTC)
    assert trading_days_back(monday, 1).date() == dt.date(2026, 11, 20)  # the Friday before
    assert trading_days_back(monday, 5).date() == dt.date(2026, 11, 16)


def _next_weekday(start: dt.datetime, weekday: int) -> dt.datetime:
    day = start + dt.timedelta(days=1)
    while day.weekday() != weekday:
        day += dt.timedelta(days=1)
    return day


def test_minimum_holding_period_ends_at_the_start_of_the_fifth_trading_day_after_the_buy(quoted):
    # (counted in whole trading days, as T+n is: a buy at 10:00 is free from the fifth trading day's start, not
    # from 10:00 that day; found by a probe)
    # given a 5-trading-day holding period and 100 shares bought on a Wednesday at 10:00 Beijing time
    Security.objects.filter(pk=quoted.security.pk).update(min_holding_days=5)
    investor = quoted.investor(cash="10000")
    beijing = ZoneInfo("Asia/Shanghai")
    today = timezone.now().astimezone(beijing).replace(hour=10, minute=0, second=0, microsecond=0)
    bought_at = _next_weekday(today + dt.timedelta(days=7), 2)
    with mock.patch("django.utils.timezone.now", return_value=bought_at.astimezone(dt.UTC)):
        assert buy(investor, quoted, coid="b").filled_quantity == 100
    block_seal()
    trade = Trade.objects.get(buyer=investor)
    assert trade_settle(trade_id=trade.pk)
    assert trade.matched_at == bought_at

    # when the investor sells 1 µs before the fifth trading day after begins (Thu, Fri, Mon, Tue, Wed: the
    # Wednesday a week later, at midnight)
    edge = (bought_at + dt.timedelta(days=7)).replace(hour=0)
    with mock.patch("django.utils.timezone.now", return_value=(edge - dt.timedelta(microseconds=1)).astimezone(dt.UTC)):
        # then it is refused, saying from which day it can go through, and nothing changes
        with translation.override("en"):
            error = refused("holding_period", sell, investor, quoted, coid="s1")
        assert f"this sale can go through from {edge:%Y-%m-%d} (Asia/Shanghai)" in str(error.message)

    # when the investor sells as that day begins, then it is filled (at any hour of it: 00:00 is its first moment)
    with mock.patch("django.utils.timezone.now", return_value=edge.astimezone(dt.UTC)):
        assert sell(investor, quoted, coid="s2").filled_quantity == 100


def _settle_all() -> None:
    block_seal()
    for trade_id in Trade.objects.filter(status=Trade.Status.MATCHED).values_list("pk", flat=True):
        assert trade_settle(trade_id=trade_id)


def test_resting_orders_are_checked_again_by_the_rules_when_a_new_quote_reaches_them(market):
    # (found by a probe: after the security's risk rating rose, or its holding period lengthened, resting orders
    # that the rules now refuse still filled when a market maker's quote came to their price)
    mm = market.market_maker()
    market.quote(mm, "9.50", "10.50")
    Security.objects.filter(pk=market.security.pk).update(risk_rating=3)
    cautious = market.investor(cash="10000", level=3)
    keen = market.investor(cash="10000", level=5)
    resting_buys = [
        order_place(
            placed_by=inv.owner,
            account=inv,
            request=OrderRequest(market.security.code, "buy", 100, D("10.00"), "DAY", f"rb{n}"),
        )[0]
        for n, inv in enumerate((cautious, keen))
    ]
    # and a seller whose shares were bought just now, selling while the security has no holding period
    seller = market.investor(cash="10000")
    order_place(
        placed_by=seller.owner,
        account=seller,
        request=OrderRequest(market.security.code, "buy", 100, D("10.50"), "IOC", "fresh-buy"),
    )
    _settle_all()
    resting_sell = order_place(
        placed_by=seller.owner,
        account=seller,
        request=OrderRequest(market.security.code, "sell", 100, D("10.40"), "DAY", "rs"),
    )[0]
    assert resting_sell.status == Order.Status.OPEN
    # when the security's risk rating rises to R5 and a 5-day holding period is set
    Security.objects.filter(pk=market.security.pk).update(risk_rating=5, min_holding_days=5)
    # and the market maker's quote comes to every resting price
    result = market.quote(mm, "9.90", "10.00", ask_qty=1000)
    again = market.quote(mm, "10.40", "10.45", bid_qty=1000)
    # then only the investor the rules still allow fills; the others rest, untouched
    assert [t.buy_order_id for t in result.trades] == [resting_buys[1].pk]
    assert again.trades == []
    for order in (resting_buys[0], resting_sell):
        order.refresh_from_db()
        assert (order.status, order.filled_quantity) == (Order.Status.OPEN, 0)


def test_market_makers_count_against_the_holder_cap_as_the_register_does(market):
    # (found by a probe: a security capped at 2 holders, held by two investors, was bought by market makers by RFQ
    # and by negotiated transfer: 4 holders, and every investor buyer refused from then on)
    from core import errors as err
    from exchange.services import negotiated as neg
    from exchange.services import rfq as rfq_services

    holders = [market.investor(cash="10000", shares=300) for _ in range(2)]
    Security.objects.filter(pk=market.security.pk).update(max_holders=2)
    assert holder_count(market.security.pk) == 2
    newcomer = market.market_maker(shares=0)
    # when an investor sells by RFQ to a market maker that holds nothing
    rfq, _ = rfq_services.rfq_request(
        requested_by=holders[0].owner,
        account=holders[0],
        request=rfq_services.RfqRequestInput(market.security.code, "sell", 100, "cap-rfq"),
    )
    answer = rfq_services.rfq_answer(user=newcomer.owner, rfq_id=rfq.pk, price=D("10.00"), valid_seconds=30)
    before = snapshot()
    with pytest.raises(err.DomainError) as refused_rfq:
        rfq_services.rfq_accept(actor=holders[0].owner, rfq_id=rfq.pk, answer_id=answer.pk)
    assert snapshot() == before
    # and when the other proposes a negotiated sale to it, and it confirms
    proposal, code, _ = neg.negotiated_propose(
        actor=holders[1].owner,
        account=holders[1],
        request=neg.NegotiatedRequest(market.security.code, "sell", 100, D("10.00"), newcomer.code, "cap-neg"),
    )
    before = snapshot()
    with pytest.raises(err.DomainError) as refused_neg:
        neg.negotiated_confirm(actor=newcomer.owner, proposal_id=proposal.pk, code=code)
    # then both are refused by the cap, each changing nothing, and no trade was made
    assert snapshot() == before
    assert refused_rfq.value.code == refused_neg.value.code == "holder_cap_reached"
    assert not Trade.objects.exists() and holder_count(market.security.pk) == 2


def test_two_resting_sales_of_one_holding_share_the_holding_period_between_them(market):
    # (found by a probe: 1,000 old shares and 200 bought within the holding period, sold by two resting sales of
    # 600 each: once the holding period was set, a quote judged each sale with its own shares alone and refused
    # both, where one could fill)
    mm = market.market_maker()
    market.quote(mm, "9.50", "10.50")
    seller = market.investor(cash="10000", shares=1000)  # issued: not bought, so not held back by the period
    order_place(
        placed_by=seller.owner,
        account=seller,
        request=OrderRequest(market.security.code, "buy", 200, D("10.50"), "IOC", "recent"),
    )
    _settle_all()
    sales = [
        order_place(
            placed_by=seller.owner,
            account=seller,
            request=OrderRequest(market.security.code, "sell", 600, D("10.40"), "DAY", f"s{n}"),
        )[0]
        for n in range(2)
    ]
    Security.objects.filter(pk=market.security.pk).update(min_holding_days=5)
    # when a bid for all 1,200 comes to their price
    result = market.quote(mm, "10.40", "10.50", bid_qty=1200)
    # then the first sale fills from the 1,000 old shares, and the second, which would need the 200 new ones, rests
    assert [(t.sell_order_id, t.quantity) for t in result.trades] == [(sales[0].pk, 600)]
    sales[1].refresh_from_db()
    assert (sales[1].status, sales[1].filled_quantity) == (Order.Status.OPEN, 0)


def test_the_holder_cap_refusal_names_the_cap_beside_the_count(quoted):
    # (found by a probe: after the cap was lowered below the holders, the refusal called the count the maximum)
    holders = [quoted.investor(cash="10000") for _ in range(2)]
    for n, holder in enumerate(holders):
        assert buy(holder, quoted, coid=f"h{n}").filled_quantity == 100
    Security.objects.filter(pk=quoted.security.pk).update(max_holders=2)  # 3 holders now: the market maker too
    newcomer = quoted.investor(cash="10000")
    with translation.override("en"):
        error = refused("holder_cap_reached", buy, newcomer, quoted, coid="new")
    assert f"{quoted.security.code} has 3 holders and may have at most 2" in str(error.message)
