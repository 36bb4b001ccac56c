"""Every main page at a laptop's width (1366 px) and a phone's (390 px), in Chinese and English, photographed
for a reviewer (issue 14): ``SCREENSHOT_DIR`` names the folder (default ``build/screenshots``, see README,
"Screenshots"). Each page must answer, show its heading, and at 390 px not scroll sideways."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect

from core.models import Role
from exchange.services import OrderRequest, order_place
from ledger.services import block_seal
from tests.browser.steps import log_in
from tests.conftest import build_market

pytestmark = pytest.mark.browser

FOLDER = Path(os.environ.get("SCREENSHOT_DIR") or Path(__file__).resolve().parents[2] / "build" / "screenshots")
WIDTHS = {"1366": {"width": 1366, "height": 900}, "390": {"width": 390, "height": 844}}


@pytest.fixture(scope="module")
def shots():
    FOLDER.mkdir(parents=True, exist_ok=True)
    return FOLDER


def _pages_of(market, investor, trade) -> dict[str, list[tuple[str, str]]]:
    code = market.security.code
    return {
        "investor": [
            ("market", "/"),
            ("security", f"/securities/{code}/"),
            ("ticket", f"/orders/new/?security={code}"),
            ("orders", "/orders/"),
            ("trades", "/trades/"),
            ("trade", f"/trades/{trade.pk}/"),
            ("balances", "/balances/"),
            ("statements", "/statements/"),
            ("notifications", "/notifications/"),
            ("rfq", "/rfqs/"),
            ("negotiated", "/negotiated/"),
            ("kyc", "/kyc/me/"),
        ],
        "regulator": [("supervision", "/supervision/"), ("surveillance", "/surveillance/"), ("audit", "/audit/")],
        "operator": [("operations", "/operations/")],
        "depository": [("depository", "/depository/"), ("settlement", "/settlement/")],
    }


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_main_page_at_both_widths(browser, live_server, shots, language):
    market = build_market()
    market.quote(market.market_maker(), "9.90", "10.10")
    investor = market.investor(cash="100000", shares=300)
    order, _ = order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest(market.security.code, "buy", 100, Decimal("10.10"), "IOC", "shots-1"),
    )
    block_seal()
    users = {
        "investor": investor.owner,
        "regulator": market.user(Role.REGULATOR),
        "operator": market.user(Role.EXCHANGE_OPERATOR),
        "depository": market.depository,
    }
    lang = language
    for who, pages in _pages_of(market, investor, order.buy_trades.get()).items():
        for width, viewport in WIDTHS.items():
            # The browser speaks Chinese; for English the user switches, as on the login page's language switch.
            context = browser.new_context(locale="zh-CN", viewport=viewport, is_mobile=width == "390")
            context.set_default_timeout(10_000)
            page = context.new_page()
            try:
                log_in(page, live_server.url, users[who].username)
                if lang == "en":
                    page.locator(".langswitch button[value='en']").click()
                    page.wait_for_load_state()
                for name, path in pages:
                    response = page.goto(f"{live_server.url}{path}")
                    assert response is not None and response.status == 200, (who, path)
                    expect(page.locator("main h1").first).to_be_visible()
                    if width == "390":
                        # against 390 px, not innerWidth (a mobile browser widens it to what runs past)
                        wider = page.evaluate("document.documentElement.scrollWidth") - 390
                        assert wider <= 0, f"{path} scrolls {wider}px sideways at 390 px ({lang})"
                    page.screenshot(path=str(shots / f"{name}-{width}-{lang}.png"), full_page=True)
            finally:
                context.close()
