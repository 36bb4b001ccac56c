"""The web pages, through Django's test client: what each role sees, and that
every write goes through a service, and that a rejected one changes nothing."""

from __future__ import annotations

import re
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.test import Client

from core.models import Role
from exchange import selectors
from exchange.models import Order, Quote, Trade
from exchange.services import OrderRequest, order_place, quotes_pull
from tests.conftest import cash_of, log_in, position_of, snapshot

SHANGHAI = ZoneInfo("Asia/Shanghai")


def client_for(user, language: str | None = None) -> Client:
    client = Client()
    log_in(client, user)
    if language:
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


def text(response) -> str:
    return response.content.decode()


def ticket_data(security, /, **overrides) -> dict:
    data = {
        "security": security.code,
        "side": "buy",
        "quantity": "500",
        "limit_price": "10.20",
        "time_in_force": "IOC",
        "client_order_id": "page-test-1",
    }
    return {**data, **overrides}


def form_errors(response) -> list[str]:
    return list(response.context["form"].non_field_errors())


# --------------------------------------------------------------------------
# Log in, log out, language


@pytest.mark.django_db
def test_login_page_is_chinese_by_default():
    # when
    response = Client().get("/login/")

    # then
    assert response.status_code == 200
    body = text(response)
    assert '<html lang="zh-hans">' in body
    assert "<h1>登录</h1>" in body
    assert "用户名" in body and "密码" in body


@pytest.mark.django_db
def test_language_switch_turns_the_login_page_english():
    # given
    client = Client()

    # when
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/login/"})

    # then
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    body = text(client.get("/login/"))
    assert '<html lang="en">' in body
    assert "<h1>Log in</h1>" in body
    assert "User name" in body and "Password" in body


def test_login_with_password_then_logout_by_post(market):
    # given
    account = market.investor(cash="1000")
    client = Client()

    # when
    response = client.post("/login/", {"username": account.owner.username, "password": "pw-test-2026"})

    # then
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200
    assert client.get("/logout/").status_code == 405  # logging out is a POST only
    assert client.post("/logout/")["Location"] == "/login/"
    assert client.get("/")["Location"] == "/login/?next=/"


def test_login_with_a_wrong_password_shows_an_error(market):
    # given
    account = market.investor()

    # when
    response = Client().post("/login/", {"username": account.owner.username, "password": "wrong"})

    # then
    assert response.status_code == 200
    assert "请输入一个正确的" in text(response)  # Django's own translated message


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/", "/market/data/", "/orders/", "/orders/new/", "/trades/", "/balances/", "/quotes/"]
)
def test_pages_need_a_login(path):
    # when
    response = Client().get(path)

    # then
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={path}"


def test_nav_shows_the_links_of_the_users_role(market):
    # given
    investor = market.investor()
    maker = market.market_maker()
    operator = market.user(Role.EXCHANGE_OPERATOR)

    # when
    investor_page = text(client_for(investor.owner).get("/"))
    maker_page = text(client_for(maker.owner).get("/"))
    operator_page = text(client_for(operator).get("/"))

    # then
    assert 'href="/orders/new/"' in investor_page and 'href="/balances/"' in investor_page
    assert 'href="/quotes/"' not in investor_page
    assert 'href="/quotes/"' in maker_page and 'href="/orders/new/"' not in maker_page
    assert 'href="/orders/new/"' not in operator_page and 'href="/balances/"' not in operator_page
    assert ">全部成交<" in operator_page
    assert investor.owner.username in investor_page and "投资者" in investor_page
    assert 'action="/logout/"' in investor_page


# --------------------------------------------------------------------------
# Market watch


def test_market_watch_lists_securities_with_best_bid_and_ask(market):
    # given
    mm1, mm2 = market.market_maker(), market.market_maker()
    market.quote(mm1, "9.90", "10.10", bid_qty=1000, ask_qty=2000)
    market.quote(mm2, "9.90", "10.20", bid_qty=500, ask_qty=700)
    quiet = market.new_security("Q1", name="Quiet Co", risk_rating=5, reference_price=Decimal("4.00"))
    investor = market.investor()

    # when
    response = client_for(investor.owner).get("/")

    # then
    assert response.status_code == 200
    rows = {row["code"]: row for row in response.context["rows"]}
    assert rows[market.security.code] == {
        "code": market.security.code,
        "name": "Test Co",
        "risk": "R3",
        "reference_price": "10.00",
        "band": "7.00 – 13.00",
        "band_pct": "±30%",
        "status": "listed",
        "status_label": "挂牌",
        "bid": "9.90",
        "bid_size": "1,500",
        "ask": "10.10",
        "ask_size": "2,000",
        # the ways the venue's rules and the security allow (the open profile: all three)
        "modes": ["market_making", "rfq", "negotiated"],
        "market_making": True,
    }
    assert rows[quiet.code]["bid"] is None and rows[quiet.code]["ask"] is None
    body = text(response)
    assert f'href="/orders/new/?security={market.security.code}"' in body
    assert 'data-url="/market/data/"' in body
    assert "js/market.js" in body


def test_market_data_json_has_the_same_rows(market):
    # given
    mm = market.market_maker()
    market.quote(mm, "9.95", "10.05", bid_qty=300, ask_qty=400)
    investor = market.investor()

    # when
    response = client_for(investor.owner, "en").get("/market/data/")

    # then
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    data = response.json()
    assert set(data) == {"as_of", "rows", "market"}
    assert data["rows"] == [
        {
            "code": market.security.code,
            "name": "Test Co",
            "risk": "R3",
            "reference_price": "10.00",
            "band": "7.00 – 13.00",
            "band_pct": "±30%",
            "status": "listed",
            "status_label": "Listed",
            "bid": "9.95",
            "bid_size": "300",
            "ask": "10.05",
            "ask_size": "400",
            "modes": ["market_making", "rfq", "negotiated"],
            "market_making": True,
        }
    ]


def test_market_watch_sends_market_makers_to_their_quote_page(market):
    # given
    maker = market.market_maker()

    # when
    body = text(client_for(maker.owner).get("/"))

    # then
    assert f'href="/quotes/?security={market.security.code}"' in body


# --------------------------------------------------------------------------
# Order ticket


def test_ticket_shows_quote_book_and_what_is_available(market):
    # given
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10", bid_qty=1000, ask_qty=2000)
    investor = market.investor(cash="12345.6", shares=300)

    # when
    response = client_for(investor.owner).get(f"/orders/new/?security={market.security.code}")

    # then
    assert response.status_code == 200
    assert response.context["available"] == {"cash": "12,345.60", "shares": "300"}
    book = response.context["book"]
    assert [(r["price"], r["quantity"], r["market_maker"]) for r in book["asks"]] == [("10.10", "2,000", mm.code)]
    assert [(r["price"], r["quantity"], r["market_maker"]) for r in book["bids"]] == [("9.90", "1,000", mm.code)]
    key = response.context["form"]["client_order_id"].value()
    assert re.fullmatch(r"[0-9a-f]{32}", key)
    assert f'name="client_order_id" value="{key}"' in text(response)
    # a second look at the ticket gets a fresh idempotency key
    again = client_for(investor.owner).get(f"/orders/new/?security={market.security.code}")
    assert again.context["form"]["client_order_id"].value() != key


def test_ticket_buy_fills_against_a_quote_and_changes_balances(market):
    # given
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="100000")
    client = client_for(investor.owner)

    # when
    response = client.post("/orders/new/", ticket_data(market.security), follow=True)

    # then
    assert response.redirect_chain == [("/orders/", 302)]
    order = Order.objects.get(account=investor)
    assert (order.status, order.filled_quantity, order.placed_by) == ("filled", 500, investor.owner)
    trade = Trade.objects.get(buy_order=order)
    assert (trade.price, trade.quantity, trade.seller, trade.buyer_fee) == (
        Decimal("10.10"),
        500,
        mm,
        Decimal("5.00"),
    )
    assert [str(m) for m in response.context["messages"]] == [
        f"委托 {order.pk}：买入 {market.security.code} 500 股，限价 10.20，已成交（已成交 500 股）。"
    ]
    cash = cash_of(investor)
    assert (cash.total, cash.reserved, cash.available) == (
        Decimal("100000.00"),
        Decimal("5055.00"),
        Decimal("94945.00"),
    )
    balances = text(client.get("/balances/"))
    assert '<dd class="num strong" id="cash-available">94,945.00</dd>' in balances
    assert '<dd class="num" id="cash-reserved">5,055.00</dd>' in balances


def test_the_placed_message_in_english_names_the_limit_as_a_limit_not_as_the_price_it_traded_at(market):
    # given a market maker asking 10.10 and an investor who reads English
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="100000")
    client = client_for(investor.owner, "en")

    # when the investor buys 500 with a limit of 10.20 from the ticket
    response = client.post("/orders/new/", ticket_data(market.security), follow=True)

    # then the order fills at the ask's 10.10, and the message calls 10.20 the limit (found by a walk-through: it
    # said "Buy 500 830001 at 10.20", read as the price paid; the Chinese always said 限价)
    order = Order.objects.get(account=investor)
    assert Trade.objects.get(buy_order=order).price == Decimal("10.10")
    assert [str(m) for m in response.context["messages"]] == [
        f"Order {order.pk}: Buy 500 {market.security.code}, limit 10.20, Filled (500 filled)."
    ]


def test_ticket_sell_fills_against_a_bid(market):
    # given
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(shares=1000)

    # when
    response = client_for(investor.owner).post(
        "/orders/new/", ticket_data(market.security, side="sell", quantity="300", limit_price="9.80")
    )

    # then
    assert response.status_code == 302
    trade = Trade.objects.get(seller=investor)
    assert (trade.price, trade.quantity, trade.buyer) == (Decimal("9.90"), 300, mm)
    position = position_of(investor, market.security)
    assert (position.total, position.reserved) == (1000, 300)


def test_a_double_submit_of_the_ticket_places_one_order(market):
    # given
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="100000")
    client = client_for(investor.owner)
    client.post("/orders/new/", ticket_data(market.security, client_order_id="same-key"))
    before = snapshot()

    # when
    response = client.post("/orders/new/", ticket_data(market.security, client_order_id="same-key"), follow=True)

    # then
    assert snapshot() == before
    order = Order.objects.get(account=investor)
    # (the first answer was never shown, as when a browser submits twice)
    assert [str(m) for m in response.context["messages"]][-1] == f"该委托已提交过（委托 {order.pk}），未重复下单。"


def test_ticket_price_off_tick_is_a_form_error_and_changes_nothing(market):
    # given
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="100000")
    before = snapshot()

    # when
    response = client_for(investor.owner).post("/orders/new/", ticket_data(market.security, limit_price="10.105"))

    # then
    assert response.status_code == 200
    assert form_errors(response) == ["价格必须是最小变动价位 0.01 的整数倍。"]
    assert "价格必须是最小变动价位 0.01 的整数倍。" in text(response)
    assert snapshot() == before
    # the re-shown ticket carries a fresh key and keeps what was typed
    form = response.context["form"]
    assert form["client_order_id"].value() != "page-test-1"
    assert form["limit_price"].value() == "10.105"


def test_ticket_errors_are_english_when_english_is_chosen(market):
    # given
    investor = market.investor(cash="100000")
    before = snapshot()

    # when
    response = client_for(investor.owner, "en").post("/orders/new/", ticket_data(market.security, limit_price="13.50"))

    # then
    assert form_errors(response) == ["The price must be between 7.00 and 13.00."]
    assert snapshot() == before


def test_ticket_insufficient_cash_is_a_form_error_and_changes_nothing(market):
    # given
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="1000")
    before = snapshot()

    # when
    response = client_for(investor.owner).post("/orders/new/", ticket_data(market.security, limit_price="10.10"))

    # then
    assert response.status_code == 200
    assert form_errors(response) == ["该委托需要 5,055.00 元（含费用）；可用资金为 1,000.00 元。"]
    assert snapshot() == before


def test_ticket_halted_security_shows_the_translated_domain_message(market):
    # given
    market.security.status = "halted"
    market.security.save(update_fields=["status"])
    investor = market.investor(cash="100000")
    before = snapshot()

    # when
    response = client_for(investor.owner).post("/orders/new/", ticket_data(market.security))

    # then
    assert form_errors(response) == ["该证券已暂停交易。"]
    assert snapshot() == before


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("quantity", "abc", "输入整数。"),
        ("quantity", "0", "确保该值大于或等于1。"),
        ("quantity", "", "该字段是必填项。"),
        ("limit_price", "ten", "请输入数字，如 10.50：只能是数字，最多一个小数点。"),
        ("limit_price", "NaN", "请输入数字，如 10.50：只能是数字，最多一个小数点。"),
        ("limit_price", "1e1", "请输入数字，如 10.50：只能是数字，最多一个小数点。"),
        ("side", "short", "选择一个有效的选项。 short 不在可用的选项中。"),
        ("security", "NOPE", "选择一个有效的选项。 NOPE 不在可用的选项中。"),
    ],
)
def test_ticket_bad_input_is_a_field_error_and_changes_nothing(market, field, value, message):
    # given
    investor = market.investor(cash="100000")
    before = snapshot()

    # when
    response = client_for(investor.owner).post("/orders/new/", ticket_data(market.security, **{field: value}))

    # then
    assert response.status_code == 200
    assert response.context["form"].errors[field] == [message]
    assert snapshot() == before


def test_ticket_without_client_order_id_is_refused(market):
    # given
    investor = market.investor(cash="100000")
    data = ticket_data(market.security)
    del data["client_order_id"]
    before = snapshot()

    # when
    response = client_for(investor.owner).post("/orders/new/", data)

    # then
    assert response.status_code == 200
    assert "client_order_id" in response.context["form"].errors
    assert snapshot() == before


# --------------------------------------------------------------------------
# My orders, my trades, balances


def _resting_buy(market, investor, client_order_id="rest-1") -> Order:
    order, _ = order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest(market.security.code, "buy", 200, Decimal("10.00"), "DAY", client_order_id),
    )
    return order


def test_cancel_from_my_orders_releases_the_cash(market):
    # given
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="100000")
    order = _resting_buy(market, investor)
    client = client_for(investor.owner)
    page = text(client.get("/orders/"))
    assert f'action="/orders/{order.pk}/cancel/"' in page
    assert cash_of(investor).reserved == Decimal("2005.00")

    # when
    response = client.post(f"/orders/{order.pk}/cancel/", follow=True)

    # then
    assert response.redirect_chain == [("/orders/", 302)]
    order.refresh_from_db()
    assert order.status == "cancelled"
    assert cash_of(investor).reserved == Decimal("0.00")
    assert [str(m) for m in response.context["messages"]] == [f"委托 {order.pk} 已撤单；未成交 200 股。"]
    assert f'action="/orders/{order.pk}/cancel/"' not in text(response)


def test_cancelling_a_closed_order_shows_a_message_and_changes_nothing(market):
    # given
    investor = market.investor(cash="100000")
    order = _resting_buy(market, investor)
    client = client_for(investor.owner)
    client.post(f"/orders/{order.pk}/cancel/", follow=True)
    before = snapshot()

    # when
    response = client.post(f"/orders/{order.pk}/cancel/", follow=True)

    # then
    assert [str(m) for m in response.context["messages"]] == ["该委托已不可撤销。"]
    assert snapshot() == before


def test_nobody_cancels_someone_elses_order(market):
    # given
    owner, other = market.investor(cash="100000"), market.investor(cash="100000")
    order = _resting_buy(market, owner)
    before = snapshot()

    # when
    response = client_for(other.owner).post(f"/orders/{order.pk}/cancel/", follow=True)

    # then
    assert [str(m) for m in response.context["messages"]] == ["没有该委托。"]
    assert snapshot() == before
    assert f"/orders/{order.pk}/cancel/" not in text(client_for(other.owner).get("/orders/"))


def test_cancel_is_a_post_only(market):
    # given
    investor = market.investor(cash="100000")
    order = _resting_buy(market, investor)

    # when
    response = client_for(investor.owner).get(f"/orders/{order.pk}/cancel/")

    # then
    assert response.status_code == 405
    order.refresh_from_db()
    assert order.status == "open"


def test_my_trades_shows_side_price_value_fee_and_shanghai_time(market):
    # given
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="100000")
    client_for(investor.owner).post("/orders/new/", ticket_data(market.security))
    trade = Trade.objects.get(buyer=investor)

    # when
    investor_view = client_for(investor.owner).get("/trades/")
    maker_view = client_for(mm.owner, "en").get("/trades/")

    # then
    [row] = investor_view.context["rows"]
    assert {k: row[k] for k in ("id", "side_label", "price", "quantity", "value", "fee", "status_label")} == {
        "id": trade.pk,
        "side_label": "买入",
        "price": "10.10",
        "quantity": "500",
        "value": "5,050.00",
        "fee": "5.00",
        "status_label": "已撮合",
    }
    shown = trade.matched_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
    assert f'<td class="nowrap" data-label="成交时间">{shown}</td>' in text(investor_view)
    [maker_row] = maker_view.context["rows"]
    assert (maker_row["side_label"], maker_row["fee"], maker_row["status_label"]) == ("Sell", "0.00", "Matched")


def test_balances_show_cash_and_holdings(market):
    # given
    investor = market.investor(cash="250000.5", shares=1200)

    # when
    response = client_for(investor.owner, "en").get("/balances/")

    # then
    assert response.status_code == 200
    assert response.context["cash"] == {
        "total": "250,000.50",
        "available": "250,000.50",
        "reserved": "0.00",
        "frozen": "0.00",
    }
    assert response.context["positions"] == [
        {
            "security": market.security.code,
            "name": "Test Co",
            "total": "1,200",
            "available": "1,200",
            "reserved": "0",
            "frozen": "0",
            "locked": "0",
            "locked_until": None,
        }
    ]
    assert f"Account {investor.code}" in text(response)
    # and how cash comes in and goes out: at the broker's counter (found by a walk: a new investor's page said not)
    assert "deposited and withdrawn at your broker's counter: Test Broker." in text(response)
    # a market maker's desk, funded by the depository, is not told to go to a broker
    mm = market.market_maker()
    assert 'id="funding-hint"' not in text(client_for(mm.owner, "en").get("/balances/"))


@pytest.mark.parametrize("path", ["/balances/", "/orders/new/"])
def test_an_operator_without_account_sees_a_friendly_message(market, path):
    # given
    operator = market.user(Role.EXCHANGE_OPERATOR)

    # when
    response = client_for(operator).get(path)

    # then
    assert response.status_code == 200
    assert "您没有交易账户。" in text(response)
    assert "交易所运营人员" in text(response)


def test_an_operator_posting_an_order_sees_the_friendly_message_and_nothing_changes(market):
    # given
    operator = market.user(Role.EXCHANGE_OPERATOR)
    before = snapshot()

    # when
    response = client_for(operator, "en").post("/orders/new/", ticket_data(market.security))

    # then
    assert response.status_code == 200
    assert "You have no trading account." in text(response)
    assert snapshot() == before


def test_an_operator_reads_all_orders_and_trades_without_cancel_buttons(market):
    # given
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="100000")
    order = _resting_buy(market, investor)
    client_for(investor.owner).post("/orders/new/", ticket_data(market.security))
    operator = client_for(market.user(Role.EXCHANGE_OPERATOR))

    # when
    orders_page = operator.get("/orders/")
    trades_page = operator.get("/trades/")

    # then
    assert [row["id"] for row in orders_page.context["rows"]][-1] == order.pk
    assert all(not row["can_cancel"] for row in orders_page.context["rows"])
    assert ">委托</h1>" in text(orders_page)
    assert len(trades_page.context["rows"]) == 1


# --------------------------------------------------------------------------
# The market maker's quote page


def test_quote_page_lists_the_makers_active_quotes(market):
    # given
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10", bid_qty=1000, ask_qty=2000)

    # when
    response = client_for(mm.owner).get(f"/quotes/?security={market.security.code}")

    # then
    assert response.status_code == 200
    [row] = response.context["rows"]
    assert (row["bid"], row["bid_size"], row["ask"], row["ask_size"]) == (
        "9.90",
        "1,000 / 1,000",
        "10.10",
        "2,000 / 2,000",
    )
    form = response.context["form"]
    assert (form["bid_price"].value(), form["ask_quantity"].value()) == (Decimal("9.90"), 2000)


def _labels(html: str) -> dict[str, str]:
    """Each form field's label by the field's id."""
    return dict(re.findall(r'<label for="(id_\w+)">([^<]*)</label>', html))


def test_the_quote_form_names_the_units_of_its_prices_and_sizes_as_the_order_ticket_does(market):
    # (found by a walk-through: the quote form's prices and sizes named no unit, where the ticket says CNY and shares)
    # given a market maker and an investor, reading English
    mm = market.market_maker()
    investor = market.investor(cash="1000")
    before = snapshot()

    # when each opens their form for the security
    quote_form = _labels(text(client_for(mm.owner, "en").get(f"/quotes/?security={market.security.code}")))
    ticket = _labels(text(client_for(investor.owner, "en").get(f"/orders/new/?security={market.security.code}")))

    # then the quote form's prices are in CNY and its sizes in shares, in the ticket's very words
    assert (ticket["id_limit_price"], ticket["id_quantity"]) == ("Limit price (CNY)", "Quantity (shares)")
    assert [quote_form[f"id_{name}"] for name in ("bid_price", "bid_quantity", "ask_price", "ask_quantity")] == [
        "Bid price (CNY)",
        "Bid size (shares)",
        "Ask price (CNY)",
        "Ask size (shares)",
    ]
    # and opening them changed nothing
    assert snapshot() == before


def test_quotes_active_are_the_accounts_own_live_quotes_by_code_then_side(market):
    # given two securities quoted by the maker, one pulled, and another maker's quote
    mm, other = market.market_maker(), market.market_maker()
    first, pulled = market.new_security("A-FIRST"), market.new_security("Z-PULLED")
    market.issue(mm, 1000, security=first)
    market.issue(mm, 1000, security=pulled)
    market.quote(mm, "9.90", "10.10")
    market.quote(mm, "9.80", "10.20", security=first)
    market.quote(mm, "9.70", "10.30", security=pulled)
    quotes_pull(user=mm.owner, security_code=pulled.code)
    market.quote(other, "9.95", "10.05")

    # when
    quotes = list(selectors.quotes_active(mm))

    # then
    assert [(q.security.code, q.side, q.price) for q in quotes] == [
        ("A-FIRST", "ask", Decimal("10.20")),
        ("A-FIRST", "bid", Decimal("9.80")),
        (market.security.code, "ask", Decimal("10.10")),
        (market.security.code, "bid", Decimal("9.90")),
    ]


def test_quote_page_publishes_a_quote_that_trades_with_resting_orders(market):
    # given
    mm = market.market_maker()
    investor = market.investor(cash="100000")
    resting = _resting_buy(market, investor)  # buy 200 at 10.00
    client = client_for(mm.owner)

    # when
    response = client.post(
        "/quotes/",
        {
            "security": market.security.code,
            "bid_price": "9.80",
            "bid_quantity": "500",
            "ask_price": "10.00",
            "ask_quantity": "600",
        },
        follow=True,
    )

    # then
    assert response.redirect_chain == [("/quotes/", 302)]
    active = Quote.objects.filter(account=mm, status="active").order_by("side")
    assert [(q.side, q.price, q.quantity) for q in active] == [
        ("ask", Decimal("10.00"), 400),
        ("bid", Decimal("9.80"), 500),
    ]
    resting.refresh_from_db()
    assert resting.status == "filled"
    assert [str(m) for m in response.context["messages"]] == [
        f"{market.security.code} 报价已发布：买价 9.80，卖价 10.00；成交 1 笔。"
    ]


def test_a_crossed_quote_is_a_form_error_and_changes_nothing(market):
    # given
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    before = snapshot()

    # when
    response = client_for(mm.owner).post(
        "/quotes/",
        {
            "security": market.security.code,
            "bid_price": "10.20",
            "bid_quantity": "100",
            "ask_price": "10.10",
            "ask_quantity": "100",
        },
    )

    # then it is a 400 with the form's error, as every refused form is (it answered 200)
    assert response.status_code == 400
    assert form_errors(response) == ["买价必须低于卖价。"]
    assert snapshot() == before


@pytest.mark.parametrize(
    ("bid", "ask", "refusal"),
    [
        ("13.50", "13.60", "The bid 13.50 is outside today's band 7.00–13.00."),
        ("12.90", "13.10", "The ask 13.10 is outside today's band 7.00–13.00."),
        ("6.90", "13.10", "The bid 6.90 is outside today's band 7.00–13.00."),  # the bid's is said first
        ("13.90", "13.50", "The bid 13.90 is outside today's band 7.00–13.00."),  # crossed, and out of the band
    ],
)
def test_a_quote_outside_the_band_is_refused_naming_its_side_and_price_and_changes_nothing(market, bid, ask, refusal):
    # given a market maker quoting 9.90 / 10.10 in a security whose band today is 7.00–13.00
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    before = snapshot()

    # when it publishes a quote with a side outside the band
    response = client_for(mm.owner, "en").post(
        "/quotes/",
        {
            "security": market.security.code,
            "bid_price": bid,
            "bid_quantity": "100",
            "ask_price": ask,
            "ask_quantity": "100",
        },
    )

    # then the refusal names the side, its price and the band (it said "The price must be between 7.00 and
    # 13.00.", found by a walk-through), and the old quote and its reservations stay as they were
    assert response.status_code == 400
    assert form_errors(response) == [refusal]
    assert snapshot() == before


def test_a_quote_with_bad_input_is_a_field_error(market):
    # given
    mm = market.market_maker()
    before = snapshot()

    # when
    response = client_for(mm.owner, "en").post(
        "/quotes/",
        {
            "security": market.security.code,
            "bid_price": "x",
            "bid_quantity": "1.5",
            "ask_price": "",
            "ask_quantity": "-1",
        },
    )

    # then
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"bid_price", "bid_quantity", "ask_price", "ask_quantity"}
    assert snapshot() == before


def test_pull_all_quotes(market):
    # given
    mm = market.market_maker()
    other = market.new_security("S-OTHER")
    market.issue(mm, 1000, security=other)
    market.quote(mm, "9.90", "10.10")
    market.quote(mm, "9.90", "10.10", security=other)

    # when
    response = client_for(mm.owner).post("/quotes/pull/", follow=True)

    # then
    assert response.redirect_chain == [("/quotes/", 302)]
    assert not Quote.objects.filter(account=mm, status="active").exists()
    assert Quote.objects.filter(account=mm, status="pulled").count() == 4
    assert [str(m) for m in response.context["messages"]] == ["已撤回 4 条报价。"]
    assert cash_of(mm).reserved == Decimal("0.00")


def test_pull_one_security(market):
    # given
    mm = market.market_maker()
    other = market.new_security("S-OTHER2")
    market.issue(mm, 1000, security=other)
    market.quote(mm, "9.90", "10.10")
    market.quote(mm, "9.90", "10.10", security=other)

    # when
    client_for(mm.owner, "en").post("/quotes/pull/", {"security": other.code})

    # then
    active = Quote.objects.filter(account=mm, status="active")
    assert {q.security_id for q in active} == {market.security.pk}


@pytest.mark.parametrize("role", [Role.INVESTOR, Role.BROKER_STAFF, Role.EXCHANGE_OPERATOR])
def test_only_market_makers_see_the_quote_page(market, role):
    # given
    user = market.user(role)
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    before = snapshot()
    client = client_for(user)

    # when
    page = client.get("/quotes/")
    publish = client.post("/quotes/", {"security": market.security.code})
    pull = client.post("/quotes/pull/")

    # then
    assert (page.status_code, publish.status_code, pull.status_code) == (403, 403, 403)
    assert "您无权查看此页面。" in text(page)
    # with the site's navigation, so the user can go on (found by a walk-through: only the brand was there)
    assert 'class="mainnav"' in text(page) and 'id="error-notice"' in text(page)
    assert snapshot() == before


@pytest.mark.parametrize(
    "language, said",
    [("zh-hans", "市场规则： open（开放：允许所有交易方式）"), ("en", "Venue rules: open (every trading mode)")],
)
def test_footer_names_the_venue_rules_on_the_registration_and_quote_pages(market, language, said):
    # given: a market maker signed in, and a newcomer on the registration page
    maker = market.market_maker()
    newcomer = Client()
    newcomer.cookies[settings.LANGUAGE_COOKIE_NAME] = language

    # when
    pages = {
        "/kyc/register/": newcomer.get("/kyc/register/"),
        "/quotes/": client_for(maker.owner, language).get("/quotes/"),
        "/": client_for(maker.owner, language).get("/"),  # a page that always said it, for comparison
    }

    # then: each footer says the rules in force, as every other page does (these two said "Venue rules:" alone)
    for path, response in pages.items():
        assert response.status_code == 200, path
        footer = re.search(r'<span class="venue-profile" data-profile="([^"]*)">([^<]*)</span>', text(response))
        assert footer is not None, path
        assert footer.groups() == ("open", said), path


def test_a_browsers_get_of_a_form_only_address_goes_to_the_page_above_it(market):
    # given an investor with cash, signed in, and staff of the broker
    investor = market.investor(cash="1000")
    browser = {"HTTP_ACCEPT": "text/html,application/xhtml+xml,*/*;q=0.8"}
    before = snapshot()

    # when a browser asks with a GET for addresses that only take a form's post
    own = client_for(investor.owner)
    answers = {
        "/kyc/me/documents/": own.get("/kyc/me/documents/", **browser),
        "/orders/1/cancel/": own.get("/orders/1/cancel/", **browser),
        "/logout/": own.get("/logout/", **browser),
        "/api/v1/orders/batch/": own.get("/api/v1/orders/batch/", **browser),  # the API: its own 405
        "/kyc/me/apply/ (a script)": own.get("/kyc/me/apply/", HTTP_ACCEPT="application/json"),
    }

    # then a page's address leads to the nearest page above it; the API and a script still get the 405
    assert {path: (r.status_code, r.get("Location")) for path, r in answers.items()} == {
        "/kyc/me/documents/": (302, "/kyc/me/"),
        "/orders/1/cancel/": (302, "/orders/"),
        "/logout/": (302, "/"),
        "/api/v1/orders/batch/": (405, None),
        "/kyc/me/apply/ (a script)": (405, None),
    }
    # and nothing changed: the investor is still signed in, no order cancelled, no document stored
    assert own.get("/orders/").status_code == 200
    assert snapshot() == before


def test_under_a_sub_path_a_browsers_get_of_a_form_only_address_goes_to_the_page_above_it_there(market):
    # given an exchange served under /otc (SCRIPT_NAME), an investor signed in
    investor = market.investor(cash="1000")
    own = client_for(investor.owner)
    before = snapshot()
    # when a browser asks with a GET for an address that only takes a form's post, under the sub-path
    answer = own.get("/kyc/me/documents/", SCRIPT_NAME="/otc", HTTP_ACCEPT="text/html,*/*;q=0.8")
    api = own.get("/api/v1/orders/batch/", SCRIPT_NAME="/otc", HTTP_ACCEPT="text/html,*/*;q=0.8")
    # then it leads to the page above it under the same sub-path, the API keeps its 405, and nothing changed
    assert (answer.status_code, answer.get("Location")) == (302, "/otc/kyc/me/")
    assert (api.status_code, api.get("Location")) == (405, None)
    assert snapshot() == before


def test_under_a_sub_path_the_api_stays_the_api_for_the_middleware(market):
    # given an exchange served under /otc (SCRIPT_NAME): the middleware tells the API from the pages by the address
    # inside the site (path_info), not by the full path, which starts with /otc (found by a review)
    staff = Client(HTTP_ACCEPT_LANGUAGE="en")
    staff.force_login(market.user(Role.EXCHANGE_OPERATOR))  # signed in, its second factor not yet given

    # when a program asks for an address the API does not have, and the staff member's session calls the API
    missing = Client().get("/api/v1/no-such-thing/", SCRIPT_NAME="/otc")
    unverified = staff.get("/api/v1/market/", SCRIPT_NAME="/otc")

    # then the first is the API's JSON 404, not a page; the second is refused as the API refuses it (no session
    # without the second factor), not sent to the second factor's page
    assert (missing.status_code, missing["Content-Type"]) == (404, "application/json"), missing.content[:200]
    assert missing.json()["code"] == "not_found"
    assert unverified.status_code in (401, 403) and unverified["Content-Type"] == "application/json"
