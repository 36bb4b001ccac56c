"""The trades page follows its trades into the ledger, and an auditor verifies it, in headless Chromium."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from core.models import Role
from exchange.services import OrderRequest, order_place
from ledger.models import Leaf
from ledger.services import block_seal
from ledger.tasks import seal
from tests.browser.steps import log_in
from tests.conftest import build_market

pytestmark = pytest.mark.browser


def test_trades_page_shows_the_trade_sealed_and_settled_without_a_reload(page: Page, live_server):
    # given an investor looking at a trade that is matched but not sealed
    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="100000")
    order, _ = order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest(market.security.code, "buy", 100, Decimal("10.10"), "IOC", "browser-1"),
    )
    log_in(page, live_server.url, investor.owner.username)
    page.goto(f"{live_server.url}/trades/")
    row = page.locator("#trades-table tbody tr").first
    expect(row.locator('[data-field="status"]')).to_have_text("已撮合")
    page.evaluate("window.notReloaded = true")

    # when the sealer seals it (the task: the seal, then what a new block starts: its gross trades settled,
    # the trades' parties told)
    seal()

    # then the row turns settled, with its block, leaf and proof link, at once (its event) or within a poll
    leaf = Leaf.objects.get(entry__trade__buy_order=order)
    expect(row.locator('[data-field="status"]')).to_have_text("已交收", timeout=10_000)
    expect(row.locator('[data-field="ledger"]')).to_contain_text(f"区块 {leaf.block_id} · 第 {leaf.leaf_index} 号记录")
    expect(row.get_by_role("link", name="证明")).to_have_attribute(
        "href", f"/api/v1/trades/{order.buy_trades.get().pk}/proof/?download=1"
    )
    assert page.evaluate("window.notReloaded") is True


def test_an_auditor_opens_the_ledger_and_verifies_it(page: Page, live_server):
    # given a sealed ledger
    market = build_market()
    market.investor(cash="1000")
    block_seal()
    auditor = market.user(Role.AUDITOR)

    # when the auditor opens the ledger from the nav and presses "verify now"
    log_in(page, live_server.url, auditor.username)
    page.get_by_role("link", name="账本").click()
    expect(page.locator("#blocks-table tbody tr")).to_have_count(1)
    page.get_by_role("button", name="立即验证").click()

    # then the result is shown
    expect(page.locator("#verify-result")).to_have_attribute("data-outcome", "ok")
    expect(page.locator("#verify-result h2")).to_have_text("账本完整")
