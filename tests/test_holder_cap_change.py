"""Setting a security's holder cap below its current holders (DESIGN.md §2: at most 200 holders, counted per
real person) never passes silently: the page asks for an explicit confirmation, the API refuses with
``holder_cap_below_holders`` unless the request confirms it. Existing holders keep their shares; no new holder
may buy while the count is at or above the cap."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import translation
from drf_spectacular.generators import SchemaGenerator

from core.models import AuditEvent, Role
from exchange.models import Order
from exchange.pretrade import holder_count
from exchange.services import OrderRequest, order_place
from kyc.models import KycProfile
from ledger.models import Entry
from registry import listing
from registry.models import Security
from tests.conftest import api_for, position_of, snapshot
from tests.test_registry_pages import LISTING, signed_in

CONFIRMATION = "I understand existing holders keep their shares; no new holder may buy until the count is below the cap"


@pytest.fixture
def held(market):
    """A security held by three real people: a market maker quoting it and two investors. (market, holders)"""
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10", ask_qty=10_000, bid_qty=10_000)
    first = market.investor(cash="10000", shares=300)
    second = market.investor(cash="10000", shares=200)
    assert holder_count(market.security.pk) == 3
    return market, [mm, first, second]


def holdings(market, accounts) -> list[int]:
    return [position_of(a, market.security).total for a in accounts]


def changes_recorded() -> tuple[int, int]:
    return (
        Entry.objects.filter(kind="SECURITY_CHANGE").count(),
        AuditEvent.objects.filter(action="security_change", outcome="ok").count(),  # refused attempts are too
    )


def buy(account, market, *, coid: str):
    return order_place(
        placed_by=account.owner,
        account=account,
        request=OrderRequest(market.security.code, "buy", 100, Decimal("10.10"), "IOC", coid),
    )[0]


# --------------------------------------------------------------------------
# The API


def test_the_api_refuses_a_cap_below_the_holders_naming_the_count_and_changes_nothing(held):
    # given a security with 3 holders and an exchange operator
    market, _ = held
    operator = api_for(market.user(Role.EXCHANGE_OPERATOR))
    operator.credentials(HTTP_ACCEPT_LANGUAGE="en")
    before = snapshot()
    url = f"/api/v1/securities/{market.security.code}/"

    # when the operator lowers its cap to 2 without confirming it (or confirming false)
    refused = operator.patch(url, {"max_holders": 2, "reason": "Regional cap"}, format="json")
    not_confirmed = operator.patch(
        url, {"max_holders": 2, "reason": "Regional cap", "confirm_holder_cap_below_holders": False}, format="json"
    )

    # then both are a 409 naming the code and the count, and nothing changed: no change, no entry, no record
    for response in (refused, not_confirmed):
        assert response.status_code == 409, response.content
        body = response.json()
        assert body["code"] == "holder_cap_below_holders"
        assert body["message"].startswith(
            f"{market.security.code} has 3 holders now, more than the new holder cap of 2."
        )
    assert snapshot() == before
    assert Security.objects.get(pk=market.security.pk).max_holders == 200
    assert changes_recorded() == (0, 0)


def test_the_api_makes_the_change_when_the_request_confirms_it_and_holders_keep_their_shares(held):
    # given a security with 3 holders
    market, accounts = held
    operator = market.user(Role.EXCHANGE_OPERATOR)
    shares = holdings(market, accounts)

    # when the operator lowers its cap to 2, confirming it
    response = api_for(operator).patch(
        f"/api/v1/securities/{market.security.code}/",
        {"max_holders": 2, "reason": "Regional cap", "confirm_holder_cap_below_holders": True},
        format="json",
    )

    # then the cap is 2, on the ledger and the audit trail (which says what was confirmed)
    assert response.status_code == 200, response.content
    assert response.json()["max_holders"] == 2
    assert Security.objects.get(pk=market.security.pk).max_holders == 2
    assert changes_recorded() == (1, 1)
    audit = AuditEvent.objects.get(action="security_change")
    assert audit.detail["changes"] == {"max_holders": ["200", "2"]} and audit.detail["holders_above_cap_confirmed"] == 3
    # and every holder keeps its shares
    assert holdings(market, accounts) == shares


def test_the_count_is_the_buy_paths_one_person_once_and_a_cap_equal_to_it_needs_no_confirmation(held):
    # given a second account of the first investor's real identity, holding shares too: still 3 holders
    market, accounts = held
    twin = market.investor(shares=100)
    KycProfile.objects.filter(user=twin.owner).update(identity=KycProfile.objects.get(user=accounts[1].owner).identity)
    assert holder_count(market.security.pk) == 3
    operator = market.user(Role.EXCHANGE_OPERATOR)

    # when the operator sets the cap to 3, the count (4 accounts hold shares), then 2
    listing.security_change(actor=operator, code=market.security.code, data={"max_holders": 3}, reason="At the count")
    before = snapshot()
    with translation.override("en"), pytest.raises(listing.HolderCapBelowHolders) as raised:
        listing.security_change(actor=operator, code=market.security.code, data={"max_holders": 2}, reason="Below")

    # then 3 went through without a confirmation, and 2 was refused naming 3 holders, changing nothing
    assert "has 3 holders now" in raised.value.message
    assert Security.objects.get(pk=market.security.pk).max_holders == 3
    assert snapshot() == before


def test_a_change_that_leaves_the_cap_alone_needs_no_confirmation_though_holders_are_above_it(held):
    # given a security whose cap was already set below its 3 holders, with a confirmation
    market, _ = held
    operator = market.user(Role.EXCHANGE_OPERATOR)
    code = market.security.code
    listing.security_change(
        actor=operator, code=code, data={"max_holders": 2}, reason="Cap", confirm_holder_cap_below_holders=True
    )

    # when the operator changes another parameter, then it goes through as before
    listing.security_change(actor=operator, code=code, data={"name": "Renamed Co"}, reason="New name")
    assert Security.objects.get(pk=market.security.pk).name == "Renamed Co"


def test_the_schema_documents_the_confirmation_field():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    change = schema["components"]["schemas"]["SecurityChange"]["properties"]
    assert change["confirm_holder_cap_below_holders"]["type"] == "boolean"
    assert "holder_cap_below_holders" in change["confirm_holder_cap_below_holders"]["description"]


# --------------------------------------------------------------------------
# The page


def test_the_page_asks_to_confirm_a_cap_below_the_holders_and_goes_through_once_confirmed(held):
    # given the operator's change form of a security with 3 holders
    market, accounts = held
    ops = signed_in(market.user(Role.EXCHANGE_OPERATOR))
    url = f"/operations/securities/{market.security.code}/edit/"
    form = {**LISTING, "name": "Test Co", "issuer": "Test Co Ltd", "risk_rating": "3", "reference_price": "10.00"}
    form.pop("code")
    form |= {"trading_modes": ["market_making", "rfq", "negotiated"], "reason": "Regional cap"}
    first = ops.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "confirm_holder_cap_below_holders" not in first  # nothing to confirm yet
    before = snapshot()
    shares = holdings(market, accounts)

    # when the operator lowers the cap to 2
    page = ops.post(url, {**form, "max_holders": "2"}, HTTP_ACCEPT_LANGUAGE="en")

    # then the form is shown again with the error naming the count, and the box to tick; nothing changed
    text = page.content.decode()
    assert page.status_code == 200
    assert f"{market.security.code} has 3 holders now, more than the new holder cap of 2." in text
    assert 'name="confirm_holder_cap_below_holders"' in text and CONFIRMATION in text
    assert snapshot() == before and changes_recorded() == (0, 0)

    # when the operator ticks it and saves again
    done = ops.post(url, {**form, "max_holders": "2", "confirm_holder_cap_below_holders": "on"})

    # then the change is made, and every holder keeps its shares
    assert done.status_code == 302, done.content.decode()[:2000]
    assert Security.objects.get(pk=market.security.pk).max_holders == 2
    assert changes_recorded() == (1, 1)
    assert holdings(market, accounts) == shares


def test_the_page_shows_the_confirmation_in_chinese(held):
    market, _ = held
    ops = signed_in(market.user(Role.EXCHANGE_OPERATOR))
    form = {**LISTING, "name": "Test Co", "issuer": "Test Co Ltd", "risk_rating": "3", "reference_price": "10.00"}
    form.pop("code")
    form |= {"trading_modes": ["market_making"], "reason": "Regional cap", "max_holders": "2"}

    page = ops.post(f"/operations/securities/{market.security.code}/edit/", form, HTTP_ACCEPT_LANGUAGE="zh-hans")

    text = page.content.decode()
    assert "现有 3 名持有人" in text and "我已了解" in text


# --------------------------------------------------------------------------
# The buy path with more holders than the cap


def test_with_more_holders_than_the_cap_no_new_holder_may_buy_and_existing_holders_still_trade(held):
    # given a security with 3 holders whose cap was lowered to 2, confirmed
    market, (mm, first, _) = held
    listing.security_change(
        actor=market.user(Role.EXCHANGE_OPERATOR),
        code=market.security.code,
        data={"max_holders": 2},
        reason="Regional cap",
        confirm_holder_cap_below_holders=True,
    )
    newcomer = market.investor(cash="10000")
    before = snapshot()

    # when a new investor buys, then it is refused as at the cap, and nothing changed
    with translation.override("en"), pytest.raises(Exception) as raised:
        buy(newcomer, market, coid="new")
    assert getattr(raised.value, "code", None) == "holder_cap_reached"
    assert "has 3 holders and may have at most 2" in raised.value.message
    assert snapshot() == before

    # and an existing holder still buys more and sells
    assert buy(first, market, coid="more").status == Order.Status.FILLED
    sold = order_place(
        placed_by=first.owner,
        account=first,
        request=OrderRequest(market.security.code, "sell", 100, Decimal("9.90"), "IOC", "out"),
    )[0]
    assert sold.status == Order.Status.FILLED
