"""The REST API's core contract (DESIGN.md §8): shapes, errors, who sees what."""

from decimal import Decimal

import pytest

from core.models import Role
from exchange.models import Order, Trade
from tests.conftest import api_for, order_body, snapshot

D = Decimal


def test_token_login_then_token_auth(api, market):
    user = market.user(Role.INVESTOR)
    resp = api.post("/api/v1/auth/token/", {"username": user.username, "password": "pw-test-2026"}, format="json")
    assert resp.status_code == 200
    token = resp.json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/v1/ping/").json() == {"ok": True}


def test_wrong_password_is_a_json_4xx(api, market):
    user = market.user(Role.INVESTOR)
    resp = api.post("/api/v1/auth/token/", {"username": user.username, "password": "nope"}, format="json")
    assert resp.status_code == 400
    assert resp.json()["code"] == "invalid_credentials"


def test_anonymous_is_401_json(api, db):
    resp = api.get("/api/v1/account/")
    assert resp.status_code == 401
    assert resp.json()["code"] == "not_authenticated"


def test_place_order_contract_and_trade_contract(trading):
    market, mm, investor = trading
    client = api_for(investor.owner)

    resp = client.post("/api/v1/orders/", order_body(market), format="json")

    assert resp.status_code == 201
    body = resp.json()
    assert {"id", "status", "quantity", "filled_quantity", "client_order_id"} <= body.keys()
    assert (body["status"], body["quantity"], body["filled_quantity"], body["client_order_id"]) == (
        "filled",
        100,
        100,
        "api-1",
    )
    trades = client.get("/api/v1/trades/").json()["results"]
    assert len(trades) == 1
    detail = client.get(f"/api/v1/trades/{trades[0]['id']}/").json()
    assert detail["security"] == market.security.code
    assert (detail["side"], detail["price"], detail["quantity"], detail["status"]) == ("buy", "10.10", 100, "matched")
    assert detail["leaf_index"] is None and detail["block_height"] is None
    assert detail["entry_id"] == Trade.objects.get().entry_id
    # the market maker sees the same trade as a sell
    assert api_for(mm.owner).get(f"/api/v1/trades/{detail['id']}/").json()["side"] == "sell"


def test_retry_returns_the_first_order_with_200(trading):
    market, _mm, investor = trading
    client = api_for(investor.owner)
    first = client.post("/api/v1/orders/", order_body(market), format="json")
    before = snapshot()

    again = client.post("/api/v1/orders/", order_body(market), format="json")

    assert again.status_code == 200
    assert again.json() == first.json()
    assert snapshot() == before


@pytest.mark.parametrize(
    ("over", "status", "code"),
    [
        ({"limit_price": 10.1}, 400, "invalid_input"),
        ({"limit_price": "abc"}, 400, "invalid_input"),
        ({"limit_price": "-1"}, 400, "invalid_input"),
        ({"quantity": "100"}, 400, "invalid_input"),
        ({"quantity": 100.0}, 400, "invalid_input"),
        ({"quantity": True}, 400, "invalid_input"),
        ({"side": "short"}, 400, "invalid_input"),
        ({"time_in_force": "GTD"}, 400, "invalid_input"),
        ({"client_order_id": ""}, 400, "invalid_input"),
        ({"security": "NOPE"}, 404, "unknown_security"),
        ({"limit_price": "10.105"}, 400, "invalid_input"),
        ({"limit_price": "10.15", "quantity": 150}, 400, "quantity_not_in_lots"),
        ({"limit_price": "99.00"}, 400, "price_out_of_band"),
        ({"quantity": 100_000}, 409, "insufficient_cash"),
        ({"side": "sell", "quantity": 1000, "limit_price": "9.90"}, 409, "insufficient_shares"),
    ],
)
def test_bad_orders_are_4xx_json_and_change_nothing(trading, over, status, code):
    market, _mm, investor = trading
    before = snapshot()

    resp = api_for(investor.owner).post("/api/v1/orders/", order_body(market, **over), format="json")

    assert resp.status_code == status, resp.content
    body = resp.json()
    assert body["code"] == code and body["message"]
    assert snapshot() == before


def test_malformed_json_is_400(trading):
    _market, _mm, investor = trading
    resp = api_for(investor.owner).generic("POST", "/api/v1/orders/", "{not json", content_type="application/json")
    assert resp.status_code == 400
    assert resp.json()["code"] == "malformed_json"


def test_missing_fields_list_every_field(trading):
    _market, _mm, investor = trading
    resp = api_for(investor.owner).post("/api/v1/orders/", {}, format="json")
    assert resp.status_code == 400
    assert {"security", "side", "quantity", "limit_price", "client_order_id"} <= resp.json()["fields"].keys()


def test_cancel_through_delete(trading):
    market, _mm, investor = trading
    client = api_for(investor.owner)
    created = client.post(
        "/api/v1/orders/", order_body(market, limit_price="10.00", time_in_force="DAY"), format="json"
    ).json()
    assert created["status"] == "open"

    resp = client.delete(f"/api/v1/orders/{created['id']}/")

    assert resp.status_code == 200 and resp.json()["status"] == "cancelled"
    again = client.delete(f"/api/v1/orders/{created['id']}/")
    assert again.status_code == 409 and again.json()["code"] == "order_not_open"


def test_investor_sees_only_their_own_orders_trades_and_balances(trading):
    market, _mm, investor = trading
    other = market.investor(cash="50000")
    api_for(investor.owner).post("/api/v1/orders/", order_body(market), format="json")
    order = Order.objects.get(account=investor)
    trade = Trade.objects.get()
    spy = api_for(other.owner)

    assert spy.get(f"/api/v1/orders/{order.pk}/").status_code == 404
    assert spy.delete(f"/api/v1/orders/{order.pk}/").status_code == 404
    assert spy.get(f"/api/v1/trades/{trade.pk}/").status_code == 404
    assert spy.get("/api/v1/orders/").json()["results"] == []
    assert spy.get("/api/v1/trades/").json()["results"] == []
    assert spy.get("/api/v1/account/").json()["account"] == other.code
    assert Order.objects.get(pk=order.pk).status == "filled"


def test_supervisors_see_all_trades_users_without_account_get_a_clear_error(trading):
    market, _mm, investor = trading
    api_for(investor.owner).post("/api/v1/orders/", order_body(market), format="json")
    auditor = market.user(Role.AUDITOR)

    assert len(api_for(auditor).get("/api/v1/trades/").json()["results"]) == 1
    resp = api_for(auditor).get("/api/v1/account/")
    assert resp.status_code == 403 and resp.json()["code"] == "no_trading_account"
    resp = api_for(auditor).post("/api/v1/orders/", order_body(market, client_order_id="x"), format="json")
    assert resp.status_code == 403


def test_account_contract(trading):
    market, _mm, investor = trading
    api_for(investor.owner).post("/api/v1/orders/", order_body(market), format="json")

    body = api_for(investor.owner).get("/api/v1/account/").json()

    assert body["cash"] == {
        "currency": "CNY",
        "total": "50000.00",
        "available": "48985.00",
        "reserved": "1015.00",
        "frozen": "0.00",
    }
    assert body["positions"] == [
        {
            "security": market.security.code,
            "name": market.security.name,
            "total": 500,
            "available": 500,
            "reserved": 0,
            "frozen": 0,
            "locked": 0,
            "locked_until": None,
        }
    ]


def test_quotes_contract_best_first(market):
    mm1, mm2 = market.market_maker(), market.market_maker()
    client = api_for(mm1.owner)
    resp = client.post(
        "/api/v1/quotes/",
        {
            "security": market.security.code,
            "bid_price": "9.90",
            "bid_quantity": 500,
            "ask_price": "10.20",
            "ask_quantity": 600,
        },
        format="json",
    )
    assert resp.status_code == 201, resp.content
    market.quote(mm2, "9.95", "10.10")

    book = api_for(market.user()).get(f"/api/v1/securities/{market.security.code}/quotes/").json()

    assert [(b["price"], b["quantity"]) for b in book["bids"]] == [("9.95", 1000), ("9.90", 500)]
    assert [(a["price"], a["quantity"]) for a in book["asks"]] == [("10.10", 1000), ("10.20", 600)]


def test_quote_with_float_price_is_refused(market):
    mm = market.market_maker()
    before = snapshot()
    resp = api_for(mm.owner).post(
        "/api/v1/quotes/",
        {
            "security": market.security.code,
            "bid_price": 9.9,
            "bid_quantity": 500,
            "ask_price": "10.20",
            "ask_quantity": 600,
        },
        format="json",
    )
    assert resp.status_code == 400 and resp.json()["fields"]["bid_price"]
    assert snapshot() == before


def test_pull_quotes_through_delete(market):
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    resp = api_for(mm.owner).delete("/api/v1/quotes/")
    assert resp.json() == {"pulled": 2}
    assert api_for(mm.owner).get("/api/v1/quotes/").json() == []


def test_securities_list_and_detail(market):
    client = api_for(market.user())
    listed = client.get("/api/v1/securities/").json()
    assert [s["code"] for s in listed] == [market.security.code]
    detail = client.get(f"/api/v1/securities/{market.security.code}/").json()
    assert (detail["risk_rating"], detail["band_low"], detail["band_high"]) == ("R3", "7.00", "13.00")
    assert client.get("/api/v1/securities/NOPE/").status_code == 404


def test_schema_and_docs_are_served(api, db):
    schema = api.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/orders/" in schema.content
    assert api.get("/api/docs/").status_code == 200


def test_staff_see_their_own_brokers_clients_and_market_makers_only_their_own(trading):
    from core.models import Broker

    # given an investor of the market's broker who bought from a market maker
    market, mm, investor = trading
    api_for(investor.owner).post("/api/v1/orders/", order_body(market), format="json")
    order, trade = Order.objects.get(), Trade.objects.get()
    other_broker = Broker.objects.create(code="B-OTHER", name="Other", fee_bps=D("2.5"), fee_minimum=D("5"))
    outsider_staff = market.user(Role.BROKER_STAFF, broker=other_broker)
    other_mm = market.market_maker()

    # then the investor's broker staff see the client's order and trade, but no account of their own
    staff = api_for(market.staff)
    assert [o["id"] for o in staff.get("/api/v1/orders/").json()["results"]] == [order.pk]
    assert [t["id"] for t in staff.get("/api/v1/trades/").json()["results"]] == [trade.pk]
    assert staff.get("/api/v1/account/").status_code == 403
    # another broker's staff and another market maker see none of it
    for outsider in (api_for(outsider_staff), api_for(other_mm.owner)):
        assert outsider.get("/api/v1/orders/").json()["results"] == []
        assert outsider.get("/api/v1/trades/").json()["results"] == []
        assert outsider.get(f"/api/v1/orders/{order.pk}/").status_code == 404
        assert outsider.get(f"/api/v1/trades/{trade.pk}/").status_code == 404
    # a market maker lists only its own quotes, and cannot pull another's
    assert api_for(other_mm.owner).get("/api/v1/quotes/").json() == []
    assert api_for(other_mm.owner).delete("/api/v1/quotes/").json() == {"pulled": 0}
    assert len(api_for(mm.owner).get("/api/v1/quotes/").json()) == 2
    # the trade's own market maker sees it, as a sell
    assert api_for(mm.owner).get(f"/api/v1/trades/{trade.pk}/").json()["side"] == "sell"
    # each party reads its own fee and order, not its counterparty's (found by a probe: the market maker read the
    # investor's fee and order id); the broker's staff read both, in the list and in the detail
    for path in ("/api/v1/trades/", f"/api/v1/trades/{trade.pk}/"):
        seen = {}
        for who, client in (("mm", api_for(mm.owner)), ("investor", api_for(investor.owner)), ("staff", staff)):
            body = client.get(path).json()
            row = body["results"][0] if "results" in body else body
            seen[who] = (row["buyer_fee"], row["seller_fee"], row["buy_order_id"], row["sell_order_id"])
        assert seen["mm"] == (None, f"{trade.seller_fee:.2f}", None, None), seen
        assert seen["investor"] == (f"{trade.buyer_fee:.2f}", None, order.pk, None), seen
        assert seen["staff"] == (f"{trade.buyer_fee:.2f}", f"{trade.seller_fee:.2f}", order.pk, None), seen


def test_the_schema_is_built_once_under_a_lock_when_first_requests_come_at_once(db, monkeypatch):
    # (found by a probe: 24 concurrent first requests to one gthread worker, 21 answered 500 while drf-spectacular
    # loaded its extensions in several threads at once)
    import threading

    from drf_spectacular.generators import SchemaGenerator
    from rest_framework.test import APIRequestFactory

    from core.api.schema import SchemaView

    # given a process that has not built the schema yet, and a generator that counts its builds
    monkeypatch.setattr(SchemaView, "_built", {})
    builds, inside, most = [], [0], [0]

    class Counting(SchemaGenerator):
        def get_schema(self, *args, **kwargs):
            inside[0] += 1
            most[0] = max(most[0], inside[0])
            try:
                builds.append(1)
                return super().get_schema(*args, **kwargs)
            finally:
                inside[0] -= 1

    view = SchemaView.as_view(generator_class=Counting)
    answers, start = [], threading.Barrier(8)

    def ask():
        start.wait()
        response = view(APIRequestFactory().get("/api/schema/", {"format": "json"}))
        response.render()
        answers.append((response.status_code, len(response.content)))

    # when eight requests come at once
    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # then every one is the schema, built once, never by two threads at a time
    assert [status for status, _ in answers] == [200] * 8 and len({size for _, size in answers}) == 1
    assert len(builds) == 1 and most[0] == 1


def test_trades_filter_by_security_and_by_status_as_each_trade_reads(trading):
    # (found by an outside tester: trades/?security=… and ?status=settled answered every trade)
    from ledger.services import block_seal
    from settlement.services import trade_settle

    # given three trades of the investor: one settled and one matched in the market's security, one sealed in another
    market, mm, investor = trading
    other = market.new_security("830002")
    market.issue(mm, 1000, security=other)
    market.quote(mm, "9.90", "10.10", security=other)
    api = api_for(investor.owner)

    def buy(security, client_order_id: str) -> Trade:
        body = order_body(market, security=security.code, client_order_id=client_order_id)
        assert api.post("/api/v1/orders/", body, format="json").status_code == 201
        return Trade.objects.order_by("-id").first()

    settled = buy(market.security, "t-1")
    block_seal()
    assert trade_settle(trade_id=settled.pk)
    sealed = buy(other, "t-2")
    block_seal()
    matched = buy(market.security, "t-3")

    def listed(**params) -> list[tuple[int, str]]:
        resp = api.get("/api/v1/trades/", params)
        assert resp.status_code == 200, resp.content
        return [(t["id"], t["status"]) for t in resp.json()["results"]]

    everything = [(matched.pk, "matched"), (sealed.pk, "sealed"), (settled.pk, "settled")]
    assert listed() == everything
    # when filtered by security, then only that security's trades come back
    assert listed(security=market.security.code) == [(matched.pk, "matched"), (settled.pk, "settled")]
    assert listed(security=other.code) == [(sealed.pk, "sealed")]
    # when filtered by status, then the trades whose status reads so (sealed: matched, its entry in a block)
    assert [listed(status=s) for s in ("settled", "sealed", "matched", "held", "failed")] == [
        [(settled.pk, "settled")],
        [(sealed.pk, "sealed")],
        [(matched.pk, "matched")],
        [],
        [],
    ]
    assert listed(security=other.code, status="sealed") == [(sealed.pk, "sealed")]
    assert listed(security=other.code, status="settled") == []
    # and an empty filter is no filter, as on orders/
    assert listed(security="", status="") == everything
    # and nothing changed
    assert list(Trade.objects.order_by("-id").values_list("id", "status")) == [
        (matched.pk, "matched"),
        (sealed.pk, "matched"),
        (settled.pk, "settled"),
    ]


def test_a_bad_trades_filter_is_a_400_naming_it_and_an_unknown_parameter_is_ignored_as_on_orders(trading):
    market, _mm, investor = trading
    api = api_for(investor.owner)
    assert api.post("/api/v1/orders/", order_body(market), format="json").status_code == 201
    trade = Trade.objects.get()
    # when the security is no security's code, or the status no trade's
    for params, field, message in (
        ({"security": "999999"}, "security", "No such security."),
        ({"security": market.security.code, "status": "bogus"}, "status", "Must be one of: "),
    ):
        resp = api.get("/api/v1/trades/", params, HTTP_ACCEPT_LANGUAGE="en")
        # then a 400 naming the parameter, not every trade
        assert resp.status_code == 400, resp.content
        assert list(resp.json()["fields"]) == [field] and resp.json()["fields"][field][0].startswith(message)
    assert api.get("/api/v1/trades/", {"security": "999999"}).json()["fields"]["security"] == ["没有该证券。"]
    assert (
        "matched, sealed, settled, held, failed"
        in api.get("/api/v1/trades/", {"status": "x"}).json()["fields"]["status"][0]
    )
    # and a parameter the list does not take is ignored, as orders/ and the other lists do
    for path, ids in (("/api/v1/trades/", [trade.pk]), ("/api/v1/orders/", [Order.objects.get().pk])):
        resp = api.get(path, {"securty": "999999", "bogus": "1"})
        assert resp.status_code == 200 and [x["id"] for x in resp.json()["results"]] == ids
    assert Trade.objects.get().status == Trade.Status.MATCHED


@pytest.mark.parametrize("path", ["/api/v1/trades/", "/api/v1/counter/clients/{code}/trades/"])
def test_the_schema_documents_the_trades_filters(api, db, path):
    schema = api.get("/api/schema/?format=json").json()
    params = {p["name"]: p for p in schema["paths"][path]["get"]["parameters"]}
    assert sorted(params["status"]["schema"]["enum"]) == ["failed", "held", "matched", "sealed", "settled"]
    assert params["security"]["schema"]["type"] == "string" and params["security"]["description"]
