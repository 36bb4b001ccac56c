"""Two people for large cash movements at the counter (issue 11, item 8).

Up to the broker's ``cash_approval_threshold`` one staff member deposits or
pays out at once; strictly above it the movement is a ``CashRequest`` that a
second staff member of the same broker approves (the cash moves then, once)
or rejects, and that the proposer may withdraw. No movement exceeds the
broker's ``cash_movement_limit`` nor ``settings.CASH_MOVEMENT_MAX``.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import Client

from balances.services import CashLimitExceeded, SecondPersonRequired, cash_deposit, cash_withdraw
from core import errors as err
from core.models import Account, AuditEvent, Broker, Role
from counter import services
from counter.models import CashRequest
from ledger.models import Entry, EntryKind
from tests.conftest import api_for, cash_of, log_in, snapshot

D = Decimal
THRESHOLD = D("1000000.00")  # the default of a new broker


def everything() -> dict:
    """The business tables and the cash requests, for asserting that nothing changed."""
    state = snapshot()
    with connection.cursor() as cur:
        cur.execute("SELECT * FROM counter_cashrequest ORDER BY 1")
        state["counter_cashrequest"] = cur.fetchall()
    return state


def cash_entries(kind: str = EntryKind.DEPOSIT) -> int:
    return Entry.objects.filter(kind=kind).count()


def deposit_url(account: Account) -> str:
    return f"/api/v1/counter/clients/{account.code}/deposit/"


def withdraw_url(account: Account) -> str:
    return f"/api/v1/counter/clients/{account.code}/withdraw/"


@pytest.fixture
def client_account(market) -> Account:
    return market.investor(cash="0")


def propose(market, account, amount, direction="deposit", reference="") -> CashRequest:
    outcome = services.counter_cash(
        staff=market.staff, account_code=account.code, direction=direction, amount=D(amount), reference=reference
    )
    assert outcome.cash is None and outcome.request is not None
    return outcome.request


# --------------------------------------------------------------------------
# One person up to the threshold, two above it


def test_up_to_the_threshold_one_staff_member_moves_the_cash_at_once(market, client_account):
    # given a new broker with the default threshold
    assert market.broker.cash_approval_threshold == THRESHOLD
    # when a staff member deposits exactly the threshold
    response = api_for(market.staff).post(deposit_url(client_account), {"amount": "1000000.00"}, format="json")
    # then the cash moved at once, with its DEPOSIT entry, and no request was made
    assert response.status_code == 200, response.json()
    assert response.json()["cash"]["total"] == "1000000.00"
    assert cash_of(client_account).total == THRESHOLD
    assert cash_entries() == 1
    assert not CashRequest.objects.exists()


def test_above_the_threshold_a_second_staff_member_approves_and_the_cash_moves_once(market, client_account):
    api = api_for(market.staff)
    before_entries = cash_entries()
    # when a staff member deposits one fen above the threshold
    response = api.post(deposit_url(client_account), {"amount": "1000000.01", "reference": "slip 9"}, format="json")
    # then it is a request waiting for approval: 202, and no cash moved, no entry was written
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "proposed" and body["amount"] == "1000000.01" and body["direction"] == "deposit"
    assert body["proposed_by"] == market.staff.username and body["decided_by"] is None
    assert cash_of(client_account).total == 0
    assert cash_entries() == before_entries
    # it is listed for the broker's staff
    listed = api_for(market.checker).get("/api/v1/counter/cash-requests/?status=proposed").json()
    assert [r["id"] for r in listed["results"]] == [body["id"]]

    # when the checker approves
    approved = api_for(market.checker).post(f"/api/v1/counter/cash-requests/{body['id']}/approve/")
    # then the cash moved, with one DEPOSIT entry naming the reference
    assert approved.status_code == 200, approved.json()
    assert approved.json()["status"] == "approved" and approved.json()["decided_by"] == market.checker.username
    assert cash_of(client_account).total == D("1000000.01")
    assert cash_entries() == before_entries + 1
    entry = Entry.objects.filter(kind=EntryKind.DEPOSIT).latest("id")
    payload = json.loads(bytes(entry.canonical))["payload"]
    assert payload["account"] == client_account.code and payload["reference"] == "slip 9"
    # and every step is an audit record
    actions = list(AuditEvent.objects.filter(target=client_account.code).values_list("action", "actor_id", "outcome"))
    assert ("counter_cash_propose", market.staff.pk, "ok") in actions
    assert ("counter_cash_approve", market.checker.pk, "ok") in actions
    assert ("cash_deposit", market.checker.pk, "ok") in actions

    # when the request is approved a second time: refused, and nothing changes
    before = everything()
    again = api_for(market.checker).post(f"/api/v1/counter/cash-requests/{body['id']}/approve/")
    assert again.status_code == 409 and again.json()["code"] == "cash_request_not_open"
    assert everything() == before


def test_the_proposer_cannot_approve_and_the_database_refuses_it_too(market, client_account):
    request = propose(market, client_account, "2000000.00")
    before = everything()
    # when the proposer approves through the service
    with pytest.raises(services.MakerChecker):
        services.cash_request_approve(staff=market.staff, request_id=request.pk)
    # and through the API
    response = api_for(market.staff).post(f"/api/v1/counter/cash-requests/{request.pk}/approve/")
    assert response.status_code == 403 and response.json()["code"] == "maker_checker"
    # then nothing changed, and the refusals are audited
    assert everything() == before
    assert AuditEvent.objects.filter(action="counter_cash_approve", outcome="refused", actor=market.staff).count() == 2

    # when a raw UPDATE makes the proposer the decider: the database refuses it
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            "UPDATE counter_cashrequest SET status = 'approved', decided_by_id = proposed_by_id, decided_at = now() "
            "WHERE id = %s",
            [request.pk],
        )
    assert CashRequest.objects.get(pk=request.pk).status == CashRequest.Status.PROPOSED


def test_the_balance_service_refuses_one_person_above_the_threshold(market, client_account):
    before = everything()
    with pytest.raises(SecondPersonRequired):
        cash_deposit(actor=market.staff, account=client_account, amount=D("1000000.01"))
    with pytest.raises(SecondPersonRequired):  # the proposer named as the second person too
        cash_deposit(actor=market.staff, account=client_account, amount=D("1000000.01"), proposed_by=market.staff)
    outsider = market.user(Role.BROKER_STAFF, broker=Broker.objects.create(code="B-OUT2", name="Out"))
    with pytest.raises(err.PermissionDenied):
        cash_deposit(actor=market.checker, account=client_account, amount=D("1000000.01"), proposed_by=outsider)
    assert everything() == before


def test_another_brokers_staff_can_neither_see_nor_decide(market, client_account):
    request = propose(market, client_account, "2000000.00")
    other = market.user(Role.BROKER_STAFF, broker=Broker.objects.create(code="B-OTHER2", name="Other"))
    before = everything()
    api = api_for(other)
    for action in ("approve", "reject", "withdraw"):
        body = {} if action == "approve" else {"reason": "x"}  # an approval takes no body
        response = api.post(f"/api/v1/counter/cash-requests/{request.pk}/{action}/", body, format="json")
        assert response.status_code == 404 and response.json()["code"] == "not_found", action
    with pytest.raises(err.NotFound):
        services.cash_request_approve(staff=other, request_id=request.pk)
    assert api.get("/api/v1/counter/cash-requests/").json()["results"] == []
    assert everything() == before


@pytest.mark.parametrize("role", [Role.INVESTOR, Role.DEPOSITORY_OPERATOR, Role.REGULATOR, Role.EXCHANGE_OPERATOR])
def test_only_broker_staff_use_the_cash_requests(market, client_account, role):
    request = propose(market, client_account, "2000000.00")
    api = api_for(market.user(role))
    assert api.get("/api/v1/counter/cash-requests/").status_code == 403
    assert api.post(f"/api/v1/counter/cash-requests/{request.pk}/approve/").status_code == 403
    assert CashRequest.objects.get(pk=request.pk).status == CashRequest.Status.PROPOSED


def test_reject_and_withdraw_change_nothing(market, client_account):
    rejected, withdrawn = propose(market, client_account, "3000000.00"), propose(market, client_account, "4000000.00")
    before = everything()
    checker, staff = api_for(market.checker), api_for(market.staff)
    # a rejection needs a reason; the proposer withdraws, and nobody else may
    blank = checker.post(f"/api/v1/counter/cash-requests/{rejected.pk}/reject/", {"reason": " "}, format="json")
    assert blank.status_code == 400 and blank.json()["code"] == "reason_required"
    own = staff.post(f"/api/v1/counter/cash-requests/{rejected.pk}/reject/", {"reason": "mine"}, format="json")
    assert own.status_code == 403
    not_mine = checker.post(f"/api/v1/counter/cash-requests/{withdrawn.pk}/withdraw/", {}, format="json")
    assert not_mine.status_code == 403
    assert everything() == before

    # when the checker rejects one and the proposer withdraws the other
    r = checker.post(f"/api/v1/counter/cash-requests/{rejected.pk}/reject/", {"reason": "no slip"}, format="json")
    w = staff.post(f"/api/v1/counter/cash-requests/{withdrawn.pk}/withdraw/", {"reason": "typo"}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "rejected" and r.json()["reason"] == "no slip"
    assert w.status_code == 200 and w.json()["status"] == "withdrawn" and w.json()["decided_by"] is None
    # then no cash moved and no entry was written; neither can be approved any more
    after = everything()
    assert after["settlement_cashbalance"] == before["settlement_cashbalance"]
    assert after["ledger_entry"] == before["ledger_entry"]
    for pk in (rejected.pk, withdrawn.pk):
        assert checker.post(f"/api/v1/counter/cash-requests/{pk}/approve/").status_code == 409
    assert cash_of(client_account).total == 0
    assert {"counter_cash_reject", "counter_cash_withdraw_request"} <= set(
        AuditEvent.objects.values_list("action", flat=True)
    )


# --------------------------------------------------------------------------
# Limits per movement


def test_a_deposit_of_ten_to_the_fourteen_is_refused_everywhere(market, client_account):
    before = everything()
    huge = "100000000000000.00"  # 10^14 CNY
    response = api_for(market.staff).post(deposit_url(client_account), {"amount": huge}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "cash_movement_limit"
    assert "100,000,000.00" in response.json()["message"]  # the broker's limit, said plainly
    with pytest.raises(CashLimitExceeded):
        cash_deposit(actor=market.checker, account=client_account, amount=D(huge), proposed_by=market.staff)
    with pytest.raises(CashLimitExceeded):
        services.counter_cash(staff=market.staff, account_code=client_account.code, direction="deposit", amount=huge)
    # the depository's own accounts have no broker: the global ceiling (10^12) applies
    mm = Account.objects.create(kind=Account.Kind.MARKET_MAKER, name="desk", code="MMX1")
    with pytest.raises(CashLimitExceeded):
        cash_deposit(actor=market.depository, account=mm, amount=D(huge))
    with pytest.raises(CashLimitExceeded):
        cash_deposit(actor=market.depository, account=mm, amount=D("1000000000000.01"))
    pages = Client()
    log_in(pages, market.staff)
    page = pages.post(f"/counter/{client_account.code}/deposit/", {"deposit-amount": huge})
    assert page.status_code == 400 and page.context["deposit_form"].non_field_errors()
    assert everything() == before


def test_the_limit_per_movement_is_the_brokers(market, client_account, settings):
    Broker.objects.filter(pk=market.broker.pk).update(cash_movement_limit=D("5000000.00"))
    api = api_for(market.staff)
    before = everything()
    over = api.post(deposit_url(client_account), {"amount": "5000000.01"}, format="json")
    assert over.status_code == 400 and over.json()["code"] == "cash_movement_limit"
    assert everything() == before
    at_limit = api.post(deposit_url(client_account), {"amount": "5000000.00"}, format="json")
    assert at_limit.status_code == 202
    # the global ceiling caps a broker's own limit
    settings.CASH_MOVEMENT_MAX = D("4000000")
    capped = api.post(deposit_url(client_account), {"amount": "4000000.01"}, format="json")
    assert capped.status_code == 400 and capped.json()["code"] == "cash_movement_limit"
    # a limit lowered after the proposal holds at approval
    settings.CASH_MOVEMENT_MAX = D("1000000000000")
    Broker.objects.filter(pk=market.broker.pk).update(cash_movement_limit=D("2000000.00"))
    before = everything()
    late = api_for(market.checker).post(f"/api/v1/counter/cash-requests/{at_limit.json()['id']}/approve/")
    assert late.status_code == 400 and late.json()["code"] == "cash_movement_limit"
    assert everything() == before


def test_a_per_broker_threshold_changes_who_may_act_alone(market, client_account):
    Broker.objects.filter(pk=market.broker.pk).update(cash_approval_threshold=D("100.00"))
    api = api_for(market.staff)
    assert api.post(deposit_url(client_account), {"amount": "100.00"}, format="json").status_code == 200
    assert api.post(deposit_url(client_account), {"amount": "100.01"}, format="json").status_code == 202
    assert cash_of(client_account).total == D("100.00")


# --------------------------------------------------------------------------
# Withdrawals: nothing reserved at proposal, available cash checked at approval


def test_a_withdrawal_above_the_available_cash_at_approval_is_refused_and_nothing_changes(market):
    account = market.investor(cash="3000000")  # deposited by two people (conftest)
    api = api_for(market.staff)
    # a proposal above the available cash is refused at once
    assert api.post(withdraw_url(account), {"amount": "3000000.01"}, format="json").status_code == 409
    proposed = api.post(withdraw_url(account), {"amount": "2500000.00"}, format="json")
    assert proposed.status_code == 202 and proposed.json()["direction"] == "withdraw"
    # nothing is reserved: a small payout by one person still goes through meanwhile
    assert cash_of(account).reserved == 0
    assert api.post(withdraw_url(account), {"amount": "600000.00"}, format="json").status_code == 200
    before = everything()
    # when the checker approves: 2,400,000 are available, less than asked
    response = api_for(market.checker).post(f"/api/v1/counter/cash-requests/{proposed.json()['id']}/approve/")
    # then refused, nothing changed, and the request still waits (it may be rejected or withdrawn)
    assert response.status_code == 409 and response.json()["code"] == "insufficient_cash"
    assert everything() == before
    assert CashRequest.objects.get(pk=proposed.json()["id"]).status == CashRequest.Status.PROPOSED
    # with the cash back, the same request pays out exactly once
    cash_deposit(actor=market.staff, account=account, amount=D("200000"))
    entries = cash_entries(EntryKind.WITHDRAWAL)
    done = api_for(market.checker).post(f"/api/v1/counter/cash-requests/{proposed.json()['id']}/approve/")
    assert done.status_code == 200
    assert cash_of(account).total == D("100000.00")
    assert cash_entries(EntryKind.WITHDRAWAL) == entries + 1


def test_cash_withdraw_by_one_person_above_the_threshold_is_refused(market):
    account = market.investor(cash="3000000")
    before = everything()
    with pytest.raises(SecondPersonRequired):
        cash_withdraw(actor=market.staff, account=account, amount=D("2000000"))
    assert everything() == before


def test_the_list_filters_by_status(market, client_account):
    first = propose(market, client_account, "2000000.00")
    propose(market, client_account, "3000000.00")
    services.cash_request_reject(staff=market.checker, request_id=first.pk, reason="no")
    api = api_for(market.checker)
    assert [r["status"] for r in api.get("/api/v1/counter/cash-requests/").json()["results"]] == [
        "proposed",
        "rejected",
    ]
    assert len(api.get("/api/v1/counter/cash-requests/?status=rejected").json()["results"]) == 1
    bad = api.get("/api/v1/counter/cash-requests/?status=nope")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_input"
    # as every list's filter: the field named, with the choices (found by an integrator: "Unknown status." alone)
    assert list(bad.json()["fields"]) == ["status"]
    assert all(choice in bad.json()["message"] for choice in ("proposed", "approved", "rejected", "withdrawn"))


# --------------------------------------------------------------------------
# Pages


def pages_for(user, language="en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    log_in(client, user)
    return client


def test_the_pages_propose_list_and_approve(market, client_account):
    staff, checker = pages_for(market.staff), pages_for(market.checker)
    # the client page says when a second person is needed
    page = staff.get(f"/counter/{client_account.code}/")
    assert "1,000,000.00" in page.content.decode() and 'id="cash-two-person"' in page.content.decode()
    # a deposit above the threshold becomes a request
    response = staff.post(f"/counter/{client_account.code}/deposit/", {"deposit-amount": "1500000"})
    assert response.status_code == 302
    request = CashRequest.objects.get()
    assert cash_of(client_account).total == 0
    # the proposer sees it without an approve button; the checker with one
    own = staff.get("/counter/cash-requests/").content.decode()
    assert f'data-request="{request.pk}"' in own
    assert f"/counter/cash-requests/{request.pk}/approve/" not in own
    assert f"/counter/cash-requests/{request.pk}/withdraw/" in own
    theirs = checker.get("/counter/cash-requests/").content.decode()
    assert f"/counter/cash-requests/{request.pk}/approve/" in theirs
    assert f"/counter/cash-requests/{request.pk}/reject/" in theirs
    # the proposer cannot approve through the page either
    staff.post(f"/counter/cash-requests/{request.pk}/approve/")
    assert cash_of(client_account).total == 0
    # a reject without a reason changes nothing
    checker.post(f"/counter/cash-requests/{request.pk}/reject/", {"reason": ""})
    assert CashRequest.objects.get().status == CashRequest.Status.PROPOSED
    # the checker approves a deposit at once
    assert checker.post(f"/counter/cash-requests/{request.pk}/approve/").status_code == 302
    assert cash_of(client_account).total == D("1500000")
    assert CashRequest.objects.get().status == CashRequest.Status.APPROVED


def test_paying_out_asks_for_confirmation_first(market):
    account = market.investor(cash="3000000")
    staff, checker = pages_for(market.staff), pages_for(market.checker)
    # a payout below the threshold: first a confirmation page, and nothing moves
    before = everything()
    confirm = staff.post(f"/counter/{account.code}/withdraw/", {"withdraw-amount": "1000.00"})
    assert confirm.status_code == 200 and 'id="confirm-payout"' in confirm.content.decode()
    assert everything() == before
    # confirmed, it pays out
    done = staff.post(f"/counter/{account.code}/withdraw/", {"withdraw-amount": "1000.00", "confirm": "1"})
    assert done.status_code == 302 and cash_of(account).total == D("2999000.00")
    # above the threshold: a request; approving it asks for confirmation too
    staff.post(f"/counter/{account.code}/withdraw/", {"withdraw-amount": "2000000.00"})
    request = CashRequest.objects.get()
    step = checker.post(f"/counter/cash-requests/{request.pk}/approve/")
    assert step.status_code == 200 and "2,000,000.00" in step.content.decode()
    assert CashRequest.objects.get().status == CashRequest.Status.PROPOSED
    checker.post(f"/counter/cash-requests/{request.pk}/approve/", {"confirm": "1"})
    assert cash_of(account).total == D("999000.00")
    assert CashRequest.objects.get().status == CashRequest.Status.APPROVED


def test_the_pages_are_in_chinese_too(market, client_account):
    propose(market, client_account, "2000000.00")
    checker = pages_for(market.checker, language="zh-hans")
    body = checker.get("/counter/cash-requests/").content.decode()
    assert "待复核" in body and "复核通过" in body
    client_page = checker.get(f"/counter/{client_account.code}/").content.decode()
    assert "第二名员工" in client_page


# --------------------------------------------------------------------------
# A movement is carried out once (found by a probe: a confirmation page sent twice paid out twice, and two staff
# sending one slip's deposit at once both credited it)


def test_a_bank_reference_moves_an_accounts_cash_once_in_each_direction(market, client_account):
    staff = api_for(market.staff)
    first = staff.post(deposit_url(client_account), {"amount": "5000.00", "reference": "BANK-777"}, format="json")
    assert first.status_code == 200, first.content
    before, entries = everything(), cash_entries()
    # the same slip again (by another staff member too), with space around it: refused, nothing moves
    for client, ref in ((staff, "BANK-777"), (api_for(market.checker), " BANK-777 ")):
        again = client.post(
            deposit_url(client_account), {"amount": "5000.00", "reference": ref}, format="json",
            HTTP_ACCEPT_LANGUAGE="en",
        )  # fmt: skip
        assert again.status_code == 409 and again.json()["code"] == "cash_repeated", again.content
        assert "BANK-777" in again.json()["message"]
    assert everything() == before and cash_entries() == entries
    # another account, or the other direction, may carry the same reference
    other = market.investor(cash="0")
    assert staff.post(deposit_url(other), {"amount": "1.00", "reference": "BANK-777"}, format="json").status_code == 200
    out = staff.post(withdraw_url(client_account), {"amount": "1.00", "reference": "BANK-777"}, format="json")
    assert out.status_code == 200 and cash_of(client_account).total == D("4999.00")


def test_a_client_request_id_is_carried_out_once(market, client_account):
    staff = api_for(market.staff)
    body = {"amount": "100.00", "client_request_id": "till-3-0007"}
    assert staff.post(deposit_url(client_account), body, format="json").status_code == 200
    again = staff.post(deposit_url(client_account), body, format="json")
    assert again.status_code == 409 and again.json()["code"] == "cash_repeated"
    assert cash_of(client_account).total == D("100.00") and cash_entries() == 1


def test_a_rejected_request_frees_its_reference(market, client_account):
    request = propose(market, client_account, "2000000.00", reference="BANK-888")
    with pytest.raises(services.CashRepeated):  # a second request for the same slip while the first waits
        propose(market, client_account, "2000000.00", reference="BANK-888")
    services.cash_request_reject(staff=market.checker, request_id=request.pk, reason="wrong amount")
    again = propose(market, client_account, "1500000.00", reference="BANK-888")
    assert again.status == "proposed" and cash_of(client_account).total == 0


def test_the_payout_confirmation_sent_twice_pays_once(market, client):
    # given a client with cash, and the payout's confirmation page shown once
    account = market.investor(cash="10000")
    log_in(client, market.staff)
    page = client.get(f"/counter/{account.code}/")
    once = page.context["withdraw_form"]["once"].value()
    form = {"withdraw-amount": "1234.00", "withdraw-reference": "", "withdraw-once": once}
    shown = client.post(f"/counter/{account.code}/withdraw/", form)
    assert shown.status_code == 200 and 'id="confirm-payout"' in shown.content.decode()
    assert f'name="withdraw-once" value="{once}"' in shown.content.decode()
    # when it is submitted twice (a double click)
    first = client.post(f"/counter/{account.code}/withdraw/", {**form, "confirm": "1"})
    second = client.post(f"/counter/{account.code}/withdraw/", {**form, "confirm": "1"})
    # then the cash went out once, and the second says it was not done twice
    assert first.status_code == 302 and second.status_code == 400
    assert cash_of(account).total == D("8766.00") and cash_entries(EntryKind.WITHDRAWAL) == 1
    assert "not carried out twice" in second.content.decode() or "未重复执行" in second.content.decode()
    # and a new form shown carries a new token
    assert client.get(f"/counter/{account.code}/").context["withdraw_form"]["once"].value() != once


@pytest.mark.parametrize("viewer", ["staff", "checker"])
def test_a_withdrawn_request_names_who_withdrew_it_among_the_decided(market, client_account, viewer):
    # given a deposit request its proposer withdrew (found by a walk-through: the decided list said "— 2026-12-07
    # 04:14" under "Decided by", a time and nobody)
    request = propose(market, client_account, "2000000")
    services.cash_request_withdraw(staff=market.staff, request_id=request.pk, reason="typed twice")
    before = everything()
    pages = Client()
    log_in(pages, getattr(market, viewer))
    # when either staff member opens the cash approvals
    html = pages.get("/counter/cash-requests/").content.decode()
    # then the withdrawn request's row names its proposer as the one who closed it
    row = html[html.index(f'<tr data-request="{request.pk}">') :]
    row = row[: row.index("</tr>")]
    decided = row[row.index('class="decided') :]
    assert decided.split(">", 1)[1].lstrip().startswith(market.staff.username), decided
    # and looking changed nothing
    assert everything() == before


def test_the_pages_reject_and_withdraw_a_request_each_saying_so_or_why_not(market, client_account):
    """Rejecting (the checker) and withdrawing (the proposer) on the cash approvals page go through one view path:
    each says what it did, a refusal is said on the list and changes nothing, an unknown request is a 404."""
    rejected = propose(market, client_account, "2000000")
    withdrawn = propose(market, client_account, "2000001")
    checker, staff = Client(), Client()
    log_in(checker, market.checker)
    log_in(staff, market.staff)
    en = {"HTTP_ACCEPT_LANGUAGE": "en"}

    # when the proposer tries to reject its own request, then it is refused on the list and nothing changes
    before = everything()
    refused = staff.post(f"/counter/cash-requests/{rejected.pk}/reject/", {"reason": "mine"}, follow=True, **en)
    assert refused.redirect_chain[-1][0].endswith("/counter/cash-requests/")
    assert [m.level_tag for m in refused.context["messages"]] == ["error"]
    assert everything() == before

    # when the checker rejects one and the proposer withdraws the other, then each says so
    done = checker.post(f"/counter/cash-requests/{rejected.pk}/reject/", {"reason": "no"}, follow=True, **en)
    assert [str(m) for m in done.context["messages"]] == [f"Request {rejected.pk} rejected; no cash moved."]
    done = staff.post(f"/counter/cash-requests/{withdrawn.pk}/withdraw/", {"reason": "twice"}, follow=True, **en)
    assert [str(m) for m in done.context["messages"]] == [f"Request {withdrawn.pk} withdrawn; no cash moved."]
    assert list(
        CashRequest.objects.filter(pk__in=[rejected.pk, withdrawn.pk]).order_by("pk").values_list("status")
    ) == [
        ("rejected",),
        ("withdrawn",),
    ]
    assert cash_of(client_account).total == 0

    # and an unknown request is not found
    assert checker.post("/counter/cash-requests/999999/reject/", {"reason": "x"}).status_code == 404
    assert staff.post("/counter/cash-requests/999999/withdraw/", {"reason": "x"}).status_code == 404
