"""What a walk through the supervisors' pages found, as a new regulator, auditor, depository or operator meets them
(headless Chromium): each test pins one finding."""

from __future__ import annotations

from decimal import Decimal

import pytest
from axe_playwright_python.sync_playwright import Axe

from core.models import Role
from supervision import services as sv
from supervision.models import Correction
from tests.browser.steps import log_in
from tests.browser.test_accessibility_browser import AXE_OPTIONS
from tests.conftest import build_market
from tests.test_supervision import _settled_buy

pytestmark = pytest.mark.browser


def test_a_proposed_correction_on_an_english_phone_passes_axe(browser, live_server):
    # Given a settled trade whose correction one regulator proposed, and a second regulator on an English phone
    market = build_market()
    market.quote(market.market_maker(), "9.90", "10.10", bid_qty=5000, ask_qty=5000)
    investor = market.investor(cash="50000")
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    trade = _settled_buy(market, investor)
    sv.correction_propose(actor=reg1, trade_id=trade.pk, new_price=Decimal("10.00"), new_quantity=300, reason="x")
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844}, is_mobile=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        log_in(page, live_server.url, reg2.username)
        page.locator(".langswitch button[value='en']").click()
        page.wait_for_load_state()
        # When they open the corrections, where the row's trade link sits in the text "<id> <code> 300 @ 10.10"
        page.goto(f"{live_server.url}/supervision/corrections/")
        assert page.locator(f"#corrections-table a[href='/trades/{trade.pk}/']").count() == 1
        # Then axe finds nothing (the link was told apart by its colour alone: link-in-text-block)
        found = Axe().run(page, options=AXE_OPTIONS).response["violations"]
        assert not found, [(v["id"], [n["target"] for n in v["nodes"]]) for v in found]
    finally:
        context.close()
    # And the visit changed nothing: the correction still waits for its approval
    assert list(Correction.objects.values_list("status", flat=True)) == [Correction.Status.PROPOSED]
