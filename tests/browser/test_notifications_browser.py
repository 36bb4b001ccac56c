"""The notification bell in headless Chromium: a fill raises its count on an open page by itself, and marking
notifications read on the notifications page brings it down."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from config.celery import app as celery_app
from exchange.services import OrderRequest, order_place
from ledger.services import block_seal
from notifications import listeners
from notifications.models import Notification
from tests.browser.steps import log_in
from tests.conftest import build_market

pytestmark = pytest.mark.browser


@pytest.fixture
def tasks_in_process(monkeypatch):
    """The Celery tasks the hooks queue after commit run at once, in the process that committed (here the
    test's own), instead of waiting for a worker."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)


def test_the_bell_counts_a_fill_by_itself_and_mark_read_brings_it_down(page: Page, live_server, tasks_in_process):
    # given an investor (their account opening's approval and their cash's deposit are two notifications) with a
    # resting buy at 10.00
    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="100000")
    order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest(market.security.code, "buy", 300, Decimal("10.00"), "DAY", "resting"),
    )
    base = live_server.url
    log_in(page, base, investor.owner.username)
    page.goto(f"{base}/trades/")
    bell = page.locator("#notification-bell")
    count = bell.locator(".bell-count")
    expect(count).to_have_text("2")

    # when the market maker lowers its ask to 10.00, which fills the resting order, and the trade is sealed
    # (fills are announced per sealed block: what the seal task runs for notifications after its commit)
    market.quote(mm, "9.90", "10.00")
    listeners.block_sealed(block_seal().block.height)

    # then the open page's bell shows the fill without a reload
    expect(count).to_have_text("3")
    assert Notification.objects.filter(user=investor.owner, kind="fill").count() == 1

    # when the investor opens the notifications and marks the fill read
    bell.click()
    page.wait_for_url(f"{base}/notifications/")
    fill = page.locator('li.notification[data-kind="fill"]')
    expect(fill).to_contain_text("委托成交")
    expect(fill).to_contain_text("以 10.00 买入 300 股")
    fill.get_by_role("button", name="标为已读").click()

    # then the bell counts one less, and the fill is no longer unread
    expect(count).to_have_text("2")
    expect(page.locator('li.notification.unread[data-kind="fill"]')).to_have_count(0)

    # and "mark all read" empties it
    page.locator("#read-all").click()
    expect(count).to_be_hidden()
    assert Notification.objects.filter(user=investor.owner, read_at__isnull=True).count() == 0
