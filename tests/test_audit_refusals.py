"""A staff member's write the exchange refused is on the audit trail with outcome "refused" (core.audit,
core.middleware.audit_refusals): the trail is of every staff action and its outcome (DESIGN §6). Found by a
probe: refused freezes, forced transfers and corrections left no trace."""

from __future__ import annotations

from django.test import Client

from core.models import AuditEvent, Role
from supervision import services as sv
from tests.conftest import api_for, log_in, snapshot
from tests.test_supervision import LEGAL


def signed_in(user) -> Client:
    client = Client()
    log_in(client, user)
    return client


def refusals():
    return list(
        AuditEvent.objects.filter(outcome="refused").values_list("actor_username", "action", "target", "detail")
    )


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
    ((who, action, target, detail),) = refusals()
    assert (who, action, target) == (reg1.username, "supervision", "/supervision/")
    assert detail == {"method": "POST", "code": "unknown_account", "message": "No such account: INV999999."}
    assert snapshot() == before


def test_a_refused_api_decision_by_the_wrong_role_is_on_the_trail(market):
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    investor = market.investor(cash="1000")
    freeze = sv.freeze_propose(actor=reg1, account=investor.code, amount="100.00", reason="Court order", **LEGAL)
    depository = market.user(Role.DEPOSITORY_OPERATOR)
    # when a depository operator approves it through the API
    response = api_for(depository).post(f"/api/v1/freezes/{freeze.pk}/approve/")
    # then it is refused, the freeze is still proposed, and the trail has the attempt
    assert response.status_code == 403
    ((who, action, target, detail),) = refusals()
    assert (who, action, target) == (depository.username, "api-freeze-approve", f"/api/v1/freezes/{freeze.pk}/approve/")
    assert detail["code"] == "permission_denied" and detail["method"] == "POST"
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
    assert (who, target, detail["code"], detail["method"]) == (
        regulator.username,
        "/operations/market/halt/",
        "permission_denied",
        "POST",
    )
    assert snapshot() == before
