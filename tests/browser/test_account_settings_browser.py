"""A user's own settings in headless Chromium, on a phone: from the top bar to the settings, an email address set
and confirmed by the link mailed to it, then the password changed and the next login made with the new one."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.core.cache import cache
from playwright.sync_api import Page, expect

from config.celery import app as celery_app
from core.models import AuditEvent, User
from tests.browser.steps import PASSWORD, log_in
from tests.conftest import build_market

pytestmark = pytest.mark.browser

NEW_PASSWORD = "Fresh-pass-2027!"


@pytest.fixture(autouse=True)
def _reset_limits(settings):
    """Reset requests are not limited here, and none is left counted from an earlier run (the cache is Redis)."""
    settings.PASSWORD_RESET_IP_RATE = "100000/hour"
    settings.PASSWORD_RESET_ADDRESS_RATE = "100000/hour"
    cache.delete("password-reset:ip:127.0.0.1")


@pytest.fixture(autouse=True)
def _tasks_in_process(monkeypatch):
    """The mail tasks the commits queue run at once, in the live server's thread, instead of waiting for a worker."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)


@pytest.fixture
def phone(browser, live_server):
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844}, is_mobile=True)
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def overflow(page: Page) -> int:
    # Against the phone's width: a mobile browser's innerWidth grows with what runs past (it read 0 whatever did).
    return page.evaluate("document.documentElement.scrollWidth") - page.viewport_size["width"]


def test_an_investor_sets_and_confirms_an_address_then_changes_the_password(phone: Page, live_server):
    # given an investor without an email address, signed in on a phone
    page = phone
    base = live_server.url
    user = build_market().investor().owner
    log_in(page, base, user.username)

    # when they open their settings from the top bar
    page.locator("#my-settings").click()
    page.wait_for_url(f"{base}/settings/")
    expect(page.locator("#settings-username")).to_have_text(user.username)
    expect(page.locator("#settings-email")).to_have_attribute("data-set", "0")
    assert overflow(page) <= 0

    # and ask for an address, with their password
    page.locator("#settings-email-link").click()
    page.wait_for_url(f"{base}/settings/email/")
    assert overflow(page) <= 0
    page.fill("#id_new_email", "investor@example.com")
    page.fill("#id_password", PASSWORD)
    page.locator("#email-submit").click()

    # then a link goes to that address, and the address is not theirs yet
    page.wait_for_url(f"{base}/settings/email/")
    expect(page.locator(".msg-success")).to_contain_text("investor@example.com")
    (confirm,) = mail.outbox
    assert confirm.to == ["investor@example.com"]
    assert User.objects.get(pk=user.pk).email == ""

    # when they open the link and confirm
    (link,) = set(re.findall(r"https?://\S+", confirm.body))  # once in each language
    page.goto(link)
    expect(page.locator("#email-confirm")).to_be_visible()
    assert overflow(page) <= 0
    page.locator("#email-confirm").click()

    # then it is their address, shown masked on the settings page
    page.wait_for_url(f"{base}/settings/")
    expect(page.locator("#settings-email")).to_have_text("i***@example.com")
    assert User.objects.get(pk=user.pk).email == "investor@example.com"

    # when they change the password, first with a wrong current one
    page.locator("#settings-password-link").click()
    page.wait_for_url(f"{base}/settings/password/")
    assert overflow(page) <= 0
    page.fill("#id_old_password", "not-my-password")
    page.fill("#id_new_password1", NEW_PASSWORD)
    page.fill("#id_new_password2", NEW_PASSWORD)
    page.locator("#password-submit").click()
    expect(page.locator("#id_old_password_error")).to_be_visible()
    expect(page.locator("#id_old_password")).to_have_attribute("aria-invalid", "true")
    page.fill("#id_old_password", PASSWORD)
    page.fill("#id_new_password1", NEW_PASSWORD)
    page.fill("#id_new_password2", NEW_PASSWORD)
    page.locator("#password-submit").click()

    # then they stay signed in, the new address is told, and the old password no longer logs in
    page.wait_for_url(f"{base}/settings/")
    expect(page.locator(".msg-success")).to_be_visible()
    assert [m.to for m in mail.outbox[1:]] == [["investor@example.com"]]
    actions = AuditEvent.objects.filter(actor=user).values_list("action", "outcome")
    assert {("email_change_request", "ok"), ("email_change", "ok"), ("password_change", "refused")} <= set(actions)
    assert ("password_change", "ok") in set(actions)
    page.locator("form[action='/logout/'] button").click()
    page.wait_for_url(f"{base}/login/")
    log_in(page, base, user.username, NEW_PASSWORD)


def test_the_forgotten_password_page_is_linked_from_the_login_and_says_the_same_for_any_address(
    page: Page, live_server
):
    base = live_server.url
    page.goto(f"{base}/login/")
    page.locator("#forgot-password").click()
    page.wait_for_url(f"{base}/password-reset/")
    page.fill("#id_email", "nobody@example.com")
    page.locator("#reset-submit").click()
    page.wait_for_url(f"{base}/password-reset/sent/")
    expect(page.locator("#reset-sent")).to_be_visible()
    assert mail.outbox == []


def test_on_a_phone_the_settings_pages_use_the_same_width_as_the_others(phone: Page, live_server):
    # given an investor signed in on a phone
    page = phone
    base = live_server.url
    user = build_market().investor().owner
    log_in(page, base, user.username)

    def left(path: str, selector: str) -> float:
        page.goto(f"{base}{path}")
        return page.locator(selector).bounding_box()["x"]

    # when they open the settings, the email page and the API tokens page
    # then their cards start where every page's content starts (no second margin inside the page's own)
    tokens = left("/settings/api-tokens/", "#api-token-new")
    assert tokens < 16
    assert left("/settings/", "#settings-summary") == tokens
    assert left("/settings/email/", "#email-change") == tokens
    assert overflow(page) <= 0
