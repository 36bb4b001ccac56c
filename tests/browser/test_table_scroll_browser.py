"""A table wider than its box scrolls inside the box, and only there: the page beside it keeps the window's width
(headless Chromium, the regulator's console at a tablet's width)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from core.models import Role
from tests.browser.steps import forget_session, log_in
from tests.conftest import build_market
from tests.supervision_fixtures import freeze_approved

pytestmark = pytest.mark.browser

TABLET = {"width": 800, "height": 900}


def test_the_consoles_freeze_table_scrolls_in_its_box_not_the_page(page: Page, live_server):
    # given an active freeze (its row has a release form, whose label is visually hidden) and a regulator
    market = build_market()
    investor = market.investor(cash="1000", shares=500)
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    freeze = freeze_approved(
        reg1, reg2, investor, security=market.security.code, quantity=100, reason="财产保全 Asset preservation",
        legal={"legal_reference": "上海金融法院 (2026)沪74执保123号 Shanghai Financial Court preservation order"},
    )  # fmt: skip
    log_in(page, live_server.url, reg1.username)

    # when the regulator opens the console in a window narrower than the freeze table
    page.set_viewport_size(TABLET)
    page.goto(f"{live_server.url}/supervision/")
    row = page.locator(f'#freezes-table tr[data-freeze="{freeze.pk}"]')
    expect(row.locator('[data-action="release"]')).to_have_count(1)
    box = page.locator(".table-scroll:has(#freezes-table)")
    assert box.evaluate("b => b.scrollWidth > b.clientWidth"), "the table is wider than its box, as on a tablet"

    # then the table scrolls in its box and the page does not scroll sideways
    assert page.evaluate("document.documentElement.scrollWidth") <= TABLET["width"]
    # and the release form's label is still there for a screen reader, nothing else changed on the row
    expect(row.get_by_label("解除原因")).to_have_count(1)
    expect(row.locator(".status")).to_have_text("有效")


# Every table and scrolling box of a page that runs past its width, with its headers' widths (what to mend).
RUNS_PAST = """() => Array.from(document.querySelectorAll(".table-scroll, table"))
  .filter(el => el.scrollWidth > el.clientWidth + 1)
  .map(el => `${el.getAttribute("aria-label") || el.id || el.className}: ${el.scrollWidth - el.clientWidth} px past; `
    + Array.from(el.querySelectorAll("th")).map(th => `${th.textContent.trim()} ${th.offsetWidth}`).join(" | "))"""


def test_on_a_laptop_no_table_of_any_role_runs_past_its_box_in_english(browser, live_server, settings):
    # given the demo market, and every role's pages (those the accessibility audit visits)
    from django.core.management import call_command

    from tests.browser.test_accessibility_browser import DEMO_PASSWORD, _pages

    settings.DEMO_MODE = True
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("demo_data")
    pages = _pages()
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    found: list[str] = []
    try:
        for username, paths in pages.items():
            forget_session(page)
            log_in(page, live_server.url, username, DEMO_PASSWORD)
            page.locator(".langswitch button[value='en']").click()
            page.wait_for_load_state()
            # when each opens them in English, the longer language, at 1280 px
            for path in paths:
                response = page.goto(f"{live_server.url}{path}")
                assert response is not None and response.status == 200, (username, path)
                found += [f"{username} {path}: {run}" for run in page.evaluate(RUNS_PAST)]
    finally:
        context.close()
    # then every table fits its box: headers wrap between their words, a trade's ledger reference between its
    # parts (the auditor's trades ran 355 px past; the regulator's freezes 25 px)
    assert not found, "\n".join(found)
