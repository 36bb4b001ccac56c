"""Issuances by two people (DESIGN.md §1: privileged actions that move assets need two different people).

Found by an outside tester: one depository operator alone registered an issuance, creating and crediting shares
at once. Now one depository operator proposes it (checked in full then), and a different one approves it, which
issues the shares (``securities_issue``: its checks again, the ISSUE entry) in one transaction; another rejects
it, or its proposer withdraws it, each with a reason, and nothing is issued. PostgreSQL refuses a proposal decided
by its proposer (``issuance_decided_by_another``), as supervision's proposals.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.utils import timezone, translation

from auditing.selectors import evidence_bundle
from balances import issuances
from balances.entries import Issue
from balances.models import IssuanceProposal, LockUp
from balances.services import HolderCapExceeded, Holding, shanghai_today
from core import errors as err
from core import labels
from core.models import Account, AuditEvent, Role
from ledger.models import Entry, EntryKind
from ledger.services import block_seal
from ledger.verification import ledger_verify
from ledger.verifier import ACTION_ENTRIES
from registry.models import Security
from tests.conftest import api_for, build_market, log_in, position_of, snapshot
from tests.test_audit_trail import _verify
from tests.test_concurrency import run_concurrently


def everything() -> dict:
    """The business tables, the lock-ups and the proposals: what a refusal must leave as it was."""
    state = snapshot()
    with connection.cursor() as cur:
        for table in ("balances_lockup", "balances_issuanceproposal"):
            cur.execute(f"SELECT * FROM {table} ORDER BY 1")
            state[table] = cur.fetchall()
    return state


def issues() -> int:
    return Entry.objects.filter(kind=EntryKind.ISSUE).count()


def actions() -> list[tuple[str, str, str]]:
    return list(AuditEvent.objects.order_by("id").values_list("actor_username", "action", "outcome"))


@pytest.fixture
def fresh(market):
    """A new security with nothing issued, two investors, and a second depository operator (the checker)."""
    security = market.new_security("830066")
    alice, bob = market.investor(), market.investor()
    return market, security, alice, bob, market.user(Role.DEPOSITORY_OPERATOR)


def propose(market, security, alice, bob, **kwargs) -> IssuanceProposal:
    until = shanghai_today() + dt.timedelta(days=10)
    return issuances.issuance_propose(
        actor=market.depository,
        security_code=security.code,
        allocations=[Holding(alice, 6_000, 1_000, until), Holding(bob, 4_000)],
        reference="Initial registration",
        **kwargs,
    )


def signed_in(user) -> Client:
    client = Client()
    log_in(client, user)
    return client


# --------------------------------------------------------------------------
# Propose, then a second person approves


@pytest.mark.usefixtures("shanghai_day_held")  # the lock-up's day as the test reads it
def test_a_proposal_issues_nothing_until_a_second_depository_operator_approves_it(fresh):
    market, security, alice, bob, checker = fresh
    before = snapshot()

    # when a depository operator proposes an issuance to two holders, one with a lock-up
    proposal = propose(market, security, alice, bob)

    # then nothing is issued: no position, no ISSUE entry, no lock-up; the proposal records what is asked
    assert snapshot() == before and not LockUp.objects.exists()
    assert (proposal.status, proposal.quantity, proposal.proposed_by, proposal.decided_by) == (
        "proposed",
        10_000,
        market.depository,
        None,
    )
    until = str(shanghai_today() + dt.timedelta(days=10))
    assert proposal.allocations == [
        {"account": alice.code, "quantity": 6_000, "locked_quantity": 1_000, "locked_until": until},
        {"account": bob.code, "quantity": 4_000, "locked_quantity": None, "locked_until": None},
    ]

    # when a second depository operator approves it
    approved = issuances.issuance_approve(actor=checker, issuance_id=proposal.pk)

    # then the shares are issued once, with one ISSUE entry that the proposal names
    assert (approved.status, approved.decided_by, approved.entry) == ("approved", checker, Entry.objects.get().pk)
    assert Entry.objects.get().kind == EntryKind.ISSUE
    pos = position_of(alice, security)
    assert (pos.total, pos.locked, pos.available) == (6_000, 1_000, 5_000)
    assert position_of(bob, security).total == 4_000
    security.refresh_from_db()
    assert security.issued_quantity == 10_000
    assert LockUp.objects.get().issue_entry == approved.entry
    # and every step is on the audit trail: the proposal, the issue (by the approver, naming the proposal and its
    # proposer), the approval
    assert actions()[-3:] == [
        (market.depository.username, "issuance_propose", "ok"),
        (checker.username, "securities_issue", "ok"),
        (checker.username, "issuance_approve", "ok"),
    ]
    issue = AuditEvent.objects.get(action="securities_issue")
    assert issue.detail == {
        "quantity": 10_000,
        "holders": 2,
        "reference": "Initial registration",
        "entry": approved.entry,
        "issuance": proposal.pk,
        "proposed_by": market.depository.username,
    }
    # and a record that names an entry is one the offline verifier checks against it (the approval names none)
    named = {e.action for e in AuditEvent.objects.all() if isinstance(e.detail.get("entry"), int)}
    assert named == {"securities_issue"} and named <= set(ACTION_ENTRIES)


def test_the_issue_entry_names_the_proposal_its_proposer_and_its_approver_and_old_ones_still_verify(fresh, tmp_path):
    # (found by a review: FREEZE, FORCED_TRANSFER and CORRECTION named their two people, ISSUE neither)
    market, security, alice, bob, checker = fresh
    # given an issue made before issuances had two people: no proposal, the first form of ISSUE
    market.issue(market.investor(), 100, security=security)
    old = Entry.objects.get(kind=EntryKind.ISSUE)
    proposal = propose(market, security, alice, bob)

    # when a second depository operator approves the proposal
    approved = issuances.issuance_approve(actor=checker, issuance_id=proposal.pk)

    # then its ISSUE entry names the proposal, who proposed it and who approved it, as a FREEZE names its two
    new = Entry.objects.get(pk=approved.entry)
    payload = json.loads(bytes(new.canonical))["payload"]
    assert (payload["issuance"], payload["proposed_by"], payload["approved_by"]) == (
        proposal.pk,
        market.depository.username,
        checker.username,
    )
    assert Issue.read(payload).approved_by == checker.username
    # and the old entry keeps its bytes and first form, read as naming no one
    assert set(json.loads(bytes(old.canonical))["payload"]) == {"security", "quantity", "allocations", "reference"}
    read = Issue.read(json.loads(bytes(old.canonical))["payload"])
    assert (read.issuance, read.proposed_by, read.approved_by) == (None, None, None)
    # and the security's issuances on the API say the same of each
    listed = api_for(market.depository).get(f"/api/v1/securities/{security.code}/issuances/").json()
    assert [(i["entry"], i["issuance"], i["proposed_by"], i["approved_by"]) for i in listed] == [
        (old.pk, None, None, None),
        (new.pk, proposal.pk, market.depository.username, checker.username),
    ]
    # and both verify and replay
    block_seal()
    assert ledger_verify().ok
    call_command("ledger_replay", "--check")

    # when the two issues' records are checked offline against their entries (an evidence bundle of both)
    records = list(AuditEvent.objects.filter(action="securities_issue").order_by("id"))
    bundle = evidence_bundle(
        subject={"account": alice.code}, events=records, entries=[old, new], by=market.depository.username
    )
    keys = api_for(market.user(Role.AUDITOR)).get("/api/v1/ledger/keys/").json()
    ok = _verify(tmp_path, bundle, keys)

    # then it verifies: the new record down to who acted, the old one on the exchange's word as before
    assert ok.returncode == 0, ok.stderr
    assert "2 of them backed by the entry they name, 1 of those down to who acted" in ok.stdout
    assert f"audit record {records[0].pk} (securities_issue): backed by entry {old.pk}, which does not" in ok.stdout
    # and not once the approval's record is said to be the proposer's, or to name another proposer or proposal
    for key, value in (("user", market.depository.username), ("proposed_by", checker.username), ("issuance", 0)):
        tampered = json.loads(json.dumps(bundle))
        record = tampered["audit"][1]
        (record if key == "user" else record["detail"])[key] = value
        bad = _verify(tmp_path, tampered, keys)
        assert bad.returncode == 1 and "FAILED" in bad.stderr, key


def test_the_proposer_cannot_approve_their_own_proposal_and_the_database_refuses_it_too(fresh):
    market, security, alice, bob, _checker = fresh
    proposal = propose(market, security, alice, bob)
    before = everything()

    # when the proposer approves, or rejects, their own proposal through the service
    with pytest.raises(issuances.SameProposer):
        issuances.issuance_approve(actor=market.depository, issuance_id=proposal.pk)
    with pytest.raises(issuances.SameProposer):
        issuances.issuance_reject(actor=market.depository, issuance_id=proposal.pk, reason="Mine")

    # then nothing changed: nothing issued, the proposal still proposed
    assert everything() == before

    # when a raw UPDATE makes the proposer the approver: PostgreSQL refuses it
    with pytest.raises(IntegrityError, match="issuance_decided_by_another"), transaction.atomic():
        IssuanceProposal.objects.filter(pk=proposal.pk).update(
            status="rejected", decided_by=market.depository, decided_at=timezone.now()
        )
    assert everything() == before


def test_the_proposer_cannot_approve_through_the_api_and_the_refusal_is_on_the_trail(fresh):
    market, security, alice, bob, checker = fresh
    # given a proposal made on the API: a 202 with the proposal, nothing credited
    response = api_for(market.depository).post(
        f"/api/v1/securities/{security.code}/issuances/",
        {"holders": [{"account": alice.code, "quantity": 700}, {"account": bob.code, "quantity": 300}]},
        format="json",
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["status"], body["quantity"], body["proposed_by"], body["entry"]) == (
        "proposed",
        1_000,
        market.depository.username,
        None,
    )
    assert [a["account"] for a in body["allocations"]] == [alice.code, bob.code]
    assert position_of(alice, security) is None and issues() == 0
    before = everything()

    # when the proposer approves it on the API
    url = f"/api/v1/issuance-proposals/{body['id']}/approve/"
    refused = api_for(market.depository).post(url)

    # then it is refused (403, maker_checker), nothing changed, and the refusal is on the trail, named as an
    # approval of an issuance of that security, as the proposal's own record is (found by a review: it was named by
    # its URL), the proposal's number in its path
    assert (refused.status_code, refused.json()["code"]) == (403, "maker_checker")
    assert everything() == before
    record = AuditEvent.objects.get(outcome="refused")
    assert (record.actor, record.action, record.target, record.detail["path"]) == (
        market.depository,
        "issuance_approve",
        security.code,
        url,
    )
    assert (record.detail["code"], record.detail["path"]) == ("maker_checker", url)

    # when the second depository operator approves it
    approved = api_for(checker).post(url)

    # then the shares are credited once, and the issuance is listed with the entry the approval names
    assert approved.status_code == 200, approved.content
    assert (approved.json()["status"], approved.json()["decided_by"]) == ("approved", checker.username)
    assert (position_of(alice, security).total, position_of(bob, security).total) == (700, 300)
    (issued,) = api_for(market.depository).get(f"/api/v1/securities/{security.code}/issuances/").json()
    assert (issued["entry"], issued["quantity"]) == (approved.json()["entry"], 1_000)
    # and it names the proposal and its two people, as the ISSUE entry does
    assert (issued["issuance"], issued["proposed_by"], issued["approved_by"]) == (
        body["id"],
        market.depository.username,
        checker.username,
    )
    # and approving it again is refused: it is decided
    again = api_for(market.user(Role.DEPOSITORY_OPERATOR)).post(url)
    assert (again.status_code, again.json()["code"]) == (409, "not_proposed")
    assert issues() == 1


def test_the_api_lists_the_proposals_for_their_readers_and_approve_takes_no_body(fresh):
    market, security, alice, bob, checker = fresh
    waiting = propose(market, security, alice, bob)
    withdrawn = propose(market, security, alice, bob)
    issuances.issuance_withdraw(actor=market.depository, issuance_id=withdrawn.pk, reason="Typed twice")

    listed = api_for(checker).get("/api/v1/issuance-proposals/", {"status": "proposed"})
    assert listed.status_code == 200
    assert [p["id"] for p in listed.json()["results"]] == [waiting.pk]
    everyone = api_for(market.user(Role.AUDITOR)).get("/api/v1/issuance-proposals/", {"security": security.code})
    assert [(p["id"], p["status"]) for p in everyone.json()["results"]] == [
        (withdrawn.pk, "withdrawn"),
        (waiting.pk, "proposed"),
    ]
    assert api_for(checker).get("/api/v1/issuance-proposals/", {"status": "nope"}).status_code == 400
    for role in (Role.INVESTOR, Role.BROKER_STAFF, Role.MARKET_MAKER):
        assert api_for(market.user(role)).get("/api/v1/issuance-proposals/").status_code == 403
    # a decision by another role is refused before any lookup, and changes nothing
    before = everything()
    for role in (Role.REGULATOR, Role.EXCHANGE_OPERATOR, Role.BROKER_STAFF):
        response = api_for(market.user(role)).post(f"/api/v1/issuance-proposals/{waiting.pk}/approve/")
        assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    with_body = api_for(checker).post(
        f"/api/v1/issuance-proposals/{waiting.pk}/approve/", {"reason": "x"}, format="json"
    )
    assert with_body.status_code == 400
    assert api_for(checker).post("/api/v1/issuance-proposals/999999/approve/").status_code == 404
    assert everything() == before


# --------------------------------------------------------------------------
# Reject and withdraw: nothing issued


def test_a_rejected_proposal_issues_nothing(fresh):
    market, security, alice, bob, checker = fresh
    proposal = propose(market, security, alice, bob)
    before = snapshot()

    # when a rejection has no reason: refused, nothing changed
    with pytest.raises(err.ReasonRequired):
        issuances.issuance_reject(actor=checker, issuance_id=proposal.pk, reason="  ")
    assert IssuanceProposal.objects.get(pk=proposal.pk).status == "proposed"

    # when a second depository operator rejects it with a reason
    rejected = api_for(checker).post(
        f"/api/v1/issuance-proposals/{proposal.pk}/reject/", {"reason": "Wrong holders"}, format="json"
    )

    # then it is rejected, and no balance, entry or lock-up changed
    assert rejected.status_code == 200, rejected.content
    assert (rejected.json()["status"], rejected.json()["decision_reason"]) == ("rejected", "Wrong holders")
    assert snapshot() == before and issues() == 0 and not LockUp.objects.exists()
    assert actions()[-1] == (checker.username, "issuance_reject", "ok")
    # and it can be neither approved nor withdrawn now
    with pytest.raises(issuances.NotProposed):
        issuances.issuance_approve(actor=checker, issuance_id=proposal.pk)
    with pytest.raises(issuances.NotProposed):
        issuances.issuance_withdraw(actor=market.depository, issuance_id=proposal.pk, reason="Too late")
    assert snapshot() == before and issues() == 0


def test_only_the_proposer_withdraws_and_a_withdrawn_proposal_issues_nothing(fresh):
    market, security, alice, bob, checker = fresh
    proposal = propose(market, security, alice, bob)
    before = snapshot()

    # when another depository operator withdraws it: refused, it is still proposed
    response = api_for(checker).post(
        f"/api/v1/issuance-proposals/{proposal.pk}/withdraw/", {"reason": "Not mine"}, format="json"
    )
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    assert IssuanceProposal.objects.get(pk=proposal.pk).status == "proposed"

    # when its proposer withdraws it
    withdrawn = api_for(market.depository).post(
        f"/api/v1/issuance-proposals/{proposal.pk}/withdraw/", {"reason": "Typed the wrong quantity"}, format="json"
    )

    # then it is withdrawn, decided by nobody, and nothing is issued
    assert withdrawn.status_code == 200, withdrawn.content
    assert (withdrawn.json()["status"], withdrawn.json()["decided_by"]) == ("withdrawn", None)
    assert snapshot() == before and issues() == 0
    assert actions()[-1] == (market.depository.username, "issuance_withdraw", "ok")
    with pytest.raises(issuances.NotProposed):
        issuances.issuance_approve(actor=checker, issuance_id=proposal.pk)
    assert snapshot() == before and issues() == 0


# --------------------------------------------------------------------------
# Checked at the proposal; checked again at the approval


@pytest.mark.parametrize(
    "case",
    ["fee account", "named twice", "lock-up ended", "delisted", "no holder", "wrong role"],
)
def test_a_proposal_is_checked_in_full_when_made_and_a_bad_one_is_not_kept(fresh, case):
    market, security, alice, _bob, _checker = fresh
    actor, code, allocations = market.depository, security.code, [Holding(alice, 100)]
    if case == "fee account":
        allocations = [Holding(Account.objects.get(kind=Account.Kind.FEE, broker=market.broker), 100)]
    elif case == "named twice":
        allocations = [Holding(alice, 100), Holding(alice, 50)]
    elif case == "lock-up ended":
        allocations = [Holding(alice, 100, 100, shanghai_today())]
    elif case == "delisted":
        Security.objects.filter(pk=security.pk).update(status=Security.Status.DELISTED)
    elif case == "no holder":
        allocations = []
    else:
        actor = market.user(Role.EXCHANGE_OPERATOR)
    before = everything()

    with pytest.raises(err.DomainError):
        issuances.issuance_propose(actor=actor, security_code=code, allocations=allocations)

    assert everything() == before
    assert not AuditEvent.objects.filter(action="issuance_propose").exists()


def test_an_approval_whose_checks_fail_now_is_refused_and_changes_nothing(fresh):
    market, security, alice, bob, checker = fresh
    # given a security capped at two holders, and a proposal to issue to alice and bob
    Security.objects.filter(pk=security.pk).update(max_holders=2)
    proposal = issuances.issuance_propose(
        actor=market.depository, security_code=security.code, allocations=[Holding(alice, 100), Holding(bob, 100)]
    )
    # and meanwhile the cap is reached: two other holders (set up directly, as a fixture does)
    market.issue(market.investor(), 100, security=security)
    market.issue(market.investor(), 100, security=security)
    before = everything()
    entries = issues()

    # when a second depository operator approves the proposal
    with translation.override("en"), pytest.raises(HolderCapExceeded) as refused:
        issuances.issuance_approve(actor=checker, issuance_id=proposal.pk)

    # then it is refused naming the cap, and nothing changed: no position, no entry, the proposal still proposed
    assert "its cap is 2" in str(refused.value.message)
    assert everything() == before and issues() == entries
    assert not AuditEvent.objects.filter(action="issuance_approve").exists()
    # and it can still be rejected, with a reason
    assert issuances.issuance_reject(actor=checker, issuance_id=proposal.pk, reason="Cap reached").status == "rejected"


@pytest.mark.usefixtures("shanghai_day_held")  # tomorrow as the test reads it
def test_a_lock_up_that_has_ended_by_the_approval_is_refused(fresh):
    market, security, alice, _bob, checker = fresh
    proposal = issuances.issuance_propose(
        actor=market.depository,
        security_code=security.code,
        allocations=[Holding(alice, 100, 100, shanghai_today() + dt.timedelta(days=1))],
    )
    before = everything()
    tomorrow = timezone.now() + dt.timedelta(days=1)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(timezone, "now", lambda: tomorrow)
        with pytest.raises(err.InvalidInput):
            issuances.issuance_approve(actor=checker, issuance_id=proposal.pk)

    assert everything() == before


# --------------------------------------------------------------------------
# Two approvals at once


@pytest.mark.django_db(transaction=True)
def test_two_approvals_at_once_issue_exactly_once():
    # given a proposal, and two other depository operators
    market = build_market()
    security = market.new_security("830067")
    alice = market.investor()
    proposal = issuances.issuance_propose(
        actor=market.depository, security_code=security.code, allocations=[Holding(alice, 1_000)]
    )
    checkers = [market.user(Role.DEPOSITORY_OPERATOR) for _ in range(2)]

    # when both approve it at the same moment, each on its own connection
    results = run_concurrently(
        [lambda u=u: issuances.issuance_approve(actor=u, issuance_id=proposal.pk) for u in checkers]
    )

    # then one approval issued the shares and the other found it decided
    approved = [r for r in results if isinstance(r, IssuanceProposal)]
    refused = [r for r in results if isinstance(r, err.DomainError)]
    assert len(approved) == 1 and [e.code for e in refused] == ["not_proposed"]
    assert issues() == 1
    assert position_of(alice, security).total == 1_000
    assert Security.objects.get(pk=security.pk).issued_quantity == 1_000
    row = IssuanceProposal.objects.get(pk=proposal.pk)
    assert (row.status, row.decided_by_id, row.entry) == ("approved", approved[0].decided_by.pk, approved[0].entry)
    assert AuditEvent.objects.filter(action="securities_issue").count() == 1


# --------------------------------------------------------------------------
# The depository's console


def issuance_form(security, account, quantity="500") -> dict:
    return {
        "issue-security": security.code,
        "issue-reference": "Placement",
        "holders-TOTAL_FORMS": "1",
        "holders-INITIAL_FORMS": "0",
        "holders-MIN_NUM_FORMS": "0",
        "holders-MAX_NUM_FORMS": "50",
        "holders-0-account": account.code,
        "holders-0-quantity": quantity,
    }


def test_on_the_console_the_proposer_cannot_approve_and_a_second_operator_does(fresh):
    market, security, alice, _bob, checker = fresh
    maker = signed_in(market.depository)

    # when the depository operator proposes on the console
    response = maker.post("/depository/", issuance_form(security, alice), HTTP_ACCEPT_LANGUAGE="en")

    # then it is proposed, nothing credited, and the console lists it waiting, with no approval for its proposer
    assert response.status_code == 302
    proposal = IssuanceProposal.objects.get()
    assert position_of(alice, security) is None and issues() == 0
    page = maker.get("/depository/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f"Issuance {proposal.pk} of 500 shares of {security.code} is proposed" in page
    row = page[page.index(f'<tr data-issuance="{proposal.pk}">') :]
    row = row[: row.index("</tr>")]
    assert "Withdraw the proposal" in row and "/approve/" not in row and "/reject/" not in row
    before = everything()

    # when the proposer posts the approval anyway: refused, named, on the trail; nothing changed
    refused = maker.post(f"/depository/issuances/{proposal.pk}/approve/", HTTP_ACCEPT_LANGUAGE="en", follow=True)
    assert f"Issuance proposal {proposal.pk}: A second person must approve" in refused.content.decode()
    assert everything() == before
    record = AuditEvent.objects.get(outcome="refused")
    assert (record.actor, record.detail["code"]) == (market.depository, "maker_checker")

    # when the second depository operator opens the console: it offers approve (asking first) and reject
    checker_page = signed_in(checker)
    text = checker_page.get("/depository/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    row = text[text.index(f'<tr data-issuance="{proposal.pk}">') :]
    row = row[: row.index("</tr>")]
    assert f'data-confirm="Approve issuance {proposal.pk}? 500 shares of {security.code} are credited' in row
    assert "/reject/" in row and "/withdraw/" not in row
    # and approves it
    done = checker_page.post(f"/depository/issuances/{proposal.pk}/approve/", HTTP_ACCEPT_LANGUAGE="en", follow=True)

    # then the shares are credited, once
    assert f"Issuance {proposal.pk} approved" in done.content.decode()
    assert position_of(alice, security).total == 500 and issues() == 1
    assert IssuanceProposal.objects.get().decided_by == checker


def test_on_the_console_a_rejection_without_a_reason_comes_back_to_its_row_in_chinese(fresh):
    market, security, alice, bob, checker = fresh
    proposal = propose(market, security, alice, bob)
    page = signed_in(checker)
    before, business = everything(), snapshot()

    # when the second operator rejects it without a reason
    response = page.post(f"/depository/issuances/{proposal.pk}/reject/", {"reason": " "})

    # then the console comes back (400) with the refusal next to that row's reason and above naming the proposal
    assert response.status_code == 400
    text = response.content.decode()
    assert (
        f'<div class="field-errors" id="issuance-{proposal.pk}-reject-error"><p class="error">请填写原因。</p>' in text
    )
    assert f"发行登记提议 {proposal.pk}：请填写原因。" in text
    assert everything() == before

    # when it gives one: rejected, nothing issued; the console shows it decided
    response = page.post(f"/depository/issuances/{proposal.pk}/reject/", {"reason": "Wrong holders"}, follow=True)
    assert f"发行登记提议 {proposal.pk} 已驳回。" in response.content.decode()
    assert IssuanceProposal.objects.get().status == "rejected" and issues() == 0
    assert snapshot() == business


def test_the_audit_trail_names_each_step_in_both_languages():
    with translation.override("zh-hans"):
        assert labels.audit_action_label("issuance_approve") == "发行登记批准"
        steps = ("issuance_propose", "issuance_approve", "issuance_reject", "issuance_withdraw")
        assert all(not labels.audit_action_label(code).isascii() for code in steps)
    with translation.override("en"):
        assert labels.audit_action_label("issuance_withdraw") == "Issuance withdrawn"


@pytest.mark.usefixtures("shanghai_day_held")  # the lock-up's end as the bodies write it
def test_an_issuance_proposal_retried_with_its_client_request_id_is_the_first_one(fresh):
    # given a depository's system that proposes an issuance with its own key, and loses the answer
    market, security, alice, bob, checker = fresh
    until = (shanghai_today() + dt.timedelta(days=10)).isoformat()
    body = {
        "holders": [
            {"account": alice.code, "quantity": 6_000, "locked_quantity": 1_000, "locked_until": until},
            {"account": bob.code, "quantity": 4_000},
        ],
        "reference": "Initial registration",
        "client_request_id": "reg-830066",
    }
    url = f"/api/v1/securities/{security.code}/issuances/"
    api = api_for(market.depository)
    first = api.post(url, body, format="json")
    assert first.status_code == 202, first.content

    # when it sends the same request again (its holders in another order), and again once it was approved
    again = api.post(url, {**body, "holders": body["holders"][::-1]}, format="json")
    issuances.issuance_approve(actor=checker, issuance_id=first.json()["id"])
    later = api.post(url, body, format="json")

    # then each answer is the first proposal (200, not 202), as it stands, and nothing more is proposed or issued
    assert (again.status_code, again.json()["id"], again.json()["status"]) == (200, first.json()["id"], "proposed")
    assert (later.status_code, later.json()["id"], later.json()["status"]) == (200, first.json()["id"], "approved")
    assert IssuanceProposal.objects.count() == 1 and issues() == 1
    assert position_of(alice, security).total == 6_000
    # and the key with other holders is refused, naming the key, and changes nothing
    before = everything()
    other = api.post(url, {**body, "holders": body["holders"][:1]}, format="json")
    assert (other.status_code, other.json()["code"]) == (409, "client_request_id_reused")
    assert everything() == before


@pytest.mark.django_db(transaction=True)
def test_one_issuance_proposal_sent_twice_at_once_with_its_key_proposes_one():
    # given a depository operator's one proposal, sent twice at once with its key
    market = build_market()
    security = market.new_security("830067")
    alice, bob = market.investor(), market.investor()

    def send():
        return issuances.issuance_propose_once(
            actor=market.depository,
            security_code=security.code,
            allocations=[Holding(alice, 6_000), Holding(bob, 4_000)],
            reference="Initial registration",
            client_request_id="reg-830067",
        )

    # when both run at once
    results = run_concurrently([send, send])

    # then one proposal is made, and both answers name it, one of them as made
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len({p.pk for p, _made in results}) == 1 and sorted(made for _p, made in results) == [False, True]
    assert IssuanceProposal.objects.count() == 1
    assert AuditEvent.objects.filter(action="issuance_propose").count() == 1
