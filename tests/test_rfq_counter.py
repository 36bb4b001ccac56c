"""Requests for quote at the broker counter: staff ask, accept and cancel for a client; another broker's staff
cannot (issue 12 item 6)."""

from __future__ import annotations

import re
from decimal import Decimal

from django.test import Client

from core.models import Broker, Role
from exchange.models import RfqRequest, Trade
from exchange.services.rfq import rfq_answer
from registry.models import Security
from tests.conftest import log_in, position_of, snapshot


def signed_in(user) -> Client:
    client = Client()
    log_in(client, user)
    return client


def test_staff_ask_for_a_client_and_accept_the_market_makers_answer(market):
    mm = market.market_maker()
    investor = market.investor(cash="50000")
    staff = signed_in(market.staff)
    url = f"/counter/{investor.code}/rfqs/"
    page = staff.get(url)
    assert page.status_code == 200

    # when staff ask for 200 shares on the client's behalf
    response = staff.post(
        url, {"action": "ask", "client_request_id": "c-1", "security": market.security.code, "side": "buy",
              "quantity": "200"},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    rfq = RfqRequest.objects.get()
    assert (rfq.account_id, rfq.requested_by_id) == (investor.pk, market.staff.pk)

    # and a market maker answers, then staff accept the answer shown on the page
    answer = rfq_answer(user=mm.owner, rfq_id=rfq.pk, price=Decimal("10.02"), valid_seconds=60)
    assert f'data-answer="{answer.pk}"' in staff.get(url).content.decode()
    accepted = staff.post(url, {"action": "accept", "rfq": rfq.pk, "answer": answer.pk})
    assert accepted.status_code == 302

    # then the client bought 200 at 10.02 in an RFQ trade
    trade = Trade.objects.get()
    assert (trade.buyer_id, trade.quantity, trade.price, trade.mode) == (investor.pk, 200, Decimal("10.02"), "rfq")
    assert position_of(mm, market.security).reserved == 200  # the seller's obligation until settlement
    # and the request's card on the counter's page links to that trade's page, which staff may open (found by a
    # tester: it linked to the trade list)
    card = re.search(rf'<h3 id="rfq-{rfq.pk}-title">(.*?)</h3>', staff.get(url).content.decode(), re.S).group(1)
    assert re.findall(r'<a href="([^"]*)">', card) == [f"/trades/{trade.pk}/"]
    assert staff.get(f"/trades/{trade.pk}/").status_code == 200


def test_staff_cancel_a_clients_request_and_another_brokers_staff_cannot_touch_it(market):
    investor = market.investor(cash="50000")
    url = f"/counter/{investor.code}/rfqs/"
    signed_in(market.staff).post(
        url, {"action": "ask", "client_request_id": "c-2", "security": market.security.code, "side": "buy",
              "quantity": "100"},
    )  # fmt: skip
    rfq = RfqRequest.objects.get()
    other_broker = Broker.objects.create(code="B999", name="Other", fee_bps=Decimal("2"), fee_minimum=Decimal("1"))
    outsider = signed_in(market.user(Role.BROKER_STAFF, broker=other_broker))
    before = snapshot()

    assert outsider.get(url).status_code == 404
    assert outsider.post(url, {"action": "cancel", "rfq": rfq.pk}).status_code == 404
    assert snapshot() == before and RfqRequest.objects.get().status == "open"

    signed_in(market.staff).post(url, {"action": "cancel", "rfq": rfq.pk})
    assert RfqRequest.objects.get().status == "cancelled"


def test_a_request_staff_ask_for_an_unsuitable_client_names_the_client(market):
    # (found by a tester: refusals at the counter spoke to staff as if they were the investor)
    # given a C3 client and a security rated R4
    investor = market.investor(cash="50000", level=3)
    Security.objects.filter(pk=market.security.pk).update(risk_rating=4)
    url = f"/counter/{investor.code}/rfqs/"
    before = snapshot()

    # when staff ask for a price to buy for the client
    refused = signed_in(market.staff).post(
        url,
        {"action": "ask", "client_request_id": "c-3", "security": market.security.code, "side": "buy",
         "quantity": "100"},
        HTTP_ACCEPT_LANGUAGE="en",
    )  # fmt: skip

    # then the form says why, naming the client, and nothing was asked
    assert refused.status_code == 200
    assert refused.context["form"].non_field_errors() == [
        f"The client's ({investor.code}) investor level is C3; {market.security.code} is rated R4, "
        "so the client may not buy it."
    ]
    assert not RfqRequest.objects.exists()
    assert snapshot() == before
