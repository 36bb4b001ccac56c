"""Exchange-wide trade lists (operators, regulators, auditors, broker staff) name both parties, masked per
role, and each side's fee, without a "Side" column; an investor's own list keeps its side."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.models import Broker, Role, User
from exchange.models import Trade
from exchange.services import OrderRequest, order_place
from tests.test_pages import client_for, text


@pytest.fixture
def sold(trading):
    """The investor sells 300 at the 9.90 bid of the market maker: one trade."""
    market, mm, investor = trading
    order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest(
            security=market.security.code,
            side="sell",
            quantity=300,
            limit_price=Decimal("9.90"),
            time_in_force="IOC",
            client_order_id="sell-1",
        ),
    )
    return market, mm, investor, Trade.objects.get()


def cells(body: str, trade: Trade) -> str:
    start = body.index(f'data-trade="{trade.pk}"')
    return body[start : body.index("</tr>", start)]


@pytest.mark.parametrize("role", [Role.EXCHANGE_OPERATOR, Role.REGULATOR, Role.AUDITOR, Role.DEPOSITORY_OPERATOR])
def test_supervisors_see_both_accounts_in_full_and_both_fees(sold, role):
    # given
    market, mm, investor, trade = sold
    assert (trade.buyer_id, trade.seller_id) == (mm.pk, investor.pk)

    # when
    body = text(client_for(market.user(role), "en").get("/trades/"))

    # then
    row = cells(body, trade)
    assert ">Buyer<" in body and ">Seller<" in body and ">Side<" not in body
    # (a regulator's or an auditor's party leads to the account's page)
    if role in (Role.REGULATOR, Role.AUDITOR):
        shown = '<a class="code" href="/supervision/accounts/{0}/">{0}<'
    else:
        shown = '<span class="code">{0}<'
    assert f'data-field="buyer">{shown.format(mm.code)}' in row
    assert f'data-field="seller">{shown.format(investor.code)}' in row
    assert f'data-field="buyer_fee">{trade.buyer_fee:,.2f}<' in row
    assert f'data-field="seller_fee">{trade.seller_fee:,.2f}<' in row
    assert trade.seller_fee == Decimal("5.00")


def test_broker_staff_see_their_client_in_full_and_the_other_side_masked(sold):
    # given
    market, mm, investor, trade = sold

    # when
    row = cells(text(client_for(market.staff, "en").get("/trades/")), trade)

    # then
    masked = mm.code[:3] + "*" * (len(mm.code) - 5) + mm.code[-2:]
    assert f'data-field="seller"><span class="code">{investor.code}<' in row
    assert f'data-field="buyer"><span class="code muted">{masked}<' in row
    assert mm.code not in row
    assert 'data-field="buyer_fee">—<' in row and 'data-field="seller_fee">5.00<' in row


def test_another_brokers_staff_see_nothing_of_it(sold):
    market, _, _, trade = sold
    other = Broker.objects.create(code="B-OTHER", name="Other")
    staff = User.objects.create_user(
        username="other-staff", password="pw-test-2026", role=Role.BROKER_STAFF, broker=other
    )
    assert f'data-trade="{trade.pk}"' not in text(client_for(staff, "en").get("/trades/"))


def test_an_investors_own_list_keeps_the_side_and_names_no_party(sold):
    # given
    market, mm, investor, trade = sold

    # when
    body = text(client_for(investor.owner, "en").get("/trades/"))

    # then
    row = cells(body, trade)
    assert ">Side<" in body and ">Buyer<" not in body
    assert "side-sell" in row and mm.code not in row
    assert 'data-label="Fee (CNY)">5.00<' in row


def test_the_list_is_cards_on_a_phone(sold):
    market, _, _, _ = sold
    body = text(client_for(market.user(Role.REGULATOR), "en").get("/trades/"))
    assert 'class="grid cards" id="trades-table"' in body and 'data-label="Buyer"' in body
