"""A back office pulls a day's trades and orders, and finds an order by its key: ``since`` and ``until`` on
``trades/``, ``orders/`` and the counter's ``clients/{code}/trades/`` and ``clients/{code}/orders/``, and
``client_order_id`` on the order lists (found by an outside integrator: the lists had no time filter, so a day's
trades meant paging the whole history, and paging newest first while orders arrived moved every offset, answering
rows twice; and an order whose answer was lost could be looked for only by placing it again)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from exchange.models import Order, Trade
from exchange.services import OrderRequest, order_place
from tests.conftest import api_for, snapshot

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture
def days(trading):
    """Three buys of one investor, each trade and order moved by hand: 2026-12-01 14:59:59, 2026-12-02 09:30:00
    and 2026-12-02 23:59:59 (Beijing time)."""
    market, _mm, investor = trading
    when = [at(2026, 12, 1, 14, 59, 59), at(2026, 12, 2, 9, 30), at(2026, 12, 2, 23, 59, 59)]
    trades, orders = [], []
    for n, moment in enumerate(when):
        order, _ = order_place(
            placed_by=investor.owner,
            account=investor,
            request=OrderRequest(
                security=market.security.code,
                side="buy",
                quantity=100,
                limit_price=Decimal("10.10"),
                time_in_force="IOC",
                client_order_id=f"p-{n}",
            ),
        )
        trade = Trade.objects.get(buy_order=order)
        Trade.objects.filter(pk=trade.pk).update(matched_at=moment)
        Order.objects.filter(pk=order.pk).update(created_at=moment)
        trades.append(trade.pk)
        orders.append(order.pk)
    return market, investor, trades, orders


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def _lists(market, investor) -> dict:
    """Each list, as who reads it: the investor its own, the broker's staff its client's."""
    own, staff = api_for(investor.owner), api_for(market.staff)
    code = investor.code
    return {
        "trades": (own, "/api/v1/trades/", 2),
        "orders": (own, "/api/v1/orders/", 3),
        "counter trades": (staff, f"/api/v1/counter/clients/{code}/trades/", 2),
        "counter orders": (staff, f"/api/v1/counter/clients/{code}/orders/", 3),
    }


@pytest.mark.parametrize("which", ["trades", "orders", "counter trades", "counter orders"])
@pytest.mark.parametrize(
    ("query", "wanted"),
    [
        ("", [2, 1, 0]),
        ("since=2026-12-02", [2, 1]),  # a date is its Beijing day, from its start
        ("until=2026-12-01", [0]),  # an end date is included
        ("since=2026-12-02&until=2026-12-02", [2, 1]),
        ("since=2026-12-02T09:30:00%2B08:00", [2, 1]),  # a start time is included
        ("until=2026-12-02T09:30:00%2B08:00", [0]),  # an end time is not
        ("until=2026-12-02T01:30:00Z", [0]),  # 09:30 in Beijing, given in UTC
        ("since=2026-12-02T09:30:01", [2]),  # without an offset: Beijing time
        ("since=2026-12-03", []),
    ],
)
def test_a_list_gives_only_the_rows_of_the_period_asked_for(days, which, query, wanted):
    # given three trades (and their orders) on two Beijing days
    market, investor, trades, orders = days
    client, path, _ = _lists(market, investor)[which]
    rows = trades if "trades" in which else orders

    # when the list is asked for a period
    response = client.get(f"{path}?{query}")

    # then it gives the rows of that period, newest first, and counts only them
    assert _ids(response) == [rows[i] for i in wanted]
    assert response.json()["count"] == len(wanted)


@pytest.mark.parametrize("which", ["trades", "orders", "counter trades", "counter orders"])
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("since=yesterday", "since"),
        ("until=2026-02-30", "until"),
        ("since=2026-12-02T25:00:00", "since"),
        ("since=0001-01-01", "since"),
        ("until=9999-12-31", "until"),
        ("since=2026-12-04&until=2026-12-02", "since"),
    ],
)
def test_a_period_that_is_not_one_is_a_400_naming_it(days, which, query, field):
    market, investor, _trades, _orders = days
    client, path, _ = _lists(market, investor)[which]
    before = snapshot()

    response = client.get(f"{path}?{query}")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_input"
    assert field in response.json()["message"]
    assert snapshot() == before


def test_paging_newest_first_with_until_fixed_is_not_moved_by_new_orders(days, trading):
    # given an investor's three orders, paged one at a time with until fixed at the start of the walk
    market, investor, _trades, orders = days
    client = api_for(investor.owner)
    start = "2026-12-03T00:00:00%2B08:00"
    first = client.get(f"/api/v1/orders/?limit=1&until={start}").json()

    # when a new order is placed between two pages (now: after the walk's until)
    order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest(
            security=market.security.code,
            side="buy",
            quantity=100,
            limit_price=Decimal("10.10"),
            time_in_force="IOC",
            client_order_id="p-new",
        ),
    )
    second = client.get(f"/api/v1/orders/?limit=1&offset=1&until={start}").json()
    third = client.get(f"/api/v1/orders/?limit=1&offset=2&until={start}").json()

    # then the walk sees each of the three once, in order, and the new order is not among them
    seen = [page["results"][0]["id"] for page in (first, second, third)]
    assert seen == [orders[2], orders[1], orders[0]]
    assert client.get("/api/v1/orders/").json()["count"] == 4


@pytest.mark.parametrize("which", ["orders", "counter orders"])
def test_an_order_is_found_by_its_client_order_id_without_placing_it(days, which):
    # given an investor's three orders, keyed p-0, p-1 and p-2 (the answer of one of them lost, say)
    market, investor, _trades, orders = days
    client, path, _ = _lists(market, investor)[which]
    before = snapshot()

    # when the back office asks for a key, one placed and one never sent
    found = client.get(f"{path}?client_order_id=p-1")
    missing = client.get(f"{path}?client_order_id=p-9")

    # then the first is that order alone, the second an empty page, and nothing was placed
    assert _ids(found) == [orders[1]] and found.json()["results"][0]["client_order_id"] == "p-1"
    assert _ids(missing) == [] and missing.json()["count"] == 0
    assert snapshot() == before
