"""The security page and the order ticket in headless Chromium: the chart is drawn, the day's figures, quotes
and time and sales follow a trade by themselves, the ticket warns before submitting and asks for a
confirmation that restates the order; the pages fit a 390 px phone."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from core.models import Role
from exchange.models import Order
from exchange.services import OrderRequest, order_place
from tests.browser.steps import forget_session, log_in
from tests.browser.test_csp_browser import watch_console
from tests.conftest import build_market

pytestmark = pytest.mark.browser


def _buy(market, investor, quantity: int, key: str) -> None:
    order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest(
            security=market.security.code,
            side="buy",
            quantity=quantity,
            limit_price=Decimal("10.10"),
            time_in_force="IOC",
            client_order_id=key,
        ),
    )


def _no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], width


def test_the_security_page_draws_the_chart_and_follows_a_trade(page: Page, live_server):
    # given a quoted security with a trade today, and an investor watching its page
    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10", bid_qty=1000, ask_qty=2000)
    investor = market.investor(cash="100000")
    other = market.investor(cash="100000")
    _buy(market, other, 100, "first")
    code, base = market.security.code, live_server.url
    errors = watch_console(page)
    log_in(page, base, investor.owner.username)
    page.locator(f'#market-table tr[data-code="{code}"] a.code').click()
    page.wait_for_url(f"{base}/securities/{code}/")

    # then the chart is drawn on a canvas from the candles, and the day's figures are there
    expect(page.locator("#security-chart canvas").first).to_be_visible()
    expect(page.locator("#security-market")).to_have_attribute("data-chart-points", "1")
    expect(page.locator('[data-field="last"]')).to_have_text("10.10")
    expect(page.locator('[data-field="volume"]')).to_have_text("100")
    expect(page.locator("#depth-table tbody tr.ask")).to_contain_text(["1,900"])
    page.locator('.chart-intervals [data-interval="1d"]').click()
    expect(page.locator('.chart-intervals [data-interval="1d"]')).to_have_attribute("aria-pressed", "true")

    # when another trade takes 300 more from the ask
    _buy(market, other, 300, "second")

    # then the quotes, time and sales and the day's figures follow by themselves
    expect(page.locator("#depth-table tbody tr.ask")).to_contain_text(["1,600"])
    expect(page.locator("#sales-table tbody tr")).to_have_count(2)
    expect(page.locator("#sales-table tbody tr").first).to_contain_text("300")
    expect(page.locator('[data-field="volume"]')).to_have_text("400")
    expect(page.locator('[data-field="turnover"]')).to_have_text("4,040.00")
    expect(page.locator('[data-field="change"]')).to_contain_text("+0.10")
    assert errors == []  # the chart library and the page's scripts ran under the Content-Security-Policy


def test_the_ticket_warns_before_submitting_and_confirms_the_order(page: Page, live_server):
    # given a cautious investor (level 1) and a bolder one, a security rated R3
    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10", bid_qty=1000, ask_qty=2000)
    cautious = market.investor(cash="100000", level=1)
    bold = market.investor(cash="100000")
    code, base = market.security.code, live_server.url

    # when the cautious one types an order on the ticket
    log_in(page, base, cautious.owner.username)
    page.goto(f"{base}/securities/{code}/")
    page.locator("#security-day .actions a.buy").click()
    page.wait_for_url(f"{base}/orders/new/?security={code}&side=buy")
    page.locator("#quote-book tr.ask").first.click()
    page.fill("#id_quantity", "500")

    # then the ticket says, before anything is submitted, that suitability will refuse it
    expect(page.locator('#precheck li[data-code="unsuitable_risk_level"]')).to_be_visible()
    assert not Order.objects.exists()
    forget_session(page)

    # when the bold one orders 500 at 10.10 and reviews it
    log_in(page, base, bold.owner.username)
    page.goto(f"{base}/orders/new/?security={code}")
    page.locator("#quote-book tr.ask").first.click()
    page.fill("#id_quantity", "500")
    expect(page.locator("#precheck")).to_have_class("precheck msg msg-success")
    page.locator("#review-order").click()

    # then the review restates side, quantity, price, the fee and the total, and nothing is placed yet
    expect(page.locator("#review-side")).to_have_text("买入")
    expect(page.locator("#review-quantity")).to_have_text("500")
    expect(page.locator("#review-price")).to_have_text("10.10")
    expect(page.locator("#review-fee")).to_have_text("5.00")
    expect(page.locator("#review-total")).to_have_text("5,055.00")
    assert not Order.objects.exists()

    # and the quote panel keeps up while the investor reads it
    polls = int(page.locator("#quote-book").get_attribute("data-polls") or 0)
    expect(page.locator("#quote-book")).not_to_have_attribute("data-polls", str(polls))

    # when the investor places it
    page.locator("#place-order").click()

    # then it is placed once and filled
    page.wait_for_url(f"{base}/orders/")
    expect(page.locator(".msg-success")).to_contain_text("500")
    assert Order.objects.filter(account=bold).count() == 1


def test_the_security_page_and_the_trade_list_fit_a_phone(browser, live_server):
    # given a trade, and a regulator and an investor on 390 px phones
    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="100000")
    _buy(market, investor, 100, "phone")
    regulator = market.user(Role.REGULATOR)
    code, base = market.security.code, live_server.url
    for user in (investor.owner, regulator):
        context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
        context.set_default_timeout(10_000)
        page = context.new_page()
        log_in(page, base, user.username)

        # when they open the security page and the trades
        page.goto(f"{base}/securities/{code}/")
        expect(page.locator("#security-chart canvas").first).to_be_visible()

        # then nothing scrolls sideways, and the main actions are on screen
        _no_sideways_scroll(page)
        page.goto(f"{base}/trades/")
        expect(page.locator("#trades-table tbody tr")).to_have_count(1)
        _no_sideways_scroll(page)
        if user == regulator:
            expect(page.locator('#trades-table [data-field="buyer"]')).to_be_in_viewport()
        else:
            # and the investor's ticket and its review fit too, the buttons on screen
            page.goto(f"{base}/orders/new/?security={code}")
            page.fill("#id_limit_price", "10.10")
            page.fill("#id_quantity", "100")
            expect(page.locator("#precheck")).to_be_visible()
            _no_sideways_scroll(page)
            page.locator("#review-order").click()
            expect(page.locator("#review-total")).to_have_text("1,015.00")
            _no_sideways_scroll(page)
            page.locator("#place-order").scroll_into_view_if_needed()
            expect(page.locator("#place-order")).to_be_in_viewport()
        context.close()
