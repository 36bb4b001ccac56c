"""The OpenAPI schema says what the API does (issue 9, item 7): request bodies, list envelopes, limits and
content types. tests/test_schema_fuzz.py checks the answers against it; this pins the shapes themselves."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import jsonschema
import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.exceptions import ValidationError

from core.api.fields import DecimalString, IdempotencyKey
from core.api.pagination import Pagination
from core.errors import REASON_MAX_LENGTH
from core.models import Role
from tests.conftest import api_for, order_body, snapshot


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _component(schema, body: dict) -> dict:
    return schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]] if "$ref" in body else body


def _body(schema, path: str) -> dict:
    return _component(schema, schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"])


def _answer(schema, path: str) -> dict:
    return _component(schema, schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"])


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/api/v1/orders/", {"security", "side", "quantity", "limit_price", "client_order_id"}),
        ("/api/v1/quotes/", {"security", "bid_price", "bid_quantity", "ask_price", "ask_quantity"}),
        ("/api/v1/kyc/register/", {"broker", "username", "password", "real_name", "id_number"}),
        ("/api/v1/auth/token/", {"username", "password"}),
    ],
)
def test_each_post_documents_its_own_body(schema, path, fields):
    assert set(_body(schema, path)["required"]) >= fields


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/orders/",
        "/api/v1/trades/",
        "/api/v1/counter/clients/",
        "/api/v1/counter/clients/{code}/orders/",
        "/api/v1/counter/clients/{code}/trades/",
        "/api/v1/kyc/applications/",
    ],
)
def test_paginated_lists_document_the_envelope_and_its_parameters(schema, path):
    envelope = _answer(schema, path)
    assert envelope["type"] == "object"
    assert envelope["required"] == ["count", "next", "previous", "results"]
    assert envelope["properties"]["results"]["type"] == "array"
    limit = next(p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == Pagination.max_limit


def test_every_paginated_answer_documents_limit_and_offset(schema):
    # given every GET whose answer is the paginated envelope (found by a probe: the audit trail's list was one,
    # and took and checked ?limit=&offset=, but its schema named neither)
    paginated = [
        path
        for path, ops in schema["paths"].items()
        if "get" in ops
        and "Paginated" in json.dumps(ops["get"]["responses"].get("200", {}).get("content", {}).get("application/json"))
    ]
    assert "/api/v1/audit/" in paginated and "/api/v1/orders/" in paginated
    # then each documents both parameters with the bounds the API enforces
    for path in paginated:
        params = {p["name"]: p["schema"] for p in schema["paths"][path]["get"].get("parameters", [])}
        assert {"limit", "offset"} <= set(params), path
        assert (params["limit"]["minimum"], params["limit"]["maximum"]) == (1, Pagination.max_limit), path
        assert params["offset"]["minimum"] == 0, path


def test_ledger_keys_are_an_array_and_the_ledger_answers_are_objects(schema):
    keys = _answer(schema, "/api/v1/ledger/keys/")
    assert keys["type"] == "array" and keys["items"]["$ref"].endswith("/KeyOutput")
    for path in ("/api/v1/ledger/head/", "/api/v1/ledger/blocks/", "/api/v1/ledger/entries/{index}/proof/"):
        assert _answer(schema, path)["type"] == "object"


@pytest.mark.parametrize("action", ["hold", "release", "refuse"])
def test_a_settlement_reason_is_documented_with_the_limit_the_api_enforces(schema, action):
    body = _body(schema, f"/api/v1/trades/{{trade_id}}/{action}/")
    assert body["properties"]["reason"]["maxLength"] == REASON_MAX_LENGTH == 500


def test_a_kyc_document_is_documented_with_its_real_content_types(schema):
    content = schema["paths"]["/api/v1/kyc/documents/{document_id}/"]["get"]["responses"]["200"]["content"]
    assert set(content) == {"image/jpeg", "image/png", "application/pdf"}


def test_the_audit_trails_csv_export_is_documented_as_csv_not_as_the_json_page(schema):
    # (found by a probe: ``?format=csv`` answered CSV under the JSON page's schema)
    content = schema["paths"]["/api/v1/audit/"]["get"]["responses"]["200"]["content"]
    assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/PaginatedAuditEventOutputList"}
    assert content["text/csv"]["schema"] == {"type": "string", "format": "binary"}


def test_every_operation_that_needs_a_login_documents_its_401_and_every_one_its_400(schema):
    needing_login, missing = 0, []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            security = operation.get("security", schema.get("security", []))
            anonymous = not security or {} in security
            needing_login += not anonymous
            wanted = {"400", "406"} if anonymous else {"400", "401", "406"}
            if "requestBody" in operation:  # (found by a probe: 406 and 415 came undocumented)
                wanted |= {"413", "415"}  # 413: a body over the size limit (request_too_large)
            if not wanted <= set(map(str, operation["responses"])):
                missing.append(f"{method.upper()} {path}")
    assert needing_login > 50 and missing == []
    # the login documents its lockout
    assert "429" in map(str, schema["paths"]["/api/v1/auth/token/"]["post"]["responses"])


def test_a_listing_documents_the_fields_it_cannot_do_without(schema):
    listing = _component(schema, _body(schema, "/api/v1/securities/"))
    assert {"code", "name", "issuer", "risk_rating", "reference_price"} <= set(listing["required"])
    change = _component(
        schema,
        schema["paths"]["/api/v1/securities/{code}/"]["patch"]["requestBody"]["content"]["application/json"]["schema"],
    )
    assert set(change.get("required", [])) == {"reason"}


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/kyc/me/documents/",
        "/api/v1/kyc/applications/{profile_id}/documents/",
        "/api/v1/securities/{code}/disclosures/",
        "/api/v1/securities/{code}/disclosures/{document_id}/check/",
    ],
)
def test_an_upload_is_documented_as_a_binary_part_of_a_multipart_body(schema, path):
    # Given an operation that takes a file, when its body is read from the schema, then the file is "binary" (an
    # OpenAPI 3.0 upload), not the "uri" of a FileField's output: a client generated from the schema
    # (openapi-python-client) sent the document as a text part, its name for its bytes (found by an integrator).
    content = schema["paths"][path]["post"]["requestBody"]["content"]
    assert set(content) == {"multipart/form-data"}
    body = _component(schema, content["multipart/form-data"]["schema"])
    assert body["properties"]["file"] == {"type": "string", "format": "binary"}
    assert "file" in body["required"]


def _enum(schema, prop: dict) -> list:
    ref = prop["$ref"] if "$ref" in prop else prop["allOf"][0]["$ref"]
    return schema["components"]["schemas"][ref.rsplit("/", 1)[1]]["enum"]


@pytest.mark.parametrize(
    ("component", "fields"),
    [
        ("OrderOutput", {"side": ["buy", "sell"], "time_in_force": ["IOC", "DAY"], "status": "order"}),
        ("CounterOrderOutput", {"side": ["buy", "sell"], "time_in_force": ["IOC", "DAY"], "status": "order"}),
        ("TradeOutput", {"side": ["buy", "sell"], "status": "trade", "mode": ["market_making", "negotiated", "rfq"]}),
        ("TradeDetailOutput", {"side": ["buy", "sell"], "status": "trade"}),
        ("ClientTradeOutput", {"side": ["buy", "sell"], "status": "trade"}),
        # a market maker's quote, a request for quote and a negotiated proposal (found by an outside integrator:
        # their side, and the quote's status, were "string")
        ("QuoteOutput", {"side": ["bid", "ask"], "status": ["active", "filled", "replaced", "pulled"]}),
        ("RfqOutput", {"side": ["buy", "sell"]}),
        ("NegotiatedOutput", {"side": ["buy", "sell"]}),
        ("NegotiatedCreated", {"side": ["buy", "sell"]}),
    ],
)
def test_an_order_or_trade_names_the_values_of_its_side_status_and_mode(schema, component, fields):
    # Given the answers a back office reads most, when their fields are read from the schema, then each of side,
    # time in force, status and mode is an enum of its values, not free text: a typed client generated from the
    # schema gets enums to match on (found by an integrator: all five were "string").
    statuses = {
        "order": ["open", "partially_filled", "filled", "cancelled", "expired"],
        "trade": ["matched", "sealed", "settled", "held", "failed"],
    }
    properties = schema["components"]["schemas"][component]["properties"]
    for name, values in fields.items():
        assert _enum(schema, properties[name]) == (statuses[values] if isinstance(values, str) else values), name


def test_a_decimal_or_quantity_input_documents_the_form_and_bounds_the_api_enforces(schema):
    # Given the order body and the counter's cash body, when their amounts are read from the schema, then a price is
    # a string of plain digits (at most 12 before the point, 2 after), an amount of cash 18 before, and a quantity a
    # positive integer up to 10^12, as the fields refuse anything else ("string" and "integer" alone let a typed
    # client send "1e5" or 0 and learn from the 400; found by an integrator).
    order = _body(schema, "/api/v1/orders/")["properties"]
    cash = _body(schema, "/api/v1/counter/clients/{code}/deposit/")["properties"]
    assert order["limit_price"]["pattern"] == r"^(?=[0-9.]*[1-9])0*[0-9]{1,12}(?:\.[0-9]{1,2})?$"
    assert (order["limit_price"]["type"], order["limit_price"]["format"]) == ("string", "decimal")
    assert cash["amount"]["pattern"] == r"^(?=[0-9.]*[1-9])0*[0-9]{1,18}(?:\.[0-9]{1,2})?$"
    # and the pattern takes what the field takes: not zero either, which the field refuses as not positive (found
    # by an outside client: "0.00" matched the pattern and came back a 400)
    price = re.compile(order["limit_price"]["pattern"].removesuffix("$") + r"\Z")
    samples = ["10.50", "0.01", "012.5", "999999999999.99", "0", "0.00", "00.0", "-1", "1e5", "1.", ".5", "1.005"]
    # (and leading zeros, which the field does not count against the digits: the pattern refused them)
    samples += ["0000000000001.00", "0999999999999.99", "00000000000000.5", "1000000000000.00"]
    for sample in samples:
        assert (price.search(sample) is not None) == _takes(DecimalString(), sample), sample
    assert (order["quantity"]["type"], order["quantity"]["minimum"], order["quantity"]["maximum"]) == (
        "integer",
        1,
        10**12,
    )
    # and an answer's decimals keep their own (signed) form
    assert _answer(schema, "/api/v1/account/")["properties"]["cash"]["$ref"].endswith("/CashOutput")


def test_bounds_the_services_enforce_are_in_the_schema(schema):
    # (found by an outside integrator: valid_seconds read up to 10^12 where the service takes 1 to 3600, and a KYC
    # address of two characters passed a generated client's checks to be refused)
    from exchange.services.rfq import MAX_VALID_SECONDS
    from kyc.services import ADDRESS_LENGTH, NAME_LENGTH

    valid = _component(schema, _body(schema, "/api/v1/rfqs/{rfq_id}/answers/"))["properties"]["valid_seconds"]
    assert (valid["minimum"], valid["maximum"]) == (1, MAX_VALID_SECONDS) == (1, 3600)
    components = schema["components"]["schemas"]
    for name in ("RegisterRequest", "OpenAccountInput"):
        fields = components[name]["properties"]
        assert (fields["address"]["minLength"], fields["address"]["maxLength"]) == ADDRESS_LENGTH == (5, 300)
        assert (fields["real_name"]["minLength"], fields["real_name"]["maxLength"]) == NAME_LENGTH == (2, 100)
    # a new password: as short as AUTH_PASSWORD_VALIDATORS allow (core.passwords.MinimumLengthValidator: 10)
    assert components["RegisterRequest"]["properties"]["password"]["minLength"] == 10


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/orders/", "client_order_id"),
        ("/api/v1/orders/check/", "client_order_id"),
        ("/api/v1/rfqs/", "client_request_id"),
        ("/api/v1/negotiated-trades/", "client_request_id"),
        ("/api/v1/counter/clients/{code}/deposit/", "client_request_id"),
    ],
)
def test_an_idempotency_key_documents_the_characters_the_api_takes(schema, path, field):
    # Given a body with a client's idempotency key (found by an outside client: the schema said "string" of at most
    # 64 characters, so a generated client sent "", "a b" or "订单-1" and learnt from the 400), when its key is read
    # from the schema, then it says 1 to 64 visible ASCII characters, and its pattern takes exactly what the field
    # takes.
    key = _body(schema, path)["properties"][field]
    assert (key["type"], key["minLength"], key["maxLength"]) == ("string", 1, 64)
    # (an OpenAPI pattern is an ECMA-262 one, whose "$" is the end of the text; Python's also matches before a
    # final newline, hence \Z)
    pattern = re.compile(key["pattern"].removesuffix("$") + r"\Z")
    for sample in ["k1", "h3-5b7c/x:y.z_~!", "x" * 64, "", " k1", "a b", "订单-1", "x" * 65, "k1\n", "\ufeffk1"]:
        assert (pattern.search(sample) is not None) == _takes(IdempotencyKey(), sample), sample


def _takes(field, value) -> bool:
    try:
        field.run_validation(value)
    except ValidationError:
        return False
    return True


def _chinese(text: str) -> int:
    return sum("\u4e00" <= c <= "\u9fff" for c in text)


@pytest.mark.parametrize("reader", ["zh-hans", "en", ""])
def test_the_schema_is_english_whoever_downloads_it_unless_lang_asks(db, reader):
    # (found by an outside integrator: enum labels and descriptions followed Accept-Language, so a generated
    # client's docstrings depended on who downloaded the schema)
    from rest_framework.test import APIClient

    headers = {"HTTP_ACCEPT_LANGUAGE": reader} if reader else {}
    # when the schema is downloaded with the reader's Accept-Language, then with ?lang=
    plain = APIClient().get("/api/schema/", {"format": "json"}, **headers)
    chinese = APIClient().get("/api/schema/", {"format": "json", "lang": "zh-hans"}, **headers)
    english = APIClient().get("/api/schema/", {"format": "json", "lang": "en"}, **headers)
    unknown = APIClient().get("/api/schema/", {"format": "json", "lang": "xx"}, **headers)

    # then it is English whatever the reader's language (or an unknown lang), Chinese when ?lang= asks for it
    assert [r.status_code for r in (plain, chinese, english, unknown)] == [200] * 4
    assert plain.content == english.content == unknown.content
    assert "`settled` - Settled" in plain.content.decode()
    assert "`settled` - Settled" not in chinese.content.decode()
    assert _chinese(chinese.content.decode()) > _chinese(plain.content.decode()) + 100
    assert (plain["Content-Language"], chinese["Content-Language"]) == ("en", "zh-hans")


def _schema_url(script: bytes) -> str:
    return json.loads(re.search(r'url: ("[^"]*")', script.decode()).group(1))


@pytest.mark.parametrize("reader", ["zh-hans", "en"])
def test_the_api_docs_follow_the_readers_language(db, reader):
    from django.test import Client

    # when the docs page's start-up script is fetched by a reader of a language
    script = Client().get("/api/docs/?script=", HTTP_ACCEPT_LANGUAGE=reader).content
    # then it loads the schema in that language, and ?lang= still chooses
    assert _schema_url(script) == f"/api/schema/?lang={reader}"
    chosen = Client().get("/api/docs/", {"script": "", "lang": "en"}, HTTP_ACCEPT_LANGUAGE=reader).content
    assert _schema_url(chosen) == "/api/schema/?lang=en"


@pytest.mark.parametrize("venue", ["open", "cn-regional-2017"])
def test_the_api_docs_and_the_schemas_description_name_the_venue_rules(db, settings, venue):
    from django.test import Client

    # given the venue's rule profile
    settings.VENUE_PROFILE = venue
    # when a reader opens /api/docs/ and its schema
    page = Client(HTTP_ACCEPT_LANGUAGE="en").get("/api/docs/")
    schema = Client().get("/api/schema/", {"format": "json"})
    # then the page's footer names the profile, as every page's does, and so does the schema's description
    assert page.status_code == 200 and schema.status_code == 200
    said = f'<span class="venue-profile" data-profile="{venue}">Venue rules: {venue} ('
    assert said in page.content.decode()
    description = schema.json()["info"]["description"]
    assert description.startswith("Quote-driven trading") and f"Venue rules: {venue} (" in description, description


def test_a_nullable_reference_or_page_link_says_null_as_openapi_3_1_does(schema):
    # (found by an outside integrator: OpenAPI 3.0's allOf [$ref] beside "nullable" reads as not nullable to a
    # strict validator)
    assert schema["openapi"].startswith("3.1")
    submitted_by = schema["components"]["schemas"]["ProfileOutput"]["properties"]["submitted_by"]
    assert submitted_by == {"oneOf": [{"$ref": "#/components/schemas/PersonOutput"}, {"type": "null"}]}
    envelope = _answer(schema, "/api/v1/trades/")
    assert envelope["properties"]["next"]["type"] == envelope["properties"]["previous"]["type"] == ["string", "null"]
    # and nothing anywhere says "nullable", which 3.1 does not know
    assert '"nullable"' not in json.dumps(schema)


def _subschemas(node, where="#"):
    if isinstance(node, dict):
        if "type" in node or "$ref" in node or "oneOf" in node or "enum" in node:
            yield where, node
        for key, value in node.items():
            yield from _subschemas(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _subschemas(value, f"{where}/{i}")


def test_every_default_and_example_in_the_schema_is_a_value_its_own_schema_takes(schema):
    # Given the published schema (found by an outside client: an optional client_request_id documented
    # "default: ''" beside "minLength: 1" and its pattern, so openapi-spec-validator refused the whole document and
    # a generated client filled in "", which the API refuses), when each documented default and example is checked
    # against the schema it sits in, then every one is a value that schema takes.
    from jsonschema import Draft202012Validator

    wrong = []
    for where, node in _subschemas(schema):
        own = {key: value for key, value in node.items() if key not in ("default", "example", "examples")}
        check = Draft202012Validator({**own, "components": schema["components"]})
        for name in ("default", "example"):
            if name in node and not check.is_valid(node[name]):
                wrong.append(f"{where}/{name}: {node[name]!r}")
    assert wrong == []


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/alerts/",
        "/api/v1/alerts/rules/",
        "/api/v1/audit/",
        "/api/v1/corrections/",
        "/api/v1/forced-transfers/",
        "/api/v1/freezes/",
        "/api/v1/issuance-proposals/",
        "/api/v1/kyc/applications/",
        "/api/v1/notifications/",
        "/api/v1/notifications/preferences/",
        "/api/v1/regulatory-feed/",
        "/api/v1/settlement-instructions/",
    ],
)
def test_a_whole_list_documents_no_not_found_or_conflict_it_cannot_answer(schema, path):
    # Given a read of a whole list, with no id in its path and nothing it changes (found by an outside client: each
    # documented a 404 and a 409 that no request to it can bring, so a generated client had handlers for neither),
    # when its documented answers are read, then they are the page and the errors it can give: a malformed query
    # (400), no login (401), a role that may not read it (403), an Accept it cannot answer (406), the user's reads
    # over their rate (429, core.api.throttles), a database that cannot serve it (503).
    assert set(schema["paths"][path]["get"]["responses"]) == {"200", "400", "401", "403", "406", "429", "503"}


@pytest.mark.parametrize(
    ("query", "accept", "status", "code"),
    [
        ({}, "application/xml", 406, "not_acceptable"),
        ({"format": "json"}, "text/html", 406, "not_acceptable"),
        ({"format": "xml"}, "application/json", 400, "invalid_input"),
    ],
)
def test_the_schemas_errors_are_json_as_the_apis(db, query, accept, status, code):
    # Given a client asking for the schema in a form it does not come in (found by an outside client: the 406 and
    # the 400 came in YAML, drf-spectacular's first renderer, under Content-Type application/vnd.oai.openapi)
    from rest_framework.test import APIClient

    # when it asks
    answer = APIClient().get("/api/schema/", query, HTTP_ACCEPT=accept)

    # then the error is the API's JSON error
    assert answer.status_code == status
    assert answer["Content-Type"] == "application/json"
    assert json.loads(answer.content)["code"] == code
    # and the schema itself is still served as asked
    assert APIClient().get("/api/schema/", {"format": "json"}).json()["openapi"].startswith("3.1")
    assert APIClient().get("/api/schema/")["Content-Type"].startswith("application/vnd.oai.openapi")


def test_every_operation_documents_the_503_any_may_answer_with_its_retry_after(schema):
    # Given the schema (found by an outside client: when the database could not serve a request, any operation
    # answered 503 server_busy with a Retry-After, which no operation documented), when each operation's answers
    # are read, then each documents its 503, the error body and the Retry-After header.
    missing = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            busy = operation["responses"].get("503", {})
            if "Retry-After" not in busy.get("headers", {}) or "application/json" not in busy.get("content", {}):
                missing.append(f"{method.upper()} {path}")
    assert missing == []


def test_a_lock_or_throttles_429_documents_its_retry_after(schema):
    # (found by an outside client: the login lock and the registration throttle answer 429 with a Retry-After, and
    # the schema named no header)
    throttled = [
        f"{method.upper()} {path}"
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if "429" in operation["responses"]
    ]
    assert {"POST /api/v1/auth/token/", "POST /api/v1/auth/tokens/", "POST /api/v1/kyc/register/"} <= set(throttled)
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            if "429" in operation["responses"]:
                assert "Retry-After" in operation["responses"]["429"].get("headers", {}), path


@pytest.mark.parametrize(
    ("path", "answers"),
    [
        # no login asked; a broker or user name it cannot take is a field's 400
        ("/api/v1/kyc/register/", {"201", "400", "406", "409", "413", "415", "429", "503"}),
        # nothing looked up: no 404
        ("/api/v1/auth/tokens/", {"201", "400", "401", "403", "406", "409", "413", "415", "429", "503"}),
    ],
)
def test_a_post_documents_the_answers_it_can_give_and_no_other(schema, path, answers):
    # (found by an outside client: online registration documented a 401, a 403 and a 404, and a named token's
    # creation a 404, that no request can bring)
    assert set(schema["paths"][path]["post"]["responses"]) == answers


def _answer_as_documented(schema, method: str, path: str, response) -> None:
    """``response`` (to ``method`` on the operation ``path``) is one the schema documents: its status, its content
    type, and its JSON body valid against the documented schema."""
    documented = schema["paths"][path][method]["responses"]
    assert str(response.status_code) in documented, f"{method.upper()} {path}: {response.status_code} undocumented"
    content = documented[str(response.status_code)]["content"]
    media = response["Content-Type"].split(";")[0]
    assert media in content, f"{method.upper()} {path}: {media} undocumented"
    validator = jsonschema.Draft202012Validator({**content[media]["schema"], "components": schema["components"]})
    assert list(validator.iter_errors(json.loads(response.content))) == []


@pytest.mark.parametrize("path", ["/api/v1/ledger/keys/", "/api/v1/ledger/witnesses/"])
def test_an_invalid_token_sent_where_none_is_needed_is_a_documented_401(schema, market, path):
    # Given an operation open to all (the ledger's keys), when a client sends a token that is no longer valid (found
    # by a client generated from the schema: the 401 came undocumented, the schema named only 200, 400, 406, 503)
    from rest_framework.test import APIClient

    refused = APIClient().get(path, HTTP_AUTHORIZATION="Token no-such-token")

    # then the 401 and its error body are as documented
    assert refused.status_code == 401 and refused.json()["code"] == "authentication_failed"
    _answer_as_documented(schema, "get", path, refused)
    # and without a token the operation still answers everyone
    answered = APIClient().get(path)
    assert answered.status_code == 200
    _answer_as_documented(schema, "get", path, answered)


def test_a_body_that_is_not_json_sent_to_an_action_that_takes_none_is_a_documented_415_and_changes_nothing(
    schema, trading
):
    # Given a resting order and a cash movement awaiting a second staff member, whose cancel and approval take no
    # body (found by a client sending text to them: the 415 came undocumented, the schema named it only for
    # operations with a body)
    from counter.models import CashRequest
    from exchange.models import Order
    from exchange.services import OrderRequest, order_place
    from tests.test_counter_two_person import propose

    market, _mm, investor = trading
    order, _ = order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest(market.security.code, "buy", 100, Decimal("9.50"), "DAY", "schema-415"),
    )
    cash = propose(market, market.investor(cash="0"), "5000000.00")
    before = snapshot()

    # when each is sent a body that is not JSON
    cancel = api_for(investor.owner).delete(f"/api/v1/orders/{order.pk}/", "cancel", content_type="text/plain")
    form = "application/x-www-form-urlencoded"
    checker = api_for(market.checker)
    approve = checker.post(f"/api/v1/counter/cash-requests/{cash.pk}/approve/", "a=1", content_type=form)

    # then each is a 415 its operation documents, with the error body
    assert cancel.status_code == approve.status_code == 415
    _answer_as_documented(schema, "delete", "/api/v1/orders/{order_id}/", cancel)
    _answer_as_documented(schema, "post", "/api/v1/counter/cash-requests/{request_id}/approve/", approve)
    # and nothing changed: the order rests, the cash movement still waits
    assert snapshot() == before
    assert Order.objects.get(pk=order.pk).status == "open"
    assert CashRequest.objects.get(pk=cash.pk).status == "proposed"


def _request_schema_refuses(schema, method: str, path: str, body: dict) -> bool:
    documented = schema["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    validator = jsonschema.Draft202012Validator({**documented, "components": schema["components"]})
    return not validator.is_valid(body)


@pytest.mark.parametrize(
    ("role", "path", "over", "field"),
    [
        (Role.INVESTOR, "/api/v1/orders/", {"security": ""}, "security"),
        (Role.INVESTOR, "/api/v1/orders/", {"security": "   "}, "security"),
        (Role.INVESTOR, "/api/v1/orders/", {"colour": "red"}, "colour"),
        (Role.EXCHANGE_OPERATOR, "/api/v1/market/halt/", {"reason": ""}, "reason"),
        (Role.EXCHANGE_OPERATOR, "/api/v1/market/halt/", {"reason": "news \x07 pending"}, "reason"),
        (Role.EXCHANGE_OPERATOR, "/api/v1/market/halt/", {"reason": "news \x00 pending"}, "reason"),
        (Role.EXCHANGE_OPERATOR, "/api/v1/securities/", {"trading_modes": []}, "trading_modes"),
    ],
)
def test_a_body_the_api_refuses_for_a_blank_empty_or_unknown_field_is_one_its_schema_refuses(
    schema, trading, role, path, over, field
):
    # Given a body valid but for one blank text, empty list or unknown field (found by schemathesis's check that a
    # request its schema takes is not refused: the schema took all of these, and a generated client sent them)
    from registry.models import Security

    market, _mm, investor = trading
    user = investor.owner if role == Role.INVESTOR else market.user(role)
    bodies = {
        "/api/v1/orders/": order_body(market),
        "/api/v1/market/halt/": {"reason": "news pending"},
        "/api/v1/securities/": {
            "code": "839999",
            "name": "Schema Co",
            "issuer": "Schema Co Ltd",
            "risk_rating": "R3",
            "reference_price": "10.00",
        },
    }
    body = {**bodies[path], **over}
    before = snapshot()

    # when it is sent
    refused = api_for(user).post(path, body, format="json")

    # then the API refuses it, naming the field, as its schema documents, and nothing changed
    assert refused.status_code == 400 and field in refused.json()["fields"], refused.content
    _answer_as_documented(schema, "post", path, refused)
    assert snapshot() == before and not Security.objects.filter(code="839999").exists()
    # and the schema's request body refuses it too, while it takes the body without the fault (and tabs and line
    # breaks in text, which the API takes)
    assert _request_schema_refuses(schema, "post", path, body)
    assert not _request_schema_refuses(schema, "post", path, bodies[path])
    assert not _request_schema_refuses(schema, "post", "/api/v1/market/halt/", {"reason": "news\tpending\r\n"})


def test_an_issuance_to_no_holder_is_refused_by_the_api_and_its_schema(schema, market):
    # Given a depository operator (found by schemathesis: an empty list of holders was valid by the schema)
    from balances.models import IssuanceProposal

    before = snapshot()
    body = {"holders": [], "client_request_id": "schema-empty"}

    # when it proposes an issuance to no one
    refused = api_for(market.user(Role.DEPOSITORY_OPERATOR)).post(
        f"/api/v1/securities/{market.security.code}/issuances/", body, format="json"
    )

    # then the API refuses it as documented, and nothing changed, and the schema refuses it too
    assert refused.status_code == 400 and "holders" in refused.json()["fields"], refused.content
    _answer_as_documented(schema, "post", "/api/v1/securities/{code}/issuances/", refused)
    assert snapshot() == before and not IssuanceProposal.objects.exists()
    assert _request_schema_refuses(schema, "post", "/api/v1/securities/{code}/issuances/", body)


def _parameter_schema(schema, path: str, name: str) -> dict:
    return next(p["schema"] for p in schema["paths"][path]["get"]["parameters"] if p["name"] == name)


def test_an_alerts_state_its_reopening_note_and_the_audit_trails_role_are_documented_as_the_api_takes_them(
    schema, market
):
    # Given a closed alert and a regulator (found by schemathesis against a live exchange, as a regulator: the
    # schema let a client send any text as an alert's state or the audit trail's role, and reopen an alert with no
    # note, each refused by the API)
    from surveillance import services as surveillance
    from surveillance.models import Alert
    from tests.test_surveillance import alert_state, wash_alert

    surveillance.rules_seed()
    alert, user = wash_alert(market), market.user(Role.REGULATOR)
    regulator = api_for(user)

    # when it sends a state that is none, reopens with no note, and filters the audit trail by a role that is none
    before = alert_state()
    state = regulator.patch(f"/api/v1/alerts/{alert.pk}/", {"state": "done", "note": "x"}, format="json")
    assert alert_state() == before
    surveillance.alert_change(actor=user, alert_id=alert.pk, state="closed", note="Explained")
    before = alert_state()
    reopen = regulator.post(f"/api/v1/alerts/{alert.pk}/reopen/", {}, format="json")
    role = regulator.get("/api/v1/audit/", {"role": "wizard"})

    # then each is a 400 as documented, and nothing changed
    assert (state.status_code, state.json()["code"]) == (400, "unknown_alert_state")
    assert (reopen.status_code, reopen.json()["code"]) == (400, "note_required")
    assert role.status_code == 400
    _answer_as_documented(schema, "patch", "/api/v1/alerts/{alert_id}/", state)
    _answer_as_documented(schema, "post", "/api/v1/alerts/{alert_id}/reopen/", reopen)
    _answer_as_documented(schema, "get", "/api/v1/audit/", role)
    assert alert_state() == before and Alert.objects.get(pk=alert.pk).state == Alert.State.CLOSED
    # and the schema refuses what the API refused, and takes what it takes
    change = schema["paths"]["/api/v1/alerts/{alert_id}/"]["patch"]["requestBody"]["content"]["application/json"]
    change = jsonschema.Draft202012Validator({**change["schema"], "components": schema["components"]})
    assert not change.is_valid({"state": "done", "note": "x"}) and change.is_valid({"state": "closed", "note": "x"})
    assert _request_schema_refuses(schema, "post", "/api/v1/alerts/{alert_id}/reopen/", {})
    assert not _request_schema_refuses(schema, "post", "/api/v1/alerts/{alert_id}/reopen/", {"note": "Referred"})
    roles = _parameter_schema(schema, "/api/v1/audit/", "role")["enum"]
    assert "wizard" not in roles and set(roles) == set(Role.values)


def test_the_text_pattern_refuses_what_the_api_refuses_and_no_password(schema):
    # Given the schema's text pattern and the API's own rule on text (core.api.fields)
    from core.api import fields
    from core.api.schema import TEXT_PATTERN

    documented = re.compile(TEXT_PATTERN.removesuffix("$") + r"\Z")

    # when each character up to U+FFFF is read by both, then they agree on every one (NUL: DRF's CharField)
    for code in range(0x10000):
        c = chr(code)
        refused = c == "\x00" or fields._CONTROL.search(c) is not None
        assert (documented.search(f"a{c}b") is None) == refused, hex(code)
    # and a password field, taken as typed, has no pattern but its length
    token = _body(schema, "/api/v1/auth/token/")["properties"]["password"]
    assert "pattern" not in token and token["minLength"] == 1


def test_a_batchs_orders_are_documented_as_post_orders_takes_each(schema, trading):
    # Given an investor, and a batch of a good order and one with its price as a JSON number (found by an outside
    # integrator: the schema's batch took any objects, so a generated client had no typed order, and the schema took
    # orders the API refuses)
    from exchange.models import Order

    market, _mm, investor = trading
    good = order_body(market, client_order_id="batch-good")
    bad = order_body(market, client_order_id="batch-float", limit_price=10.1)
    before = Order.objects.count()

    # when it sends them
    sent = api_for(investor.owner).post("/api/v1/orders/batch/", {"orders": [good, bad]}, format="json")

    # then the good one is placed and the other refused alone, as documented
    assert sent.status_code == 200, sent.content
    assert [r["status"] for r in sent.json()["results"]] == [201, 400]
    _answer_as_documented(schema, "post", "/api/v1/orders/batch/", sent)
    assert Order.objects.count() == before + 1 and not Order.objects.filter(client_order_id="batch-float").exists()
    # and the schema documents each order as POST orders/ does: it refuses the one the API refused, takes the other
    orders = _body(schema, "/api/v1/orders/batch/")["properties"]["orders"]
    assert orders["items"] == {"$ref": "#/components/schemas/OrderRequest"}
    assert (orders["minItems"], orders["maxItems"]) == (1, 100)
    assert _request_schema_refuses(schema, "post", "/api/v1/orders/batch/", {"orders": [good, bad]})
    assert not _request_schema_refuses(schema, "post", "/api/v1/orders/batch/", {"orders": [good]})


def test_a_muted_kind_of_notification_is_documented_as_one_of_the_kinds_the_api_takes(schema, trading):
    # Given an investor (found by an outside integrator: the schema took any text as a muted kind, and the API
    # refused one that is none with a 400)
    from notifications.models import Kind, Preference

    _market, _mm, investor = trading
    path = "/api/v1/notifications/preferences/"

    # when it mutes a kind that is none
    refused = api_for(investor.owner).put(path, {"muted": ["nonsense"], "email": False}, format="json")

    # then the API refuses it as documented, and nothing changed
    assert (refused.status_code, refused.json()["code"]) == (400, "unknown_notification_kind"), refused.content
    _answer_as_documented(schema, "put", path, refused)
    assert not Preference.objects.filter(user=investor.owner).exists()
    # and the schema refuses it too, while it takes every kind there is
    assert _request_schema_refuses(schema, "put", path, {"muted": ["nonsense"], "email": False})
    assert not _request_schema_refuses(schema, "put", path, {"muted": list(Kind.values), "email": False})
