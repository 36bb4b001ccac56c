"""Listing, changing and delisting securities (exchange operators): LISTING, SECURITY_CHANGE and DELISTING
entries, audit records, and what happens to resting orders and quotes (DESIGN.md §2, issue 10 item 1)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import translation

from core.models import AuditEvent, Role
from exchange.models import Order, Quote
from exchange.services import OrderRequest, order_place
from ledger.models import Entry
from ledger.services import block_seal
from ledger.verification import ledger_verify
from registry import listing, wording
from registry.models import Security
from tests.conftest import api_for, cash_of, position_of, snapshot

D = Decimal

NEW = {
    "code": "830099",
    "name": "New Co",
    "issuer": "New Co Ltd",
    "risk_rating": "R2",
    "reference_price": "8.00",
    "lot_size": 100,
    "tick_size": "0.01",
    "band_pct": "20.00",
    "max_holders": 150,
    "trading_modes": ["market_making", "negotiated"],
    "settlement_mode": "gross",
    "qualified_only": True,
    "min_holding_days": 5,
}


def payloads(kind):
    return [
        json.loads(bytes(c))["payload"]
        for c in Entry.objects.filter(kind=kind).order_by("id").values_list("canonical", flat=True)
    ]


@pytest.fixture
def operator(market):
    return market.user(Role.EXCHANGE_OPERATOR)


def test_the_operator_lists_a_security_with_an_entry_and_an_audit_record(market, operator):
    # when the operator lists a security on the API
    response = api_for(operator).post("/api/v1/securities/", NEW, format="json")

    # then it is listed with every parameter, and anyone signed in sees it
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["code"] == "830099" and body["status"] == "listed" and body["risk_rating"] == "R2"
    assert body["trading_modes"] == ["market_making", "negotiated"]
    assert body["band_low"] == "6.40" and body["band_high"] == "9.60"
    assert body["qualified_only"] is True and body["min_holding_days"] == 5 and body["max_holders"] == 150
    investor = market.investor()
    codes = [s["code"] for s in api_for(investor.owner).get("/api/v1/securities/").json()]
    assert "830099" in codes
    # and the LISTING entry carries every parameter
    (entry,) = payloads("LISTING")
    params = {c["field"]: c["after"] for c in entry["parameters"]}
    assert entry["security"] == "830099"
    assert params["reference_price"] == "8.00" and params["trading_modes"] == "market_making,negotiated"
    assert params["qualified_only"] == "true" and all(c["before"] is None for c in entry["parameters"])
    assert AuditEvent.objects.filter(action="security_list", target="830099", actor=operator).count() == 1


def test_a_delisted_securitys_code_is_refused_as_delisted_not_as_listed(market, operator):
    # given a listed security, delisted
    code = market.security.code
    listing.security_delist(actor=operator, code=code, reason="Issuer dissolved")
    before = snapshot()
    securities = list(Security.objects.values())

    # when an operator lists a new security under its code, in either language
    client = api_for(operator)
    english = client.post("/api/v1/securities/", {**NEW, "code": code}, format="json", HTTP_ACCEPT_LANGUAGE="en")
    chinese = client.post("/api/v1/securities/", {**NEW, "code": code}, format="json", HTTP_ACCEPT_LANGUAGE="zh-hans")

    # then it is refused saying the code is a delisted security's and cannot be reused, not that it is listed
    assert (english.status_code, english.json()["code"]) == (409, "security_code_taken")
    assert english.json()["message"] == f"The code {code} belongs to a delisted security and cannot be reused."
    assert chinese.json()["message"] == f"代码 {code} 属于已摘牌的证券，不能再次使用。"
    # and nothing changed: the delisted security is as it was, nothing listed
    assert list(Security.objects.values()) == securities
    assert snapshot() == before
    assert not Entry.objects.filter(kind="LISTING").exists()
    # and a listed security's code is still refused as listed
    other = client.post("/api/v1/securities/", {**NEW, "code": "830099"}, format="json")
    again = client.post("/api/v1/securities/", {**NEW, "code": "830099"}, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert other.status_code == 201
    assert (again.status_code, again.json()["message"]) == (409, "A security with this code is already listed.")


@pytest.mark.parametrize(
    "change, code",
    [
        ({"code": "S1"}, "security_code_taken"),  # the fixture's security is S<n>; replaced below
        ({"code": "x"}, "invalid_input"),
        ({"risk_rating": "R6"}, "invalid_input"),
        ({"reference_price": "8.005"}, "invalid_input"),
        ({"reference_price": 8.0}, "invalid_input"),
        ({"reference_price": "8.05", "tick_size": "0.10"}, "invalid_input"),
        ({"band_pct": "100.00"}, "invalid_input"),
        ({"band_pct": "0"}, "invalid_input"),  # the reference alone
        ({"trading_modes": []}, "invalid_input"),
        ({"trading_modes": ["auction"]}, "invalid_input"),
        ({"settlement_mode": "t+1"}, "invalid_input"),
        ({"lot_size": 0}, "invalid_input"),
        ({"max_holders": "many"}, "invalid_input"),
        ({"surprise": 1}, "invalid_input"),
        ({"name": ""}, "invalid_input"),
    ],
)
def test_a_bad_listing_is_refused_and_changes_nothing(market, operator, change, code):
    if change.get("code") == "S1":
        change = {"code": market.security.code}
    before = snapshot()
    securities = Security.objects.count()

    response = api_for(operator).post("/api/v1/securities/", {**NEW, **change}, format="json")

    assert 400 <= response.status_code < 500, response.content
    assert response.json()["code"] == code
    assert Security.objects.count() == securities
    assert snapshot() == before
    assert not Entry.objects.filter(kind="LISTING").exists()


@pytest.mark.parametrize("role", [Role.INVESTOR, Role.BROKER_STAFF, Role.DEPOSITORY_OPERATOR, Role.REGULATOR])
def test_only_exchange_operators_list_change_and_delist(market, role):
    user = market.user(role)
    client = api_for(user)
    code = market.security.code
    before = snapshot()

    listed = client.post("/api/v1/securities/", NEW, format="json")
    changed = client.patch(f"/api/v1/securities/{code}/", {"lot_size": 200, "reason": "x"}, format="json")
    delisted = client.post(f"/api/v1/securities/{code}/delist/", {"reason": "x"}, format="json")

    assert [listed.status_code, changed.status_code, delisted.status_code] == [403, 403, 403]
    assert snapshot() == before
    assert Security.objects.get(code=code).lot_size == 100


@pytest.fixture
def resting(market):
    """Resting DAY buy orders at 9.95 (300 shares) and 9.00 (250 … no: 200) and a quote 9.90 / 10.10."""
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10", bid_qty=1000, ask_qty=1000)
    investor = market.investor(cash="100000")

    def place(price, qty, coid):
        return order_place(
            placed_by=investor.owner,
            account=investor,
            request=OrderRequest(market.security.code, "buy", qty, D(price), "DAY", coid),
        )[0]

    on_tick = place("9.95", 300, "a")
    odd_lot = place("9.98", 200, "b")
    return market, mm, investor, on_tick, odd_lot


def test_a_lot_change_cancels_the_orders_it_strands_with_a_reason_and_keeps_the_others(resting, operator):
    market, mm, investor, three_hundred, two_hundred = resting
    reserved_before = cash_of(investor).reserved
    assert reserved_before == three_hundred.reserved_cash + two_hundred.reserved_cash

    # when the operator changes the lot to 300 shares
    response = api_for(operator).patch(
        f"/api/v1/securities/{market.security.code}/", {"lot_size": 300, "reason": "Lot harmonised"}, format="json"
    )

    # then the order of 300 shares is kept, the one of 200 is cancelled with the change as its reason
    assert response.status_code == 200, response.content
    assert response.json()["lot_size"] == 300
    three_hundred.refresh_from_db()
    two_hundred.refresh_from_db()
    assert three_hundred.status == Order.Status.OPEN and three_hundred.closed_reason == ""
    assert two_hundred.status == Order.Status.CANCELLED and "lot_size 100 → 300" in two_hundred.closed_reason
    # and exactly its reservation is released
    assert cash_of(investor).reserved == three_hundred.reserved_cash
    # and the market maker's 1000-share quotes do not fit 300-share lots: pulled, reservations released
    assert not Quote.objects.filter(account=mm, status=Quote.Status.ACTIVE).exists()
    assert cash_of(mm).reserved == 0 and position_of(mm, market.security).reserved == 0
    # and the SECURITY_CHANGE entry names the change, the reason and the cancelled order
    (entry,) = payloads("SECURITY_CHANGE")
    assert entry["changes"] == [{"field": "lot_size", "before": "100", "after": "300"}]
    assert entry["reason"] == "Lot harmonised" and entry["cancelled_orders"] == [two_hundred.pk]
    assert AuditEvent.objects.filter(action="security_change", target=market.security.code).count() == 1
    # and the order API shows the reason
    body = api_for(investor.owner).get(f"/api/v1/orders/{two_hundred.pk}/", HTTP_ACCEPT_LANGUAGE="en").json()
    assert body["status"] == "cancelled" and "Lot size 100 → 300" in body["closed_reason"]
    assert body["closed_by"] == "security_changed" and three_hundred.closed_by == ""


def test_an_odd_lot_sale_resting_is_kept_by_a_change_it_still_fits(market, operator):
    # (found by a probe: an odd-lot sale, all of a holding at once, was cancelled by any change of the band or the
    # reference price, its quantity not in lots)
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    seller = market.investor(shares=1050)
    sale = order_place(
        placed_by=seller.owner,
        account=seller,
        request=OrderRequest(market.security.code, "sell", 1050, D("10.50"), "DAY", "odd"),
    )[0]
    assert sale.status == Order.Status.OPEN
    # when the operator narrows the band (10.50 still inside it) and moves the reference
    for change in ({"band_pct": "25", "reason": "Band"}, {"reference_price": "10.20", "reason": "Reference"}):
        response = api_for(operator).patch(f"/api/v1/securities/{market.security.code}/", change, format="json")
        assert response.status_code == 200, response.content
    # then the sale rests, untouched, its shares still reserved
    sale.refresh_from_db()
    assert (sale.status, sale.closed_reason) == (Order.Status.OPEN, "")
    assert position_of(seller, market.security).reserved == 1050


def test_a_band_change_cancels_orders_outside_the_new_band_only(resting, operator):
    market, mm, investor, at_995, at_998 = resting

    # when the band narrows to ±0.2 % around 10.00 (9.98 … 10.02)
    listing.security_change(actor=operator, code=market.security.code, data={"band_pct": "0.20"}, reason="Volatility")

    # then 9.95 is outside and cancelled, 9.98 inside and kept; both quotes (9.90 / 10.10) are outside and pulled
    at_995.refresh_from_db()
    at_998.refresh_from_db()
    assert at_995.status == Order.Status.CANCELLED and at_998.status == Order.Status.OPEN
    assert Quote.objects.filter(account=mm, status=Quote.Status.PULLED).count() == 2
    assert cash_of(investor).reserved == at_998.reserved_cash


def test_a_change_that_changes_nothing_or_breaks_a_rule_is_refused_and_changes_nothing(resting, operator):
    market, *_ = resting
    client = api_for(operator)
    url = f"/api/v1/securities/{market.security.code}/"
    before = snapshot()

    same = client.patch(url, {"lot_size": 100, "reason": "same"}, format="json")
    no_reason = client.patch(url, {"lot_size": 200}, format="json")
    off_tick = client.patch(url, {"reference_price": "10.05", "tick_size": "0.10", "reason": "x"}, format="json")
    unknown = client.patch("/api/v1/securities/NOPE/", {"lot_size": 200, "reason": "x"}, format="json")

    assert (same.status_code, same.json()["code"]) == (409, "nothing_changed")
    assert no_reason.status_code == 400
    assert (off_tick.status_code, off_tick.json()["code"]) == (400, "invalid_input")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_security")
    assert snapshot() == before
    assert not Entry.objects.filter(kind="SECURITY_CHANGE").exists()


def test_the_settlement_mode_cannot_change_while_trades_wait_to_settle(market, operator):
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="50000")
    order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest(market.security.code, "buy", 100, D("10.10"), "IOC", "t"),
    )
    before = snapshot()

    response = api_for(operator).patch(
        f"/api/v1/securities/{market.security.code}/", {"settlement_mode": "net", "reason": "x"}, format="json"
    )

    assert (response.status_code, response.json()["code"]) == (409, "settlement_mode_busy")
    assert snapshot() == before
    assert Security.objects.get(pk=market.security.pk).settlement_mode == "gross"


def test_delisting_cancels_resting_orders_pulls_quotes_and_releases_everything(resting, operator):
    market, mm, investor, a, b = resting

    response = api_for(operator).post(
        f"/api/v1/securities/{market.security.code}/delist/", {"reason": "Merger completed"}, format="json"
    )

    assert response.status_code == 200 and response.json()["status"] == "delisted"
    assert set(Order.objects.filter(pk__in=[a.pk, b.pk]).values_list("status", flat=True)) == {"cancelled"}
    assert not Quote.objects.filter(status=Quote.Status.ACTIVE).exists()
    assert cash_of(investor).reserved == 0 and cash_of(mm).reserved == 0
    (entry,) = payloads("DELISTING")
    assert entry["reason"] == "Merger completed" and entry["cancelled_orders"] == sorted([a.pk, b.pk])
    # and it no longer trades nor lists
    refused = api_for(investor.owner).post(
        "/api/v1/orders/",
        {
            "security": market.security.code,
            "side": "buy",
            "quantity": 100,
            "limit_price": "10.00",
            "time_in_force": "IOC",
            "client_order_id": "late",
        },
        format="json",
    )
    assert refused.status_code == 409 and refused.json()["code"] == "security_not_listed"
    again = api_for(operator).post(f"/api/v1/securities/{market.security.code}/delist/", {"reason": "x"}, format="json")
    assert again.status_code == 409


def test_the_new_entry_kinds_verify_and_replay(resting, operator):
    market, *_ = resting
    listing.security_list(actor=operator, code="830098", data={k: v for k, v in NEW.items() if k != "code"})
    listing.security_change(actor=operator, code=market.security.code, data={"lot_size": 300}, reason="x")
    listing.security_delist(actor=operator, code="830098", reason="y")
    block_seal()

    assert ledger_verify().ok
    call_command("ledger_replay", "--check")


def test_an_order_cancelled_by_a_change_names_the_fields_and_values_as_a_reader_reads_them(resting, operator):
    # (found by a probe: the reason showed the fields' internal names and values, "band_pct 30.00 → 20.00")
    market, mm, investor, on_tick, odd_lot = resting
    # when the operator moves the tick to 0.02 (9.95 and 9.98 are off it), narrows the band, turns negotiated
    # trading off, renames the security (a name may hold "; ") and restricts it to qualified investors
    response = api_for(operator).patch(
        f"/api/v1/securities/{market.security.code}/",
        {
            "name": "Test; Co",
            "tick_size": "0.02",
            "band_pct": "20",
            "trading_modes": ["market_making", "rfq"],
            "qualified_only": True,
            "reason": "New terms",
        },
        format="json",
    )
    assert response.status_code == 200, response.content

    # then the order at 9.95 is cancelled, the change stored in no one's language (not the name: free text, which
    # cancels nothing); the one at 9.98, on the new tick, rests untouched
    on_tick.refresh_from_db()
    odd_lot.refresh_from_db()
    assert (on_tick.status, on_tick.closed_by) == (Order.Status.CANCELLED, Order.ClosedBy.SECURITY_CHANGED)
    assert on_tick.closed_reason == (
        "tick_size 0.01 → 0.02; band_pct 30.00 → 20.00; "
        "trading_modes market_making,rfq,negotiated → market_making,rfq; qualified_only false → true"
    )
    assert (odd_lot.status, odd_lot.closed_by, odd_lot.closed_reason) == (Order.Status.OPEN, "", "")
    assert odd_lot.closed_reason_text() == ""
    # and each reader reads the fields by their labels and the values as the security's page shows them
    with translation.override("en"):
        assert on_tick.closed_reason_text() == (
            "Cancelled: the security changed (Tick size 0.01 → 0.02; Price band ±30% → "
            "±20%; Trading modes Market making, Request for quote, Negotiated → Market making, Request for quote; "
            "Qualified investors only No → Yes) and the order no longer fits it."
        )
    with translation.override("zh-hans"):
        assert on_tick.closed_reason_text() == (
            "已撤销：证券参数已变更（最小变动价位 0.01 → 0.02；价格区间 ±30% → ±20%；"
            "交易方式 做市、询价、协议转让 → 做市、询价；仅限合格投资者 否 → 是），该委托不再符合。"
        )
    # and the order API says the same in the reader's language
    body = api_for(investor.owner).get(f"/api/v1/orders/{on_tick.pk}/", HTTP_ACCEPT_LANGUAGE="en").json()
    assert "Price band ±30% → ±20%" in body["closed_reason"] and "band_pct" not in body["closed_reason"]


def test_a_change_summary_part_it_does_not_know_is_shown_as_written():
    # given a summary with a field of a later version and one cut short at the column's length
    summary = "lot_size 100 → 300; rounding up → down; band_pct 30.00 → 2"
    # when it is read
    with translation.override("en"):
        text = wording.change_summary_text(summary)
    # then the known fields are labelled, the unknown one is as written, and a value it cannot read is as written
    assert text == "Lot size 100 → 300; rounding up → down; Price band ±30% → ±2%"
    assert wording.change_summary_text("lot_size 100") == "lot_size 100"
    with translation.override("en"):
        assert wording.change_summary_text("band_pct 30.00 → 2x") == "Price band ±30% → 2x"


def test_a_change_with_a_long_name_and_issuer_keeps_its_cancels_reason_whole(resting, operator):
    # (found by a review: a name and an issuer of 200 characters each pushed the summary past the column's 600
    # characters, and its cut end read as a wrong value, "Lot size 100 → 4")
    market, _mm, _investor, three_hundred, two_hundred = resting
    response = api_for(operator).patch(
        f"/api/v1/securities/{market.security.code}/",
        {"name": "C" * 200, "issuer": "D" * 200, "lot_size": 300, "reason": "Renamed and lot harmonised"},
        format="json",
    )
    assert response.status_code == 200, response.content
    two_hundred.refresh_from_db()
    # then the cancelled order keeps the change that cancelled it, whole, and not the free text
    assert (two_hundred.closed_by, two_hundred.closed_reason) == ("security_changed", "lot_size 100 → 300")
    with translation.override("en"):
        assert "Lot size 100 → 300)" in two_hundred.closed_reason_text()


# --------------------------------------------------------------------------
# Negotiated proposals and requests for quote a change strands (found by a probe: they kept what they reserved
# until they expired, and could not be confirmed or accepted)


@pytest.fixture
def negotiating(market, django_capture_on_commit_callbacks):
    """A seller's proposal of 100 shares at 10.00 (reserved), and an open request for quote with a market maker's
    firm answer at 10.00 (its cash reserved)."""
    from exchange.services import negotiated as neg
    from exchange.services import rfq as rfq_svc

    seller = market.investor(shares=1000)
    buyer = market.investor(cash="50000")
    proposal, _code, _ = neg.negotiated_propose(
        actor=seller.owner,
        account=seller,
        request=neg.NegotiatedRequest(market.security.code, "sell", 100, D("10.00"), buyer.code, "p"),
    )
    mm = market.market_maker()
    asker = market.investor(shares=500)
    rfq, _ = rfq_svc.rfq_request(
        requested_by=asker.owner, account=asker, request=rfq_svc.RfqRequestInput(market.security.code, "sell", 100, "r")
    )
    answer = rfq_svc.rfq_answer(user=mm.owner, rfq_id=rfq.pk, price=D("10.00"), valid_seconds=60)
    assert position_of(seller, market.security).reserved == 100 and cash_of(mm).reserved > 0
    return market, seller, proposal, mm, rfq, answer


def _change(market, operator, capture, **data):
    with capture(execute=True):
        if data.pop("delist", False):
            listing.security_delist(actor=operator, code=market.security.code, reason="Merger completed")
        else:
            listing.security_change(actor=operator, code=market.security.code, data=data, reason="Rules")


def test_switching_negotiated_transfer_off_withdraws_its_proposals_and_releases_what_they_held(
    negotiating, operator, django_capture_on_commit_callbacks
):
    from exchange.models import NegotiatedTrade, RfqAnswer, RfqRequest

    market, seller, proposal, mm, rfq, answer = negotiating
    # when the operator switches negotiated transfer off for the security
    _change(market, operator, django_capture_on_commit_callbacks, trading_modes=["market_making", "rfq"])
    # then the proposal is withdrawn by the system, its 100 shares free again, and the audit trail says why
    proposal.refresh_from_db()
    assert (proposal.status, proposal.closed_by_id) == (NegotiatedTrade.Status.WITHDRAWN, None)
    assert position_of(seller, market.security).reserved == 0
    record = AuditEvent.objects.get(action="negotiated.withdraw", target=f"negotiated:{proposal.pk}")
    assert "security changed" in record.detail["reason"]
    # and the request for quote, whose mode is still on, is as it was
    assert RfqRequest.objects.get(pk=rfq.pk).status == "open" and RfqAnswer.objects.get(pk=answer.pk).status == "firm"


def test_delisting_withdraws_proposals_and_cancels_requests_for_quote_releasing_the_answers(
    negotiating, operator, django_capture_on_commit_callbacks
):
    from exchange.models import RfqAnswer, RfqRequest

    market, seller, proposal, mm, rfq, answer = negotiating
    _change(market, operator, django_capture_on_commit_callbacks, delist=True)
    proposal.refresh_from_db()
    assert proposal.status == "withdrawn" and position_of(seller, market.security).reserved == 0
    assert RfqRequest.objects.get(pk=rfq.pk).status == "cancelled"
    assert RfqAnswer.objects.get(pk=answer.pk).status == "released" and cash_of(mm).reserved == 0


def test_a_band_change_closes_only_the_prices_it_strands(negotiating, operator, django_capture_on_commit_callbacks):
    from exchange.models import RfqAnswer, RfqRequest

    market, seller, proposal, mm, rfq, answer = negotiating
    # when the reference price moves to 12.00 with a ±10 % band (10.80 … 13.20): 10.00 is outside
    _change(market, operator, django_capture_on_commit_callbacks, reference_price="12.00", band_pct="10.00")
    # then the proposal at 10.00 is withdrawn and the answer at 10.00 released; the request stays open for others
    proposal.refresh_from_db()
    assert proposal.status == "withdrawn" and position_of(seller, market.security).reserved == 0
    assert RfqAnswer.objects.get(pk=answer.pk).status == "released" and cash_of(mm).reserved == 0
    assert RfqRequest.objects.get(pk=rfq.pk).status == "open"


def test_a_change_rolled_back_closes_nothing_and_a_fitting_change_keeps_everything(
    negotiating, operator, django_capture_on_commit_callbacks
):
    from django.db import transaction

    market, seller, proposal, mm, rfq, answer = negotiating
    before = snapshot()
    # when a change that strands them is rolled back
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        listing.security_delist(actor=operator, code=market.security.code, reason="x")
        raise RuntimeError("rolled back")
    # then nothing closed
    assert snapshot() == before
    # and a change they still fit (a wider band) closes nothing either
    _change(market, operator, django_capture_on_commit_callbacks, band_pct="40.00")
    proposal.refresh_from_db()
    assert proposal.status == "proposed" and position_of(seller, market.security).reserved == 100


def test_the_beat_closes_what_the_venues_profile_no_longer_allows(negotiating, settings, monkeypatch):
    # (a profile changes at a restart, not by a security's change: the beat catches it)
    import dataclasses

    from exchange.models import RfqAnswer, RfqRequest
    from exchange.tasks import close_unfit
    from registry import profile

    market, seller, proposal, mm, rfq, answer = negotiating
    no_rfq = dataclasses.replace(profile.PROFILES["open"], modes=frozenset({profile.NEGOTIATED}))
    monkeypatch.setitem(profile.PROFILES, "open", no_rfq)
    # when the beat runs under a venue profile without requests for quote
    assert close_unfit.apply().get() == 2  # the request and its answer
    # then the request is cancelled and its answer released; the proposal, still allowed, stays
    assert RfqRequest.objects.get(pk=rfq.pk).status == "cancelled"
    assert RfqAnswer.objects.get(pk=answer.pk).status == "released" and cash_of(mm).reserved == 0
    proposal.refresh_from_db()
    assert proposal.status == "proposed"
    # and a second run finds nothing
    assert close_unfit.apply().get() == 0


def test_one_beat_task_closes_the_quotes_proposals_and_requests_a_profile_change_strands(
    negotiating, settings, monkeypatch
):
    # (found by a review: two beat tasks, close_unfit and pull_forbidden_quotes, for the one event of a profile
    # change; now one, and the old name, which a message queued before a deploy may carry, runs it)
    import dataclasses

    from config.celery import app
    from exchange.models import RfqAnswer, RfqRequest
    from exchange.tasks import close_unfit, pull_forbidden_quotes
    from registry import profile

    market, seller, proposal, mm, rfq, answer = negotiating
    # given the market maker's quotes too (9.90 × 1000 of cash and 1000 shares held), published under the open profile
    market.quote(mm, "9.90", "10.10")
    investor_cash = cash_of(seller)
    # when the venue restarts under a profile with negotiated transfer only, and the beat runs once
    only_negotiated = dataclasses.replace(profile.PROFILES["open"], modes=frozenset({profile.NEGOTIATED}))
    monkeypatch.setitem(profile.PROFILES, "open", only_negotiated)
    assert close_unfit.apply().get() == 4  # two quotes, the request and its answer
    # then the quotes are pulled and the request cancelled, and all the market maker held is free again
    assert set(Quote.objects.filter(account=mm).values_list("status", flat=True)) == {"pulled"}
    assert RfqRequest.objects.get(pk=rfq.pk).status == "cancelled"
    assert RfqAnswer.objects.get(pk=answer.pk).status == "released"
    assert cash_of(mm).reserved == 0 and position_of(mm, market.security).reserved == 0
    # and the proposal, still allowed, is as it was, its seller's 100 shares held and cash untouched
    proposal.refresh_from_db()
    assert proposal.status == "proposed" and position_of(seller, market.security).reserved == 100
    assert cash_of(seller) == investor_cash
    # and a second run, by either name, finds nothing and changes nothing
    before = snapshot()
    assert close_unfit.apply().get() == 0 and pull_forbidden_quotes.apply().get() == 0
    assert snapshot() == before
    # one beat entry runs it; the old name is registered for what was queued, and scheduled no more
    scheduled = [entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()]
    assert scheduled.count("exchange.tasks.close_unfit") == 1
    assert "exchange.tasks.pull_forbidden_quotes" not in scheduled
    assert "exchange.tasks.pull_forbidden_quotes" in app.tasks


def test_every_operator_change_of_a_security_refuses_an_unknown_or_delisted_one_alike(market):
    """A change of parameters, a delisting, a halt and a resume lock the security through one path
    (``listing.security_lock_not_delisted``) and refuse alike: 404 unknown_security, 409 security_not_listed."""
    from core import errors as err
    from registry import services

    operator = market.user(Role.EXCHANGE_OPERATOR)
    changes = {
        "change": lambda code: listing.security_change(actor=operator, code=code, data={"lot_size": 200}, reason="r"),
        "delist": lambda code: listing.security_delist(actor=operator, code=code, reason="r"),
        "halt": lambda code: services.security_halt(actor=operator, code=code, reason="r"),
        "resume": lambda code: services.security_resume(actor=operator, code=code, reason="r"),
    }
    # given a security that is not there, and one delisted
    listing.security_delist(actor=operator, code=market.security.code, reason="Merger completed")
    before = snapshot()

    # when each change is asked of either, then each is refused with the same code, and nothing changed
    said = {}
    for name, change in changes.items():
        for code in ("NOPE", market.security.code):
            with pytest.raises(err.DomainError) as refused:
                change(code)
            said[name, code] = (refused.value.code, refused.value.status)
    assert said == {
        (name, code): expected
        for name in changes
        for code, expected in (
            ("NOPE", ("unknown_security", 404)),
            (market.security.code, ("security_not_listed", 409)),
        )
    }
    assert snapshot() == before
    assert Entry.objects.filter(kind__in=["SECURITY_CHANGE", "HALT", "RESUME"]).count() == 0
