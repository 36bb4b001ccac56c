"""An answer's field whose values come from a fixed set is an enum in the schema, of exactly the values the code can
give (found by an integrator generating a typed client: a ledger entry's kind, a standing instruction's status and
a signing key's status, among 38 such fields, were "string", so the client had nothing to match on).

Each expected set is read from the code that makes the values (the model's choices, the module's constants, what
the apps registered), never copied here; and real answers, read through the API, hold values inside the enums."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from core.models import Role
from tests.conftest import api_for
from tests.test_schema import _answer_as_documented


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _values(schema: dict, prop: dict) -> set:
    """The values a property's schema takes, when it is an enum (of one $ref, allOf, oneOf with null or blank, or a
    list of them); an AssertionError when it is not one (plain "string")."""
    if prop.get("type") == "null":
        return {None}
    if prop.get("type") == "array":
        return _values(schema, prop["items"])
    if "enum" in prop:
        return set(prop["enum"])
    if "$ref" in prop:
        return _values(schema, schema["components"]["schemas"][prop["$ref"].rsplit("/", 1)[1]])
    for combined in ("allOf", "oneOf"):
        if combined in prop:
            return set().union(*(_values(schema, part) for part in prop[combined]))
    raise AssertionError(f"not an enum: {prop}")


def _entry_kinds():
    from ledger.models import EntryKind

    return set(EntryKind.values)


def _kyc_states():
    from kyc.models import KycProfile

    return set(KycProfile.State.values)


def _risk_levels():
    # the levels questionnaire.score gives, from the most cautious answers to the boldest, by name
    from kyc import questionnaire

    def extreme(pick):
        return {q["key"]: pick(q["options"], key=lambda o: o[2])[0] for q in questionnaire.QUESTIONS}

    low, high = questionnaire.score(extreme(min))[1], questionnaire.score(extreme(max))[1]
    return {questionnaire.level_name(level) for level in range(low, high + 1)}


def _setters():
    from settlement import instructions

    return set(instructions.SETTERS)


def _settlement_modes():
    from settlement.models import Settlement

    return set(Settlement.Mode.values)


def _code(path: str, name: str):
    """``name`` of module ``path``, as a set (a dict's keys; a function's result)."""

    def read():
        import importlib

        value = getattr(importlib.import_module(path), name)
        return set(value() if callable(value) else value)

    return read


def _choices(path: str, attribute: str):
    def read():
        import importlib

        value = importlib.import_module(path)
        for part in attribute.split("."):
            value = getattr(value, part)
        return set(value.values)

    return read


def _roles():
    return set(Role.values)


# (component, field, the values the code gives, whether null or blank is one of them too)
ENUMS = [
    ("EntryOutput", "kind", _entry_kinds, None),
    ("EntryFullOutput", "kind", _entry_kinds, None),
    ("EntryLinkOutput", "kind", _entry_kinds, None),
    ("EvidenceEntryOutput", "kind", _entry_kinds, None),
    ("FeedRecordOutput", "kind", _entry_kinds, None),
    ("KeyOutput", "status", _choices("ledger.models", "SigningKey.Status"), None),
    ("InstructionOutput", "status", _code("settlement.instructions", "STATUSES"), None),
    ("InstructionOutput", "set_by_role", _setters, None),
    ("InstructionOutput", "ended_by_role", _setters, {None}),
    ("ActionOutput", "action", _choices("settlement.models", "SettlementAction.Action"), None),
    ("LifecycleOutput", "settlement_mode", _settlement_modes, {None}),
    ("TradeNoteOutput", "kind", _code("exchange.selectors", "trade_note_kinds"), None),
    ("MovementOutput", "kind", _code("settlement.statements", "movement_kinds"), None),
    ("AuditEventOutput", "role", _roles, {""}),
    ("AuditEventDetailOutput", "role", _roles, {""}),
    ("AuditEventOutput", "outcome", _code("core.labels", "OUTCOMES"), None),
    ("EvidenceOutput", "type", lambda: {__import__("auditing.selectors").selectors.EVIDENCE_TYPE}, None),
    ("PersonOutput", "role", _roles, None),
    ("DocumentOutput", "kind", _choices("kyc.models", "KycDocument.Kind"), None),
    ("ProfileOutput", "state", _kyc_states, None),
    ("ProfileOutput", "id_type", _choices("kyc.models", "KycProfile.IdType"), None),
    ("ClientOutput", "kyc_state", _kyc_states, {None}),
    ("OpenAccountOutput", "kyc_state", _kyc_states, None),
    ("RiskOutput", "level", _risk_levels, {None}),
    ("ClientOutput", "risk_level", _risk_levels, {None}),
    ("SupervisedKycOutput", "risk_level", _risk_levels, {None}),
    ("SecurityOutput", "risk_rating", _code("registry.listing", "RISK_RATINGS"), None),
    ("SecurityOutput", "trading_modes", _code("registry.profile", "MODES"), None),
    ("SecuritySwitchesOutput", "trading_modes", _code("registry.profile", "MODES"), None),
    ("SecurityOutput", "venue_profile", _code("registry.profile", "PROFILES"), None),
    ("MarketOutput", "profile", _code("registry.profile", "PROFILES"), None),
    ("VenueOverrideOutput", "field", _code("registry.profile", "OVERRIDE_FIELDS"), None),
    (
        "MarketOutput",
        "session",
        lambda: {*_code("registry.calendar", "SESSION_NAMES")(), __import__("registry.calendar").calendar.CONTINUOUS},
        {None},
    ),
    ("CandlesOutput", "interval", _code("exchange.selectors", "CANDLE_INTERVALS"), None),
    ("NotificationPreferences", "kinds", _choices("notifications.models", "Kind"), None),
    ("CashOutput", "currency", lambda: {__import__("core.money").money.CURRENCY}, None),
    ("StatementOutput", "currency", lambda: {__import__("core.money").money.CURRENCY}, None),
    (
        "QuestionOutput",
        "key",
        lambda: {q["key"] for q in __import__("kyc.questionnaire").questionnaire.QUESTIONS},
        None,
    ),
    ("AlertOutput", "rule", _choices("surveillance.models", "Rule.Code"), None),
    ("AlertDetailOutput", "rule", _choices("surveillance.models", "Rule.Code"), None),
]


@pytest.mark.parametrize(("component", "field", "values", "extra"), ENUMS, ids=[f"{c}.{f}" for c, f, *_ in ENUMS])
def test_an_answers_field_of_a_fixed_set_is_the_enum_of_the_values_the_code_gives(
    schema, component, field, values, extra
):
    # Given the field's values as the code makes them, when the field is read from the schema
    documented = _values(schema, schema["components"]["schemas"][component]["properties"][field])
    # then it is the enum of exactly those values (and null or blank where the answer can be that)
    expected = values() | (extra or set())
    assert expected and documented == expected


def test_the_registered_kinds_are_the_ones_the_apps_give(db):
    # (the statement line kinds and trade note kinds are registered by supervision when it is ready: the enums above
    # read them, so they must be there)
    from exchange.selectors import trade_note_kinds
    from settlement.statements import Movement, movement_kinds
    from supervision.services import CORRECTION_NOTE

    assert trade_note_kinds() == (CORRECTION_NOTE,)
    assert {Movement.BUY, Movement.NET, "correction", "forced_transfer"} <= set(movement_kinds())


def _in(schema: dict, component: str, field: str, rows: list[dict]) -> set:
    """The values ``field`` has in ``rows``, each checked to be in the component's enum for it."""
    documented = _values(schema, schema["components"]["schemas"][component]["properties"][field])
    seen = {row[field] for row in rows}
    assert seen and seen <= documented, (component, field, seen - documented)
    return seen


def test_real_answers_hold_values_inside_the_enums(schema, trading):
    # Given a trade held and released by the depository, sealed and settled; a standing instruction in force and one
    # ended early by a regulator; and a failed login (an audit record with no user)
    from ledger.services import block_seal
    from settlement import instructions
    from settlement.services import trade_hold, trade_release, trade_settle
    from tests.test_settlement_instructions import buy, instruct

    market, _mm, investor = trading
    regulator, auditor = market.user(Role.REGULATOR), market.user(Role.AUDITOR)
    trade = buy(market, investor, "enum-1")
    trade_hold(actor=market.depository, trade_id=trade.pk, reason="check")
    trade_release(actor=market.depository, trade_id=trade.pk, reason="checked")
    block_seal()
    assert trade_settle(trade_id=trade.pk)
    instruct(market.depository, account=investor)
    ended = instruct(regulator, security=market.security)
    instructions.instruction_end(actor=regulator, instruction_id=ended.pk, reason="lifted")
    APIClient().post("/api/v1/auth/token/", {"username": "nobody-here", "password": "wrong"}, format="json")
    block_seal()

    # when the answers that carry the fields are read through the API
    reads = {
        "entries": (regulator, "/api/v1/ledger/entries/"),
        "keys": (regulator, "/api/v1/ledger/keys/"),
        "instructions": (market.depository, "/api/v1/settlement-instructions/"),
        "trade": (investor.owner, "/api/v1/trades/{trade_id}/"),
        "audit": (auditor, "/api/v1/audit/"),
        "feed": (regulator, "/api/v1/regulatory-feed/"),
        "me": (investor.owner, "/api/v1/kyc/me/"),
        "clients": (market.staff, "/api/v1/counter/clients/"),
        "security": (investor.owner, "/api/v1/securities/{code}/"),
        "market": (investor.owner, "/api/v1/market/"),
        "preferences": (investor.owner, "/api/v1/notifications/preferences/"),
        "statement": (investor.owner, "/api/v1/statement/"),
        "candles": (investor.owner, "/api/v1/securities/{code}/candles/"),
        "account": (regulator, "/api/v1/accounts/{code}/"),
        "questions": (investor.owner, "/api/v1/kyc/me/questionnaire/"),
    }
    answers = {}
    for name, (user, path) in reads.items():
        url = path.format(trade_id=trade.pk, code=market.security.code if "securities" in path else investor.code)
        today = timezone.localdate().isoformat()
        query = {"statement": {"from": today, "to": today}, "candles": {"interval": "1d"}}.get(name, {})
        answer = api_for(user).get(url, query)
        assert answer.status_code == 200, (name, answer.content)
        # then each is valid against its documented schema (whose enums now name the values)
        _answer_as_documented(schema, "get", path, answer)
        answers[name] = answer.json()

    # and the fields hold values inside their enums, as the code gives them
    assert _in(schema, "EntryFullOutput", "kind", answers["entries"]["results"]) >= {"TRADE", "SETTLEMENT_HOLD"}
    assert _in(schema, "KeyOutput", "status", answers["keys"]) == {"active"}
    rows = answers["instructions"]["results"]
    assert _in(schema, "InstructionOutput", "status", rows) == {"active", "ended"}
    assert _in(schema, "InstructionOutput", "set_by_role", rows) == {Role.DEPOSITORY_OPERATOR, Role.REGULATOR}
    assert _in(schema, "InstructionOutput", "ended_by_role", rows) == {None, Role.REGULATOR}
    lifecycle = answers["trade"]["lifecycle"]
    assert _in(schema, "ActionOutput", "action", lifecycle["actions"]) == {"hold", "release"}
    assert _in(schema, "LifecycleOutput", "settlement_mode", [lifecycle]) == {"gross"}
    audit = answers["audit"]["results"]
    assert "" in _in(schema, "AuditEventOutput", "role", audit)
    assert "ok" in _in(schema, "AuditEventOutput", "outcome", audit)
    _in(schema, "FeedRecordOutput", "kind", answers["feed"]["results"])
    me = answers["me"]
    _in(schema, "ProfileOutput", "state", [me])
    _in(schema, "ProfileOutput", "id_type", [me])
    _in(schema, "RiskOutput", "level", [me["risk"]])
    _in(schema, "PersonOutput", "role", [me["entered_by"]])
    clients = answers["clients"]["results"]
    _in(schema, "ClientOutput", "kyc_state", clients)
    _in(schema, "ClientOutput", "risk_level", clients)
    security = answers["security"]
    assert _in(schema, "SecurityOutput", "risk_rating", [security]) == {f"R{market.security.risk_rating}"}
    assert set(security["trading_modes"]) <= _values(schema, {"$ref": "#/components/schemas/TradingModesEnum"})
    _in(schema, "SecurityOutput", "venue_profile", [security])
    _in(schema, "MarketOutput", "profile", [answers["market"]])
    assert _in(schema, "MarketOutput", "session", [answers["market"]]) == {"continuous"}  # MARKET_ALWAYS_OPEN
    assert set(answers["preferences"]["kinds"]) <= _values(
        schema, schema["components"]["schemas"]["NotificationPreferences"]["properties"]["kinds"]
    )
    assert _in(schema, "MovementOutput", "kind", answers["statement"]["movements"]) >= {"deposit", "buy"}
    _in(schema, "StatementOutput", "currency", [answers["statement"]])
    _in(schema, "CashOutput", "currency", [answers["account"]["cash"]])
    _in(schema, "CandlesOutput", "interval", [answers["candles"]])
    _in(schema, "SupervisedKycOutput", "risk_level", [answers["account"]["kyc"]])
    _in(schema, "QuestionOutput", "key", answers["questions"])
    assert Decimal(answers["trade"]["price"]) > 0


@pytest.mark.parametrize("component", ["ApiTokenOutput", "ApiTokenCreated"])
def test_a_tokens_expiry_is_documented_as_the_date_time_it_is(schema, component, market):
    # Given a user's token (found with the enums: its expiry was a bare "string", the only such time of the API)
    import datetime as dt

    user = market.user(Role.INVESTOR)
    login = APIClient().post(
        "/api/v1/auth/token/", {"username": user.username, "password": "pw-test-2026"}, format="json"
    )
    assert login.status_code == 200, login.content
    # when the field is read from the schema, then it is a date-time
    expires_at = schema["components"]["schemas"][component]["properties"]["expires_at"]
    assert (expires_at["type"], expires_at["format"]) == ("string", "date-time")
    # and what the API answers in it is one
    listed = api_for(user).get("/api/v1/auth/tokens/")
    assert listed.status_code == 200, listed.content
    rows = listed.json()["results"]
    assert rows and all(dt.datetime.fromisoformat(row["expires_at"]).tzinfo is not None for row in rows)
