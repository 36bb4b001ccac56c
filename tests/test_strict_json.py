"""Strict JSON (security issue 9, item 8).

``{"side": "buy", "side": "sell"}`` was accepted and placed a sell: the json
module keeps the last of two equal keys. A key twice in one object, at any
depth, is now a 400 ``duplicate_key`` through the one exception handler, and
nothing happens. The parser keeps DRF's strictness otherwise (NaN and
Infinity refused, only text charsets) and the 400 for JSON nested too deep.
"""

from __future__ import annotations

import io
import json

import pytest
from rest_framework.exceptions import ParseError

from core.api.parsers import DuplicateKey, JSONParser
from exchange.models import Order
from tests.conftest import api_for, order_body, snapshot


def raw(body: dict) -> str:
    """A JSON object's text without its closing brace, so a test can append members to it."""
    return json.dumps(body)[:-1]


def post_raw(user, path: str, text: str, **headers):
    return api_for(user).generic("POST", path, text, content_type="application/json", **headers)


# --------------------------------------------------------------------------
# Through the API, end to end


def test_a_duplicated_side_places_no_order(trading):
    # given an investor and a body that says buy, then sell
    market, _mm, investor = trading
    text = raw(order_body(market, side="buy")) + ', "side": "sell"}'
    before = snapshot()

    # when it is posted
    resp = post_raw(investor.owner, "/api/v1/orders/", text, HTTP_ACCEPT_LANGUAGE="en")

    # then it is a 400 duplicate_key naming the key, and no order, trade or balance changed
    assert resp.status_code == 400, resp.content
    assert resp.json() == {
        "code": "duplicate_key",
        "message": 'The key "side" appears more than once in one JSON object.',
    }
    assert snapshot() == before
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    "extra",
    [
        ', "note": {"a": 1, "a": 2}}',  # in a nested object
        ', "notes": [{"a": 1}, {"b": 1, "b": 1}]}',  # in an object inside an array
        ', "deep": {"x": {"y": {"z": 1, "z": 1}}}}',  # three levels down
        ', "\\u0073ide": "sell"}',  # the same key written with an escape
        ', "quantity": 100}',  # the same key with the same value
    ],
)
def test_a_duplicated_key_anywhere_in_the_body_is_a_400(trading, extra):
    market, _mm, investor = trading
    before = snapshot()

    resp = post_raw(investor.owner, "/api/v1/orders/", raw(order_body(market)) + extra)

    assert resp.status_code == 400, resp.content
    assert resp.json()["code"] == "duplicate_key" and resp.json()["message"]
    assert snapshot() == before


def test_equal_keys_in_different_objects_are_not_duplicates(trading):
    market, _mm, investor = trading
    text = raw(order_body(market)) + ', "a": {"x": 1}, "b": {"x": 2}, "c": [{"x": 1}, {"x": 1}]}'

    resp = post_raw(investor.owner, "/api/v1/orders/", text)

    # the parser reads it (no duplicate key); the order's serializer then names the three fields it does not take
    assert resp.status_code == 400, resp.content
    assert resp.json()["code"] == "invalid_input" and set(resp.json()["fields"]) == {"a", "b", "c"}
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("/api/v1/quotes/", '{"security": "S1", "bid_price": "9.95", "bid_price": "1.00"}'),
        ("/api/v1/auth/token/", '{"username": "a", "username": "b", "password": "pw-test-2026"}'),
    ],
)
def test_every_json_endpoint_refuses_duplicate_keys(trading, path, text):
    _market, mm, _investor = trading
    before = snapshot()

    resp = post_raw(mm.owner, path, text)

    assert resp.status_code == 400, resp.content
    assert resp.json()["code"] == "duplicate_key"
    assert snapshot() == before


def test_the_token_endpoint_refuses_a_duplicated_key_before_authenticating(market, api):
    user = market.user()
    text = f'{{"username": "{user.username}", "password": "wrong", "password": "pw-test-2026"}}'

    resp = api.generic("POST", "/api/v1/auth/token/", text, content_type="application/json")

    assert resp.status_code == 400 and resp.json()["code"] == "duplicate_key"
    assert "token" not in resp.json()


def test_a_long_duplicated_key_is_cut_short_in_the_message(trading):
    market, _mm, investor = trading
    key = "k" * 10_000

    resp = post_raw(investor.owner, "/api/v1/orders/", raw(order_body(market)) + f', "{key}": 1, "{key}": 2}}')

    assert resp.status_code == 400 and resp.json()["code"] == "duplicate_key"
    assert len(resp.json()["message"]) < 200


# --------------------------------------------------------------------------
# What the parser still refuses as before


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_still_malformed_json(trading, constant):
    market, _mm, investor = trading
    before = snapshot()

    resp = post_raw(investor.owner, "/api/v1/orders/", raw(order_body(market)) + f', "x": {constant}}}')

    assert resp.status_code == 400, resp.content
    assert resp.json()["code"] == "malformed_json"
    assert snapshot() == before


# Raw JSON text: the escape of a lone surrogate (not Unicode text), where each endpoint reads a string.
LONE = "\\ud800"


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("/api/v1/orders/", None),  # "side": a choice field, whose error message quoted the value
        ("/api/v1/orders/batch/", None),  # the first order valid, the second's side a lone surrogate
        ("/api/v1/kyc/register/", '{"id_type": "' + LONE + '", "username": "x"}'),  # anonymous
        ("/api/v1/orders/", '{"' + LONE + '": 1}'),  # a key
        ("/api/v1/orders/", '{"notes": ["ok", "\\udc00 low alone"]}'),  # inside an array
    ],
)
def test_an_unpaired_surrogate_is_malformed_json_and_changes_nothing(trading, path, text):
    # given a body holding the escape of a lone surrogate: valid JSON syntax, not Unicode text
    market, _mm, investor = trading
    if text is None and path.endswith("batch/"):
        first = json.dumps(order_body(market, client_order_id="batch-1"))
        second = raw(order_body(market, client_order_id="batch-2")).replace(', "side": "buy"', "")
        text = f'{{"orders": [{first}, {second}, "side": "{LONE}"}}]}}'
    elif text is None:
        text = raw(order_body(market)).replace('"side": "buy"', f'"side": "{LONE}"') + "}"
    assert "\\ud" in text
    before = snapshot()

    # when it is posted
    resp = post_raw(investor.owner, path, text, HTTP_ACCEPT_LANGUAGE="en")

    # then it is a 400 malformed_json, and no order (not even a batch's first), trade or balance changed
    assert resp.status_code == 400, resp.content
    assert resp.json()["code"] == "malformed_json" and "surrogate" in resp.json()["message"]
    assert snapshot() == before and not Order.objects.exists()


def test_a_surrogate_pair_is_text(trading):
    # given a security search with an emoji written as its escaped surrogate pair (valid UTF-16, one character)
    parser = JSONParser()
    # then it parses to that character
    assert parser.parse(io.BytesIO(b'{"a": "\\ud83d\\ude00"}'), "application/json", {}) == {"a": "\U0001f600"}


def test_a_non_text_charset_is_still_malformed_json(trading):
    market, _mm, investor = trading
    before = snapshot()

    resp = api_for(investor.owner).generic(
        "POST", "/api/v1/orders/", json.dumps(order_body(market)), content_type="application/json; charset=bz2_codec"
    )

    assert resp.status_code == 400, resp.content
    assert resp.json()["code"] == "malformed_json"
    assert snapshot() == before


def test_the_parser_alone():
    parser = JSONParser()

    def parse(text: str):
        return parser.parse(io.BytesIO(text.encode()), "application/json", {})

    assert parse('{"a": {"b": [1, {"c": 2}]}, "d": "é"}') == {"a": {"b": [1, {"c": 2}]}, "d": "é"}
    assert parse("[1, 2]") == [1, 2]
    with pytest.raises(DuplicateKey) as caught:
        parse('[{"a": 1, "b": {"c": 1, "c": 2}}]')
    assert (caught.value.code, caught.value.status) == ("duplicate_key", 400)
    with pytest.raises(ParseError):
        parse('{"a": NaN}')
    with pytest.raises(ParseError):
        parse('{"a": 1,}')
    with pytest.raises(ParseError):
        parse("[" * 100_000 + "]" * 100_000)


def test_a_duplicated_key_that_is_not_unicode_is_still_a_400(market, api):
    # (found by a review: the duplicate-key message quoted the key, which could not be written back: a 500)
    resp = api.generic("POST", "/api/v1/kyc/register/", '{"\\ud800": 1, "\\ud800": 2}', content_type="application/json")
    assert resp.status_code == 400 and resp.json()["code"] == "duplicate_key"
    assert "\\ud800" in resp.json()["message"]
