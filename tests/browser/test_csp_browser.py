"""The pages' scripts run in Chromium under the Content-Security-Policy, with no violation reported, and a staff
member's market watch left open ends its session after the idle period (tests/test_headers.py has the rest)."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from playwright.sync_api import Page, expect

from core.middleware import LAST_ACTIVITY
from exchange.services import OrderRequest, order_place
from tests.browser.steps import log_in
from tests.conftest import build_market

pytestmark = pytest.mark.browser


def watch_console(page: Page) -> list[str]:
    """Every console error and page error of ``page`` from now on (Chromium reports each CSP violation there)."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def test_an_investors_live_pages_run_their_scripts_under_the_policy(page: Page, live_server):
    # given a quoted security and an investor
    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="100000")
    code = market.security.code
    base = live_server.url
    errors = watch_console(page)

    # when the investor watches the market, takes a price on the ticket and opens their trades
    log_in(page, base, investor.owner.username)
    expect(page.locator("#market-status")).to_have_attribute("data-state", "live", timeout=8_000)
    page.goto(f"{base}/orders/new/?security={code}")
    page.locator("#quote-book tr.ask").first.click()
    expect(page.locator("#id_limit_price")).to_have_value("10.10")
    page.fill("#id_quantity", "100")
    expect(page.locator("#order-estimate")).to_have_text("委托金额（不含费用）: 1,010.00")

    # then every script ran and the browser refused nothing
    assert errors == []


def test_the_settlement_monitor_refreshes_under_the_policy(page: Page, live_server):
    # given the depository's monitor open with nothing pending
    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    buyer = market.investor(cash="100000")
    errors = watch_console(page)
    log_in(page, live_server.url, market.depository.username)
    page.goto(f"{live_server.url}/settlement/")
    awaiting_seal = page.locator('#settlement-summary [data-k="awaiting_seal"]')
    expect(awaiting_seal).to_have_text("0")

    # when a trade is matched
    order_place(
        placed_by=buyer.owner,
        account=buyer,
        request=OrderRequest(market.security.code, "buy", 100, Decimal("10.10"), "IOC", "csp-1"),
    )

    # then the counter shows it without a reload (static/js/settlement.js), and the browser refused nothing
    expect(awaiting_seal).to_have_text("1", timeout=8_000)
    assert errors == []


def test_swagger_ui_renders_under_its_policy(page: Page, live_server):
    # when the API docs are opened
    errors = watch_console(page)
    response = page.goto(f"{live_server.url}/api/docs/")

    # then Swagger UI lists the operations, and the browser refused nothing (not even its one style block)
    assert response.status == 200
    expect(page.locator(".opblock").first).to_be_visible(timeout=15_000)
    assert errors == []


def test_a_staff_market_watch_left_open_ends_the_session(page: Page, live_server):
    # given a depository operator watching the market
    market = build_market()
    market.quote(market.market_maker(), "9.90", "10.10")
    log_in(page, live_server.url, market.depository.username)
    status = page.locator("#market-status")
    expect(status).to_have_attribute("data-state", "live", timeout=8_000)

    # when nobody touches it for longer than the idle period (the background refreshes do not count)
    [cookie] = [c for c in page.context.cookies() if c["name"] == settings.SESSION_COOKIE_NAME]
    session = SessionStore(session_key=cookie["value"])
    session[LAST_ACTIVITY] = int(time.time()) - settings.STAFF_SESSION_IDLE_SECONDS - 5
    session.save()

    # then the next refresh finds the session over and says so
    expect(status).to_have_attribute("data-state", "expired", timeout=8_000)
    expect(status).to_contain_text("登录已失效")
    page.reload()
    assert "/login/" in page.url
