"""A name typed without spaces, as long as the form takes (100 characters), on a phone (390 px) in both languages:
the pages that show it wrap it instead of scrolling sideways. (Found by a walk: the investor's own account page,
the counter's client page and the counter's order ticket were 929, 1,454 and 846 px wide.)"""

from __future__ import annotations

import pytest

from core.models import Account
from demo.onboarding import approved_investor
from tests.browser.steps import forget_session, log_in
from tests.browser.test_phone_browser import overflow, switch_language
from tests.conftest import build_market

pytestmark = pytest.mark.browser

LONG_NAME = "Wolfeschlegelsteinhausenbergerdorff" * 2 + "x" * 30  # 100 letters, no space to break at


def test_a_long_unbroken_name_wraps_on_the_investors_and_the_counters_pages(phone, live_server):
    page, language = phone
    # given an approved investor whose real name is 100 letters without a space
    market = build_market()
    account = approved_investor(
        username="longname",
        broker=market.broker,
        maker=market.staff,
        checker=market.checker,
        seq=31,
        password="pw-test-2026",
        real_name=LONG_NAME,
    )
    assert len(LONG_NAME) == 100
    base = live_server.url

    # when the investor reads their own account page
    log_in(page, base, "longname")
    switch_language(page, language)
    page.goto(f"{base}/kyc/me/")
    widths = {"/kyc/me/": overflow(page)}
    shown = page.locator("main").inner_text()

    # and the broker's staff read the client's page and order ticket at the counter
    forget_session(page)
    log_in(page, base, market.staff.username)
    switch_language(page, language)
    for path in (f"/counter/{account.code}/", f"/counter/{account.code}/orders/new/"):
        page.goto(f"{base}{path}")
        widths[path] = overflow(page)

    # then no page scrolls sideways, and the name is still shown whole (wrapped, not cut)
    assert widths == {"/kyc/me/": 0, f"/counter/{account.code}/": 0, f"/counter/{account.code}/orders/new/": 0}
    assert LONG_NAME in shown.replace("\n", "")
    assert Account.objects.get(pk=account.pk).owner.kyc.real_name == LONG_NAME  # nothing about it changed
