"""Rules that depend on the day or the hour, at their boundaries: the exchange's day is Asia/Shanghai's
(UTC+8), the server's clock and the ledger's are UTC."""

import datetime as dt
from contextlib import contextmanager
from decimal import Decimal
from unittest import mock

import pytest

from exchange.models import Order, Trade
from exchange.pretrade import HoldingPeriod
from exchange.services import OrderRequest, order_place
from registry import calendar
from registry.calendar import SHANGHAI
from tests.conftest import cash_of, position_of

D = Decimal


@contextmanager
def at(moment: dt.datetime):
    """Run with the clock at ``moment`` (the ledger records that time)."""
    with mock.patch("django.utils.timezone.now", return_value=moment.astimezone(dt.UTC)):
        yield


def beijing(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def _holidays_memo():
    """Each test reads its own holidays, not the memo another test left."""
    calendar.holidays_forget()
    yield
    calendar.holidays_forget()


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


# --------------------------------------------------------------------------
# The minimum holding period counts trading days (Beijing dates), whatever day of the week the clock is on


def _holder_who_bought_at(market, moment):
    """An investor who bought 100 shares (IOC at a market maker's 10.10) at ``moment``, settled; the security
    under a 5-trading-day holding period."""
    from ledger.services import block_seal
    from registry.models import Security
    from settlement.services import trade_settle

    Security.objects.filter(pk=market.security.pk).update(min_holding_days=5)
    mm = market.market_maker()
    investor = market.investor(cash="10000")
    with at(moment):
        market.quote(mm, "9.90", "10.10", ask_qty=10_000, bid_qty=10_000)
        order, _ = order_place(
            placed_by=investor.owner,
            account=investor,
            request=OrderRequest(market.security.code, "buy", 100, D("10.10"), "IOC", "b"),
        )
    assert order.filled_quantity == 100
    block_seal()
    assert trade_settle(trade_id=Trade.objects.get(buyer=investor).pk)
    return investor


def _sell_at(market, investor, moment, coid):
    with at(moment):
        return order_place(
            placed_by=investor.owner,
            account=investor,
            request=OrderRequest(market.security.code, "sell", 100, D("9.90"), "IOC", coid),
        )[0]


def _refused_at(market, investor, moment, coid) -> str:
    from django.utils import translation

    from tests.conftest import snapshot

    before = snapshot()
    with translation.override("en"), pytest.raises(HoldingPeriod) as refused:
        _sell_at(market, investor, moment, coid)
    assert snapshot() == before
    return str(refused.value.message)


def test_a_weekend_does_not_count_as_a_trading_day_of_the_holding_period(market):
    # given (the market open around the clock, as in the demo) 100 shares bought on Monday 2026-12-07 at 10:00;
    # the trading days after it are Tue 8, Wed 9, Thu 10, Fri 11 and Mon 14, the fifth
    holder = _holder_who_bought_at(market, beijing(2026, 12, 7, 10, 0))

    # when the holder sells them on Saturday 12 or Sunday 13, after four trading days only
    for n, moment in enumerate([beijing(2026, 12, 12, 10, 0), beijing(2026, 12, 13, 23, 59)]):
        # then it is refused, saying the Monday, and nothing changed
        assert "can go through from 2026-12-14 (Asia/Shanghai)" in _refused_at(market, holder, moment, f"s{n}")
    assert position_of(holder, market.security).total == 100

    # when the Monday begins (16:00 UTC on the Sunday), then the sale fills
    assert _sell_at(market, holder, beijing(2026, 12, 14, 0, 0), "s-mon").filled_quantity == 100


def test_a_weekend_buy_is_free_when_a_friday_buy_is(market):
    # given 100 shares bought at 00:30 on Saturday 2026-12-05 Beijing time (Friday 16:30 UTC), the market open
    # around the clock: its trading days after are Mon 7 … Fri 11, the fifth
    holder = _holder_who_bought_at(market, beijing(2026, 12, 5, 0, 30))

    # when the holder sells on Thursday 10 at 23:59, then it is refused, saying the Friday
    assert "can go through from 2026-12-11 (Asia/Shanghai)" in _refused_at(
        market, holder, beijing(2026, 12, 10, 23, 59), "s-thu"
    )

    # when the holder sells as the Friday begins, the day the refusal named, then it fills
    assert _sell_at(market, holder, beijing(2026, 12, 11, 0, 0), "s-fri").filled_quantity == 100


def test_a_buy_late_on_friday_evening_beijing_time_counts_from_the_friday(market):
    # given 100 shares bought at 23:30 on Friday 2026-12-04 Beijing time (15:30 UTC, still Friday in UTC too)
    holder = _holder_who_bought_at(market, beijing(2026, 12, 4, 23, 30))

    # when the holder sells 1 µs before Friday 11 begins, then it is refused; as it begins, it fills
    edge = beijing(2026, 12, 11, 0, 0)
    assert "from 2026-12-11" in _refused_at(market, holder, edge - dt.timedelta(microseconds=1), "s1")
    assert _sell_at(market, holder, edge, "s2").filled_quantity == 100


def test_a_holiday_does_not_count_as_a_trading_day_of_the_holding_period(market):
    # given Wednesday 2026-12-09 a holiday, and 100 shares bought on Monday 7 at 14:00: the trading days after are
    # Tue 8, Thu 10, Fri 11, Mon 14 and Tue 15, the fifth
    from registry.models import Holiday

    Holiday.objects.create(
        date=dt.date(2026, 12, 9), name="test holiday", created_by=market.depository, created_at=beijing(2026, 12, 1)
    )
    calendar.holidays_forget()
    holder = _holder_who_bought_at(market, beijing(2026, 12, 7, 14, 0))

    # when the holder sells on the Monday 14 (on the holiday itself too), then it is refused, saying the Tuesday
    assert "from 2026-12-15" in _refused_at(market, holder, beijing(2026, 12, 14, 23, 0), "s1")
    assert "from 2026-12-15" in _refused_at(market, holder, beijing(2026, 12, 9, 10, 0), "s2")
    # and on the Tuesday it fills
    assert _sell_at(market, holder, beijing(2026, 12, 15, 9, 30), "s3").filled_quantity == 100


# --------------------------------------------------------------------------
# The day's figures on the security page after the close


def test_the_days_change_after_the_close_is_against_the_previous_close(market):
    from exchange.services import day_close
    from tests.test_pages import client_for

    # given a trade on Wednesday 2026-12-02 at 10:00 at 10.10 against a reference price (the previous close) of 10.00
    mm = market.market_maker()
    investor = market.investor(cash="10000")
    with at(beijing(2026, 12, 2, 10, 0)):
        market.quote(mm, "9.90", "10.10")
        order_place(
            placed_by=investor.owner,
            account=investor,
            request=OrderRequest(market.security.code, "buy", 200, D("10.10"), "IOC", "b"),
        )
    # and the day closed at 15:00, the close (10.10) the new reference price
    assert day_close(now=beijing(2026, 12, 2, 15, 0, 30)) == [dt.date(2026, 12, 2)]
    market.security.refresh_from_db()
    assert market.security.reference_price == D("10.10")

    # when the page's figures are read that evening (before and after 16:00 UTC, Beijing's midnight)
    url = f"/market/securities/{market.security.code}/data/"
    with at(beijing(2026, 12, 2, 20, 0)):
        evening = client_for(investor.owner, "en").get(url).json()["day"]

    # then they are Wednesday's: the last price, and its change against Tuesday's close, not against itself
    assert (evening["last"], evening["volume"]) == ("10.10", "200")
    assert (evening["change"], evening["change_pct"], evening["direction"]) == ("+0.10", "+1.00%", "up")
    assert evening["reference_price"] == "10.00"  # the panel's "previous close", what the change is against
    # and the next morning, a new day without trades yet, shows no change; the previous close is Wednesday's
    with at(beijing(2026, 12, 3, 0, 0)):
        morning = client_for(investor.owner, "en").get(url).json()["day"]
    assert (morning["last"], morning["change"], morning["volume"]) == (None, None, "0")
    assert morning["reference_price"] == "10.10"


# --------------------------------------------------------------------------
# Times in what a user reads away from the pages (an email has no page footer saying "Beijing time")


def test_a_notifications_deadline_is_in_beijing_time_and_says_so(db):
    from notifications.models import Kind, Notification
    from notifications.services import email_render

    # given a firm answer expiring at 15:30:30 UTC, 23:30:30 in Beijing, and a negotiated proposal as it
    answer = Notification(
        kind=Kind.RFQ_ANSWER,
        params={"price": "10.05", "quantity": 200, "security": "S1", "side": "buy",
                "expires_at": "2026-12-02T15:30:30Z"},
    )  # fmt: skip
    proposal = Notification(
        kind=Kind.NEGOTIATED,
        params={"proposer": "INV000001", "price": "10.05", "quantity": 200, "security": "S1", "side": "buy",
                "expires_at": "2026-12-02T15:30:30+00:00"},
    )  # fmt: skip

    # when their emails are written, then each names the Beijing time and says it is Beijing time
    for n in (answer, proposal):
        _subject, text = email_render(n)  # Chinese, then English
        assert "2026-12-02 23:30:30 (Beijing time)" in text, text
        assert "15:30:30" not in text


# --------------------------------------------------------------------------
# The sessions (09:30–11:30, 13:00–15:00 Beijing time, trading days), the close and the next open


def _holiday(market, day):
    from registry.models import Holiday

    Holiday.objects.create(date=day, name="test holiday", created_by=market.depository, created_at=beijing(2026, 12, 1))
    calendar.holidays_forget()


def test_the_sessions_at_their_edges(market, settings):
    # given the calendar's sessions (not the demo's around the clock) and Wednesday 2026-12-09 a holiday
    settings.MARKET_ALWAYS_OPEN = False
    _holiday(market, dt.date(2026, 12, 9))
    us = dt.timedelta(microseconds=1)
    tuesday = (2026, 12, 8)

    # then each session opens at its start and closes at its end, to the microsecond
    for start, end in (((9, 30), (11, 30)), ((13, 0), (15, 0))):
        assert not calendar.market_is_open(beijing(*tuesday, *start) - us)
        assert calendar.market_is_open(beijing(*tuesday, *start))
        assert calendar.market_is_open(beijing(*tuesday, *end) - us)
        assert not calendar.market_is_open(beijing(*tuesday, *end))
    # closed at lunch, on a weekend, on the holiday; open the day after it
    assert not calendar.market_is_open(beijing(*tuesday, 12, 0))
    assert not calendar.market_is_open(beijing(2026, 12, 12, 10, 0))  # Saturday
    assert not calendar.market_is_open(beijing(2026, 12, 9, 10, 0))  # the holiday
    assert calendar.market_is_open(beijing(2026, 12, 10, 9, 30))
    # the next open: from lunch, the afternoon; from the evening before the holiday (UTC: the same Tuesday), the
    # Thursday; from Saturday 07:30 Beijing (Friday 23:30 UTC), the Monday
    assert calendar.next_open(beijing(*tuesday, 11, 30)) == beijing(*tuesday, 13, 0)
    assert calendar.next_open(beijing(*tuesday, 23, 30)) == beijing(2026, 12, 10, 9, 30)
    assert calendar.next_open(dt.datetime(2026, 12, 11, 23, 30, tzinfo=dt.UTC)) == beijing(2026, 12, 14, 9, 30)
    # the last close at 07:30 Beijing on the Thursday (Wednesday 23:30 UTC) is Tuesday's, the holiday skipped
    assert calendar.last_close(dt.datetime(2026, 12, 9, 23, 30, tzinfo=dt.UTC)) == beijing(*tuesday, 15, 0)
    assert calendar.last_close(beijing(2026, 12, 10, 15, 0)) == beijing(2026, 12, 10, 15, 0)


def test_an_order_at_the_lunch_break_is_refused_and_one_at_the_afternoon_open_goes(market, settings):
    from core import errors as err
    from tests.conftest import snapshot

    # given the calendar's sessions and a market maker's quote posted in the morning
    settings.MARKET_ALWAYS_OPEN = False
    mm = market.market_maker()
    buyer = market.investor(cash="5000")
    buyer.security_code = market.security.code
    with at(beijing(2026, 12, 8, 11, 29, 59)):
        market.quote(mm, "9.90", "10.10")

    # when the buyer orders at 11:30:00, then it is refused as the market is closed, and nothing changed
    before = snapshot()
    with at(beijing(2026, 12, 8, 11, 30)), pytest.raises(err.MarketClosed):
        _rest(buyer, "buy", "lunch", price="10.10", tif="IOC")
    assert snapshot() == before

    # when at 13:00:00, then it trades
    with at(beijing(2026, 12, 8, 13, 0)):
        order, _ = order_place(
            placed_by=buyer.owner,
            account=buyer,
            request=OrderRequest(market.security.code, "buy", 100, D("10.10"), "IOC", "afternoon"),
        )
    assert order.filled_quantity == 100


# --------------------------------------------------------------------------
# A trade at 23:30 UTC is on the next Beijing day, wherever a day is asked for


def test_a_trade_at_23_30_utc_is_counted_on_the_next_beijing_day_everywhere(market):
    from tests.conftest import api_for

    # given a trade at 2026-12-01 23:30 UTC: 07:30 on 2 December in Beijing (the market open around the clock)
    mm = market.market_maker()
    buyer = market.investor(cash="5000")
    with at(dt.datetime(2026, 12, 1, 23, 30, tzinfo=dt.UTC)):
        market.quote(mm, "9.90", "10.10")
        order, _ = order_place(
            placed_by=buyer.owner,
            account=buyer,
            request=OrderRequest(market.security.code, "buy", 100, D("10.10"), "IOC", "late"),
        )
    assert order.filled_quantity == 100
    client = api_for(buyer.owner)

    def trades(**period):
        return [t["id"] for t in client.get("/api/v1/trades/", period).json()["results"]]

    # then the trade lists put it on 2 December, the whole day and nothing of the next
    (trade_id,) = trades()
    assert trades(since="2026-12-02", until="2026-12-02") == [trade_id]
    assert trades(since="2026-12-01", until="2026-12-01") == []
    assert trades(since="2026-12-03", until="2026-12-03") == []

    # the daily candles too, an end date included as the trade list includes it
    def candles(start, end):
        rows = client.get(
            f"/api/v1/securities/{market.security.code}/candles/", {"interval": "1d", "from": start, "to": end}
        ).json()["candles"]
        return [(r["time"], r["volume"]) for r in rows]

    assert candles("2026-12-02", "2026-12-02") == [("2026-12-02T00:00:00+08:00", 100)]  # times with their offset
    assert candles("2026-12-01", "2026-12-01") == [("2026-12-01T00:00:00+08:00", 0)]
    assert [v for _t, v in candles("2026-12-01", "2026-12-03")] == [0, 100, 0]
    by_minute_of_the_day = client.get(
        f"/api/v1/securities/{market.security.code}/candles/", {"interval": "1m", "to": "2026-12-02"}
    ).json()["candles"]  # without from: the day of to, by the minute
    assert len(by_minute_of_the_day) == 24 * 60 and sum(r["volume"] for r in by_minute_of_the_day) == 100
    backwards = {"interval": "1d", "from": "2026-12-03", "to": "2026-12-02"}
    refused = client.get(f"/api/v1/securities/{market.security.code}/candles/", backwards)
    assert (refused.status_code, refused.json()["code"]) == (400, "invalid_input")
    # and by the minute, 07:30 Beijing: 2 December from its start to 07:31 (an end time is not included)
    minutes = client.get(
        f"/api/v1/securities/{market.security.code}/candles/",
        {"interval": "1m", "from": "2026-12-02T07:29", "to": "2026-12-02T07:31"},
    ).json()["candles"]
    assert [(r["time"], r["volume"]) for r in minutes] == [
        ("2026-12-02T07:29:00+08:00", 0),
        ("2026-12-02T07:30:00+08:00", 100),
    ]
    # and the statement: in 2 December's, not in 1 December's, its time with its offset
    day = client.get("/api/v1/statement/", {"from": "2026-12-02", "to": "2026-12-02"}).json()
    assert [t["id"] for t in day["trades"]] == [trade_id]
    assert day["trades"][0]["matched_at"] == "2026-12-02T07:30:00+08:00"
    assert client.get("/api/v1/statement/", {"from": "2026-12-01", "to": "2026-12-01"}).json()["trades"] == []


# --------------------------------------------------------------------------
# What is firm for a while ends with the session at the latest


def test_a_request_for_quote_and_its_firm_answer_end_with_the_morning_session(market, settings):
    from exchange.services import rfq as rfq_svc

    # given the calendar's sessions and a request for quote (open 120 s) asked at 11:29:00
    settings.MARKET_ALWAYS_OPEN = False
    settings.RFQ_TTL = 120
    mm = market.market_maker()
    investor = market.investor(cash="50000")
    with at(beijing(2026, 12, 8, 11, 29)):
        rfq = rfq_svc.rfq_request(
            requested_by=investor.owner,
            account=investor,
            request=rfq_svc.RfqRequestInput(market.security.code, "buy", 200, "r1"),
        )[0]
    # when a market maker answers at 11:29:30, firm for 60 s
    with at(beijing(2026, 12, 8, 11, 29, 30)):
        answer = rfq_svc.rfq_answer(user=mm.owner, rfq_id=rfq.pk, price=D("10.05"), valid_seconds=60)

    # then both end at 11:30, when the market closes for lunch, not in the middle of it
    assert rfq.expires_at == answer.expires_at == beijing(2026, 12, 8, 11, 30)

    # and in the afternoon session, a request is open its whole 120 s
    with at(beijing(2026, 12, 8, 13, 0)):
        later = rfq_svc.rfq_request(
            requested_by=investor.owner,
            account=investor,
            request=rfq_svc.RfqRequestInput(market.security.code, "buy", 200, "r2"),
        )[0]
    assert later.expires_at == beijing(2026, 12, 8, 13, 2)


def test_a_negotiated_proposal_ends_with_the_afternoon_session(market, settings):
    from exchange.services import negotiated as neg

    settings.MARKET_ALWAYS_OPEN = False
    # a proposal at 14:59 ends at 15:00; one at 10:00 lasts its time to live; around the clock it is not cut
    assert neg.expiry(beijing(2026, 12, 8, 14, 59), 600) == beijing(2026, 12, 8, 15, 0)
    assert neg.expiry(beijing(2026, 12, 8, 10, 0), 600) == beijing(2026, 12, 8, 10, 10)
    settings.MARKET_ALWAYS_OPEN = True
    assert neg.expiry(beijing(2026, 12, 8, 14, 59), 600) == beijing(2026, 12, 8, 15, 9)


def test_a_statement_file_says_its_times_are_beijing_time(market):
    import csv
    import io

    from tests.conftest import api_for

    # given a deposit at 23:30 UTC on 1 December: 07:30 on 2 December in Beijing
    with at(dt.datetime(2026, 12, 1, 23, 30, tzinfo=dt.UTC)):
        investor = market.investor(cash="1000")

    # when the investor exports the statement of 2 December as CSV
    response = api_for(investor.owner).get(
        "/api/v1/statement/", {"from": "2026-12-02", "to": "2026-12-02", "format": "csv"}, HTTP_ACCEPT_LANGUAGE="en"
    )

    # then the file says its times are Beijing time, and the deposit is at 07:30 on 2 December
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert ["Times are shown in Beijing time (Asia/Shanghai). Amounts in CNY."] in rows
    assert any(row[:2] == ["2026-12-02 07:30:00", "Deposit"] for row in rows), rows


def test_an_entry_at_23_30_utc_is_in_the_next_beijing_days_feed_and_audit_trail(market, tmp_path):
    import json

    from django.core.management import call_command

    from core.models import Role
    from ledger.services import block_seal
    from tests.conftest import api_for

    # given an account opened and funded at 2026-12-01 23:30 UTC (07:30 on 2 December in Beijing), the day before
    # and the day after quiet, every entry sealed
    with at(dt.datetime(2026, 12, 1, 23, 30, tzinfo=dt.UTC)):
        investor = market.investor(cash="1000")
    block_seal()

    # when the regulatory feed of each day is exported
    def feed(day: str) -> list[dict]:
        out = tmp_path / f"{day}.jsonl"
        call_command("regulatory_feed_export", "--date", day, "--out", str(out))
        return [json.loads(line) for line in out.read_text().splitlines()]

    # then the deposit is in 2 December's, with its UTC time as the ledger keeps it, and in no other day's
    (deposit,) = [r for r in feed("2026-12-02") if r["kind"] == "DEPOSIT" and investor.code in json.dumps(r)]
    assert deposit["recorded_at"].startswith("2026-12-01T23:30:00")
    assert not [r for r in feed("2026-12-01") + feed("2026-12-03") if investor.code in json.dumps(r)]

    # and the audit trail from=to=2 December holds the deposit's record; 1 and 3 December do not
    auditor = api_for(market.user(Role.AUDITOR))

    def audited(day: str) -> list[str]:
        body = auditor.get("/api/v1/audit/", {"since": day, "until": day, "action": "cash_deposit"}).json()
        return [row["target"] for row in body["results"]]

    assert investor.code in audited("2026-12-02")
    assert investor.code not in audited("2026-12-01") + audited("2026-12-03")


def test_a_lock_up_until_a_date_is_released_as_that_beijing_day_begins(market):
    from balances.models import LockUp
    from balances.services import Holding, lockups_release, securities_issue

    # given 1,000 shares locked up until 10 December 2026
    investor = market.investor()
    securities_issue(
        actor=market.depository,
        security_code=market.security.code,
        allocations=[Holding(investor, 1000, 1000, dt.date(2026, 12, 10))],
    )

    # when the release runs at 23:59:59 on the 9th in Beijing (15:59:59 UTC), then nothing is released
    assert lockups_release(now=beijing(2026, 12, 9, 23, 59, 59)) == 0
    assert position_of(investor, market.security).locked == 1000
    # when it runs as the 10th begins in Beijing (16:00 UTC on the 9th), then the shares are free
    assert lockups_release(now=beijing(2026, 12, 10, 0, 0)) == 1
    assert position_of(investor, market.security).locked == 0
    assert LockUp.objects.get().released_at == beijing(2026, 12, 10, 0, 0)


# --------------------------------------------------------------------------
# The risk assessment ends at a moment, and the pages say which


def test_the_pages_say_when_the_risk_assessment_ends_to_the_minute(market):
    from kyc.models import KycProfile
    from tests.test_pages import client_for

    # given an investor whose assessment ends at 10:15 on 5 January 2027, Beijing time (02:15 UTC)
    investor = market.investor(cash="5000")
    investor.security_code = market.security.code
    KycProfile.objects.filter(user=investor.owner).update(expires_at=beijing(2027, 1, 5, 10, 15))

    # when the investor and the broker's staff read it
    own = client_for(investor.owner, "en").get("/kyc/me/").content.decode()
    counter = client_for(market.staff, "en").get(f"/counter/{investor.code}/").content.decode()

    # then both say the minute it ends, in Beijing time, not a day it does not last through
    assert "the risk assessment is valid until 2027-01-05 10:15." in own
    assert "<dd>2027-01-05 10:15</dd>" in counter

    # and indeed at 10:15 that day an order is refused; at 10:14 it is not
    mm = market.market_maker()
    with at(beijing(2027, 1, 5, 10, 14)):
        market.quote(mm, "9.90", "10.10")
        assert _rest(investor, "buy", "before", price="10.00").status == Order.Status.OPEN
    with at(beijing(2027, 1, 5, 10, 15)), pytest.raises(Exception) as refused:
        _rest(investor, "buy", "at", price="10.00")
    assert refused.value.code == "kyc_expired"


def test_a_day_closed_late_moves_the_previous_close_of_the_next_day(market):
    from exchange.services import day_close
    from tests.test_pages import client_for

    # given a trade on Wednesday 2026-12-02 at 10.10 (reference 10.00), and the day's close run only on Thursday at
    # 10:00, the beat having been down; then a trade on Thursday at 10:05
    mm = market.market_maker()
    investor = market.investor(cash="10000")
    for moment, price in ((beijing(2026, 12, 2, 10, 0), "10.10"), (beijing(2026, 12, 3, 10, 5), "10.20")):
        with at(moment):
            if price == "10.20":
                assert day_close(now=moment) == [dt.date(2026, 12, 2)]
            market.quote(mm, "9.90", price)
            order_place(
                placed_by=investor.owner,
                account=investor,
                request=OrderRequest(market.security.code, "buy", 100, D(price), "IOC", f"b{price}"),
            )

    # when Thursday's figures are read
    with at(beijing(2026, 12, 3, 11, 0)):
        day = client_for(investor.owner, "en").get(f"/market/securities/{market.security.code}/data/").json()["day"]

    # then the change is against Wednesday's close, 10.10, not Tuesday's
    assert (day["last"], day["change"], day["reference_price"]) == ("10.20", "+0.10", "10.10")
