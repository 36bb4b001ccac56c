"""A staff member's write the exchange refused is on the audit trail with outcome "refused" (core.audit,
core.middleware.audit_refusals): the trail is of every staff action and its outcome (DESIGN §6). Found by a
probe: refused freezes, forced transfers and corrections left no trace."""

from __future__ import annotations

import ast
import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import Client
from django.urls import get_resolver
from django.utils import timezone, translation

from core import audit_actions, labels
from core.audit import audit_record
from core.models import AuditEvent, Role
from exchange.models import Trade
from exchange.services import OrderRequest, order_place
from ledger.services import block_seal
from settlement.instructions import instruction_create, instruction_end
from settlement.models import SettlementInstruction
from settlement.services import trade_settle
from supervision import services as sv
from supervision.models import Correction
from tests.conftest import api_for, log_in, snapshot
from tests.test_supervision import LEGAL

ROOT = Path(__file__).resolve().parent.parent


def signed_in(user) -> Client:
    client = Client()
    log_in(client, user)
    return client


def refusals():
    return list(
        AuditEvent.objects.filter(outcome="refused").values_list("actor_username", "action", "target", "detail")
    )


def sealed(market) -> Trade:
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    buyer = market.investor(cash="50000")
    order_place(
        placed_by=buyer.owner,
        account=buyer,
        request=OrderRequest(market.security.code, "buy", 100, Decimal("10.10"), "IOC", "v"),
    )
    block_seal()
    return Trade.objects.get()


def test_a_refused_page_action_of_a_regulator_is_on_the_trail_and_changes_nothing_else(market):
    reg1 = market.user(Role.REGULATOR)
    before = snapshot()
    # when a regulator proposes a freeze of an account that does not exist, on the console
    page = signed_in(reg1).post(
        "/supervision/",
        {
            "form": "freeze",
            "freeze-account": "INV999999",
            "freeze-kind": "cash",
            "freeze-amount": "100.00",
            "freeze-legal_reference": "(2026)沪74执9号",
            "freeze-reason": "Asset preservation",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    # then the page says why, and the trail has the refusal: who, which action, where, the code and the words
    assert page.status_code == 200 and "No such account: INV999999." in page.content.decode()
    # (named as a proposed freeze of that account is, the path kept in the detail)
    ((who, action, target, detail),) = refusals()
    assert (who, action, target) == (reg1.username, "freeze_propose", "INV999999")
    assert detail == {
        "method": "POST",
        "path": "/supervision/",
        "code": "unknown_account",
        "message": "No such account: INV999999.",
    }
    assert snapshot() == before


def test_a_refused_api_decision_by_the_wrong_role_is_on_the_trail(market):
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    investor = market.investor(cash="1000")
    freeze = sv.freeze_propose(actor=reg1, account=investor.code, amount="100.00", reason="Court order", **LEGAL)
    depository = market.user(Role.DEPOSITORY_OPERATOR)
    # when a depository operator approves it through the API
    response = api_for(depository).post(f"/api/v1/freezes/{freeze.pk}/approve/")
    # then it is refused, the freeze is still proposed, and the trail has the attempt, under the account the
    # freeze's own records name (the freeze's number in its path)
    assert response.status_code == 403
    ((who, action, target, detail),) = refusals()
    assert (who, action, target) == (depository.username, "freeze_approve", investor.code)
    assert detail["code"] == "permission_denied" and detail["path"] == f"/api/v1/freezes/{freeze.pk}/approve/"
    assert detail["path"] == f"/api/v1/freezes/{freeze.pk}/approve/"
    # and the second regulator's approval is recorded as done, not refused
    assert api_for(reg2).post(f"/api/v1/freezes/{freeze.pk}/approve/").status_code == 200
    assert len(refusals()) == 1
    assert AuditEvent.objects.filter(action="freeze_approve", outcome="ok").count() == 1


def test_reads_and_investors_refusals_are_not_staff_actions(market):
    investor = market.investor(cash="100")
    client = api_for(investor.owner)
    # an investor's refused order, and a staff member's refused read, are not recorded as refused actions
    assert client.post("/api/v1/orders/", {"security": "NOPE"}, format="json").status_code == 400
    assert api_for(market.user(Role.REGULATOR)).get("/api/v1/trades/999999/").status_code == 404
    assert refusals() == []


def test_a_staff_members_page_write_refused_by_its_role_gate_is_on_the_trail(market):
    # (found by a review: only the API noted a refusal by a permission; a page's role gate did not)
    regulator = market.user(Role.REGULATOR)
    before = snapshot()
    response = signed_in(regulator).post("/operations/market/halt/", {"reason": "Systems incident"})
    assert response.status_code == 403
    ((who, action, target, detail),) = refusals()
    assert (who, action, target, detail["code"], detail["method"], detail["path"]) == (
        regulator.username,
        "market_halt",
        "",  # as a market halt's record: the market is no object
        "permission_denied",
        "POST",
        "/operations/market/halt/",
    )
    assert snapshot() == before


# --------------------------------------------------------------------------
# The settlement monitor's refusals (found by an outside tester: the page's were not audited, the API's were)


def test_an_auditors_refusal_of_a_trade_on_the_monitor_is_a_403_and_on_the_trail(market):
    # given a trade waiting for settlement, and an auditor (who may watch the monitor, not act on it)
    trade = sealed(market)
    auditor = market.user(Role.AUDITOR)
    before = snapshot()

    # when the auditor posts its refusal to the monitor
    url = f"/settlement/trades/{trade.pk}/refuse/"
    response = signed_in(auditor).post(url, {"reason": "repro"}, HTTP_ACCEPT_LANGUAGE="en")

    # then it is the 403 page with the reason, as the other pages and the API answer a role that may not act
    assert response.status_code == 403
    assert "Only depository operators hold or refuse settlement." in response.content.decode()
    # and the trail has the attempt, named as a refusal of that trade is when done
    ((who, action, target, detail),) = refusals()
    assert (who, action, target) == (auditor.username, "settlement_refuse", f"trade {trade.pk}")
    assert detail == {
        "method": "POST",
        "path": url,
        "code": "permission_denied",
        "message": "Only depository operators hold or refuse settlement.",
    }
    # and nothing else changed: the trade still waits, nothing was done
    assert snapshot() == before
    assert Trade.objects.get(pk=trade.pk).status == trade.status
    assert not AuditEvent.objects.filter(outcome="ok", action__startswith="settlement_").exists()


def test_refusing_a_settled_trade_is_on_the_trail_from_the_monitor_as_from_the_api(market):
    # given a settled trade
    trade = sealed(market)
    assert trade_settle(trade_id=trade.pk)
    depository = market.depository
    before = snapshot()

    # when the depository operator refuses it on the monitor, then through the API
    page = signed_in(depository).post(
        f"/settlement/trades/{trade.pk}/refuse/", {"reason": "repro"}, HTTP_ACCEPT_LANGUAGE="en", follow=True
    )
    api = api_for(depository).post(f"/api/v1/trades/{trade.pk}/refuse/", {"reason": "repro"}, format="json")

    # then the monitor says why, naming the trade, as the API does
    assert page.status_code == 200 and page.redirect_chain == [("/settlement/", 302)]
    assert f"Trade {trade.pk}: The trade is not waiting for settlement." in page.content.decode()
    assert (api.status_code, api.json()["code"]) == (409, "trade_not_pending")
    # and both attempts are on the trail alike: who, the action and its object, refused, and why
    rows = list(
        AuditEvent.objects.filter(outcome="refused")
        .order_by("id")
        .values_list("actor_username", "action", "target", "detail__code", "detail__path")
    )
    assert rows == [
        (
            depository.username,
            "settlement_refuse",
            f"trade {trade.pk}",
            "trade_not_pending",
            f"/settlement/trades/{trade.pk}/refuse/",
        ),
        (
            depository.username,
            "settlement_refuse",
            f"trade {trade.pk}",
            "trade_not_pending",
            f"/api/v1/trades/{trade.pk}/refuse/",
        ),
    ]
    # and nothing changed: the trade is still settled
    assert snapshot() == before
    assert Trade.objects.get(pk=trade.pk).status == Trade.Status.SETTLED


def test_ending_an_ended_instruction_on_the_monitor_is_on_the_trail(market):
    # given an instruction the depository set and ended
    depository = market.depository
    instruction = instruction_create(
        actor=depository,
        account_code=None,
        security_code=market.security.code,
        min_amount=None,
        reason="court enquiry",
        ends_at=timezone.now() + dt.timedelta(days=30),
    )
    instruction_end(actor=depository, instruction_id=instruction.pk, reason="lifted")
    ended = SettlementInstruction.objects.values().get(pk=instruction.pk)
    before = snapshot()

    # when the depository operator ends it again on the monitor
    url = f"/settlement/instructions/{instruction.pk}/end/"
    page = signed_in(depository).post(url, {"reason": "again"}, HTTP_ACCEPT_LANGUAGE="en", follow=True)

    # then the monitor says why, and the trail has the attempt as an instruction's end
    assert page.status_code == 200
    assert f"Instruction {instruction.pk}: The instruction has already ended." in page.content.decode()
    ((who, action, target, detail),) = refusals()
    assert (who, action, target) == (depository.username, "settlement_instruction_end", f"instruction {instruction.pk}")
    assert (detail["code"], detail["path"]) == ("instruction_not_active", url)
    # and nothing changed: ended once, by the first end
    assert SettlementInstruction.objects.values().get(pk=instruction.pk) == ended
    assert snapshot() == before


def test_a_refused_instruction_on_the_monitor_is_on_the_trail(market):
    # when the depository operator sets an instruction on an account that does not exist
    depository = market.depository
    response = signed_in(depository).post(
        "/settlement/instructions/",
        {"account": "INV999999", "security": "", "min_amount": "", "reason": "court 9", "ends_at": "2099-01-01T09:30"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    # then the monitor comes back with the form's error, and the trail has the attempt, naming the account asked for
    assert response.status_code == 400
    ((who, action, target, detail),) = refusals()
    assert (who, action, target, detail["code"]) == (
        depository.username,
        "settlement_instruction_create",
        "account INV999999",
        "unknown_account",
    )
    assert detail["message"] in response.content.decode()
    assert not SettlementInstruction.objects.exists()


# --------------------------------------------------------------------------
# Refusals named as the deeds are (found by an outside tester: the trail showed api-trade-refuse on
# /api/v1/trades/5/refuse/, raw in both languages, and target=trade 5 found no attempt)


def trail_rows(client, language: str, **filters) -> list[tuple[str, str]]:
    """The trail page's (action, object) cells, as shown."""
    page = client.get("/audit/", filters, HTTP_ACCEPT_LANGUAGE=language).content.decode()
    cells = re.findall(r'<td title="[^"]*"><span class="cell-text">([^<]*)</span></td>\s*<td data-outcome', page)
    objects = re.findall(r'<td data-outcome="[^"]*">[^<]*</td>\s*<td[^>]*><span class="cell-text">([^<]*)</span>', page)
    return list(zip(cells, objects, strict=True))


def test_refusals_are_named_and_found_as_the_actions_they_attempted(market):
    # given a settled trade the depository refuses through the API, a security resumed while trading, and a
    # holiday the exchange operator adds twice on the operations page
    trade = sealed(market)
    assert trade_settle(trade_id=trade.pk)
    depository, operator = market.depository, market.user(Role.EXCHANGE_OPERATOR)
    code = market.security.code
    assert (
        api_for(depository).post(f"/api/v1/trades/{trade.pk}/refuse/", {"reason": "x"}, format="json").status_code
        == 409
    )
    assert (
        api_for(operator).post(f"/api/v1/securities/{code}/resume/", {"reason": "x"}, format="json").status_code == 409
    )
    console = signed_in(operator)
    assert console.post("/operations/holidays/", {"date": "2031-01-06", "name": "Test"}).status_code == 302
    before = snapshot()
    assert console.post("/operations/holidays/", {"date": "2031-01-06", "name": "Test"}).status_code == 400

    # then each attempt is recorded under its action and object, as the deed is
    assert sorted((a, t) for _who, a, t, _d in refusals()) == [
        ("holiday_add", "2031-01-06"),
        ("security_resume", code),
        ("settlement_refuse", f"trade {trade.pk}"),
    ]
    assert AuditEvent.objects.filter(action="holiday_add", target="2031-01-06", outcome="ok").count() == 1
    assert snapshot() == before  # the refused second holiday changed nothing
    # and the auditor finds the trade's attempt by the trade, and reads each in words in either language
    auditor = signed_in(market.user(Role.AUDITOR))
    assert trail_rows(auditor, "en", target=f"trade {trade.pk}", outcome="refused") == [
        ("Settlement refused", f"Trade {trade.pk}")
    ]
    assert trail_rows(auditor, "zh-hans", target=f"trade {trade.pk}", outcome="refused") == [
        ("拒绝交收", f"成交 {trade.pk}")
    ]
    english = trail_rows(auditor, "en", outcome="refused")
    chinese = trail_rows(auditor, "zh-hans", outcome="refused")
    assert {a for a, _t in english} == {"Settlement refused", "Trading resumed", "Holiday added"}
    assert {a for a, _t in chinese} == {"拒绝交收", "恢复交易", "新增休市日"}


def test_refusals_recorded_before_are_read_in_words(market):
    # given refusals recorded as they were before: under the URL's name, on its path
    reg = market.user(Role.REGULATOR)
    for action, path in [
        ("api-trade-refuse", "/api/v1/trades/5/refuse/"),
        ("operations-market", "/operations/market/halt/"),
        ("settlement-trade-action", "/settlement/trades/5/hold/"),
        ("supervision", "/supervision/"),  # a freeze or a forced transfer: the form posted is not known
        ("gone-view", "/gone/1/"),  # a URL no longer there
    ]:
        audit_record(actor=reg, action=action, target=path, outcome="refused", detail={"code": "x"})

    # then the trail names each in words, in either language; the codes stay as recorded
    auditor = signed_in(market.user(Role.AUDITOR))
    assert [a for a, _t in trail_rows(auditor, "en", outcome="refused")] == [
        "Refused request to /gone/1/",
        "Refused request to /supervision/",
        "Settlement held",
        "Market halt",
        "Settlement refused",
    ]
    assert [a for a, _t in trail_rows(auditor, "zh-hans", outcome="refused")] == [
        "被拒绝的请求：/gone/1/",
        "被拒绝的请求：/supervision/",
        "暂缓交收",
        "全市场暂停",
        "拒绝交收",
    ]
    assert set(AuditEvent.objects.filter(outcome="refused").values_list("action", flat=True)) == {
        "api-trade-refuse",
        "operations-market",
        "settlement-trade-action",
        "supervision",
        "gone-view",
    }


def test_every_refusal_the_table_names_is_a_url_and_a_labelled_action():
    url_names = {name for name in get_resolver().reverse_dict if isinstance(name, str)}
    assert set(audit_actions.REFUSED_ACTIONS) - url_names == set()
    assert {"settlement_refuse", "forced_transfer_withdraw", "kyc_document_add"} <= audit_actions.actions_named()
    assert audit_actions.actions_named() - set(labels.AUDIT_ACTIONS) == set()


def test_every_action_the_code_records_has_a_label_in_both_languages():
    trees = [
        ast.parse(path.read_text(), str(path))
        for path in ROOT.glob("*/**/*.py")
        if not (".venv" in path.parts or "tests" in path.parts or "migrations" in path.parts)
    ]

    def callee(node: ast.Call) -> str:
        return getattr(node.func, "id", getattr(node.func, "attr", ""))

    # audit_record, and the helpers that take an ``action`` and record it (a freeze's proposal closed, a switch of
    # the market or of one security): their callers name the action
    recorders = {"audit_record"}
    for tree in trees:
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef) and "action" in {a.arg for a in fn.args.args + fn.args.kwonlyargs}:
                if any(
                    isinstance(node, ast.Call)
                    and callee(node) == "audit_record"
                    and any(k.arg == "action" and getattr(k.value, "id", "") == "action" for k in node.keywords)
                    for node in ast.walk(fn)
                ):
                    recorders.add(fn.name)
    recorded = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and callee(node) in recorders:
                for keyword in node.keywords:
                    if keyword.arg == "action" and isinstance(keyword.value, ast.Constant):
                        recorded.add(keyword.value.value)
                    if keyword.arg == "action" and isinstance(keyword.value, ast.IfExp):
                        branches = (keyword.value.body, keyword.value.orelse)
                        recorded |= {b.value for b in branches if isinstance(b, ast.Constant)}
    assert {"_recorded", "_proposal_close"} <= recorders
    assert {"login", "security_halt", "market_resume", "freeze_reject", "settlement_instruction_end"} <= recorded
    assert recorded <= set(labels.AUDIT_ACTIONS), recorded - set(labels.AUDIT_ACTIONS)
    with translation.override("zh-hans"):
        assert all(not labels.audit_action_label(code).isascii() for code in recorded)
    with translation.override("en"):
        assert all(labels.audit_action_label(code) != code for code in recorded)


# --------------------------------------------------------------------------
# Refused by a page's form before any service ran, and API creations naming what they asked for (found by a
# review: a freeze proposal without its legal reference, an issuance of 0 shares, a correction with bad numbers
# left no trace on a page's form, while the API's refusal was recorded, with an empty object)


def last_record() -> int:
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def only_refusal(after: int) -> tuple[str, str, str, dict]:
    """The one record written after record ``after``: a refusal (who, action, object, detail)."""
    ((who, action, target, outcome, detail),) = AuditEvent.objects.filter(id__gt=after).values_list(
        "actor_username", "action", "target", "outcome", "detail"
    )
    assert outcome == "refused"
    return who, action, target, detail


def _freeze_form(market):
    investor = market.investor(cash="1000")
    form = {
        "form": "freeze", "freeze-account": investor.code, "freeze-kind": "cash", "freeze-amount": "100.00",
        "freeze-legal_reference": "", "freeze-reason": "Asset preservation",
    }  # fmt: skip
    return Role.REGULATOR, "/supervision/", form, ("freeze_propose", investor.code), "freeze-legal_reference"


def _transfer_form(market):
    form = {
        "form": "transfer", "transfer-freeze": "41", "transfer-receiver": "INV000001", "transfer-amount": "10.00",
        "transfer-legal_reference": "", "transfer-reason": "Judgment",
    }  # fmt: skip
    return Role.REGULATOR, "/supervision/", form, ("forced_transfer_propose", "freeze 41"), "transfer-legal_reference"


def _correction_form(market):
    form = {"trade": "7", "new_price": "ten", "new_quantity": "-5", "reason": "Price error"}
    return Role.REGULATOR, "/supervision/corrections/", form, ("correction_propose", "7"), "new_price"


def _issuance_form(market):
    form = {
        "issue-security": market.security.code, "issue-reference": "Placement", "holders-TOTAL_FORMS": "1",
        "holders-INITIAL_FORMS": "0", "holders-MIN_NUM_FORMS": "0", "holders-MAX_NUM_FORMS": "50",
        "holders-0-account": market.investor().code, "holders-0-quantity": "0",
    }  # fmt: skip
    named = ("issuance_propose", market.security.code)
    return Role.DEPOSITORY_OPERATOR, "/depository/", form, named, "holders-0-quantity"


def _instruction_form(market):
    investor = market.investor()
    form = {"account": investor.code, "security": "", "min_amount": "", "reason": "", "ends_at": "2099-01-01T09:30"}
    named = ("settlement_instruction_create", f"account {investor.code}")
    return Role.DEPOSITORY_OPERATOR, "/settlement/instructions/", form, named, "reason"


def _reveal_form(market):
    from kyc.models import KycProfile

    profile = KycProfile.objects.get(user=market.investor().owner)
    field = f"r{profile.pk}-reason"
    # named by its investor's user name, as a reveal done is (found by a walk: the refusal named "kyc 12")
    named = ("identity_reveal", profile.user.username)
    return Role.REGULATOR, f"/kyc/reveal/{profile.pk}/", {field: ""}, named, field


def _listing_form(market):
    form = {"code": "830555", "name": "New Co", "lot_size": "0"}
    return Role.EXCHANGE_OPERATOR, "/operations/securities/new/", form, ("security_list", "830555"), "lot_size"


def staff(market, role):
    return market.depository if role == Role.DEPOSITORY_OPERATOR else market.user(role)


@pytest.mark.parametrize(
    "case",
    [_freeze_form, _transfer_form, _correction_form, _issuance_form, _instruction_form, _reveal_form, _listing_form],
    ids=lambda f: f.__name__.removeprefix("_"),
)
def test_a_staff_pages_form_refused_before_the_service_is_on_the_trail_once_as_the_apis_is(market, case):
    # given a supervisory, depository or exchange operator's form with a field missing or wrong
    role, url, form, (action, target), field = case(market)
    user = staff(market, role)
    client = signed_in(user)
    after, before = last_record(), snapshot()

    # when it is posted
    response = client.post(url, form, HTTP_ACCEPT_LANGUAGE="en")

    # then the page comes back with the form's errors, and the one record written is the refusal: who, the action
    # and object the deed would be recorded under, the code, the first error and every field's errors
    assert response.status_code in (200, 400)
    who, recorded, named, detail = only_refusal(after)
    assert (who, recorded, named) == (user.username, action, target)
    assert (detail["method"], detail["path"], detail["code"]) == ("POST", url, "invalid_input")
    assert field in detail["fields"] and all(isinstance(m, str) for ms in detail["fields"].values() for m in ms)
    first_field, first_errors = next(iter(detail["fields"].items()))
    assert detail["message"] == f"{first_field}: {first_errors[0]}"
    # and nothing else changed
    assert snapshot() == before


def test_a_freeze_refused_for_its_legal_reference_is_the_same_record_from_the_page_and_the_api(market):
    reg = market.user(Role.REGULATOR)
    investor = market.investor(cash="1000")
    page = signed_in(reg)
    after, before = last_record(), snapshot()
    # when the same freeze without a legal reference is proposed on the console and through the API
    page.post(
        "/supervision/",
        {"form": "freeze", "freeze-account": investor.code, "freeze-kind": "cash", "freeze-amount": "100.00",
         "freeze-reason": "Asset preservation"},
        HTTP_ACCEPT_LANGUAGE="en",
    )  # fmt: skip
    body = {"account": investor.code, "amount": "100.00", "reason": "Asset preservation"}
    assert api_for(reg).post("/api/v1/freezes/", body, format="json").status_code == 400
    # then both are on the trail alike, and nothing else is: who, the proposal of a freeze of that account, refused,
    # invalid input
    rows = AuditEvent.objects.filter(id__gt=after).order_by("id")
    assert [(e.actor_username, e.action, e.target, e.outcome, e.detail["code"], e.detail["path"]) for e in rows] == [
        (reg.username, "freeze_propose", investor.code, "refused", "invalid_input", "/supervision/"),
        (reg.username, "freeze_propose", investor.code, "refused", "invalid_input", "/api/v1/freezes/"),
    ]
    assert snapshot() == before


def test_a_form_the_service_refused_is_recorded_once_with_the_services_code(market):
    # (the form was valid; the service refused the account: one record, the service's, not a second for the form)
    page = signed_in(market.user(Role.REGULATOR))
    after = last_record()
    page.post(
        "/supervision/",
        {"form": "freeze", "freeze-account": "INV999999", "freeze-kind": "cash", "freeze-amount": "100.00",
         "freeze-legal_reference": "(2026)沪74执9号", "freeze-reason": "Asset preservation"},
    )  # fmt: skip
    _who, action, target, detail = only_refusal(after)
    assert (action, target, detail["code"]) == ("freeze_propose", "INV999999", "unknown_account")
    assert "fields" not in detail


@pytest.mark.parametrize(
    ("role", "url", "body", "action", "target"),
    [
        (Role.REGULATOR, "/api/v1/freezes/", {"account": "INV000011", "amount": "1.00", "reason": "x"},
         "freeze_propose", "INV000011"),
        (Role.REGULATOR, "/api/v1/forced-transfers/", {"freeze": 41, "receiver": "INV000011", "amount": "1.00",
         "legal_reference": "x", "reason": "x"}, "forced_transfer_propose", "freeze 41"),
        (Role.REGULATOR, "/api/v1/corrections/", {"trade": 7, "new_quantity": -1, "reason": "x"},
         "correction_propose", "7"),
        (Role.DEPOSITORY_OPERATOR, "/api/v1/settlement-instructions/",
         {"account": "INV000011", "security": "830001", "reason": "", "ends_at": "2099-01-01T09:30:00+08:00"},
         "settlement_instruction_create", "account INV000011 security 830001"),
        (Role.DEPOSITORY_OPERATOR, "/api/v1/settlement-instructions/",
         {"security": "830001", "reason": "x", "ends_at": "yesterday"},
         "settlement_instruction_create", "security 830001"),
        (Role.EXCHANGE_OPERATOR, "/api/v1/securities/", {"code": "830555", "name": "New Co"}, "security_list",
         "830555"),
        (Role.EXCHANGE_OPERATOR, "/api/v1/calendar/holidays/", {"date": "2031-02-30", "name": "x"}, "holiday_add",
         "2031-02-30"),
        # what a body names only if it is text or a number
        (Role.REGULATOR, "/api/v1/freezes/", {"account": ["INV000011"], "reason": "x"}, "freeze_propose", ""),
    ],
    ids=["freeze", "transfer", "correction", "instruction", "instruction-security", "listing", "holiday", "list"],
)  # fmt: skip
def test_a_refused_api_creation_names_what_it_asked_for(market, role, url, body, action, target):
    user = staff(market, role)
    after, before = last_record(), snapshot()
    # when a creation its body names is refused (by its serializer or by its service)
    response = api_for(user).post(url, body, format="json")
    # then the one record written names the object asked for, as the deed would, and says why as the answer did
    assert 400 <= response.status_code < 500
    who, recorded, named, detail = only_refusal(after)
    assert (who, recorded, named) == (user.username, action, target)
    assert (detail["code"], detail["message"]) == (response.json()["code"], response.json()["message"])
    assert bool(detail.get("fields")) == ("fields" in response.json())  # the serializer's errors, by field
    assert snapshot() == before


def test_an_api_input_refusal_records_each_fields_errors_bounded(market):
    # given an issuance of many holders each refused for its quantity
    holders = [{"account": f"INV{n:06d}", "quantity": 0} for n in range(1, 101)]
    url = f"/api/v1/securities/{market.security.code}/issuances/"
    after = last_record()
    response = api_for(market.depository).post(url, {"holders": holders}, format="json")
    assert response.status_code == 400
    # then one record, naming the security, its errors dotted by field and bounded to the first 20
    _who, action, target, detail = only_refusal(after)
    assert (action, target) == ("issuance_propose", market.security.code)
    assert len(detail["fields"]) == 20 and "holders.0.quantity" in detail["fields"]


def test_an_investors_form_typo_is_not_on_the_trail(market):
    # (the trail is of staff actions; an investor's own typos are theirs: docs/operations.md, the audit trail)
    investor = market.investor(cash="1000")
    page = signed_in(investor.owner)
    after = last_record()
    response = page.post(
        "/orders/new/", {"security": market.security.code, "side": "buy", "quantity": "abc", "price": "10.00"}
    )
    assert response.status_code in (200, 400)
    assert api_for(investor.owner).post("/api/v1/orders/", {"quantity": "abc"}, format="json").status_code == 400
    assert not AuditEvent.objects.filter(id__gt=after).exists()


def test_a_brokers_staff_typo_at_the_counter_is_not_on_the_trail(market):
    # (input refused before any service is recorded for the supervisors' deeds; a broker's staff typing a client's
    # order is data entry, as an investor's own: docs/operations.md, the audit trail)
    investor = market.investor(cash="1000")
    counter = api_for(market.staff)
    after, before = last_record(), snapshot()
    # when the broker's staff enters an order with a quantity that is not a number
    typo = counter.post(f"/api/v1/counter/clients/{investor.code}/orders/", {"quantity": "abc"}, format="json")
    # then it is refused, and nothing is recorded or changed
    assert (typo.status_code, typo.json()["code"]) == (400, "invalid_input")
    assert not AuditEvent.objects.filter(id__gt=after).exists()
    assert snapshot() == before


@pytest.mark.parametrize(
    ("role", "url", "body"),
    [
        (Role.REGULATOR, "/api/v1/freezes/", {"zz\x00": 1}),  # an unknown field's name, recorded in `fields`
        (Role.EXCHANGE_OPERATOR, "/api/v1/calendar/holidays/", {"date": "\x00", "name": "x"}),  # the target
        (Role.REGULATOR, "/api/v1/orders/", {"side": "\x00"}),  # a choice error echoes the value; the 403 first
    ],
    ids=["field-name", "target", "echoed-value"],
)
def test_a_refused_api_body_with_a_nul_character_is_a_4xx_and_recorded(market, role, url, body):
    # given a staff member whose refused request carries a NUL character (PostgreSQL text and jsonb hold none)
    user = staff(market, role)
    after, before = last_record(), snapshot()
    # when it is refused
    response = api_for(user).post(url, body, format="json")
    # then the answer is the refusal (a 4xx in JSON), not a 500, and its record keeps the NUL as U+FFFD
    assert 400 <= response.status_code < 500, response.content
    assert set(response.json()) >= {"code", "message"}
    who, _action, target, detail = only_refusal(after)
    assert who == user.username and detail["code"] == response.json()["code"]
    assert "\x00" not in repr((target, detail))
    # and nothing else changed
    assert snapshot() == before


def test_refusals_about_a_kyc_application_are_found_under_its_investor_as_its_records_done_are(market):
    from kyc.models import KycProfile

    # given an approved investor's application, and a regulator
    investor = market.investor()
    profile = KycProfile.objects.get(user=investor.owner)
    regulator = market.user(Role.REGULATOR)
    # when the reveal's API is refused for want of a reason
    response = api_for(regulator).post(f"/api/v1/kyc/applications/{profile.pk}/reveal/", {"reason": ""}, format="json")
    assert response.status_code == 400

    # then it is on the trail under the investor's user name, beside the records of the application done
    refused = AuditEvent.objects.filter(action="identity_reveal", outcome="refused").latest("id")
    assert refused.target == investor.owner.username
    assert AuditEvent.objects.filter(target=investor.owner.username, action="kyc_approve", outcome="ok").exists()
    # and a number that names no application keeps the address's shape
    assert audit_actions.refused_action("api-kyc-reveal", {"profile_id": 999999}, {}) == (
        "identity_reveal",
        "kyc 999999",
    )


def test_a_refused_approval_of_a_correction_is_in_its_trades_evidence_beside_the_done_records(market):
    # (found by a walk: the refusal was recorded as "correction N", the done records under the trade's number, so
    # the trade's evidence and audit trail left the refused approval out)
    from auditing.selectors import trade_evidence_parts

    # given a settled trade and a correction of it proposed by one regulator
    trade = sealed(market)
    assert trade_settle(trade_id=trade.pk)
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    correction = sv.correction_propose(actor=reg1, trade_id=trade.pk, new_price=Decimal("10.00"), new_quantity=100,
                                       reason="Fat finger")  # fmt: skip
    before = snapshot()
    # when its proposer tries to approve it too (one person may not do both), and then a number no proposal has
    mine = api_for(reg1).post(f"/api/v1/corrections/{correction.pk}/approve/")
    nobodys = api_for(reg2).post(f"/api/v1/corrections/{correction.pk + 1000}/approve/")
    # then both are refused and recorded: the first under the trade, as the proposal's record is, the other as
    # the proposal it named
    assert (mine.status_code, nobodys.status_code) == (403, 404)
    assert snapshot() == before and Correction.objects.get(pk=correction.pk).status == "proposed"
    assert list(AuditEvent.objects.filter(outcome="refused").order_by("id").values_list("action", "target")) == [
        ("correction_approve", str(trade.pk)),
        ("correction_approve", f"correction {correction.pk + 1000}"),
    ]
    # and the trade's evidence holds the refusal beside the proposal
    events, _entries = trade_evidence_parts(trade.pk)
    assert [(e.action, e.outcome) for e in events if e.action.startswith("correction_")] == [
        ("correction_propose", "ok"),
        ("correction_approve", "refused"),
    ]
