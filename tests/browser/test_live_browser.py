"""The market watch hears of a change through its event stream (issue 14 item 7), in headless Chromium: the
new rows arrive pushed, and while the stream is open the page does not poll every 2 s."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from core.tasks import publish_built
from tests.browser.steps import log_in
from tests.conftest import build_market
from tests.workers import wait_for

pytestmark = pytest.mark.browser


def test_the_market_watch_gets_its_rows_pushed(page: Page, live_server, settings):
    settings.LIVE_EVENTS = True
    settings.LIVE_STREAM_SECONDS = 20
    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="1000")
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if "/market/data/" in r.url else None)
    log_in(page, live_server.url, investor.owner.username)
    row = page.locator(f'#market-table tr[data-code="{market.security.code}"]')
    expect(row.locator('[data-field="ask"]')).to_have_text("10.10")
    # given the page's stream is open
    # (polled from here: wait_for_function evaluates in the page, which its Content-Security-Policy forbids)
    assert wait_for(lambda: page.evaluate("!!(window.exchangeEvents && window.exchangeEvents.isOpen())"), timeout=10)
    polls.clear()
    # when the market maker quotes higher and the coalesced publication goes out (the worker's task)
    market.quote(mm, "10.00", "10.20")
    assert publish_built("market") >= 1
    # then the new ask is on the page, pushed, with no poll in between (the page's empty list of polls since, not
    # the wait, tells the push from a poll: 1.5 s for Chromium to draw it could be short on a loaded machine)
    expect(row.locator('[data-field="ask"]')).to_have_text("10.20", timeout=5_000)
    time.sleep(2.5)  # longer than the old polling period
    assert polls == []
