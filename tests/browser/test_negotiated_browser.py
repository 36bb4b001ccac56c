"""A negotiated transfer through the real pages: one investor proposes, the other confirms with the code."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from exchange.models import NegotiatedTrade
from tests.browser.steps import forget_session, log_in
from tests.conftest import build_market

pytestmark = pytest.mark.browser


def test_a_proposal_from_one_investor_confirmed_by_another_with_the_code(page: Page, live_server):
    # given a seller holding shares and a funded buyer
    market = build_market()
    seller = market.investor(shares=1000)
    buyer = market.investor(cash="50000")
    base = live_server.url

    # when the seller proposes 500 at 10.00 to the buyer on the negotiated-transfer page
    log_in(page, base, seller.owner.username)
    page.get_by_role("link", name="协议转让").click()
    page.wait_for_url(f"{base}/negotiated/")
    page.fill("#id_counterparty", buyer.code)
    page.select_option("#id_security", market.security.code)
    page.select_option("#id_side", "sell")
    page.fill("#id_quantity", "500")
    page.fill("#id_price", "10.00")
    page.get_by_role("button", name="申报", exact=True).click()
    message = page.locator(".msg-success")
    expect(message).to_contain_text("确认码为")
    code = re.search(r"确认码为 ([A-Z2-9]{8})", message.inner_text()).group(1)
    proposal = NegotiatedTrade.objects.get()
    expect(page.locator(f'#negotiated-mine tr[data-proposal="{proposal.pk}"]')).to_be_visible()

    # and the buyer, signed in, confirms it with the code
    forget_session(page)
    log_in(page, base, buyer.owner.username)
    page.goto(f"{base}/negotiated/")
    waiting = page.locator(f'#negotiated-waiting form[data-proposal="{proposal.pk}"]')
    expect(waiting).to_contain_text("向您卖出")
    waiting.locator("input[name=code]").fill(code)
    waiting.get_by_role("button", name="确认并成交").click()

    # then the trade is made
    expect(page.locator(".msg-success")).to_contain_text("已确认")
    proposal.refresh_from_db()
    assert proposal.status == "confirmed" and proposal.trade.mode == "negotiated"
    expect(page.locator(f'#negotiated-closed tr[data-proposal="{proposal.pk}"]')).to_contain_text("已确认")


def test_the_confirmation_code_box_is_a_text_box_like_the_others_on_a_phone(browser, live_server):
    # given a proposal waiting for the buyer's confirmation
    from decimal import Decimal

    from exchange.services import negotiated as neg

    market = build_market()
    seller = market.investor(shares=1000)
    buyer = market.investor(cash="50000")
    proposal, _code, _ = neg.negotiated_propose(
        actor=seller.owner,
        account=seller,
        request=neg.NegotiatedRequest(market.security.code, "sell", 100, Decimal("10.00"), buyer.code, "p"),
    )
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844}, is_mobile=True)
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        log_in(page, live_server.url, buyer.owner.username)

        # when the buyer opens the negotiated-transfer page on a phone
        page.goto(f"{live_server.url}/negotiated/")
        code_box = page.locator(f'#negotiated-waiting form[data-proposal="{proposal.pk}"] input[name=code]')
        expect(code_box).to_be_visible()

        # then the code's box is styled as the page's other text boxes: as tall (a finger's target, not the
        # browser's bare 20-odd px box), with the same border
        def looks(selector: str) -> dict:
            return page.evaluate(
                """(selector) => { const s = getComputedStyle(document.querySelector(selector));
                    return {height: s.height, border: s.borderTopColor + ' ' + s.borderTopWidth,
                            radius: s.borderTopLeftRadius, padding: s.paddingLeft}; }""",
                selector,
            )

        code, counterparty = looks(f"#code-{proposal.pk}"), looks("#id_counterparty")
        assert code == counterparty
        assert float(code["height"].removesuffix("px")) >= 36
        # and it is a text box that does not correct the code's letters
        assert code_box.get_attribute("type") == "text" and code_box.get_attribute("spellcheck") == "false"
    finally:
        context.close()
    # (nothing changed by looking)
    proposal.refresh_from_db()
    assert proposal.status == "proposed"
