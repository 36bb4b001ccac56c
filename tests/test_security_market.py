"""The security page's market data: candles (OHLC and volume per minute or day, one SQL aggregate), time and
sales, and the page itself for every role."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from core.models import Role
from exchange.models import Trade
from exchange.services import OrderRequest, order_place
from tests.conftest import api_for, snapshot
from tests.test_pages import client_for, text

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SHANGHAI)


def traded(market, investor, side: str, quantity: int, price: str, when: dt.datetime) -> Trade:
    """One trade of ``investor`` against the market maker's quote, moved by hand to ``when``."""
    order, _ = order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest(
            security=market.security.code,
            side=side,
            quantity=quantity,
            limit_price=Decimal(price),
            time_in_force="IOC",
            client_order_id=f"t-{when.isoformat()}-{side}-{quantity}",
        ),
    )
    trade = Trade.objects.filter(security=market.security).order_by("-id").first()
    assert trade is not None and (trade.buy_order_id == order.pk or trade.sell_order_id == order.pk)
    Trade.objects.filter(pk=trade.pk).update(matched_at=when)
    return trade


@pytest.fixture
def day_of_trades(market):
    """Four trades by hand on 2026-12-02 (Shanghai): 09:31:10 buy 100 @ 10.10, 09:31:50 buy 200 @ 10.20,
    09:33:05 sell 300 @ 9.90 (09:32 has none), and 2026-12-04 10:00 buy 100 @ 10.20."""
    mm = market.market_maker()
    investor = market.investor(cash="100000", shares=1000)
    market.quote(mm, "9.90", "10.10")
    traded(market, investor, "buy", 100, "10.10", at(2026, 12, 2, 9, 31, 10))
    market.quote(mm, "9.90", "10.20")
    traded(market, investor, "buy", 200, "10.20", at(2026, 12, 2, 9, 31, 50))
    traded(market, investor, "sell", 300, "9.90", at(2026, 12, 2, 9, 33, 5))
    traded(market, investor, "buy", 100, "10.20", at(2026, 12, 4, 10, 0))
    return market, mm, investor


def candles(client, code, **params):
    return client.get(f"/api/v1/securities/{code}/candles/", params)


# --------------------------------------------------------------------------
# Candles


def test_minute_candles_aggregate_the_trades_and_keep_the_empty_minute(day_of_trades):
    # given
    market, _, investor = day_of_trades

    # when
    response = candles(
        api_for(investor.owner),
        market.security.code,
        interval="1m",
        **{"from": "2026-12-02T09:31:00", "to": "2026-12-02T09:34:00"},
    )

    # then
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["interval"] == "1m"
    rows = body["candles"]
    assert [dt.datetime.fromisoformat(r["time"]).astimezone(SHANGHAI).strftime("%H:%M") for r in rows] == [
        "09:31",
        "09:32",
        "09:33",
    ]
    assert rows[0] == {
        "time": rows[0]["time"],
        "open": "10.10",
        "high": "10.20",
        "low": "10.10",
        "close": "10.20",
        "volume": 300,
        "turnover": "3050.00",
        "trades": 2,
    }
    assert rows[1] == {
        "time": rows[1]["time"],
        "open": None,
        "high": None,
        "low": None,
        "close": None,
        "volume": 0,
        "turnover": "0.00",
        "trades": 0,
    }
    assert (rows[2]["open"], rows[2]["close"], rows[2]["volume"], rows[2]["trades"]) == ("9.90", "9.90", 300, 1)


def test_daily_candles_cover_every_day_of_the_range(day_of_trades):
    # given
    market, _, investor = day_of_trades

    # when
    rows = candles(
        api_for(investor.owner), market.security.code, interval="1d", **{"from": "2026-12-01", "to": "2026-12-04"}
    ).json()["candles"]

    # then: 1, 2, 3 and 4 December (an end date is included, as in every period of the API); the 1st and 3rd are
    # empty
    days = [dt.datetime.fromisoformat(r["time"]).astimezone(SHANGHAI).date().isoformat() for r in rows]
    assert days == ["2026-12-01", "2026-12-02", "2026-12-03", "2026-12-04"]
    assert [r["volume"] for r in rows] == [0, 600, 0, 100]
    assert (rows[1]["open"], rows[1]["high"], rows[1]["low"], rows[1]["close"]) == ("10.10", "10.20", "9.90", "9.90")
    assert rows[1]["turnover"] == "6020.00"  # 1,010 + 2,040 + 2,970
    assert rows[3]["close"] == "10.20"


def test_a_range_end_time_is_exclusive_and_an_empty_range_has_no_buckets(day_of_trades):
    # given
    market, _, investor = day_of_trades
    client = api_for(investor.owner)

    # when: up to the second trade's minute exactly, and an empty range
    code = market.security.code
    before = candles(client, code, interval="1m", **{"from": "2026-12-02T09:30", "to": "2026-12-02T09:31"})
    empty = candles(client, code, interval="1m", **{"from": "2026-12-02T09:31", "to": "2026-12-02T09:31"})
    quiet = candles(client, code, interval="1d", **{"from": "2026-11-01", "to": "2026-11-02"})

    # then
    assert [r["volume"] for r in before.json()["candles"]] == [0]
    assert empty.status_code == 200 and empty.json()["candles"] == []
    assert [r["volume"] for r in quiet.json()["candles"]] == [0, 0]


def test_a_refused_trade_is_not_in_the_candles_nor_in_time_and_sales(day_of_trades):
    # given
    market, _, investor = day_of_trades
    refused = Trade.objects.filter(security=market.security).order_by("matched_at").first()
    Trade.objects.filter(pk=refused.pk).update(status=Trade.Status.FAILED)
    client = api_for(investor.owner)

    # when
    rows = candles(
        client, market.security.code, interval="1m", **{"from": "2026-12-02T09:31", "to": "2026-12-02T09:32"}
    ).json()["candles"]
    sales = client.get(f"/api/v1/securities/{market.security.code}/trades/").json()

    # then
    assert (rows[0]["open"], rows[0]["volume"], rows[0]["trades"]) == ("10.20", 200, 1)
    assert sales["count"] == 3


def test_an_offset_in_from_and_to_is_honoured(day_of_trades):
    # given
    market, _, investor = day_of_trades

    # when: 01:31 UTC is 09:31 in Shanghai
    rows = candles(
        api_for(investor.owner),
        market.security.code,
        interval="1m",
        **{"from": "2026-12-02T01:31:00+00:00", "to": "2026-12-02T01:32:00Z"},
    ).json()["candles"]

    # then
    assert [r["volume"] for r in rows] == [300]


def test_without_a_range_the_minutes_of_today_are_listed(day_of_trades):
    # given
    market, _, investor = day_of_trades

    # when
    body = candles(api_for(investor.owner), market.security.code, interval="1m").json()

    # then: every minute from midnight (Shanghai) to now
    start = dt.datetime.fromisoformat(body["start"]).astimezone(SHANGHAI)
    end = dt.datetime.fromisoformat(body["end"]).astimezone(SHANGHAI)
    assert (start.hour, start.minute, start.second) == (0, 0, 0) and start.date() == end.date()
    assert len(body["candles"]) == end.hour * 60 + end.minute + 1
    hand_placed = {dt.date(2026, 12, 2), dt.date(2026, 12, 4)}
    if end.date() not in hand_placed:
        assert sum(r["volume"] for r in body["candles"]) == 0


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({}, "interval"),
        ({"interval": "5m"}, "interval"),
        ({"interval": "1d", "from": "yesterday"}, "from"),
        ({"interval": "1d", "to": "2026-13-40"}, "to"),
        ({"interval": "1m", "from": "2026-12-03", "to": "2026-12-02"}, "from"),
        ({"interval": "1m", "from": "2026-01-01", "to": "2026-12-02"}, "5000"),
        ({"interval": "1d", "from": "1900-01-01"}, "5000"),
        ({"interval": "1d", "from": "2026-12-01\x00"}, None),
        # before the first moment PostgreSQL is sent (in UTC), as in every other period of the API (were a 500)
        ({"interval": "1m", "to": "0001-01-01T00:00:00"}, "“to”须为 0001-01-02 至 9999-12-30"),
        ({"interval": "1d", "to": "0001-01-01T08:00:00+14:00"}, "“to”须为 0001-01-02 至 9999-12-30"),
        ({"interval": "1d", "from": "0001-01-01", "to": "2026-12-02"}, "“from”须为 0001-01-02 至 9999-12-30"),
        ({"interval": "1m", "from": "9999-12-30T23:00:00-14:00"}, "“from”须为 0001-01-02 至 9999-12-30"),
    ],
)
def test_bad_parameters_are_a_400_json_error(day_of_trades, params, fragment):
    # given
    market, _, investor = day_of_trades
    before = snapshot()

    # when
    response = candles(api_for(investor.owner), market.security.code, **params)

    # then
    assert response.status_code == 400
    body = response.json()
    assert body["code"] in ("invalid_input", "bad_request")
    if fragment:
        assert fragment in body["message"]
    assert snapshot() == before


def test_an_end_time_after_a_small_t_is_a_time_not_a_whole_day(day_of_trades):
    # given the trades of 2026-12-02, three of them in 09:31
    market, _, investor = day_of_trades
    client = api_for(investor.owner)

    # when the range ends at 09:32 written in ISO 8601's basic form with a small t (as RFC 3339 allows)
    small = candles(client, market.security.code, interval="1m", **{"from": "2026-12-02T09:31", "to": "20261202t0932"})

    # then it ends there, as with a capital T, not at the end of the next day
    capital = candles(
        client, market.security.code, interval="1m", **{"from": "2026-12-02T09:31", "to": "2026-12-02T09:32"}
    )
    assert small.status_code == 200, small.json()
    assert small.json()["end"] == capital.json()["end"]
    assert [r["volume"] for r in small.json()["candles"]] == [300]


def test_the_default_range_near_the_first_day_starts_there(day_of_trades):
    # given an end early in year 1, less than the default 90 days after the first day a range may name
    market, _, investor = day_of_trades

    # when the daily candles up to it are asked for without a start
    response = candles(api_for(investor.owner), market.security.code, interval="1d", to="0001-02-01")

    # then they start at that first day, not a 500, and none has a trade
    assert response.status_code == 200, response.content
    body = response.json()
    assert dt.datetime.fromisoformat(body["start"]) == dt.datetime(1, 1, 2, tzinfo=dt.UTC)
    assert body["candles"] and sum(r["volume"] for r in body["candles"]) == 0


def test_an_unknown_security_is_a_404(market):
    response = candles(api_for(market.user()), "NOPE", interval="1d")
    assert response.status_code == 404 and response.json()["code"] == "unknown_security"
    sales = api_for(market.user()).get("/api/v1/securities/NOPE/trades/")
    assert sales.status_code == 404 and sales.json()["code"] == "unknown_security"


def test_market_data_needs_a_signed_in_user(market):
    from rest_framework.test import APIClient

    assert APIClient().get(f"/api/v1/securities/{market.security.code}/candles/?interval=1d").status_code == 401
    assert APIClient().get(f"/api/v1/securities/{market.security.code}/trades/").status_code == 401


# --------------------------------------------------------------------------
# Time and sales


def test_time_and_sales_is_public_newest_first_without_parties(day_of_trades):
    # given
    market, mm, _ = day_of_trades
    stranger = market.user(Role.AUDITOR)

    # when
    body = api_for(stranger).get(f"/api/v1/securities/{market.security.code}/trades/", {"limit": 2}).json()

    # then
    assert body["count"] == 4 and body["next"] is not None
    assert [(r["price"], r["quantity"]) for r in body["results"]] == [("10.20", 100), ("9.90", 300)]
    assert set(body["results"][0]) == {"price", "quantity", "matched_at"}
    assert mm.code not in str(body)


# --------------------------------------------------------------------------
# The page


@pytest.mark.parametrize(
    "role",
    [Role.INVESTOR, Role.MARKET_MAKER, Role.BROKER_STAFF, Role.EXCHANGE_OPERATOR, Role.REGULATOR, Role.AUDITOR],
)
def test_every_role_sees_the_security_page_with_its_market(day_of_trades, role):
    # given
    market, mm, investor = day_of_trades
    user = {Role.INVESTOR: investor.owner, Role.MARKET_MAKER: mm.owner, Role.BROKER_STAFF: market.staff}.get(role)
    user = user or market.user(role)

    # when
    response = client_for(user, "en").get(f"/securities/{market.security.code}/")

    # then
    assert response.status_code == 200
    body = text(response)
    for part in ("security-day", "security-chart", "depth-table", "sales-table", "disclosures"):
        assert f'id="{part}"' in body
    assert "lightweight-charts.standalone.production.js" in body
    assert f"/api/v1/securities/{market.security.code}/candles/" in body
    assert mm.code in body  # the quotes by market maker
    assert "You have no trading account" not in body
    ticket = f'href="/orders/new/?security={market.security.code}&amp;side=buy"'
    assert (ticket in body) == (role == Role.INVESTOR)
    assert (f'href="/quotes/?security={market.security.code}"' in body) == (role == Role.MARKET_MAKER)


@pytest.mark.usefixtures("shanghai_day_held")  # the trade and the page on one day: the figures are the day's
def test_the_page_shows_the_days_figures(trading):
    # given: a trade today at 10.10 against a reference price of 10.00
    market, _, investor = trading
    order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest(
            security=market.security.code,
            side="buy",
            quantity=200,
            limit_price=Decimal("10.10"),
            time_in_force="IOC",
            client_order_id="today-1",
        ),
    )

    # when
    data = client_for(investor.owner, "en").get(f"/market/securities/{market.security.code}/data/").json()

    # then
    assert data["day"]["last"] == "10.10"
    assert data["day"]["change"] == "+0.10" and data["day"]["change_pct"] == "+1.00%"
    assert data["day"]["volume"] == "200" and data["day"]["turnover"] == "2,020.00"
    assert data["sales"][0]["price"] == "10.10" and data["sales"][0]["quantity"] == "200"
    assert "10.10" in data["sales_html"]
    assert data["depth"]["asks"][0]["quantity"] == "800"


def test_the_market_data_of_an_unknown_security_is_a_404_json(market):
    response = client_for(market.user(), "en").get("/market/securities/NOPE/data/")
    assert response.status_code == 404 and response.json()["code"] == "unknown_security"


def test_market_watch_rows_lead_staff_and_operators_to_the_security_page(trading):
    # given
    market, mm, investor = trading
    code = market.security.code
    operator = market.user(Role.EXCHANGE_OPERATOR)

    # when
    pages = {
        "operator": text(client_for(operator, "en").get("/")),
        "staff": text(client_for(market.staff, "en").get("/")),
        "investor": text(client_for(investor.owner, "en").get("/")),
        "maker": text(client_for(mm.owner, "en").get("/")),
    }

    # then
    assert f'data-href="/securities/{code}/"' in pages["operator"]
    assert f'data-href="/securities/{code}/"' in pages["staff"]
    assert f'data-href="/orders/new/?security={code}"' in pages["investor"]
    assert f'data-href="/quotes/?security={code}"' in pages["maker"]
    for body in pages.values():
        assert f'href="/securities/{code}/"' in body
