"""The role matrix of market operations (issue 10 item 7): every write is for the roles DESIGN.md §1 names,
every other role gets 403 and nothing changes; the reads are for whom they are meant."""

from __future__ import annotations

import datetime as dt

import pytest

from balances.services import shanghai_today
from core.models import Role
from tests.conftest import api_for, snapshot

ALL = set(Role.values)
OPERATOR = {Role.EXCHANGE_OPERATOR}
DEPOSITORY = {Role.DEPOSITORY_OPERATOR}
PUBLISHERS = {Role.EXCHANGE_OPERATOR, Role.DEPOSITORY_OPERATOR}
REGISTER_READERS = {Role.DEPOSITORY_OPERATOR, Role.REGULATOR, Role.AUDITOR}
ISSUANCE_READERS = {Role.EXCHANGE_OPERATOR, Role.DEPOSITORY_OPERATOR, Role.REGULATOR, Role.AUDITOR}
INSTRUCTION_SETTERS = {Role.DEPOSITORY_OPERATOR, Role.REGULATOR}
INSTRUCTION_READERS = {Role.DEPOSITORY_OPERATOR, Role.REGULATOR, Role.AUDITOR}


def _next_weekday() -> str:
    day = shanghai_today() + dt.timedelta(days=10)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return str(day)


# (method, path with {code}, JSON body, roles that may call it)
MATRIX = [
    ("post", "/api/v1/securities/", {"code": "830088", "name": "M", "issuer": "M", "risk_rating": "R1",
                                     "reference_price": "5.00"}, OPERATOR),
    ("patch", "/api/v1/securities/{code}/", {"band_pct": "20.00", "reason": "matrix"}, OPERATOR),
    ("post", "/api/v1/securities/{code}/halt/", {"reason": "matrix"}, OPERATOR),
    ("post", "/api/v1/securities/{code}/delist/", {"reason": "matrix"}, OPERATOR),
    ("post", "/api/v1/market/halt/", {"reason": "matrix"}, OPERATOR),
    ("post", "/api/v1/calendar/holidays/", {"date": "{weekday}", "name": "matrix"}, OPERATOR),
    ("post", "/api/v1/securities/{code}/issuances/", {"holders": [{"account": "{account}", "quantity": 100}]},
     DEPOSITORY),
    ("get", "/api/v1/securities/{code}/issuances/", None, ISSUANCE_READERS),
    ("get", "/api/v1/securities/{code}/register/", None, REGISTER_READERS),
    ("get", "/api/v1/securities/", None, ALL),
    ("get", "/api/v1/market/", None, ALL),
    ("get", "/api/v1/calendar/holidays/", None, ALL),
    ("get", "/api/v1/securities/{code}/disclosures/", None, ALL),
    # supervision (issue 11): freezes proposed and decided by regulators, seen by whom they concern
    ("post", "/api/v1/freezes/", {"account": "{account}", "amount": "10.00", "legal_reference": "court order",
                                  "reason": "matrix"}, {Role.REGULATOR}),
    ("get", "/api/v1/freezes/", None,
     {Role.REGULATOR, Role.AUDITOR, Role.BROKER_STAFF, Role.INVESTOR, Role.MARKET_MAKER}),  # the last two: their own
    ("get", "/api/v1/forced-transfers/", None, {Role.REGULATOR, Role.AUDITOR}),
    ("get", "/api/v1/accounts/{account}/", None, {Role.REGULATOR, Role.AUDITOR}),
    ("post", "/api/v1/forced-transfers/", {"freeze": 999999, "receiver": "{account}", "amount": "1.00",
                                           "legal_reference": "x", "reason": "matrix"}, {Role.REGULATOR}),
    ("get", "/api/v1/corrections/", None, {Role.REGULATOR, Role.AUDITOR, Role.DEPOSITORY_OPERATOR,
                                           Role.EXCHANGE_OPERATOR}),
    ("post", "/api/v1/corrections/", {"trade": 999999, "new_price": "1.00", "new_quantity": 0, "reason": "m"},
     {Role.REGULATOR, Role.DEPOSITORY_OPERATOR, Role.EXCHANGE_OPERATOR}),
    ("post", "/api/v1/settlement-instructions/", {"security": "{code}", "reason": "matrix",
                                                  "ends_at": "2099-01-01T00:00:00+08:00"}, INSTRUCTION_SETTERS),
    ("get", "/api/v1/settlement-instructions/", None, INSTRUCTION_READERS),
    # the audit trail (auditors and regulators), surveillance alerts (regulators; auditors read)
    ("get", "/api/v1/audit/", None, {Role.AUDITOR, Role.REGULATOR}),
    ("get", "/api/v1/audit/evidence/?account={account}", None, {Role.AUDITOR, Role.REGULATOR}),
    ("get", "/api/v1/alerts/", None, {Role.REGULATOR, Role.AUDITOR}),
    ("get", "/api/v1/alerts/rules/", None, {Role.REGULATOR, Role.AUDITOR}),
    ("post", "/api/v1/alerts/999999/reopen/", {"note": "matrix"}, {Role.REGULATOR}),
    # large cash movements at the counter: broker staff only
    ("get", "/api/v1/counter/cash-requests/", None, {Role.BROKER_STAFF}),
]  # fmt: skip


def _fill(value, market, account):
    if isinstance(value, str):
        return value.format(code=market.security.code, account=account.code, weekday=_next_weekday())
    if isinstance(value, dict):
        return {k: _fill(v, market, account) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, market, account) for v in value]
    return value


def _user(market, role):
    if role == Role.INVESTOR:
        return market.investor().owner
    if role == Role.MARKET_MAKER:
        return market.market_maker(shares=0).owner
    if role == Role.BROKER_STAFF:
        return market.staff
    if role == Role.DEPOSITORY_OPERATOR:
        return market.depository
    return market.user(role)


@pytest.mark.parametrize("role", sorted(ALL))
@pytest.mark.parametrize(("method", "path", "body", "allowed"), MATRIX, ids=[f"{m} {p}" for m, p, _b, _a in MATRIX])
def test_each_operation_is_for_its_roles_only(market, role, method, path, body, allowed):
    user = _user(market, role)
    holder = market.investor()
    client = api_for(user)
    url = _fill(path, market, holder)
    data = _fill(body, market, holder)
    before = snapshot()

    response = getattr(client, method)(url, data, format="json") if data is not None else client.get(url)

    if role in allowed:
        # allowed: not forbidden (a request naming nothing that exists is a 404, a clear refusal, not a 403)
        assert response.status_code < 400 or response.status_code == 404, (role, url, response.content)
    else:
        assert response.status_code == 403, (role, url, response.content)
        assert response.json()["code"] == "permission_denied"
        assert snapshot() == before
