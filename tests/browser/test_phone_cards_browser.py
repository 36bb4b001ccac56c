"""Lists shown as cards on a phone (390 px, Chromium), in both languages: every card keeps its border, a security's
name sits whole beside its code, and a lock-up's date stays on one line; the security page's buttons stay in their
card; the counter's holdings cards show the locked and frozen shares.

Found walking the investor's and the market maker's pages on a phone: the last card of a list lost its bottom
edge (invisible on a white card), the market maker's quote cards broke "HuaXing Tech" a few letters a line in
half a card's width, the holdings' "until 2026-12-09" broke at its hyphens into three lines, and the security
page's fourth button ("Negotiated transfer") ran past its card and the screen's edge in English (clipped, so the
page did not scroll sideways: the sideways check alone missed it).
"""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import Page, expect

from balances.services import Holding, securities_issue, shanghai_today
from exchange.models import Quote
from tests.browser.conftest import CHROMIUM_ARGS  # noqa: F401 - the browser fixture is the conftest's
from tests.browser.steps import log_in
from tests.browser.test_phone_browser import overflow, shoot, switch_language
from tests.conftest import build_market

pytestmark = pytest.mark.browser

LONG_NAME = "华兴科技 HuaXing Technology"


def line_count(page: Page, selector: str) -> int:
    """How many lines the element's text takes: the distinct tops of its text's boxes (a flex item is one box
    however many lines it has, so the boxes are its text's, one a line)."""
    return page.evaluate(
        """(selector) => {
            const range = document.createRange();
            range.selectNodeContents(document.querySelector(selector));
            return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
        }""",
        selector,
    )


def bottom_borders(page: Page, table: str) -> list[str]:
    return page.evaluate(
        f"[...document.querySelectorAll('#{table} tbody tr')].map(tr => getComputedStyle(tr).borderBottomWidth)"
    )


def test_the_investors_holdings_cards_keep_their_edges_and_the_lock_up_date_on_one_line(phone, live_server):
    page, language = phone
    # given an investor holding two securities, 1,000 shares of the first under lock-up
    market = build_market()
    market.security.name = LONG_NAME
    market.security.save(update_fields=["name"])
    investor = market.investor(cash="1000", shares=500, security=market.new_security("830777"))
    until = shanghai_today() + dt.timedelta(days=3)
    securities_issue(
        actor=market.depository,
        security_code=market.security.code,
        allocations=[Holding(investor, 3000, 1000, until)],
    )
    log_in(page, live_server.url, investor.owner.username)
    switch_language(page, language)

    # when they open their balances on a 390 px screen
    page.goto(f"{live_server.url}/balances/")
    row = page.locator(f'#positions-table tr[data-security="{market.security.code}"]')
    expect(row).to_be_visible()

    # then every card, the last included, has its bottom edge
    assert bottom_borders(page, "positions-table") == ["1px", "1px"]
    # and the lock-up's date is on one line, not broken at its hyphens
    until_text = page.locator(f'#positions-table tr[data-security="{market.security.code}"] small.muted').last
    expect(until_text).to_contain_text(until.isoformat())
    assert line_count(page, f'#positions-table tr[data-security="{market.security.code}"] td:last-child small') == 1
    # and the security's name is whole, on one line beside its code
    assert line_count(page, f'#positions-table tr[data-security="{market.security.code}"] td small') == 1
    # and nothing scrolls sideways
    assert overflow(page) <= 0
    shoot(page, f"phone-cards-balances-{language}")


def test_the_market_makers_quote_cards_keep_the_name_whole_and_their_edges(phone, live_server):
    page, language = phone
    # given a market maker quoting two securities, one with a long name
    market = build_market()
    market.security.name = LONG_NAME
    market.security.save(update_fields=["name"])
    other = market.new_security("830778", name="东海物流 Donghai Logistics")
    mm = market.market_maker()
    market.issue(mm, 10_000, security=other)
    market.quote(mm, "9.90", "10.10")
    market.quote(mm, "9.90", "10.10", security=other)
    assert Quote.objects.filter(account=mm, status=Quote.Status.ACTIVE).count() == 4  # a bid and an ask each
    log_in(page, live_server.url, mm.owner.username)
    switch_language(page, language)

    # when they open their quote page on a 390 px screen
    page.goto(f"{live_server.url}/quotes/")
    expect(page.locator(f'#quotes-table tr[data-code="{market.security.code}"]')).to_be_visible()

    # then each security's name is on one line beside its code, not broken a few letters a line
    for code in (market.security.code, other.code):
        assert line_count(page, f'#quotes-table tr[data-code="{code}"] td small') == 1, code
    # and every card, the last included, has its bottom edge
    assert bottom_borders(page, "quotes-table") == ["1px", "1px"]
    assert overflow(page) <= 0
    shoot(page, f"phone-cards-quotes-{language}")


def test_the_security_pages_ways_to_trade_stay_inside_their_card(phone, live_server):
    page, language = phone
    # given an investor, and a security every trading mode of the venue's open profile applies to
    market = build_market()
    investor = market.investor(cash="1000")
    log_in(page, live_server.url, investor.owner.username)
    switch_language(page, language)

    # when they open the security's page on a 390 px screen
    page.goto(f"{live_server.url}/securities/{market.security.code}/")
    buttons = page.locator("#security-market p.actions a.button")
    expect(buttons).to_have_count(4)  # buy, sell, request a quote, negotiated transfer

    # then each of the four buttons is whole inside the card that holds them, and on the screen
    edges = page.evaluate(
        """() => { const links = [...document.querySelectorAll('#security-market p.actions a.button')];
            const card = links[0].closest('.card').getBoundingClientRect();
            return {card: [card.left, card.right], screen: document.documentElement.clientWidth,
                    buttons: links.map(a => {
                        const r = a.getBoundingClientRect(); return [a.innerText, r.left, r.right]; })}; }"""
    )
    left, right = edges["card"]
    for label, start, end in edges["buttons"]:
        assert left <= start and end <= right <= edges["screen"], (label, start, end, edges["card"])
    assert overflow(page) <= 0
    shoot(page, f"phone-security-actions-{language}")


def test_the_counters_holdings_cards_show_what_is_locked_and_frozen(phone, live_server):
    page, language = phone
    # given a client of the broker holding 3,000 shares, 1,000 of them under lock-up
    market = build_market()
    client = market.investor(cash="1000")
    securities_issue(
        actor=market.depository,
        security_code=market.security.code,
        allocations=[Holding(client, 3000, 1000, shanghai_today() + dt.timedelta(days=3))],
    )
    log_in(page, live_server.url, market.staff.username)
    switch_language(page, language)

    # when the broker's staff open the client at the counter on a 390 px screen
    page.goto(f"{live_server.url}/counter/{client.code}/")
    row = page.locator(f'#positions-table tr[data-security="{market.security.code}"]')
    expect(row).to_be_visible()

    # then the card adds up: beside the total and what is available, the locked and the frozen shares are shown
    # (they were hidden on a phone, and 1,000 of the 3,000 went unexplained)
    cells = row.locator("td:visible")
    labels = [cell.get_attribute("data-label") for cell in cells.all()]
    locked, frozen = ("限售", "司法冻结") if language == "zh" else ("Locked", "Frozen")
    assert locked in labels and frozen in labels, labels
    expect(row.locator(f'td[data-label="{locked}"]')).to_have_text("1,000")
    expect(row.locator(f'td[data-label="{frozen}"]')).to_have_text("0")
    assert overflow(page) <= 0
    shoot(page, f"phone-counter-holdings-{language}")
