"""The bounded schemathesis run of ``test_schema_fuzz`` as the exchange's own staff and the authorities: an
exchange operator, a depository operator, a regulator and an auditor, whose operations (halts, issuances,
freezes, forced transfers, corrections, settlement instructions, alerts, the audit trail, the regulatory feed)
the investor's, market maker's and broker staff's run meets only as refusals. Any 5xx, any status code the
operation does not document and any answer that does not match its documented schema or content type fails.
A file of its own, so that pytest-xdist runs it beside the other."""

from __future__ import annotations

import datetime as dt

import pytest
import schemathesis

from config.wsgi import application
from core import tokens
from core.models import Role
from supervision import services as sv
from tests import test_schema_fuzz as fuzz

wsgi_in_test_transaction = fuzz.wsgi_in_test_transaction  # the fixture, found by pytest in this module

LEGAL = {"legal_authority": "Court", "legal_document": "(2026)1号", "legal_date": dt.date(2026, 11, 30)}
ROLES = (Role.EXCHANGE_OPERATOR, Role.DEPOSITORY_OPERATOR, Role.REGULATOR, Role.AUDITOR)


@pytest.mark.usefixtures("wsgi_in_test_transaction")
def test_every_operation_answers_as_documented_for_operator_depository_regulator_and_auditor(market):
    known, _ = fuzz._known_ids(market)
    users = {role: market.user(role) for role in ROLES}
    # a freeze proposed by another regulator: the run's regulator may approve, reject or withdraw what it names
    other = market.user(Role.REGULATOR)
    freeze = sv.freeze_propose(actor=other, account=known["client"], amount="100.00", reason="Court order", **LEGAL)
    known = known | {"pk": freeze.pk}
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    operations = [result.ok() for result in schema.get_all_operations()]

    headers = {role: {"Authorization": f"Token {tokens.token_issue(user=user).key}"} for role, user in users.items()}
    failures = []
    for operation in operations:
        if (operation.method.upper(), operation.path) in fuzz.SKIPPED:
            continue
        for role, failure in fuzz._run_operation(operation, headers, known).items():
            failures.append(f"{role} {operation.method.upper()} {operation.path}: {failure}")

    assert failures == [], "\n\n".join(failures)
