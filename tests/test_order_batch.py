"""POST orders/batch/: up to 100 orders in one request, each placed as POST orders/ would, with its own result."""

from __future__ import annotations

import pytest

from balances.models import CashBalance
from core.models import Role
from exchange.models import Order, Trade
from tests.conftest import api_for, order_body, snapshot

URL = "/api/v1/orders/batch/"


def test_each_order_of_a_batch_gets_the_answer_it_would_get_alone(trading):
    market, _mm, investor = trading
    client = api_for(investor.owner)
    # given an order placed before with client_order_id "old"
    old = client.post("/api/v1/orders/", order_body(market, client_order_id="old"), format="json").json()
    reserved_before = CashBalance.objects.get(account=investor).reserved

    # when a batch sends a good order, one off the tick, the old one again, one with a field missing, one too
    # dear for the investor's cash, and a second good one
    orders = [
        order_body(market, client_order_id="b1"),
        order_body(market, client_order_id="b2", limit_price="10.105"),
        order_body(market, client_order_id="old"),
        {k: v for k, v in order_body(market, client_order_id="b4").items() if k != "side"},
        order_body(market, client_order_id="b5", quantity=100_000),
        order_body(market, client_order_id="b6"),
        order_body(market, client_order_id=7),
    ]
    resp = client.post(URL, {"orders": orders}, format="json")

    # then one result per order, in the order sent, each with the status POST orders/ would have answered
    assert resp.status_code == 200, resp.content
    results = resp.json()["results"]
    assert [(r["client_order_id"], r["status"]) for r in results] == [
        ("b1", 201),
        ("b2", 400),
        ("old", 200),
        ("b4", 400),
        ("b5", 409),
        ("b6", 201),
        (None, 400),  # a number is not text: refused, as POST orders/ refuses it
    ]
    assert results[2]["order"] == old
    assert results[1]["error"]["code"] == "invalid_input" and "order" not in results[1]
    assert results[3]["error"]["fields"].keys() == {"side"}
    assert results[4]["error"]["code"] == "insufficient_cash"
    assert results[6]["error"]["fields"].keys() == {"client_order_id"}
    placed = {r["client_order_id"]: r["order"] for r in results if r["status"] == 201}
    assert {o["status"] for o in placed.values()} == {"filled"}
    # and exactly the good orders traded, each once
    assert set(Order.objects.values_list("client_order_id", flat=True)) == {"old", "b1", "b6"}
    assert Trade.objects.count() == 3
    # and the cash they hold until settlement is theirs alone (value + fee each)
    new = Trade.objects.filter(buy_order__client_order_id__in=["b1", "b6"])
    held = sum(t.price * t.quantity + t.buyer_fee for t in new)
    assert (new.count(), CashBalance.objects.get(account=investor).reserved) == (2, reserved_before + held)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"orders": []},
        {"orders": "not a list"},
        {"orders": [1, 2]},
        {"orders": [{"client_order_id": f"x{i}"} for i in range(101)]},
    ],
    ids=["no-orders", "empty", "not-a-list", "not-objects", "101-orders"],
)
def test_a_batch_that_is_not_1_to_100_orders_is_refused_whole(trading, body):
    market, _mm, investor = trading
    before = snapshot()

    resp = api_for(investor.owner).post(URL, body, format="json")

    assert resp.status_code == 400, resp.content
    assert resp.json()["code"] == "invalid_input"
    assert snapshot() == before


def test_a_hundred_orders_in_one_batch_all_fill(market):
    # given a market maker quoting 10,000 shares and an investor with cash for all of them
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10", ask_qty=10_000)
    investor = market.investor(cash="200000")
    orders = [order_body(market, client_order_id=f"h{i}") for i in range(100)]

    # when they come in one batch
    resp = api_for(investor.owner).post(URL, {"orders": orders}, format="json")

    # then each filled, in the order sent
    assert resp.status_code == 200
    results = resp.json()["results"]
    assert [r["client_order_id"] for r in results] == [f"h{i}" for i in range(100)]
    assert {(r["status"], r["order"]["status"]) for r in results} == {(201, "filled")}
    assert Trade.objects.count() == Order.objects.count() == 100


def test_a_batch_needs_a_login_and_a_trading_account(trading, api):
    market, _mm, _investor = trading
    before = snapshot()
    assert api.post(URL, {"orders": [order_body(market)]}, format="json").status_code == 401
    resp = api_for(market.user(Role.BROKER_STAFF)).post(URL, {"orders": [order_body(market)]}, format="json")
    assert (resp.status_code, resp.json()["code"]) == (403, "no_trading_account")
    assert snapshot() == before
