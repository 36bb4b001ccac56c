"""The counter's order ticket says which securities are halted, and promises no quotes it does not show.

Found walking the counter as its staff: a halted security was offered like any other, and staff learnt it was
halted only from the refusal of the order they had typed; the ticket's help text said choosing another security
reloads the ticket with its quotes, which the counter's ticket (it has no quotes) did not do.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.utils import translation

from exchange.models import Order
from registry.models import Security
from registry.services import security_halt
from tests.conftest import build_market, log_in, snapshot

pytestmark = pytest.mark.usefixtures("kyc_folders")


def options(html: str) -> dict[str, str]:
    select = re.search(r'<select name="security".*?</select>', html, re.S).group(0)
    return {value: text.strip() for value, text in re.findall(r'<option value="([^"]+)"[^>]*>([^<]*)</option>', select)}


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_counter_ticket_marks_a_halted_security_and_promises_no_quotes(language):
    # given a listed security and a halted one, and a client of the broker
    market = build_market()
    halted = market.new_security("830901", name="Halted Co")
    operator = market.user("exchange_operator")
    security_halt(actor=operator, code=halted.code, reason="pending announcement")
    client = market.investor(cash="1000")
    browser = Client(HTTP_ACCEPT_LANGUAGE=language)
    log_in(browser, market.staff)
    before = snapshot()

    # when the staff member opens the order ticket for the client
    response = browser.get(f"/counter/{client.code}/orders/new/")

    # then the halted security's option says it is halted, the listed one's does not
    assert response.status_code == 200
    html = response.content.decode()
    with translation.override(language):
        word = str(Security.Status.HALTED.label)
        reloads = str(translation.gettext("Choosing another security reloads the ticket with its quotes."))
    shown = options(html)
    assert shown[halted.code] == f"{halted.code} Halted Co ({word})"
    assert shown[market.security.code] == f"{market.security.code} Test Co"
    # and no help text promises quotes the page does not show
    assert reloads not in html
    # and nothing changed by looking
    assert snapshot() == before
    assert not Order.objects.filter(account=client).exists()
