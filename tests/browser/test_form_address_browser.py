"""An address that only takes a form's post, reached with a GET the user did not mean: the page the form is on, not
a blank page. (Found by a walk: Django answered such a GET with an empty 405, which Chromium showed as an error
page with no way back: after the language switch on a refused form, drawn at its post's address, and after a
login that followed a form posted when the session had ended.)"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.sessions.models import Session
from playwright.sync_api import Page, expect

from exchange.models import Order
from exchange.services import OrderRequest, order_place
from tests.browser.steps import PASSWORD, log_in
from tests.conftest import build_market, cash_of, snapshot

pytestmark = pytest.mark.browser


def test_the_language_switch_on_a_refused_deposit_shows_the_clients_page(page: Page, live_server):
    # given a client at the counter, and staff who typed a deposit of 0, refused on its form
    market = build_market()
    client = market.investor(cash="1000")
    base = live_server.url
    log_in(page, base, market.staff.username)
    page.goto(f"{base}/counter/{client.code}/")
    page.fill("#id_deposit-amount", "0")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="存入", exact=True).click()
    page.wait_for_url(f"{base}/counter/{client.code}/deposit/")
    expect(page.locator("#id_deposit-amount_error")).to_be_visible()
    before = snapshot()

    # when the staff member switches the page to English
    page.locator(".langswitch button[value='en']").click()

    # then the client's page is shown, in English, and nothing was deposited
    page.wait_for_url(f"{base}/counter/{client.code}/")
    expect(page.get_by_role("button", name="Deposit", exact=True)).to_be_visible()
    expect(page.locator("#cash-total")).to_have_text("1,000.00")
    assert cash_of(client).available == Decimal("1000")
    assert snapshot() == before


def test_a_form_posted_after_the_session_ended_leads_back_to_its_page_after_the_login(page: Page, live_server):
    # given an investor with a resting order, on the list of their orders
    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="50000")
    order, _ = order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest(market.security.code, "buy", 100, Decimal("9.50"), "DAY", "address-1"),
    )
    base = live_server.url
    log_in(page, base, investor.owner.username)
    page.goto(f"{base}/orders/")

    # when the session ends while the page is open, and the investor then cancels the order
    Session.objects.all().delete()
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"form[action='/orders/{order.pk}/cancel/'] button").click()
    page.wait_for_url(f"{base}/login/?next=/orders/{order.pk}/cancel/")
    # and logs in again on the page it was sent to
    page.fill("#id_username", investor.owner.username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="登录").click()

    # then the list of orders is shown, the order still resting there: the post before the login did nothing
    page.wait_for_url(f"{base}/orders/")
    expect(page.locator(f'tr[data-order="{order.pk}"]')).to_contain_text("9.50")
    order.refresh_from_db()
    assert order.status == Order.Status.OPEN
