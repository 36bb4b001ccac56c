"""A market maker's quote desk and an investor's resting order, through the real pages in headless Chromium.

Each test acts only through the browser, then reads the database: the quote's and the order's reservations
follow exactly what the page did, and what the page did not touch stays as it was.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from exchange.models import Order, Quote, Trade
from tests.browser.steps import log_in
from tests.conftest import build_market, cash_of, position_of, snapshot

pytestmark = pytest.mark.browser


def quote_rows(mm) -> list[tuple[str, str, Decimal, int, int]]:
    return list(
        Quote.objects.filter(account=mm)
        .order_by("id")
        .values_list("side", "status", "price", "quantity", "original_quantity")
    )


def publish_quote(page: Page, base: str, *, bid: tuple[str, str], ask: tuple[str, str]) -> None:
    """Fill the quote form with (price, quantity) a side and publish it, agreeing to the question it asks first,
    which names the security and both sides as typed, but for the sizes, grouped by thousands as every page shows
    a share count (a firm quote trades at once with the orders it crosses)."""
    page.fill("#id_bid_price", bid[0])
    page.fill("#id_bid_quantity", bid[1])
    page.fill("#id_ask_price", ask[0])
    page.fill("#id_ask_quantity", ask[1])
    security = page.locator("#id_security option:checked").inner_text().strip()  # as the list shows it
    questions: list[str] = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="发布报价").click()
    page.wait_for_url(f"{base}/quotes/")
    assert questions == [
        f"发布 {security} 的报价：买价 {bid[0]}，数量 {int(bid[1]):,}；卖价 {ask[0]}，数量 {int(ask[1]):,}？"
        "报价为确定报价：与其交叉的挂单将立即按您的价格成交。"
    ]


def test_a_market_maker_publishes_replaces_and_pulls_a_quote(page: Page, live_server):
    # given a market maker with 1,000,000.00 CNY and 100,000 shares, quoting nothing yet
    market = build_market()
    mm = market.market_maker()
    code = market.security.code
    base = live_server.url
    log_in(page, base, mm.owner.username)
    watch = page.locator(f'#market-table tr[data-code="{code}"]')
    expect(watch.locator('[data-field="bid"]')).to_have_text("—")

    # when the market maker opens "my quotes" and quotes 9.80 for 1,000 / 10.20 for 2,000
    page.locator("nav.mainnav").get_by_role("link", name="我的报价").click()
    page.wait_for_url(f"{base}/quotes/")
    row = page.locator(f'#quotes-table tr[data-code="{code}"]')
    expect(row).to_have_class("inactive")
    row.get_by_role("link", name=f"报价 {code}", exact=True).click()
    page.wait_for_url(f"{base}/quotes/?security={code}#quote-form")
    expect(page.locator("#id_security")).to_have_value(code)
    # (a first try, declined when the form asks: nothing is published)
    page.fill("#id_bid_price", "9.80")
    page.fill("#id_bid_quantity", "1000")
    page.fill("#id_ask_price", "10.20")
    page.fill("#id_ask_quantity", "2000")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="发布报价").click()
    expect(page.locator(".msg-success")).to_have_count(0)
    assert quote_rows(mm) == []
    publish_quote(page, base, bid=("9.80", "1000"), ask=("10.20", "2000"))

    # then the quote row shows it, and so does the market watch
    expect(page.locator(".msg-success")).to_have_text(f"{code} 报价已发布：买价 9.80，卖价 10.20；成交 0 笔。")
    expect(row).not_to_have_class("inactive")
    expect(row.locator("td.num")).to_have_text(
        ["9.80", "1,000 / 1,000", "10.20", "2,000 / 2,000", "9.80", "10.20", "7.00 – 13.00"]
    )
    page.locator("nav.mainnav").get_by_role("link", name="行情").click()
    page.wait_for_url(f"{base}/")
    fields = ["bid_size", "bid", "ask", "ask_size"]
    expect(watch.locator(", ".join(f'[data-field="{f}"]' for f in fields))).to_have_text(
        ["1,000", "9.80", "10.20", "2,000"]
    )

    # and exactly the bid's cash and the ask's shares are reserved
    assert quote_rows(mm) == [
        ("bid", "active", Decimal("9.80"), 1000, 1000),
        ("ask", "active", Decimal("10.20"), 2000, 2000),
    ]
    cash, position = cash_of(mm), position_of(mm, market.security)
    assert (cash.total, cash.reserved) == (Decimal("1000000.00"), Decimal("9800.00"))
    assert (position.total, position.reserved) == (100_000, 2000)

    # when the market maker clicks the security on the market watch and replaces the quote with 9.85 x 500 / 10.15 x 800
    watch.locator("td").nth(1).click()  # the row (its code links to the security page)
    page.wait_for_url(f"{base}/quotes/?security={code}")
    expect(page.locator("#id_bid_price")).to_have_value("9.80")
    expect(page.locator("#id_ask_quantity")).to_have_value("2000")
    publish_quote(page, base, bid=("9.85", "500"), ask=("10.15", "800"))

    # then the row shows the new prices, the old quote is replaced and the reservations follow the new one exactly
    expect(page.locator(".msg-success")).to_have_text(f"{code} 报价已发布：买价 9.85，卖价 10.15；成交 0 笔。")
    expect(row.locator("td.num")).to_have_text(
        ["9.85", "500 / 500", "10.15", "800 / 800", "9.85", "10.15", "7.00 – 13.00"]
    )
    assert quote_rows(mm) == [
        ("bid", "replaced", Decimal("9.80"), 1000, 1000),
        ("ask", "replaced", Decimal("10.20"), 2000, 2000),
        ("bid", "active", Decimal("9.85"), 500, 500),
        ("ask", "active", Decimal("10.15"), 800, 800),
    ]
    cash, position = cash_of(mm), position_of(mm, market.security)
    assert (cash.total, cash.reserved) == (Decimal("1000000.00"), Decimal("4925.00"))
    assert (position.total, position.reserved) == (100_000, 800)

    # when the market maker pulls the quote from its row
    row.get_by_role("button", name=f"撤回 {code}", exact=True).click()
    page.wait_for_url(f"{base}/quotes/")

    # then the row is empty again, the market watch shows no quote, and every reservation is released
    expect(page.locator(".msg-success")).to_have_text("已撤回 2 条报价。")
    expect(row).to_have_class("inactive")
    expect(row.locator("td.num")).to_have_text(["—"] * 6 + ["7.00 – 13.00"])  # the band stays
    page.locator("nav.mainnav").get_by_role("link", name="行情").click()
    expect(watch.locator('[data-field="bid"]')).to_have_text("—")
    expect(watch.locator('[data-field="ask"]')).to_have_text("—")
    assert [status for _side, status, *_ in quote_rows(mm)] == ["replaced", "replaced", "pulled", "pulled"]
    cash, position = cash_of(mm), position_of(mm, market.security)
    assert (cash.total, cash.reserved, cash.available) == (
        Decimal("1000000.00"),
        Decimal("0.00"),
        Decimal("1000000.00"),
    )
    assert (position.total, position.reserved, position.available) == (100_000, 0, 100_000)
    # and nothing traded
    assert not Trade.objects.exists() and not Order.objects.exists()


def test_a_crossed_or_out_of_band_quote_is_not_asked_to_be_confirmed_and_is_refused_changing_nothing(
    page: Page, live_server
):
    # given a market maker quoting 9.90 / 10.10
    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    code = market.security.code
    base = live_server.url
    log_in(page, base, mm.owner.username)
    page.goto(f"{base}/quotes/?security={code}#quote-form")
    before = snapshot()
    questions: list[str] = []
    page.on("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))

    for bid, ask in (("10.20", "10.10"), ("10.10", "10.10")):
        # when it types a bid at or above its ask and publishes
        page.fill("#id_bid_price", bid)
        page.fill("#id_bid_quantity", "100")
        page.fill("#id_ask_price", ask)
        page.fill("#id_ask_quantity", "100")
        page.get_by_role("button", name="发布报价").click()

        # then the page asks nothing (it asked, and the server then refused what was agreed to: found by a
        # walk-through), the server's refusal is shown and the old quote stands
        page.wait_for_url(f"{base}/quotes/")
        expect(page.locator("#quote-form .form-errors")).to_have_text("买价必须低于卖价。")
        assert questions == []
        assert snapshot() == before
        expect(page.locator("#id_bid_price")).to_have_value(bid)

    # when it types a price outside today's band (7.00–13.00, shown in its row), the page asks nothing either and
    # the server's refusal names the side, the price and the band
    expect(page.locator(f'#quotes-table tr[data-code="{code}"] [data-field="band"]')).to_have_text("7.00 – 13.00")
    for bid, ask, refusal in (
        ("6.50", "10.10", "买价 6.50 超出今日价格区间 7.00–13.00。"),
        ("9.80", "13.50", "卖价 13.50 超出今日价格区间 7.00–13.00。"),
    ):
        page.fill("#id_bid_price", bid)
        page.fill("#id_ask_price", ask)
        page.get_by_role("button", name="发布报价").click()
        page.wait_for_url(f"{base}/quotes/")
        expect(page.locator("#quote-form .form-errors")).to_have_text(refusal)
        assert questions == []
        assert snapshot() == before

    # and a quote whose bid is below its ask is still asked about (declined here: nothing is published)
    page.fill("#id_bid_price", "9.80")
    page.fill("#id_ask_price", "10.20")
    page.get_by_role("button", name="发布报价").click()
    expect(page.locator("#id_bid_price")).to_have_value("9.80")
    assert len(questions) == 1 and questions[0].startswith(f"发布 {code}")
    assert snapshot() == before


def test_an_investor_places_a_day_order_and_cancels_it_on_my_orders(page: Page, live_server):
    # given a market maker quoting 9.90 / 10.10 and an investor with 100,000.00 CNY
    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="100000")
    code = market.security.code
    base = live_server.url
    log_in(page, base, investor.owner.username)

    # when the investor opens the ticket and places a day buy of 300 at 9.50, below the ask
    page.locator("nav.mainnav").get_by_role("link", name="委托下单").click()
    page.wait_for_url(f"{base}/orders/new/")
    expect(page.locator("#id_security")).to_have_value(code)
    page.get_by_label("买入", exact=True).check()
    page.fill("#id_quantity", "300")
    page.fill("#id_limit_price", "9.50")
    expect(page.get_by_label("当日有效")).to_be_checked()
    expect(page.locator("#order-estimate")).to_have_text("委托金额（不含费用）: 2,850.00")
    # a price off the tick shows no value (it showed the value of the price rounded to a cent)
    page.fill("#id_limit_price", "9.505")
    expect(page.locator("#order-estimate")).to_have_text("")
    page.fill("#id_limit_price", "9.50")
    expect(page.locator("#order-estimate")).to_have_text("委托金额（不含费用）: 2,850.00")
    page.locator("#review-order").click()
    page.locator("#place-order").click()
    page.wait_for_url(f"{base}/orders/")

    # then the order rests, unfilled, on "my orders", with its price, quantity and the 5.00 minimum fee reserved
    order = Order.objects.get(account=investor)
    expect(page.locator(".msg-success")).to_have_text(
        f"委托 {order.pk}：买入 {code} 300 股，限价 9.50，未成交（已成交 0 股）。"
    )
    row = page.locator(f'#orders-table tr[data-order="{order.pk}"]')
    expect(row.locator("td")).to_have_text(
        [
            str(order.pk),
            re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"),
            code,
            "买入",
            "9.50",
            "300",
            "0",
            "当日有效",
            "未成交",
            f"撤单 委托号 {order.pk}",  # the button names its order to a screen reader (hidden text)
        ]
    )
    assert (order.status, order.time_in_force, order.reserved_cash) == ("open", "DAY", Decimal("2855.00"))
    cash = cash_of(investor)
    assert (cash.total, cash.reserved) == (Decimal("100000.00"), Decimal("2855.00"))

    # when the investor cancels it there, answering the question that names the order (a cancel cannot be undone)
    questions: list[str] = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    row.get_by_role("button", name="撤单").click()
    page.wait_for_url(f"{base}/orders/")
    assert len(questions) == 1 and f"撤销委托 {order.pk}" in questions[0], questions

    # then the order is cancelled, nothing filled, and the cash is no longer reserved
    expect(page.locator(".msg-success")).to_have_text(f"委托 {order.pk} 已撤单；未成交 300 股。")
    expect(row.locator("td").nth(8)).to_have_text("已撤单")
    expect(row.get_by_role("button", name="撤单")).to_have_count(0)
    order.refresh_from_db()
    assert (order.status, order.filled_quantity, order.reserved_cash) == ("cancelled", 0, Decimal("0.00"))
    cash = cash_of(investor)
    assert (cash.total, cash.reserved, cash.available) == (Decimal("100000.00"), Decimal("0.00"), Decimal("100000.00"))
    # and the market maker's quote was never touched
    assert not Trade.objects.exists()
    assert list(Quote.objects.filter(account=mm).order_by("id").values_list("side", "status", "quantity")) == [
        ("bid", "active", 1000),
        ("ask", "active", 1000),
    ]


def test_an_order_ticket_with_a_price_off_the_tick_shows_the_error_and_changes_nothing(page: Page, live_server):
    # given an investor with cash on the ticket of a security quoted 9.90 / 10.10 (tick 0.01)
    market = build_market()
    market.quote(market.market_maker(), "9.90", "10.10")
    investor = market.investor(cash="100000")
    code = market.security.code
    base = live_server.url
    log_in(page, base, investor.owner.username)
    page.goto(f"{base}/orders/new/?security={code}")
    before = snapshot()

    # when the investor asks to buy 100 at 10.005, half a tick
    page.fill("#id_quantity", "100")
    page.fill("#id_limit_price", "10.005")
    page.locator("#review-order").click()

    # then the ticket comes back with the error in Chinese and the input kept, to be corrected
    expect(page.locator(".form-errors")).to_have_text("价格必须是最小变动价位 0.01 的整数倍。")
    assert page.url == f"{base}/orders/new/"
    expect(page.locator("#id_limit_price")).to_have_value("10.005")
    expect(page.locator("#id_quantity")).to_have_value("100")
    expect(page.locator("#available-cash")).to_have_text("100,000.00")
    # and nothing changed: no order, no trade, no reservation, the quotes as they were
    assert snapshot() == before
    assert not Order.objects.exists()
