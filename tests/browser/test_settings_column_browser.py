"""On a desktop, a settings page's messages are as wide as its column, not the whole page (found by a review: the
email page's confirmation sat across 1,200 pixels above a 420-pixel form)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.steps import PASSWORD, log_in
from tests.conftest import build_market

pytestmark = pytest.mark.browser


def test_a_settings_pages_message_is_as_wide_as_its_column(page: Page, live_server):
    # given an investor signed in on a desktop (the browser tests' page: 1280 × 900, in Chinese)
    base = live_server.url
    user = build_market().investor().owner
    log_in(page, base, user.username)
    # when they ask for an email address to be confirmed
    page.goto(f"{base}/settings/email/")
    page.fill("#id_new_email", "investor@example.com")
    page.fill("#id_password", PASSWORD)
    page.locator("#email-submit").click()
    page.wait_for_url(f"{base}/settings/email/")
    # then the message says so within the form's column, left and right edges alike
    message = page.locator(".msg-success")
    expect(message).to_contain_text("investor@example.com")
    box, column = message.bounding_box(), page.locator("#email-change").bounding_box()
    assert abs(box["x"] - column["x"]) <= 1
    assert abs(box["width"] - column["width"]) <= 1
