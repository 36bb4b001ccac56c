"""An investor trades through the real pages in headless Chromium."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.steps import buy_500_from_the_ask_at_10_10, log_in
from tests.conftest import build_market

pytestmark = pytest.mark.browser

PASSWORD = "pw-test-2026"


def test_investor_buys_from_a_quote_and_sees_the_trade_and_the_cash(page: Page, live_server):
    # given a market maker's quote and a funded investor
    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10", bid_qty=1000, ask_qty=2000)
    investor = market.investor(cash="100000")
    code = market.security.code
    base = live_server.url

    # when the investor logs in, opens the ticket from the market watch and buys from the ask
    log_in(page, base, investor.owner.username)
    buy_500_from_the_ask_at_10_10(page, base, code, available="100,000.00")

    # then the order is filled, the trade is listed and the cash is reserved for settlement
    expect(page.locator("#orders-table tbody tr")).to_have_count(1)
    page.get_by_role("link", name="我的成交").click()
    trade = page.locator("#trades-table tbody tr")
    expect(trade).to_have_count(1)
    expect(trade.locator("td")).to_have_text(
        [
            re.compile(r"\d+"),
            re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"),
            re.compile(code),
            "买入",
            "10.10",
            "500",
            "5,050.00",
            "5.00",
            "已撮合",
            "—",  # not sealed into a block yet
        ]
    )
    page.get_by_role("link", name="资产").click()
    expect(page.locator("#cash-total")).to_have_text("100,000.00")
    expect(page.locator("#cash-reserved")).to_have_text("5,055.00")
    expect(page.locator("#cash-available")).to_have_text("94,945.00")


def test_market_watch_refreshes_itself(page: Page, live_server):
    # given an investor watching the market
    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor()
    log_in(page, live_server.url, investor.owner.username)
    row = page.locator(f'#market-table tr[data-code="{market.security.code}"]')
    expect(row.locator('[data-field="ask"]')).to_have_text("10.10")
    page.evaluate("window.notReloaded = true")

    # when the market maker improves the quote
    market.quote(mm, "9.95", "10.05", bid_qty=300, ask_qty=400)

    # then the row shows it within a couple of polls, without a page load
    expect(row.locator('[data-field="ask"]')).to_have_text("10.05", timeout=8_000)
    expect(row.locator('[data-field="bid"]')).to_have_text("9.95")
    expect(row.locator('[data-field="ask_size"]')).to_have_text("400")
    assert page.evaluate("window.notReloaded") is True


def test_language_switch_in_the_browser(page: Page, live_server):
    # given the login page in Chinese
    page.goto(f"{live_server.url}/login/")
    expect(page.locator("h1")).to_have_text("登录")

    # when English is chosen
    page.get_by_role("button", name="English").click()

    # then the page comes back in English, and stays so
    expect(page.locator("h1")).to_have_text("Log in")
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", "en")
