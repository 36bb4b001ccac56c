"""Bad input to the API is a JSON 4xx and changes nothing, never a 500 (DESIGN.md §8).

Each case below was a 500 found by hand-fuzzing the running server; the property
test at the end throws arbitrary JSON at the order and quote endpoints.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from core.models import Role
from tests.conftest import api_for, log_in, order_body, snapshot


def quote_body(market, **over):
    body = {
        "security": market.security.code,
        "bid_price": "9.95",
        "bid_quantity": 100,
        "ask_price": "10.05",
        "ask_quantity": 100,
    }
    return {**body, **over}


@pytest.mark.parametrize(
    "over",
    [
        {"quantity": 10**30},  # was: bigint out of range
        {"quantity": 2**63},
        {"limit_price": "1e400"},  # was: numeric overflow
        {"limit_price": "1E+1"},
        {"limit_price": "NaN"},
        {"limit_price": "Infinity"},
        {"limit_price": "１０.10"},  # full-width digits, which Decimal() would accept
        {"limit_price": "+10.10"},
        {"limit_price": "10."},
        {"limit_price": "1" * 13 + ".00"},  # more than a price column holds
    ],
)
def test_out_of_range_and_exotic_numbers_in_an_order_are_400(trading, over):
    market, _mm, investor = trading
    before = snapshot()

    resp = api_for(investor.owner).post("/api/v1/orders/", order_body(market, **over), format="json")

    assert resp.status_code == 400, resp.content
    body = resp.json()
    assert body["code"] == "invalid_input" and list(body["fields"]) == list(over)
    assert snapshot() == before


@pytest.mark.parametrize(
    "over", [{"bid_quantity": 10**30}, {"ask_quantity": 2**63}, {"bid_price": "1e400"}, {"ask_price": "9" * 20}]
)
def test_out_of_range_numbers_in_a_quote_are_400(trading, over):
    market, mm, _investor = trading
    before = snapshot()

    resp = api_for(mm.owner).post("/api/v1/quotes/", quote_body(market, **over), format="json")

    assert resp.status_code == 400, resp.content
    assert resp.json()["code"] == "invalid_input"
    assert snapshot() == before


@pytest.mark.parametrize("path", ["/api/v1/orders/", "/api/v1/quotes/", "/api/v1/auth/token/"])
def test_json_nested_too_deep_is_a_400(trading, path):
    _market, mm, _investor = trading
    before = snapshot()
    resp = api_for(mm.owner).generic("POST", path, "[" * 100_000 + "]" * 100_000, content_type="application/json")
    assert resp.status_code == 400
    assert resp.json()["code"] == "malformed_json"
    assert snapshot() == before


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/securities/%00/"),
        ("get", "/api/v1/securities/%00/quotes/"),
        ("get", "/api/v1/orders/?status=%00"),
        ("delete", "/api/v1/quotes/?security=%00"),
    ],
)
def test_a_nul_byte_in_the_url_is_a_400(trading, method, path):
    _market, mm, _investor = trading
    before = snapshot()
    resp = getattr(api_for(mm.owner), method)(path)
    assert resp.status_code == 400
    assert resp.json()["code"] == "invalid_input"
    assert snapshot() == before


def test_a_nul_byte_in_a_page_url_is_a_400(client):
    assert client.get("/?q=%00").status_code == 400


@pytest.mark.parametrize(
    ("role", "path", "form"),
    [
        ("exchange_operator", "/operations/holidays/", {"date": "2099-01-05", "name": "New\x00Year"}),
        ("regulator", "/surveillance/alerts/1/change/", {"state": "closed", "note": "seen\x00"}),
        (
            "regulator",
            "/supervision/corrections/",
            {"trade": "1", "new_price": "1", "new_quantity": "0", "reason": "\x00"},
        ),
    ],
)
def test_a_nul_character_in_a_posted_form_is_a_400_and_changes_nothing(market, role, path, form):
    # given a staff member signed in on the pages (views that read request.POST raw: was a 500 from PostgreSQL)
    from django.test import Client

    from core.models import AuditEvent
    from registry.models import Holiday
    from tests.conftest import log_in

    client = Client()
    log_in(client, market.user(role))
    before, audits = snapshot(), AuditEvent.objects.count()

    # when a form with a NUL character in a field is posted
    response = client.post(path, form, HTTP_ACCEPT_LANGUAGE="en")

    # then it is a 400 saying so, and nothing changed (no holiday, no audit record)
    assert response.status_code == 400 and b"NUL characters are not allowed in a form." in response.content
    assert snapshot() == before and AuditEvent.objects.count() == audits and not Holiday.objects.exists()


@pytest.mark.parametrize(
    ("role", "path", "form"),
    [
        ("exchange_operator", "/operations/market/halt/", {"reason": "halt \x1b[2J\x1b]0;pwned\x07"}),
        ("exchange_operator", "/operations/market/halt/", {"reason": "halt \u202egnp.exe"}),
        ("exchange_operator", "/operations/market/halt/", {"reason": "halt \x9b2J (a C1 escape)"}),
        ("exchange_operator", "/operations/holidays/", {"date": "2099-01-05", "name": "New \u2066Year"}),
        ("regulator", "/surveillance/alerts/1/change/", {"state": "closed", "note": "seen \x1b[31m"}),
    ],
)
def test_a_control_character_or_a_direction_override_in_a_posted_form_is_a_400(market, role, path, form):
    # given a staff member signed in on the pages, whose forms the API's rule on text did not reach: the
    # operations page halted the market with a reason holding an escape sequence the API refuses
    from core.models import AuditEvent
    from registry.models import Holiday, MarketState

    client = Client()
    log_in(client, market.user(role))
    before, audits = snapshot(), AuditEvent.objects.count()
    state_before = list(MarketState.objects.values())

    # when a form with such a character in a field is posted
    response = client.post(path, form, HTTP_ACCEPT_LANGUAGE="en")

    # then it is a 400 saying so, and nothing changed (the market not halted, no holiday, no audit record)
    assert response.status_code == 400, response.content
    assert b"Control characters (an escape, a bell, a text direction override) are not allowed" in response.content
    assert snapshot() == before and AuditEvent.objects.count() == audits and not Holiday.objects.exists()
    assert list(MarketState.objects.values()) == state_before


def test_a_password_field_is_not_held_to_the_rule_on_text(market):
    # given an investor whose password holds a direction override (set before the rule; a password is never shown)
    user = market.user(Role.INVESTOR)
    password = "pass \u202e word 2026"
    user.set_password(password)
    user.save()

    # when they sign in on the page, and the same form carries a tab and a line break elsewhere
    response = Client().post("/login/", {"username": user.username, "password": password, "next": "/\n"})

    # then the login goes through
    assert response.status_code == 302, response.content


@pytest.mark.parametrize(
    "password",
    # a direction override, and a C1 next line (U+0085), which the API took in a password until C1 controls were
    # refused in its text (a password set then, or on the page, which leaves passwords as typed)
    ["pass \u202e word 2026", "pass \x85 word 2026"],
    ids=["override", "c1"],
)
def test_a_password_the_page_takes_signs_in_on_the_api_too(market, password):
    # given an investor whose password holds a character the rule on text refuses elsewhere
    user = market.user(Role.INVESTOR)
    user.set_password(password)
    user.save()

    # when they ask the API for a login token with it
    response = APIClient().post("/api/v1/auth/token/", {"username": user.username, "password": password}, format="json")

    # then the token is issued, as the page's login goes through (a password is never shown)
    assert response.status_code == 200, response.content
    assert set(response.json()) == {"token", "expires_at"}


@pytest.mark.parametrize(
    ("path", "status"),
    [("/api/v1/orders/", 400), ("/api/v1/trades/", 400)],
)
def test_a_huge_page_size_is_refused_never_a_500(trading, path, status):
    _market, _mm, investor = trading
    resp = api_for(investor.owner).get(path + "?limit=99999999999999999999&offset=99999999999999999999")
    # 400: beyond the documented bounds of a page
    assert resp.status_code == status, resp.content


LEDGER_BAD_CURSORS = [
    "blocks/?limit=1001",
    "blocks/?limit=0",
    "blocks/?after=99999999999999999999",  # past PostgreSQL's bigint: was it a 500?
    "blocks/?after=%2B1",
    "blocks/?after=%201",
    "blocks/?after=1_0",
    "blocks/?after=%D9%A3",  # an Arabic-Indic three, which Python's int reads
    "entries/?limit=5001",
    "entries/?from=-1",
    "entries/0/proof/?tree_size=1.0",
    "entries/0/proof/?tree_size=9223372036854775808",
    "consistency/?from=0",
    "consistency/?from=1&to=x",
]


def test_a_ledger_cursor_outside_its_documented_bounds_is_a_400_naming_it(trading):
    # given a supervisor, who reads the ledger in bulk
    market, _mm, _investor = trading
    client = api_for(market.user(Role.AUDITOR))
    for query in LEDGER_BAD_CURSORS:
        # when a cursor, a size or a limit is not a whole number within the schema's bounds
        resp = client.get(f"/api/v1/ledger/{query}")
        # then it is a 400 naming it, where a large limit was silently capped
        assert resp.status_code == 400, (query, resp.content)
        assert resp.json()["code"] == "invalid_input"
        name = query.split("?")[1].split("&")[-1].split("=")[0]
        assert name in resp.json()["message"] + str(resp.json().get("fields", "")), resp.json()
    # and the largest documented ones are read
    assert client.get("/api/v1/ledger/blocks/?limit=1000&after=9223372036854775807").status_code == 200
    assert client.get("/api/v1/ledger/entries/?limit=5000").status_code == 200


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=abc", "limit=-1", "offset=-1", "offset=1.5"])
def test_a_page_outside_the_documented_bounds_is_a_400_naming_the_parameter(trading, query):
    _market, _mm, investor = trading
    resp = api_for(investor.owner).get(f"/api/v1/orders/?{query}")
    assert resp.status_code == 400 and query.split("=")[0] in resp.json()["fields"], resp.content


def test_a_page_within_the_bounds_is_read(trading):
    _market, _mm, investor = trading
    for query in ("limit=1", "limit=1000", "offset=0", "limit=5&offset=3"):
        assert api_for(investor.owner).get(f"/api/v1/orders/?{query}").status_code == 200, query


@pytest.mark.parametrize("query", ["page=2", "page_size=5", "per_page=5", "page=2&limit=5"])
def test_another_apis_page_number_is_a_400_saying_how_this_one_pages(trading, query):
    # Given an investor with more orders than one page of two
    market, mm, investor = trading
    before = api_for(investor.owner).get("/api/v1/orders/?limit=2").json()
    assert before["count"] >= 0
    # When a client pages the list as other APIs do
    resp = api_for(investor.owner).get(f"/api/v1/orders/?{query}", HTTP_ACCEPT_LANGUAGE="en")
    # Then it is told how this one pages, not served the first page as if it were the one asked for
    name = query.split("=")[0]
    assert resp.status_code == 400 and resp.json()["code"] == "invalid_input", resp.content
    assert "limit" in resp.json()["fields"][name][0] and "offset" in resp.json()["fields"][name][0]
    # and the list itself is as it was
    assert api_for(investor.owner).get("/api/v1/orders/?limit=2").json() == before


@pytest.mark.parametrize(
    ("role", "path"),
    [
        ("investor", "/api/v1/orders/?status=open&status=filled"),
        ("investor", "/api/v1/orders/?limit=5&limit=500"),
        ("auditor", "/api/v1/ledger/entries/?after=1&after=2"),
        ("auditor", "/api/v1/audit/evidence/?trade=1&trade=2"),
        ("regulator", "/api/v1/corrections/?trade=1&trade="),
    ],
)
def test_a_query_parameter_given_twice_is_a_400_naming_it(trading, role, path):
    # (found by a probe: ?tree_size=20&tree_size=21 proved against 21, the last one read)
    market, _mm, investor = trading
    user = investor.owner if role == "investor" else market.user(getattr(Role, role.upper()))
    resp = api_for(user).get(path, HTTP_ACCEPT_LANGUAGE="en")
    name = path.split("?")[1].split("=")[0]
    assert resp.status_code == 400 and resp.json()["code"] == "invalid_input", resp.content
    assert resp.json()["fields"] == {name: ["Give this parameter once."]}
    # and once, it is read
    assert api_for(user).get(path.split("&")[0]).status_code in (200, 404), path


@pytest.mark.parametrize("path", ["/api/v1/audit/evidence/?trade=１２", "/api/v1/corrections/?trade=１２"])
def test_a_trade_id_in_other_digits_is_a_400(trading, path):
    # (found by a probe: full-width digits read as trade 12 in the evidence bundle, where every other id is refused)
    market, _mm, _investor = trading
    user = market.user(Role.AUDITOR if "audit" in path else Role.REGULATOR)
    assert api_for(user).get(path).status_code == 400


def _containers(children):
    return st.one_of(st.lists(children, max_size=3), st.dictionaries(st.text(max_size=5), children, max_size=3))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    _containers,
    max_leaves=6,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(["security", "side", "quantity", "limit_price", "time_in_force"]), value=json_values)
def test_any_json_in_any_order_field_is_answered_without_a_500(trading, field, value):
    market, _mm, investor = trading
    body = order_body(market, client_order_id=f"h-{abs(hash(json.dumps(value)))}", **{field: value})
    resp = api_for(investor.owner).post("/api/v1/orders/", body, format="json")
    assert resp.status_code < 500
    if resp.status_code >= 400:
        assert {"code", "message"} <= resp.json().keys()


@pytest.mark.parametrize(
    "path",
    [
        "ledger/blocks/?after=99999999999999999999",
        "ledger/blocks/?after=-1",
        "ledger/blocks/?limit=x",
        "ledger/blocks/99999999999999999999/",
        "ledger/entries/?from=99999999999999999999",
        "ledger/entries/?from=1.5",
        "ledger/entries/99999999999999999999/",
        "ledger/entries/0/proof/?tree_size=99999999999999999999",
        "ledger/entries/0/proof/?tree_size=abc",
        "ledger/consistency/?from=99999999999999999999&to=1",
        "ledger/consistency/?from=1&to=99999999999999999999",
        "ledger/consistency/?from=2&to=1",
        "ledger/consistency/",
        "trades/99999999999999999999/",
        "trades/99999999999999999999/proof/",
        "orders/99999999999999999999/",
    ],
)
def test_out_of_range_numbers_in_ledger_and_trade_urls_are_4xx(market, path):
    from core.models import Role
    from ledger.services import block_seal

    block_seal()
    resp = api_for(market.user(Role.AUDITOR)).get("/api/v1/" + path)
    assert 200 <= resp.status_code < 500, resp.content
    if resp.status_code >= 400:
        assert {"code", "message"} <= resp.json().keys()


# --------------------------------------------------------------------------
# Found by an outside probe on the running server (2026-12-04)


@pytest.mark.parametrize("length", [151, 256, 10_000])
def test_a_user_name_longer_than_any_users_is_refused_before_authenticating(market, api, length):
    # given a user name longer than the user model's 150 characters (django-axes keeps at most 255)
    from axes.models import AccessAttempt
    from django.test import Client

    name = "a" * length
    attempts = AccessAttempt.objects.count()

    # when it logs in on the API and on the login page
    token = api.post("/api/v1/auth/token/", {"username": name, "password": "x"}, format="json")
    page = Client().post("/login/", {"username": name, "password": "x"}, HTTP_ACCEPT_LANGUAGE="en")

    # then the API answers a 400 naming the field, the page shows the form again with a field error, and no
    # failed login was recorded (nothing authenticated)
    assert token.status_code == 400 and token.json()["code"] == "invalid_input", token.content
    assert "username" in token.json().get("fields", {})
    assert page.status_code == 200 and "at most 150 characters" in page.content.decode()
    assert AccessAttempt.objects.count() == attempts


def test_a_user_name_of_150_characters_is_an_ordinary_failed_login(market, api):
    name = "b" * 150
    response = api.post("/api/v1/auth/token/", {"username": name, "password": "x"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_credentials", response.content


@pytest.mark.parametrize("moment", ["0001-01-01", "0001-01-01T00:00:00", "9999-12-31T23:59:59-12:00"])
@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/freezes/", {"amount": "10.00", "legal_reference": "court order", "reason": "r"}, "expires_at"),
        ("/api/v1/settlement-instructions/", {"reason": "r"}, "ends_at"),
    ],
)
def test_a_moment_no_time_zone_can_hold_is_a_400_and_changes_nothing(market, path, body, field, moment):
    # given a regulator and a time at the very edge of the calendar (year 1 in Shanghai does not exist)
    from core.models import Role
    from supervision.models import Freeze

    regulator = market.user(Role.REGULATOR)
    investor = market.investor(cash="100")
    body = {**body, "account": investor.code, "security": market.security.code, field: moment}
    if path.endswith("settlement-instructions/"):
        del body["account"]
    before, freezes = snapshot(), Freeze.objects.count()

    # when it is posted
    response = api_for(regulator).post(path, body, format="json")

    # then it is a 400 naming the field (out of range or in the past), and nothing was proposed
    assert response.status_code == 400, response.content
    assert field in response.json().get("fields", {}) or field in response.json()["message"], response.json()
    assert snapshot() == before and Freeze.objects.count() == freezes


def test_a_write_to_an_address_without_its_slash_is_redirected_keeping_the_method(trading):
    # given an investor whose client sends an order to /api/v1/orders (no trailing slash)
    market, _mm, investor = trading
    api = api_for(investor.owner)
    before = snapshot()
    # when it posts there, then the answer is a 308 to the address with the slash: a client that follows it posts
    # again (a 301 would have turned the order into a GET of the list, a 200 with no order placed)
    sent = api.post("/api/v1/orders", order_body(market, client_order_id="no-slash-1"), format="json")
    assert sent.status_code == 308 and sent["Location"] == "/api/v1/orders/"
    assert snapshot() == before
    followed = api.post(sent["Location"], order_body(market, client_order_id="no-slash-1"), format="json")
    assert followed.status_code == 201
    # and a read keeps Django's 301
    assert api.get("/api/v1/orders").status_code == 301
    # a cancel without its slash is a 308 too, and cancels nothing by itself
    order_id = followed.json()["id"]
    assert api.delete(f"/api/v1/orders/{order_id}").status_code == 308
    assert api.get(f"/api/v1/orders/{order_id}/").json()["status"] == followed.json()["status"]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("post", "/api/v1/market/halt/", {"reason": 0}, "reason"),  # a number where text is taken
        ("post", "/api/v1/market/halt/", {"reason": ["stop"]}, "reason"),
        ("post", "/api/v1/securities/{code}/halt/", {"reason": "x", "t": {}}, "t"),  # a field it does not take
        ("post", "/api/v1/securities/{code}/delist/", {"reason": True}, "reason"),
        ("patch", "/api/v1/securities/{code}/", {"code": "839999", "reason": "x"}, "code"),
        ("patch", "/api/v1/securities/{code}/", {"lot_size": 200, "reason": "x", "lotsize": 300}, "lotsize"),
    ],
)
def test_a_wrong_type_or_an_unknown_field_is_a_400_naming_it_and_changes_nothing(market, method, path, body, field):
    # given an exchange operator and a listed security
    operator = market.user(Role.EXCHANGE_OPERATOR)
    before = snapshot()
    # when a request carries a value of the wrong type, or a field the operation does not take
    resp = getattr(api_for(operator), method)(path.format(code=market.security.code), body, format="json")
    # then it is refused, naming the field, and nothing changed (no halt, no delisting, no new parameters)
    assert resp.status_code == 400, resp.content
    assert resp.json()["code"] == "invalid_input" and field in resp.json()["fields"]
    assert snapshot() == before


def test_a_negative_price_is_refused_as_not_positive(trading):
    market, _mm, investor = trading
    resp = api_for(investor.owner).post(
        "/api/v1/orders/", order_body(market, limit_price="-10.10"), format="json", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert resp.status_code == 400 and resp.json()["fields"]["limit_price"] == ["Must be greater than zero."]


def test_a_session_write_without_its_csrf_token_is_a_403_saying_what_to_do_in_the_users_language(trading):
    # given an investor signed in on the web (a session, not a token), in Chinese
    market, _mm, investor = trading
    browser = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="zh-hans")
    browser.force_login(investor.owner)
    before = snapshot()
    # when a script posts an order with the session but no CSRF token
    resp = browser.post("/api/v1/orders/", order_body(market), content_type="application/json")
    # then it is refused in the API's error shape, in the user's language, and no order was placed
    assert resp.status_code == 403 and resp.json()["code"] == "csrf_failed", resp.content
    assert "CSRF" in resp.json()["message"] and "Failed" not in resp.json()["message"]
    assert snapshot() == before


def test_djangos_messages_read_right_in_chinese(trading):
    # given an investor whose client speaks Chinese
    market, _mm, investor = trading
    api = api_for(investor.owner)
    # when an order's security carries a NUL character, then the message says so (Django's own said "empty string")
    nul = api.post(
        "/api/v1/orders/", order_body(market, security="a\x00b"), format="json", HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert nul.status_code == 400 and nul.json()["fields"]["security"] == ["不能包含 NUL（空）字符。"]
    # and a page's amount with three decimals ends with a Chinese full stop (Django's own, an English one)
    staff = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    log_in(staff, market.staff)
    page = staff.post(f"/counter/{investor.code}/deposit/", {"deposit-amount": "1.234"})
    assert page.status_code == 400 and page.context["deposit_form"].errors["amount"] == ["小数位数不能超过 2 位。"]


def test_a_fields_length_and_a_requests_status_read_right_in_chinese():
    # (found by a walk: a page's too-long field said "确保该变量包含不超过 100 字符 (目前字符数 300)", Django's "this
    # variable" and an English bracket; an open request for quote read "未成交", an order's "not yet filled")
    from django import forms
    from django.core.exceptions import ValidationError
    from django.utils import translation

    from exchange.models import Order, RfqRequest

    with translation.override("zh-hans"):
        for field, typed, said in [
            (forms.CharField(max_length=3), "abcd", "最多 3 个字符（现有 4 个）。"),
            (forms.CharField(min_length=5), "abc", "至少 5 个字符（现有 3 个）。"),
        ]:
            with pytest.raises(ValidationError) as refused:
                field.clean(typed)
            assert refused.value.messages == [said]
        assert (str(RfqRequest.Status.OPEN.label), str(Order.Status.OPEN.label)) == ("询价中", "未成交")
    with translation.override("en"):
        assert str(RfqRequest.Status.OPEN.label) == str(Order.Status.OPEN.label) == "Open"


@pytest.mark.parametrize(
    "path", ["/api/v1/orders/", "/api/v1/trades/", "/api/v1/rfqs/", "/api/v1/negotiated-trades/", "/api/v1/freezes/"]
)
def test_an_unknown_status_filter_is_a_400_naming_the_choices(trading, path):
    _market, _mm, investor = trading
    # an unknown value used to answer an empty list, as if nothing matched
    resp = api_for(investor.owner).get(path, {"status": "bogus"}, HTTP_ACCEPT_LANGUAGE="en")
    assert resp.status_code == 400 and resp.json()["fields"]["status"][0].startswith("Must be one of: ")


def test_pulling_the_quotes_of_an_unknown_security_is_a_404_and_pulls_nothing(trading):
    _market, mm, _investor = trading
    before = snapshot()
    resp = api_for(mm.owner).delete("/api/v1/quotes/?security=999999")
    assert resp.status_code == 404 and resp.json()["code"] == "unknown_security"
    assert snapshot() == before


@pytest.mark.parametrize("body", ['{"approve": false}', "{broken", "[1]", '{"reason": "x"}'])
def test_an_action_that_takes_no_body_refuses_one_and_does_nothing(market, body):
    # given a cash movement waiting for a second staff member's approval
    from counter.models import CashRequest
    from tests.test_counter_two_person import propose

    request = propose(market, market.investor(cash="0"), "5000000.00")
    before = snapshot()
    # when the checker "approves" it with a body the approval does not take (a field, a list, or no JSON at all)
    resp = api_for(market.checker).post(
        f"/api/v1/counter/cash-requests/{request.pk}/approve/", body, content_type="application/json"
    )
    # then it is a 400, and no cash moved ({"approve": false} used to approve it)
    assert resp.status_code == 400 and resp.json()["code"] in ("invalid_input", "malformed_json"), resp.content
    assert snapshot() == before and CashRequest.objects.get(pk=request.pk).status == "proposed"
    # while an empty body, or {}, approves
    ok = api_for(market.checker).post(f"/api/v1/counter/cash-requests/{request.pk}/approve/", {}, format="json")
    assert ok.status_code == 200 and CashRequest.objects.get(pk=request.pk).status == "approved"


@pytest.mark.parametrize("query", ["secuirty=S1", "security=", "security=S1&all=1"])
def test_pulling_quotes_with_a_misspelt_or_empty_filter_pulls_nothing(trading, query):
    _market, mm, _investor = trading
    before = snapshot()
    resp = api_for(mm.owner).delete(f"/api/v1/quotes/?{query}")
    assert resp.status_code == 400 and resp.json()["code"] == "invalid_input", resp.content
    assert snapshot() == before


@pytest.mark.parametrize(
    "reason",
    # a C1 control sequence introducer (U+009B, "ESC [" in one character to a terminal reading the log) and a C1
    # next line; the last three: a right-to-left override, a left-to-right embedding and a first-strong isolate,
    # which turn or shift the text after them on every page that shows it
    [
        "halt \x1b[31mred",
        "bell \x07",
        "del \x7f",
        "csi \x9b31m",
        "nel \x85",
        "\u202egnp.exe",
        "a \u202a b",
        "a \u2068 b",
    ],
)
def test_control_characters_in_text_are_a_400_and_change_nothing(market, reason):
    before = snapshot()
    resp = api_for(market.user(Role.EXCHANGE_OPERATOR)).post("/api/v1/market/halt/", {"reason": reason}, format="json")
    assert resp.status_code == 400 and list(resp.json()["fields"]) == ["reason"], resp.content
    assert snapshot() == before
    # while tabs and line breaks are text
    ok = api_for(market.user(Role.EXCHANGE_OPERATOR)).post(
        "/api/v1/market/halt/", {"reason": "line one\nline two\tend"}, format="json"
    )
    assert ok.status_code == 200


@pytest.mark.parametrize(
    ("role", "method", "path", "body", "field"),
    [
        # a trade id as text or as a fraction: DRF's IntegerField read "1" and 1.0 as trade 1
        (Role.REGULATOR, "post", "/api/v1/corrections/", {"trade": "1", "reason": "x"}, "trade"),
        (Role.REGULATOR, "post", "/api/v1/corrections/", {"trade": 1.0, "reason": "x"}, "trade"),
        (Role.REGULATOR, "post", "/api/v1/corrections/", {"trade": True, "reason": "x"}, "trade"),
        # a boolean as a number or as text: DRF's BooleanField read 0 and "false" as false
        (Role.INVESTOR, "put", "/api/v1/notifications/preferences/", {"muted": [], "email": 0}, "email"),
        (Role.INVESTOR, "put", "/api/v1/notifications/preferences/", {"muted": [], "email": "false"}, "email"),
    ],
)
def test_an_integer_or_a_boolean_of_another_json_type_is_a_400_naming_it(market, role, method, path, body, field):
    # given a user of the role
    user = market.user(role)
    before = snapshot()
    # when an integer or a boolean field carries another JSON type
    resp = getattr(api_for(user), method)(path, body, format="json")
    # then it is refused, naming the field, and nothing changed
    assert resp.status_code == 400, resp.content
    assert resp.json()["code"] == "invalid_input" and field in resp.json()["fields"], resp.json()
    assert snapshot() == before


@pytest.mark.parametrize(
    "key", [" idem-1", "idem-1 ", "\u00a0idem-1", "\ufeffidem-1", "idem\u202e-1", "idem\n1", "", "k" * 65]
)
def test_an_idempotency_key_is_taken_exactly_or_refused(trading, key):
    # (found by a probe: " idem-1" answered the order placed as "idem-1", and invisible characters made keys that
    # look alike)
    market, _mm, investor = trading
    api = api_for(investor.owner)
    # given an order placed with the key "idem-1"
    placed = api.post("/api/v1/orders/", order_body(market, client_order_id="idem-1"), format="json")
    assert placed.status_code == 201, placed.content
    before = snapshot()
    # when another body comes with a key that differs by white space or an invisible character
    resp = api.post("/api/v1/orders/", order_body(market, client_order_id=key), format="json")
    # then it is a 400 naming the key, not the first order answered again, and nothing changed
    assert resp.status_code == 400 and "client_order_id" in resp.json()["fields"], resp.content
    assert snapshot() == before


@pytest.mark.parametrize("price", [" 10.10", "10.10 ", "\t10.10"])
def test_a_price_with_surrounding_space_is_refused(trading, price):
    market, _mm, investor = trading
    before = snapshot()
    resp = api_for(investor.owner).post("/api/v1/orders/", order_body(market, limit_price=price), format="json")
    assert resp.status_code == 400 and "limit_price" in resp.json()["fields"], resp.content
    assert snapshot() == before


def test_a_time_without_its_offset_is_refused_and_one_with_it_taken(market):
    # (found by a probe: "2027-01-01T00:00:00" and "2027-01-01" were read in the server's zone, where the schema
    # says date-time, which carries its offset)
    depository = market.user(Role.DEPOSITORY_OPERATOR)
    body = {"security": market.security.code, "reason": "court order"}
    before = snapshot()
    for naive in ("2099-01-01T00:00:00", "2099-01-01", "2099-01-01 09:30"):
        resp = api_for(depository).post("/api/v1/settlement-instructions/", {**body, "ends_at": naive}, format="json")
        assert resp.status_code == 400 and "ends_at" in resp.json()["fields"], (naive, resp.content)
    assert snapshot() == before
    for aware in ("2099-01-01T00:00:00+08:00", "2099-01-02T00:00:00Z"):
        resp = api_for(depository).post("/api/v1/settlement-instructions/", {**body, "ends_at": aware}, format="json")
        assert resp.status_code == 201, (aware, resp.content)


def test_the_order_check_takes_the_body_an_order_is_placed_with(trading):
    # (found by a probe: a client could not check the very body it would post: time_in_force and client_order_id
    # were refused as unknown)
    market, _mm, investor = trading
    before = snapshot()
    resp = api_for(investor.owner).post("/api/v1/orders/check/", order_body(market), format="json")
    assert resp.status_code == 200, resp.content
    assert snapshot() == before
    bad = api_for(investor.owner).post("/api/v1/orders/check/", order_body(market, time_in_force="GTX"), format="json")
    assert bad.status_code == 400 and "time_in_force" in bad.json()["fields"]


@pytest.mark.parametrize(
    ("accept", "status"),
    [
        ("application/json;q=0", 406),
        ("*/*;q=0", 406),
        ("application/*;q=0", 406),
        ("application/json;q=0, text/html", 406),
        ("application/json, */*;q=0", 200),  # the most specific range gives the weight
        ("*/*;q=0, application/*;q=0.5", 200),
        ("application/json;q=0.001", 200),
        ("application/json;q=bogus", 200),  # a malformed weight reads as the default
    ],
)
def test_a_type_the_client_refuses_with_q_0_is_not_answered(trading, accept, status):
    # (left open by the last round: DRF answered JSON to "Accept: application/json;q=0")
    _market, _mm, investor = trading
    resp = api_for(investor.owner).get("/api/v1/orders/", HTTP_ACCEPT=accept)
    assert resp.status_code == status, (accept, resp.content)
    if status == 406:
        assert resp["Content-Type"] == "application/json" and resp.json()["code"] == "not_acceptable"


def test_an_unknown_format_is_a_400_naming_the_formats(trading):
    market, _mm, _investor = trading
    auditor = api_for(market.user(Role.AUDITOR))
    resp = auditor.get("/api/v1/audit/?format=xml", HTTP_ACCEPT_LANGUAGE="en")
    assert resp.status_code == 400 and resp.json()["fields"] == {"format": ["Must be one of: csv, json."]}
    assert auditor.get("/api/v1/audit/?format=csv").status_code == 200
    assert auditor.get("/api/v1/orders/?format=csv").status_code == 400
    assert auditor.get("/api/v1/audit/?format=").status_code == 400  # names no format (it read as JSON)
    # and a format the operation has, refused by the Accept header, is a 406 (found by a review: a 400 naming json)
    assert auditor.get("/api/v1/audit/?format=csv", HTTP_ACCEPT="text/csv;q=0").status_code == 406


def test_a_repeated_parameter_is_answered_as_every_api_answer_is(trading):
    # (found by a review: the 400 came before the middleware that add no-store and the security headers)
    _market, _mm, investor = trading
    resp = api_for(investor.owner).get("/api/v1/orders/?limit=1&limit=2")
    assert resp.status_code == 400 and "no-store" in resp["Cache-Control"]
    assert "此参数只能给出一次" in resp.content.decode()  # UTF-8, as DRF's answers, not \u escapes
    assert "Content-Security-Policy" in resp and resp["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("put", "/api/v1/counter/clients/", {"GET", "POST"}),
        ("post", "/api/v1/counter/clients/{code}/trades/", {"GET"}),
        ("get", "/api/v1/counter/clients/{code}/deposit/", {"POST"}),
        ("get", "/api/v1/counter/cash-requests/1/approve/", {"POST"}),
    ],
)
def test_a_method_the_counter_does_not_take_is_a_405_whoever_asks(trading, method, path, allowed):
    # Given a counter address and a method it does not take (found by an outside client: anyone but broker staff
    # was answered 403 "Only broker staff use the counter.", where every other address of the API answers 405)
    market, _mm, investor = trading
    url = path.format(code=investor.code)
    before = snapshot()

    # when an investor and a staff member send it
    answers = [getattr(api_for(user), method)(url, {}, format="json") for user in (investor.owner, market.staff)]

    # then both are a 405 naming the methods the address takes, and nothing changed
    for answer in answers:
        assert answer.status_code == 405, answer.content
        assert answer.json()["code"] == "method_not_allowed"
        assert {m.strip() for m in answer["Allow"].split(",")} >= allowed
    assert snapshot() == before
    # and a method it does take is still the staff's alone
    assert api_for(investor.owner).get("/api/v1/counter/clients/").status_code == 403


def test_a_made_up_method_named_as_a_counter_helper_is_a_405_not_a_403(trading):
    # Given a method no HTTP client sends but anyone may, named as one of the counter views' helpers (``client``)
    market, _mm, investor = trading
    before = snapshot()

    # when an investor sends it
    answer = api_for(investor.owner).generic("CLIENT", "/api/v1/counter/clients/")

    # then it is the 405 of a method the address does not take, as for a staff member, and nothing changed
    assert answer.status_code == 405 and answer.json()["code"] == "method_not_allowed"
    assert snapshot() == before


def test_a_request_that_is_no_registration_does_not_spend_the_addresses_registrations(market, settings):
    # Given a limit of two registrations an hour from one address, and a fresh count (found by an outside client:
    # a GET or OPTIONS of the registration address counted as a registration, so after a few the address was
    # answered 429 for its real registration, and 429 instead of 405 for the GET)
    from django.core.cache import cache
    from django.test import RequestFactory
    from rest_framework.test import APIClient

    from kyc.throttles import RegistrationThrottle

    settings.KYC_REGISTRATION_RATE = "2/hour"
    there = {"REMOTE_ADDR": "203.0.113.77"}
    cache.delete(RegistrationThrottle().get_cache_key(RequestFactory().post("/", **there), None))

    # when the address GETs and OPTIONS the address three times each
    wrong = [APIClient().get("/api/v1/kyc/register/", **there) for _ in range(3)]
    described = [APIClient().options("/api/v1/kyc/register/", **there) for _ in range(3)]

    # then each GET is a 405 and each OPTIONS its description, and the address may still register twice
    assert [r.status_code for r in wrong] == [405] * 3
    assert [r.status_code for r in described] == [200] * 3
    posted = [APIClient().post("/api/v1/kyc/register/", {}, format="json", **there) for _ in range(3)]
    assert [r.status_code for r in posted] == [400, 400, 429]
