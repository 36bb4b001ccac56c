"""Steps that several browser tests take through the pages."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from core.models import User
from core.roles import STAFF_ROLES
from tests.conftest import totp_code, totp_enrol

PASSWORD = "pw-test-2026"


def forget_session(page: Page) -> None:
    """Sign out by forgetting the cookies, as a new visitor comes, the page left first: the last page's scripts
    (a poll, the session timer) would otherwise go on asking without a cookie, and the login page the server
    answers such a request with sets a CSRF cookie of its own, which, landing after the one of the login page
    the test goes to next, made that page's form fail the CSRF check (a CI run under load: 403 on /login/)."""
    page.goto("about:blank")
    page.context.clear_cookies()


def log_in(page: Page, base: str, username: str, password: str = PASSWORD) -> None:
    """The login page; for a staff role then the code page, with the current code of their authenticator
    (enrolled first if need be), as a staff member types it from the app. Lands on the market watch."""
    user = User.objects.get(username=username)
    device = totp_enrol(user) if user.role in STAFF_ROLES else None  # before the login: the server reads it
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.get_by_role("button", name="登录").click()
    if device is not None:
        page.wait_for_url(f"{base}/otp/?next=%2F")
        page.fill("#id_code", totp_code(device))
        page.locator("#otp-submit").click()
    page.wait_for_url(f"{base}/")


def buy_500_from_the_ask_at_10_10(page: Page, base: str, code: str, *, available: str) -> None:
    """From the market watch: open the ticket of ``code``, take the 10.10 ask, buy 500 IOC, land on my orders."""
    row = page.locator(f'#market-table tr[data-code="{code}"]')
    expect(row.locator('[data-field="ask"]')).to_have_text("10.10")
    row.get_by_text("Test Co").click()
    page.wait_for_url(f"{base}/orders/new/?security={code}")
    expect(page.locator("#available-cash")).to_have_text(available)
    page.locator("#quote-book tr.ask").first.click()  # takes the ask's price, side buy
    expect(page.locator("#id_limit_price")).to_have_value("10.10")
    page.fill("#id_quantity", "500")
    page.get_by_label("立即成交剩余撤销").check()
    expect(page.locator("#order-estimate")).to_have_text("委托金额（不含费用）: 5,050.00")
    page.locator("#review-order").click()  # the review restates the order, with its fee, before it is placed
    expect(page.locator("#review-total")).to_have_text("5,055.00")
    page.locator("#place-order").click()
    page.wait_for_url(f"{base}/orders/")
    expect(page.locator(".msg-success")).to_contain_text("已成交（已成交 500 股）")
