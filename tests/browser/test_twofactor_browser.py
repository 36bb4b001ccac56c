"""A staff member's first login in headless Chromium: the QR code of enrolment shows under the CSP, a first
code from the "app" confirms it, the recovery codes are shown once, and the staff pages open."""

from __future__ import annotations

import base64

import pytest
from django_otp.oath import TOTP
from playwright.sync_api import Page, expect

from core.models import AuditEvent, Role
from tests.browser.steps import PASSWORD
from tests.conftest import build_market

pytestmark = pytest.mark.browser


def app_code(secret: str) -> str:
    """What an authenticator app shows for the secret typed into it (django-otp's RFC 6238 TOTP)."""
    text = secret.replace(" ", "")
    key = base64.b32decode(text + "=" * (-len(text) % 8))
    return f"{TOTP(key).token():06d}"


def test_first_staff_login_enrols_by_qr_code_then_reaches_the_ledger(page: Page, live_server):
    # given an auditor who never logged in
    market = build_market()
    auditor = market.user(Role.AUDITOR)
    base = live_server.url

    # when they log in with the password
    page.goto(f"{base}/ledger/")
    page.wait_for_url(f"{base}/login/?next=/ledger/")
    page.fill("#id_username", auditor.username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="登录").click()

    # then the enrolment page shows the QR code (a data: image the CSP allows)
    page.wait_for_url(f"{base}/otp/enrol/")
    qr = page.locator("#otp-qr")
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0")

    # when they type the code of the app that scanned it
    page.fill("#id_code", app_code(page.locator("#otp-secret").inner_text()))
    page.locator("#otp-submit").click()

    # then the recovery codes, once, and on to the page they asked for
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    page.locator("#otp-continue").click()
    page.wait_for_url(f"{base}/ledger/")
    assert AuditEvent.objects.filter(actor=auditor, action="otp_enrolled").count() == 1
