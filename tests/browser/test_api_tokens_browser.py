"""The API tokens page in headless Chromium: a broker's staff member (past the second factor) creates a named
system token, sees its key once and copies it, the key works on the API, and revoking it asks first."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from rest_framework.test import APIClient

from core.models import ApiToken
from core.tokens import token_digest
from tests.browser.steps import PASSWORD, log_in
from tests.conftest import build_market

pytestmark = pytest.mark.browser


def ping(key: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/v1/ping/").status_code


def test_staff_create_a_system_token_copy_its_key_once_and_revoke_it_after_confirming(page: Page, live_server):
    # given broker staff signed in on the web (password and code), on the API tokens page
    market = build_market()
    staff = market.staff
    base = live_server.url
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    log_in(page, base, staff.username)
    page.goto(f"{base}/settings/api-tokens/")
    expect(page.locator("#no-api-tokens")).to_be_visible()

    # when they create a token for their back office, for 60 days
    page.fill("#id_name", "后台系统")
    page.fill("#id_days", "60")
    page.fill("#id_password", PASSWORD)
    page.locator("#api-token-create").click()

    # then the key is shown once, copies to the clipboard, and works on the API
    key_field = page.locator("#api-token-key")
    expect(key_field).to_have_value(re.compile(r"^[0-9a-f]{40}$"))
    key = key_field.input_value()
    token = ApiToken.objects.get(user=staff)
    assert (token.digest, token.name, token.kind) == (token_digest(key), "后台系统", "system")
    copy = page.locator("#api-token-copy")
    label = copy.text_content()
    copy.click()
    expect(copy).not_to_have_text(label or "")  # it says it copied
    assert page.evaluate("navigator.clipboard.readText()") == key
    assert ping(key) == 200
    row = page.locator(f'#api-tokens-table tr[data-token="{token.pk}"]')
    expect(row).to_contain_text(key[:8])

    # when the page is opened again, the key is not there
    page.goto(f"{base}/settings/api-tokens/")
    expect(page.locator("#api-token-key")).to_have_count(0)
    assert key not in page.content()

    # when they press Revoke and dismiss the question
    questions: list[str] = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    row.get_by_role("button").click()

    # then nothing happens: the question named the token, which still works
    expect(row).to_be_visible()
    assert len(questions) == 1 and "后台系统" in questions[0]
    assert ping(key) == 200

    # when they press it again and accept
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button").click()

    # then the token is gone from the page and refused by the API
    expect(page.locator(".msg-success")).to_contain_text("后台系统")
    expect(row).to_have_count(0)
    assert ping(key) == 401
    assert ApiToken.objects.get(pk=token.pk).revoked_reason == "page"


def test_a_refused_token_form_says_why_beside_each_field_and_each_revoke_button_names_its_token(
    page: Page, live_server
):
    # given an investor on the API tokens page
    investor = build_market().investor().owner
    base = live_server.url
    log_in(page, base, investor.username)
    page.goto(f"{base}/settings/api-tokens/")

    # when they send the form without a name and with too long a lifetime, by Enter
    page.fill("#id_days", "9999")
    page.locator("#id_days").press("Enter")

    # then the exchange answers (not the browser's own bubble, in the browser's language): each error in the page's
    # language under its field, read with it, and the keyboard on the first; no token is made
    page.wait_for_url(f"{base}/settings/api-tokens/")
    for field in ("id_name", "id_days"):
        expect(page.locator(f"#{field}_error")).to_be_visible()
        expect(page.locator(f"#{field}")).to_have_attribute("aria-invalid", "true")
        expect(page.locator(f"#{field}")).to_have_attribute("aria-describedby", re.compile(rf"\b{field}_error\b"))
    expect(page.locator("#id_name")).to_be_focused()
    assert not ApiToken.objects.filter(user=investor).exists()

    # when they make two tokens
    for name in ("对账系统", "行情系统"):
        page.fill("#id_name", name)
        page.fill("#id_days", "30")
        page.fill("#id_password", PASSWORD)
        page.locator("#api-token-create").click()
        expect(page.locator("#api-token-created")).to_contain_text(name)
        # the keyboard (and a screen reader) starts at the key shown once, not at the top of the page
        expect(page.locator("#api-token-created h2")).to_be_focused()

    # then each Revoke button is named with its token, for a screen reader going through the buttons
    for name in ("对账系统", "行情系统"):
        expect(page.get_by_role("button", name=re.compile(name))).to_have_count(1)
    assert ApiToken.objects.filter(user=investor, kind="system").count() == 2


def test_on_a_desktop_the_token_form_keeps_a_readable_width_and_the_page_leads_back_to_the_settings(
    page: Page, live_server
):
    # given an investor on the API tokens page of a 1280px screen
    investor = build_market().investor().owner
    base = live_server.url
    log_in(page, base, investor.username)
    page.goto(f"{base}/settings/api-tokens/")

    # then the form for a new token is as wide as the other settings pages' (not a 1150px name field)
    assert page.locator("#api-token-new").bounding_box()["width"] <= 640
    assert page.locator("#id_name").bounding_box()["width"] < 640

    # when they follow the link above the heading, they are back at their settings, as from the other settings pages
    page.locator("#api-tokens-back").click()
    page.wait_for_url(f"{base}/settings/")
    assert not ApiToken.objects.filter(user=investor).exists()
