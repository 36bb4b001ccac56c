"""A service's refusal of one input field carries ``fields`` naming it, as a serializer's refusal does (found by an
integrator: a freeze without its legal reference was a 400 with ``code`` and ``message`` but no ``fields``, where
every other refusal of a field named it there, so a client could not put the error on the field)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from core.models import Role
from tests.conftest import api_for, snapshot
from tests.test_schema import _answer_as_documented


@pytest.fixture(scope="module")
def schema():
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def test_a_freeze_without_its_legal_reference_names_the_field_and_changes_nothing(schema, market):
    # Given a regulator and a funded investor
    from supervision.models import Freeze

    regulator = market.user(Role.REGULATOR)
    investor = market.investor(cash="1000")
    before, freezes = snapshot(), Freeze.objects.count()

    # when it proposes a freeze of cash with no legal reference (nor a court, document or date to make one up)
    body = {"account": investor.code, "amount": "100.00", "reason": "Asset preservation"}
    refused = api_for(regulator).post("/api/v1/freezes/", body, format="json", HTTP_ACCEPT_LANGUAGE="en")

    # then it is the 400 it was, with the service's message, and now names the field in ``fields`` as a serializer's
    # refusal of a field does
    assert refused.status_code == 400, refused.content
    message = "The legal order's reference is required."
    assert refused.json() == {"code": "invalid_input", "message": message, "fields": {"legal_reference": [message]}}
    _answer_as_documented(schema, "post", "/api/v1/freezes/", refused)
    # and nothing changed
    assert snapshot() == before and Freeze.objects.count() == freezes


def _future(days: int) -> str:
    return (timezone.localdate() + dt.timedelta(days=days)).isoformat()


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"legal_date": "FUTURE"}, "legal_date"),  # a legal order dated after today
        ({"amount": None, "quantity": 100}, "security"),  # shares of no security
    ],
)
def test_a_freeze_refused_by_the_service_for_one_field_names_it(schema, market, over, field):
    # Given a regulator and an investor with shares
    from supervision.models import Freeze

    regulator = market.user(Role.REGULATOR)
    investor = market.investor(cash="1000", shares=100)
    body = {"account": investor.code, "amount": "100.00", "legal_reference": "court order 1", "reason": "r", **over}
    body = {k: (_future(3) if v == "FUTURE" else v) for k, v in body.items()}
    before, freezes = snapshot(), Freeze.objects.count()

    # when the freeze the service refuses for that field is proposed
    refused = api_for(regulator).post("/api/v1/freezes/", body, format="json")

    # then the 400 names it, and nothing changed
    assert refused.status_code == 400, refused.content
    assert list(refused.json()["fields"]) == [field], refused.json()
    assert refused.json()["fields"][field] == [refused.json()["message"]]
    _answer_as_documented(schema, "post", "/api/v1/freezes/", refused)
    assert snapshot() == before and Freeze.objects.count() == freezes


def test_a_forced_transfer_to_the_frozen_account_itself_names_the_receiver(schema, sup):
    # Given an active freeze of an investor's cash
    from supervision.models import ForcedTransfer
    from tests.supervision_fixtures import freeze_approved

    market, reg1, reg2, _mm, investor = sup
    freeze = freeze_approved(
        reg1, reg2, investor, reason="court", legal={"legal_reference": "court order 2"}, amount=Decimal("100.00")
    )
    before, transfers = snapshot(), ForcedTransfer.objects.count()

    # when a regulator orders its cash transferred to the same account
    body = {
        "freeze": freeze.pk,
        "receiver": investor.code,
        "amount": "10.00",
        "legal_reference": "order 3",
        "reason": "r",
    }
    refused = api_for(reg1).post("/api/v1/forced-transfers/", body, format="json")

    # then the 400 names the receiver, and nothing changed
    assert refused.status_code == 400, refused.content
    assert list(refused.json()["fields"]) == ["receiver"], refused.json()
    _answer_as_documented(schema, "post", "/api/v1/forced-transfers/", refused)
    assert snapshot() == before and ForcedTransfer.objects.count() == transfers


def test_a_correction_with_a_quantity_but_no_price_names_the_price(schema, trading):
    # Given a settled trade
    from ledger.services import block_seal
    from settlement.services import trade_settle
    from supervision.models import Correction
    from tests.test_settlement_instructions import buy

    market, _mm, investor = trading
    trade = buy(market, investor, "fields-1")
    block_seal()
    assert trade_settle(trade_id=trade.pk)
    before, corrections = snapshot(), Correction.objects.count()

    # when a regulator proposes to correct its quantity without giving the new price
    body = {"trade": trade.pk, "new_quantity": 200, "reason": "booking error"}
    refused = api_for(market.user(Role.REGULATOR)).post("/api/v1/corrections/", body, format="json")

    # then the 400 names the price, and nothing changed
    assert refused.status_code == 400, refused.content
    assert list(refused.json()["fields"]) == ["new_price"], refused.json()
    _answer_as_documented(schema, "post", "/api/v1/corrections/", refused)
    assert snapshot() == before and Correction.objects.count() == corrections


def test_a_rules_threshold_out_of_range_is_named_under_thresholds(schema, market):
    # Given the surveillance rules and a regulator
    from surveillance import services as surveillance
    from surveillance.models import Rule

    surveillance.rules_seed()
    rule = Rule.objects.get(code=Rule.Code.HOLDER_CAP)
    thresholds = dict(rule.thresholds)
    regulator = market.user(Role.REGULATOR)

    # when it sets a threshold out of its range
    path = f"/api/v1/alerts/rules/{rule.code}/"
    refused = api_for(regulator).patch(path, {"thresholds": {"percent_of_max": 500}}, format="json")

    # then the 400 names the threshold inside ``thresholds``, as a serializer names a member of an object
    assert refused.status_code == 400, refused.content
    assert list(refused.json()["fields"]) == ["thresholds"], refused.json()
    assert list(refused.json()["fields"]["thresholds"]) == ["percent_of_max"]
    _answer_as_documented(schema, "patch", "/api/v1/alerts/rules/{code}/", refused)
    # and the rule is as it was
    assert Rule.objects.get(pk=rule.pk).thresholds == thresholds


@pytest.mark.parametrize(
    ("over", "field"),
    [
        # not a whole number of ticks: the service's check, across two parameters, names the reference price
        ({"reference_price": "10.05", "tick_size": "0.10"}, "reference_price"),
    ],
)
def test_a_listing_the_service_refuses_for_one_parameter_names_it(schema, market, over, field):
    # Given an exchange operator
    from registry.models import Security

    operator = market.user(Role.EXCHANGE_OPERATOR)
    body = {"code": "839998", "name": "Fields Co", "issuer": "Fields Co Ltd", "risk_rating": "R3"}
    body = {**body, "reference_price": "10.00", **over}
    before = snapshot()

    # when it lists a security with that parameter refused
    refused = api_for(operator).post("/api/v1/securities/", body, format="json")

    # then the 400 names the parameter, and nothing was listed
    assert refused.status_code == 400, refused.content
    assert list(refused.json()["fields"]) == [field], refused.json()
    _answer_as_documented(schema, "post", "/api/v1/securities/", refused)
    assert snapshot() == before and not Security.objects.filter(code="839998").exists()


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("/api/v1/securities/{code}/candles/", {"interval": "5m"}, "interval"),
        ("/api/v1/securities/{code}/candles/", {"interval": "1d", "from": "yesterday"}, "from"),
        ("/api/v1/statement/", {"to": "2026-01-31"}, "from"),
        ("/api/v1/statement/", {"from": "2026-01-01", "to": "2026-01-31", "format": "xml"}, "format"),
        ("/api/v1/notifications/", {"unread": "maybe"}, "unread"),
    ],
)
def test_a_query_parameter_refused_is_named_as_a_pages_limit_is(schema, trading, path, query, field):
    # Given an investor (found with the freeze's gap: a malformed ``?limit=`` names the parameter in ``fields``,
    # these did not)
    market, _mm, investor = trading
    before = snapshot()

    # when it reads with the one parameter malformed
    refused = api_for(investor.owner).get(path.format(code=market.security.code), query)

    # then the 400 names it, and nothing changed
    assert refused.status_code == 400, refused.content
    assert list(refused.json()["fields"]) == [field], refused.json()
    assert refused.json()["fields"][field] == [refused.json()["message"]]
    _answer_as_documented(schema, "get", path, refused)
    assert snapshot() == before
