"""The counter's questions before an irreversible step are asked only of what the server would carry out.

Found walking the counter as its staff: a client's open order was cancelled at the first press of Cancel, with no
question (the investor's own orders page asks), and the order ticket asked "Place this order for INV…: buy 0 shares …?"
(and of -100, 100.5 and 99,999,999,999,999 shares, and of a price outside the day's band), the deposit form
"Deposit 1e3 CNY?" and "… 0.001 CNY?" and asked a second staff member's approval of 500,000,000.00 CNY, above
the limit per movement; each time the staff member said yes and the server then refused it.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from balances.services import cash_movement_limit
from counter import services
from counter.models import CashRequest
from exchange.models import Order
from exchange.services import OrderRequest
from tests.browser.conftest import CHROMIUM_ARGS  # noqa: F401 - the browser fixture is the conftest's
from tests.browser.steps import log_in
from tests.browser.test_back_office_browser import cash_figures
from tests.browser.test_phone_browser import switch_language
from tests.conftest import build_market

pytestmark = pytest.mark.browser


def asked(page: Page) -> list[str]:
    questions: list[str] = []
    page.on("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    return questions


def test_the_counter_ticket_asks_nothing_of_an_order_the_server_refuses(page: Page, live_server):
    # given a client of the broker with cash, and the security's price band today
    market = build_market()
    client = market.investor(cash="100000")
    low, high = market.security.band_low, market.security.band_high
    log_in(page, live_server.url, market.staff.username)
    page.goto(f"{live_server.url}/counter/{client.code}/orders/new/?security={market.security.code}")
    questions = asked(page)

    # when the staff member types a quantity that is no whole positive number, or one above the largest, and
    # presses Place
    page.fill("#id_limit_price", f"{low:f}")
    for bad in ("0", "-100", "100.5", "99999999999999"):
        page.fill("#id_quantity", bad)
        page.locator("main form button[type=submit]").click()
        # then nothing is asked: the page says what is wrong with the quantity
        expect(page.locator(".field.has-error #id_quantity")).to_be_visible()
    # when the price is outside the day's band, on either side
    page.fill("#id_quantity", "100")
    for bad in (low - Decimal("0.01"), high + Decimal("1")):
        page.fill("#id_limit_price", f"{bad:f}")
        page.locator("main form button[type=submit]").click()
        # then nothing is asked either: the page names the band
        expect(page.locator("main")).to_contain_text(f"{high:f}")
    assert questions == []
    # and the ticket does not promise quotes it does not show
    expect(page.locator("#id_security_helptext")).to_have_count(0)

    # when the order is one the server takes, the question is asked, and a no places nothing
    page.fill("#id_limit_price", f"{low:f}")
    page.locator("main form button[type=submit]").click()
    page.wait_for_timeout(200)
    assert len(questions) == 1 and client.code in questions[0] and "100" in questions[0], questions
    assert not Order.objects.filter(account=client).exists()


def test_a_deposit_the_server_refuses_asks_nothing(page: Page, live_server):
    # given a client of the broker, and the broker's limit per movement
    market = build_market()
    client = market.investor()
    limit = cash_movement_limit(client)
    log_in(page, live_server.url, market.staff.username)
    page.goto(f"{live_server.url}/counter/{client.code}/")
    questions = asked(page)
    before = cash_figures(client)

    # when the staff member types an amount the server refuses and presses Deposit
    for bad in ("1e3", "0.001"):
        page.fill("#id_deposit-amount", bad)
        page.get_by_role("button", name="存入", exact=True).click()
        # then nothing is asked: the page says what is wrong with the amount
        expect(page.locator(".field.has-error #id_deposit-amount")).to_be_visible()
    page.fill("#id_deposit-amount", f"{limit + 1000:f}")
    page.get_by_role("button", name="存入", exact=True).click()
    expect(page.locator(".form-errors")).to_contain_text(f"{limit:,.2f}")
    assert questions == []
    assert cash_figures(client) == before

    # when the amount is one the server takes, the question is asked, and a no moves nothing
    page.fill("#id_deposit-amount", "1000")
    page.get_by_role("button", name="存入", exact=True).click()
    page.wait_for_timeout(200)
    assert len(questions) == 1 and "1,000.00" in questions[0], questions
    assert cash_figures(client) == before


def test_cancelling_a_clients_order_asks_first_and_a_no_keeps_it(page: Page, live_server):
    # given a client's open DAY order entered at the counter
    market = build_market()
    client = market.investor(cash="100000")
    order, _ = services.counter_order_place(
        staff=market.staff,
        account_code=client.code,
        request=OrderRequest(
            security=market.security.code,
            side=Order.Side.BUY,
            quantity=100,
            limit_price=market.security.band_low,
            time_in_force=Order.TimeInForce.DAY,
            client_order_id="counter-cancel-1",
        ),
    )
    assert order.is_open
    log_in(page, live_server.url, market.staff.username)
    questions = asked(page)

    # when the staff member presses Cancel on the client's orders, and on the client's page, and says no
    for path in (f"/counter/{client.code}/orders/", f"/counter/{client.code}/"):
        page.goto(f"{live_server.url}{path}")
        page.locator(f'tr[data-order="{order.pk}"] button.danger').click()
        page.wait_for_timeout(200)

    # then each time the question names the order and says a cancel cannot be undone, and the order is still open
    assert len(questions) == 2, questions
    assert all(f"撤销委托 {order.pk}" in q and "撤单后不能恢复" in q for q in questions), questions
    order.refresh_from_db()
    assert order.is_open and order.status == Order.Status.OPEN


def test_approving_a_cash_request_asks_what_moves_once(page: Page, live_server):
    # given a deposit and a payout of 2,000,000.00 for a client, each above the threshold, proposed by one staff
    # member
    market = build_market()
    client = market.investor(cash="3000000")
    requests = {}
    for direction in (CashRequest.Direction.DEPOSIT, CashRequest.Direction.WITHDRAW):
        outcome = services.counter_cash(
            staff=market.staff, account_code=client.code, direction=direction, amount=Decimal("2000000")
        )
        requests[direction] = outcome.request
    before = cash_figures(client)
    log_in(page, live_server.url, market.checker.username)
    switch_language(page, "en")
    page.goto(f"{live_server.url}/counter/cash-requests/")
    questions = asked(page)

    # when the second staff member (reading English) presses Approve on the deposit and says no
    page.locator(f'tr[data-request="{requests["deposit"].pk}"] button.primary').click()
    page.wait_for_timeout(200)
    # then the question says it is a deposit into the client's account (it said "moving", in or out unsaid)
    assert questions == [f"Approve depositing 2,000,000.00 CNY into {client.code}? The cash is credited at once."]

    # when they press Approve on the payout, the confirmation page asks, restating it, with no question before it
    page.locator(f'tr[data-request="{requests["withdraw"].pk}"] button.primary').click()
    expect(page.locator("#cash-confirm")).to_contain_text("2,000,000.00")
    assert len(questions) == 1, questions
    # and nothing moved
    assert cash_figures(client) == before
    assert set(CashRequest.objects.filter(account=client).values_list("status", flat=True)) == {"proposed"}
