"""The order ticket that keeps up: its quotes and balances polled, the pre-trade forecast (what would refuse
the order, placing nothing) and the review step that restates the order before it is placed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.models import Role
from exchange.models import Order, Trade
from exchange.services import OrderRequest, order_place
from tests.conftest import api_for, snapshot
from tests.test_pages import client_for, form_errors, text, ticket_data


def check(client, security, /, **over):
    params = {"security": security.code, "side": "buy", "quantity": "500", "limit_price": "10.20", **over}
    return client.get("/orders/new/check/", params)


# --------------------------------------------------------------------------
# The forecast


def test_a_good_order_passes_with_its_fee_and_total_and_nothing_is_placed(trading):
    # given
    market, _, investor = trading
    before = snapshot()

    # when: 500 at 10.20 is 5,100.00; the broker's 2.5 bp is under its 5.00 minimum
    response = check(client_for(investor.owner, "en"), market.security)

    # then
    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "problems": [],
        "value": "5,100.00",
        "fee": "5.00",
        "total": "5,105.00",
        "total_label": "Total to pay, at most (CNY)",
    }
    assert snapshot() == before


def test_a_sell_shows_what_it_brings_in(trading):
    market, _, investor = trading
    body = check(client_for(investor.owner, "en"), market.security, side="sell", quantity="300").json()
    assert body["ok"] and body["value"] == "3,060.00" and body["fee"] == "5.00" and body["total"] == "3,055.00"
    assert body["total_label"] == "You receive, at least (CNY)"


def codes(response) -> list[str]:
    return [p["code"] for p in response.json()["problems"]]


def test_suitability_and_cash_are_both_named(market):
    # given: a level-1 investor without cash, a security rated R3
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(level=1)
    before = snapshot()

    # when
    response = check(client_for(investor.owner, "en"), market.security)

    # then
    assert codes(response) == ["unsuitable_risk_level", "insufficient_cash"]
    assert "C1" in response.json()["problems"][0]["message"]
    assert "5105" in response.json()["problems"][1]["message"].replace(",", "")
    assert snapshot() == before


def test_qualified_only_is_named(market):
    market.security.qualified_only = True
    market.security.save()
    investor = market.investor(cash="100000")
    assert codes(check(client_for(investor.owner, "en"), market.security)) == ["not_qualified_investor"]


def test_the_holding_interval_is_named(trading):
    # given: shares bought and settled today under a five-day holding period
    market, _, investor = trading
    market.security.min_holding_days = 5
    market.security.save()
    order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest(
            security=market.security.code,
            side="buy",
            quantity=100,
            limit_price=Decimal("10.10"),
            time_in_force="IOC",
            client_order_id="bought",
        ),
    )
    Trade.objects.filter(buyer=investor).update(status=Trade.Status.SETTLED)

    # when: selling all 500 issued shares, 100 of which count as bought within the period
    response = check(client_for(investor.owner, "en"), market.security, side="sell", quantity="500")

    # then
    assert codes(response) == ["holding_period"]


def test_off_tick_out_of_band_and_lots_are_named(trading):
    market, _, investor = trading
    response = check(client_for(investor.owner, "en"), market.security, quantity="150", limit_price="13.505")
    assert codes(response) == ["price_off_tick", "quantity_not_in_lots"]


@pytest.mark.parametrize(
    "over",
    [
        {"side": "hold"},
        {"quantity": "-5"},
        {"quantity": "ten"},
        {"limit_price": "NaN"},
        {"limit_price": ""},
        {"security": "NOPE"},
    ],
)
def test_bad_input_is_a_400_with_the_fields(trading, over):
    market, _, investor = trading
    before = snapshot()
    response = check(client_for(investor.owner, "en"), market.security, **over)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_input" and set(over) <= set(body["fields"])
    assert snapshot() == before


def test_without_an_account_the_forecast_and_the_ticket_data_are_403(market):
    operator = market.user(Role.EXCHANGE_OPERATOR)
    client = client_for(operator, "en")
    assert check(client, market.security).status_code == 403
    assert client.get(f"/orders/new/data/?security={market.security.code}").status_code == 403


# --------------------------------------------------------------------------
# The quotes keep up


def test_the_ticket_data_has_the_current_quotes_and_balances(trading):
    # given: the ticket was opened, then a trade took 200 of the ask
    market, mm, investor = trading
    client = client_for(investor.owner, "en")
    page = text(client.get(f"/orders/new/?security={market.security.code}"))
    assert f'data-url="/orders/new/data/?security={market.security.code}"' in page
    other = market.investor(cash="10000")
    order_place(
        placed_by=other.owner,
        account=other,
        request=OrderRequest(
            security=market.security.code,
            side="buy",
            quantity=200,
            limit_price=Decimal("10.10"),
            time_in_force="IOC",
            client_order_id="x",
        ),
    )

    # when
    data = client.get(f"/orders/new/data/?security={market.security.code}").json()

    # then
    assert ">800<" in data["book_html"] and mm.code in data["book_html"]
    assert data["available"] == {"cash": "50,000.00", "shares": "500"}
    assert client.get("/orders/new/data/?security=NOPE").status_code == 404

    # and while the security, or the whole market, is halted, the ticket shows no quote to pick but says why (it
    # kept listing clickable quotes that could not trade; found by a walk-through)
    from registry import services as registry_services

    operator = market.user(Role.EXCHANGE_OPERATOR)
    for halt, resume in (
        (lambda: registry_services.security_halt(actor=operator, code=market.security.code, reason="news"),
         lambda: registry_services.security_resume(actor=operator, code=market.security.code, reason="over")),
        (lambda: registry_services.market_halt(actor=operator, reason="incident"),
         lambda: registry_services.market_resume(actor=operator, reason="over")),
    ):  # fmt: skip
        halt()
        halted = client.get(f"/orders/new/data/?security={market.security.code}").json()["book_html"]
        assert mm.code not in halted and "pick-price" not in halted and "Halted: no quotes" in halted, halted
        resume()
        assert mm.code in client.get(f"/orders/new/data/?security={market.security.code}").json()["book_html"]


# --------------------------------------------------------------------------
# Review, then place


def test_review_restates_the_order_and_places_nothing(trading):
    # given
    market, _, investor = trading
    client = client_for(investor.owner, "en")
    before = snapshot()

    # when
    response = client.post("/orders/new/", {**ticket_data(market.security), "step": "review"})

    # then
    assert response.status_code == 200
    review = response.context["review"]
    assert (review["side"], review["quantity"], review["limit_price"]) == ("buy", "500", "10.20")
    assert (review["value"], review["fee"], review["total"]) == ("5,100.00", "5.00", "5,105.00")
    body = text(response)
    assert 'id="place-order"' in body and 'id="edit-order"' in body
    assert 'name="client_order_id" value="page-test-1"' in body
    assert snapshot() == before


@pytest.mark.parametrize(
    ("language", "hint"),
    [
        ("en", "with its minimum charged once for the whole order, however many fills it takes"),
        ("zh-hans", "最低佣金每笔委托只收一次，无论分几笔成交"),
    ],
)
def test_the_reviews_fee_hint_says_how_the_order_is_charged(market, language, hint):
    # (found by a tester: the hint said each fill pays the commission on its own value; the code charges it on
    # the order's filled value, with one minimum an order: exchange.services.book, migration exchange 0015)
    # given asks of 300 at 10.10 and 300 at 10.15 from two market makers, and a broker charging 2.5 bp, at least 5.00
    market.quote(market.market_maker(), "9.90", "10.10", ask_qty=300)
    market.quote(market.market_maker(), "9.85", "10.15", ask_qty=300)
    investor = market.investor(cash="50000")
    client = client_for(investor.owner, language)

    # when the investor reviews a buy of 500 at 10.20
    review = client.post("/orders/new/", {**ticket_data(market.security), "step": "review"})

    # then the estimate is one minimum, and the hint says the minimum is the order's, not each fill's
    assert review.context["review"]["fee"] == "5.00"
    body = text(review)
    assert hint in body
    assert "each fill pays it on its own value" not in body and "每笔成交按其自身金额计费" not in body

    # and placed, the order is charged as the hint says: two fills at their prices, 5.00 in all
    assert client.post("/orders/new/", ticket_data(market.security)).status_code == 302
    order = Order.objects.get(account=investor)
    fills = Trade.objects.filter(buy_order=order).order_by("id")
    assert [(t.quantity, t.price) for t in fills] == [(300, Decimal("10.10")), (200, Decimal("10.15"))]
    assert order.fees == sum(t.buyer_fee for t in fills) == Decimal("5.00")


def test_placing_from_the_review_places_once(trading):
    # given: the review's form posts the same fields without a step
    market, _, investor = trading
    client = client_for(investor.owner, "en")
    client.post("/orders/new/", {**ticket_data(market.security), "step": "review"})

    # when
    response = client.post("/orders/new/", ticket_data(market.security), follow=True)
    again = client.post("/orders/new/", ticket_data(market.security), follow=True)

    # then
    assert response.redirect_chain[-1][0] == "/orders/"
    assert Order.objects.filter(account=investor).count() == 1
    assert "not placed twice" in text(again)


def test_review_of_an_order_the_rules_refuse_says_why_and_offers_no_place_button(market):
    # given
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="100000", level=1)
    before = snapshot()

    # when
    response = client_for(investor.owner, "en").post("/orders/new/", {**ticket_data(market.security), "step": "review"})

    # then
    assert response.status_code == 200 and response.context["review"] is None
    assert any("C1" in e for e in form_errors(response))
    assert 'id="place-order"' not in text(response)
    assert snapshot() == before


def test_review_with_a_bad_field_shows_the_form_error(trading):
    market, _, investor = trading
    before = snapshot()
    response = client_for(investor.owner, "en").post(
        "/orders/new/", {**ticket_data(market.security, quantity="abc"), "step": "review"}
    )
    assert response.status_code == 200 and response.context["review"] is None
    assert response.context["form"].errors["quantity"]
    assert snapshot() == before


def test_change_it_goes_back_to_the_filled_ticket(trading):
    market, _, investor = trading
    response = client_for(investor.owner, "en").post(
        "/orders/new/", {**ticket_data(market.security, quantity="300"), "step": "edit"}
    )
    body = text(response)
    assert response.context["review"] is None
    assert 'value="300"' in body and 'id="review-order"' in body
    assert not Order.objects.exists()


# --------------------------------------------------------------------------
# The same forecast in the API


def test_api_order_check_names_what_would_refuse_and_places_nothing(market):
    # given: a level-1 investor without cash, a security rated R3
    investor = market.investor(level=1)
    before = snapshot()

    # when
    response = api_for(investor.owner).post(
        "/api/v1/orders/check/",
        {"security": market.security.code, "side": "buy", "quantity": 500, "limit_price": "10.20"},
        format="json",
    )

    # then
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is False
    assert [p["code"] for p in body["problems"]] == ["unsuitable_risk_level", "insufficient_cash"]
    assert (body["value"], body["fee"], body["total"]) == ("5100.00", "5.00", "5105.00")
    assert snapshot() == before


@pytest.mark.parametrize(
    "over",
    [{"side": "hold"}, {"quantity": "500"}, {"quantity": 0}, {"limit_price": 10.2}, {"limit_price": "-1"}],
)
def test_api_order_check_bad_input_is_a_400(trading, over):
    market, _, investor = trading
    body = {"security": market.security.code, "side": "buy", "quantity": 500, "limit_price": "10.20", **over}
    response = api_for(investor.owner).post("/api/v1/orders/check/", body, format="json")
    assert response.status_code == 400 and "code" in response.json()


def test_api_order_check_without_an_account_is_refused(market):
    body = {"security": market.security.code, "side": "buy", "quantity": 500, "limit_price": "10.20"}
    response = api_for(market.user(Role.REGULATOR)).post("/api/v1/orders/check/", body, format="json")
    assert response.status_code == 403


def test_api_order_check_of_the_largest_order_lists_its_problems_and_changes_nothing(trading):
    # given the largest price and quantity the inputs take (their value is some 10^24 yuan)
    market, _, investor = trading
    before = snapshot()
    body = {"security": market.security.code, "side": "buy", "quantity": 10**12, "limit_price": "999999999999.99"}
    # when the investor checks it
    response = api_for(investor.owner).post("/api/v1/orders/check/", body, format="json")
    # then the check answers with what refuses it and its figures in full, not a server error
    assert response.status_code == 200, response.content
    checked = response.json()
    assert checked["ok"] is False and "insufficient_cash" in [p["code"] for p in checked["problems"]]
    assert checked["value"] == "999999999999990000000000.00"
    # and placing it is refused with a reason
    placed = api_for(investor.owner).post(
        "/api/v1/orders/", {**body, "time_in_force": "DAY", "client_order_id": "huge-1"}, format="json"
    )
    assert 400 <= placed.status_code < 500 and placed.json()["code"], placed.content
    assert snapshot() == before
