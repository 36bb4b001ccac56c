"""The broker counter on a phone (390 px, Chromium), in both languages: amounts of millions and the time beside a
staff member's name stay inside their cards.

Found walking the counter as its staff on a phone: on the cash approvals page "2,000,000.00" ran past its card's
edge (half a card's width, beside its label, is narrower than the amount), and "staff1 2026-12-07 03:35" was
broken a few digits a line; the clients list ran past its cells the same way, and a frozen client's name with
its "Account frozen" mark ran past the card and the screen's edge; in a client's orders, the staff member who
entered an order at the counter was written a letter a line ("s t a f f 1") beside the "Counter" mark; in the KYC
queue an applicant's user name was written a letter a line, and "Sent, awaiting review" ran into the next cell.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from core.roles import Role
from counter import services
from counter.models import CashRequest
from exchange.services import OrderRequest
from kyc.idcard import check_character
from tests.browser.conftest import CHROMIUM_ARGS  # noqa: F401 - the browser fixture is the conftest's
from tests.browser.steps import log_in
from tests.browser.test_phone_browser import overflow, shoot, switch_language
from tests.browser.test_phone_cards_browser import line_count
from tests.conftest import build_market
from tests.supervision_fixtures import freeze_approved
from tests.test_kyc_views import online_profile


def check_id(first17: str) -> str:
    return first17 + check_character(first17)


LEGAL = {"legal_authority": "上海市第一中级人民法院", "legal_document": "(2026)沪01执1号"}

pytestmark = pytest.mark.browser


def cells_running_past(page: Page, selector: str) -> list[str]:
    """The cells under ``selector`` whose content is wider than the cell (it runs past the card's edge)."""
    return page.evaluate(
        """(selector) => [...document.querySelectorAll(selector)]
            .filter(td => td.offsetParent && td.scrollWidth > td.clientWidth + 1)
            .map(td => `${td.dataset.label}: ${td.innerText} (${td.scrollWidth} > ${td.clientWidth})`)""",
        selector,
    )


def test_cash_approvals_keep_millions_and_the_proposers_time_inside_their_cards(phone, live_server):
    page, language = phone
    # given a client with 2,000,000.00 deposited by two staff members, and a deposit of 3,000,000.00 waiting
    market = build_market()
    client = market.investor()
    for amount in ("2000000.00", "3000000.00"):
        services.counter_cash(
            staff=market.staff,
            account_code=client.code,
            direction=CashRequest.Direction.DEPOSIT,
            amount=Decimal(amount),
        )
    first = CashRequest.objects.filter(account=client).order_by("pk").first()
    services.cash_request_approve(staff=market.checker, request_id=first.pk)
    log_in(page, live_server.url, market.checker.username)
    switch_language(page, language)

    # when the second staff member opens the cash approvals on a 390 px screen
    page.goto(f"{live_server.url}/counter/cash-requests/")
    expect(page.locator("#waiting-table tbody tr")).to_have_count(1)
    expect(page.locator("#decided-table tbody tr")).to_have_count(1)

    # then each amount, name and time is inside its cell, the times each on one line, and nothing scrolls sideways
    assert cells_running_past(page, "#waiting-table td, #decided-table td") == []
    assert line_count(page, "#waiting-table td.proposed small") == 1
    assert line_count(page, "#decided-table td.decided small") == 1
    assert overflow(page) <= 0
    # and what was shown is still there: the amounts, grouped
    expect(page.locator("#waiting-table")).to_contain_text("3,000,000.00")
    expect(page.locator("#decided-table")).to_contain_text("2,000,000.00")
    shoot(page, f"phone-counter-cash-requests-{language}")


def test_the_clients_list_keeps_an_amount_of_millions_and_a_frozen_name_inside_its_card(phone, live_server):
    page, language = phone
    # given a client of the broker with 12,345,678.90 in cash, and another whose whole account a court froze
    market = build_market()
    client = market.investor(cash="12345678.90")
    frozen = market.investor(cash="100")
    regulators = [market.user(Role.REGULATOR) for _ in range(2)]
    freeze_approved(*regulators, frozen, reason="court order", legal=LEGAL, whole_account=True)
    log_in(page, live_server.url, market.staff.username)
    switch_language(page, language)

    # when the staff member opens the clients list on a 390 px screen
    page.goto(f"{live_server.url}/counter/")
    expect(page.locator("main table")).to_contain_text(client.code)

    # then the amounts are inside their cells
    assert cells_running_past(page, "main table td") == []
    expect(page.locator("main table")).to_contain_text("12,345,678.90")
    # and so is the frozen client's name with its mark, and nothing scrolls sideways
    expect(page.locator('main table [data-field="frozen"]')).to_have_count(1)
    assert overflow(page) <= 0
    shoot(page, f"phone-counter-clients-{language}")


def test_a_clients_order_entered_at_the_counter_names_its_staff_member_on_one_line(phone, live_server):
    page, language = phone
    # given a client's order entered at the counter by a staff member
    market = build_market()
    client = market.investor(cash="100000")
    order, _ = services.counter_order_place(
        staff=market.staff,
        account_code=client.code,
        request=OrderRequest(
            security=market.security.code,
            side="buy",
            quantity=100,
            limit_price=market.security.band_low,
            time_in_force="DAY",
            client_order_id="phone-entered-1",
        ),
    )
    log_in(page, live_server.url, market.staff.username)
    switch_language(page, language)

    # when the staff member opens the client's page and orders on a 390 px screen
    for path in (f"/counter/{client.code}/", f"/counter/{client.code}/orders/"):
        page.goto(f"{live_server.url}{path}")
        cell = f'tr[data-order="{order.pk}"] td.entered small'
        expect(page.locator(cell)).to_have_text(market.staff.username)
        # then the staff member's name is on one line, inside its cell
        assert line_count(page, cell) == 1, path
        assert cells_running_past(page, f'tr[data-order="{order.pk}"] td') == [], path
        assert overflow(page) <= 0


@pytest.mark.usefixtures("kyc_folders")
def test_the_kyc_queue_keeps_user_names_and_states_inside_their_cards(phone, live_server):
    page, language = phone
    # given an application sent online by an applicant with a long user name, and one opened at the counter
    market = build_market()
    sent = online_profile(market, username="onlineapplicant2026")
    opened = online_profile(market, username="counterclient", id_number=check_id("11010519900307456"), applied=False)
    log_in(page, live_server.url, market.staff.username)
    switch_language(page, language)

    # when the staff member opens the KYC queue's list of all clients on a 390 px screen
    page.goto(f"{live_server.url}/kyc/applications/?tab=all")
    expect(page.locator(f'#queue-table tr[data-id="{sent.pk}"]')).to_be_visible()
    expect(page.locator(f'#queue-table tr[data-id="{opened.pk}"]')).to_be_visible()

    # then every cell's content is inside its cell, each user name on one line, and nothing scrolls sideways
    assert cells_running_past(page, "#queue-table td") == []
    for profile in (sent, opened):
        assert line_count(page, f'#queue-table tr[data-id="{profile.pk}"] td.account small') == 1
    assert overflow(page) <= 0
    shoot(page, f"phone-kyc-queue-{language}")

    # and on the sent application's page its history names the applicant inside the cell too
    page.goto(f"{live_server.url}/kyc/applications/{sent.pk}/")
    expect(page.locator("#history")).to_contain_text("onlineapplicant2026")
    assert cells_running_past(page, "#history td") == []
    assert overflow(page) <= 0
