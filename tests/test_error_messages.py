"""Error messages reach the user in the user's language.

Services, views and the API build their ``DomainError`` messages (and DRF's or
Django's ``ValidationError``) with ``gettext`` where they raise them, so that a
message, figures included, is in the language of the request. A plain string,
an f-string or a ``"..." % ...`` there would reach a Chinese page or API client
in English, and ``makemessages`` would never see it.

The scan below finds such messages in the code of every app of ours, core
included: the first argument (or
``message=`` / ``detail=``) of any call of a user-visible error class, resolved
through the module's own names, so aliases and subclasses count. ``gettext_noop``
there counts as untranslated: it only marks a string for ``makemessages``.
A literal without a letter in it (``f"{low}–{high}"`` as a parameter of a
translated message, ``f"{field}: {problem}"``) is figures or punctuation
around values, no language's, and is not reported.
A message passed in a variable cannot be judged here; the tests below and the
page tests check some of those in both languages. Left out: management commands
(their ``CommandError`` is for operators at a terminal), migrations, and the
standalone verifier's modules, which must not import Django.
"""

from __future__ import annotations

import ast
import importlib
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import translation
from rest_framework.exceptions import APIException
from rest_framework.test import APIClient

from balances.services import cash_withdraw
from core import errors as err
from core.models import AuditEvent, Broker, Role, User
from kyc.models import KycDocument
from registry.models import Disclosure
from tests.conftest import api_for, order_body, snapshot
from tests.test_kyc_views import online_profile

ROOT = Path(__file__).resolve().parent.parent
# Every app of ours (core included), not a list to keep up to date: an app left out was never scanned.
APPS = [app for app in settings.INSTALLED_APPS if (ROOT / app / "apps.py").exists()]
STANDALONE = {"ledger/merkle.py", "ledger/checkpoint.py", "ledger/verifier.py"}

# Calls that translate their argument now, in the active language (or, lazily, when it is shown).
TRANSLATING = {
    translation.gettext,
    translation.gettext_lazy,
    translation.ngettext,
    translation.ngettext_lazy,
    translation.pgettext,
    translation.pgettext_lazy,
}


def _app_modules() -> list[tuple[str, Path]]:
    modules = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if {"management", "migrations", "tests"} & set(relative.parts) or relative.as_posix() in STANDALONE:
                continue
            modules.append((".".join(relative.with_suffix("").parts).removesuffix(".__init__"), path))
    return modules


def _resolve(node: ast.expr, namespace: dict) -> object:
    """What a name or dotted name in a module's code stands for (None when it is not a module-level name)."""
    if isinstance(node, ast.Name):
        return namespace.get(node.id)
    if isinstance(node, ast.Attribute):
        owner = _resolve(node.value, namespace)
        return getattr(owner, node.attr, None) if owner is not None else None
    return None


def _user_visible_error(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, (err.DomainError, APIException, DjangoValidationError))


def _text(node: ast.expr) -> str | None:
    """The literal text of a string or f-string (an f-string's fixed parts), None for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value for part in node.values if isinstance(part, ast.Constant))
    return None


def _untranslated(node: ast.expr, namespace: dict) -> ast.expr | None:
    """The part of a message expression that is English text nobody translates, if any.

    A literal is text to translate when it holds a letter: one without (``f"{low}–{high}"``, ``f"{amount:,.2f}"``,
    ``f"{field}: {problem}"``) is figures or punctuation around values, the same in every language, like the
    parameters of a translated ``"…%(bounds)s…"``; what the values hold is the variables' business, which
    this scan cannot judge."""
    if (text := _text(node)) is not None:
        return node if any(character.isalpha() for character in text) else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mod, ast.Add)):
        return _untranslated(node.left, namespace) or _untranslated(node.right, namespace)
    if isinstance(node, ast.Call):
        function = _resolve(node.func, namespace)
        if function in TRANSLATING:
            return None
        if function is translation.gettext_noop:  # marks a string for makemessages, returns it untranslated
            return node.args[0] if node.args else node
        if isinstance(node.func, ast.Attribute) and node.func.attr == "format":  # "…{x}".format(x=…)
            return _untranslated(node.func.value, namespace)
        return None
    if isinstance(node, ast.Dict):  # ValidationError({"field": ["…"]})
        return next(filter(None, (_untranslated(v, namespace) for v in node.values)), None)
    if isinstance(node, (ast.List, ast.Tuple)):
        return next(filter(None, (_untranslated(v, namespace) for v in node.elts)), None)
    return None


def untranslated_messages(source: str, namespace: dict) -> list[tuple[int, str]]:
    """(line, message) of each user-visible error built in ``source`` with an untranslated message."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and _user_visible_error(_resolve(node.func, namespace))):
            continue
        messages = node.args[:1] + [k.value for k in node.keywords if k.arg in ("message", "detail")]
        for message in messages:
            if (literal := _untranslated(message, namespace)) is not None:
                found.append((node.lineno, ast.unparse(literal)))
    return found


def test_the_scan_finds_plain_f_string_and_formatted_messages_but_not_translated_ones():
    # given a module that builds errors in every way the scan must tell apart
    source = """
raise err.NotFound("No such order.")
raise err.InsufficientCash(f"{code} cannot pay.")
raise err.PermissionDenied(message="Only staff.")
raise err.InvalidInput("%(name)s is bad." % {"name": name})
raise err.InvalidInput(gettext_noop("Marked, never translated."))
raise ValidationError({"broker": ["No such broker."]})
raise err.NotFound(gettext("No such trade."))
raise err.InsufficientCash(gettext("%(account)s cannot pay.") % {"account": code})
raise err.InvalidInput(_("Lazy is fine too."))
raise err.InvalidInput(problem)
raise err.NotFound()
raise ValueError("internal, never shown")
raise err.InvalidInput(_("Must be %(bounds)s.") % {"bounds": f"{low}–{high}"})
raise err.InvalidInput(f"{name}: {problem}")
raise err.InvalidInput(gettext("Send %(what)s.") % {"what": "a side"})
raise err.InvalidInput(f"{name} is unknown.")
"""
    namespace = {
        "err": err,
        "gettext": translation.gettext,
        "gettext_noop": translation.gettext_noop,
        "_": translation.gettext_lazy,
        "ValidationError": DjangoValidationError,
    }

    # when it is scanned
    found = untranslated_messages(source, namespace)

    # then exactly the untranslated messages are reported (gettext_noop marks a string, it does not translate it;
    # a parameter of English words is English, figures and punctuation around values are no language's)
    assert found == [
        (2, "'No such order.'"),
        (3, "f'{code} cannot pay.'"),
        (4, "'Only staff.'"),
        (5, "'%(name)s is bad.'"),
        (6, "'Marked, never translated.'"),
        (7, "'No such broker.'"),
        (16, "'a side'"),
        (17, "f'{name} is unknown.'"),
    ]


def test_no_user_visible_error_is_built_with_an_untranslated_message():
    # given every module of the apps a request can reach
    modules = _app_modules()
    assert {"core", "core.api.pagination", "surveillance.api", "registry.api"} <= {name for name, _path in modules}
    assert len(modules) > 100

    # when each is scanned for errors built with a literal message
    found = [
        f"{path.relative_to(ROOT)}:{line}: {message}"
        for name, path in modules
        for line, message in untranslated_messages(path.read_text(), vars(importlib.import_module(name)))
    ]

    # then there is none
    assert found == []


# --------------------------------------------------------------------------
# The messages in both languages


# Each sets up what its request needs and returns the request, to be sent with some headers.


def _hold_by_an_investor(market):
    investor = market.investor(cash="1000")
    # No trade 1 either: the role is checked first.
    return lambda headers: api_for(investor.owner).post(
        "/api/v1/trades/1/hold/", {"reason": "mine"}, format="json", **headers
    )


def _statement_in_an_unknown_format(market):
    client = market.investor(cash="1000")
    query = {"from": "2026-03-01", "to": "2026-03-31", "format": "xml"}
    return lambda headers: api_for(market.staff).get(
        f"/api/v1/counter/clients/{client.code}/statement/", query, **headers
    )


def _price_as_a_json_number(market):
    investor = market.investor(cash="50000")
    body = order_body(market, limit_price=10.1)
    return lambda headers: api_for(investor.owner).post("/api/v1/orders/", body, format="json", **headers)


def _registration_with_a_wrong_check_digit(market):
    body = {
        "broker": market.broker.code,
        "username": "zhaoliu",
        "password": "Kyc-pass-2026!",
        "real_name": "赵六",
        "id_type": "resident_id",
        "id_number": "110105194912310021",  # the GB 11643 example number, whose check digit is X
        "phone": "13700137000",
        "address": "广州市天河区体育西路 1 号",
    }
    return lambda headers: APIClient().post("/api/v1/kyc/register/", body, format="json", **headers)


def _raw_body(text: str | bytes, content_type: str = "application/json"):
    """An order sent as ``text``, the raw body (found by a probe: a malformed body's message was DRF's, in English)."""

    def given(market):
        investor = market.investor(cash="1000")
        return lambda headers: api_for(investor.owner).generic(
            "POST", "/api/v1/orders/", text, content_type=content_type, **headers
        )

    return given


# request, status, code, message in English, message in Chinese
API_ERRORS = {
    "settlement hold by an investor": (
        _hold_by_an_investor,
        403,
        "permission_denied",
        "Only depository operators hold or refuse settlement.",
        "只有登记结算运营人员可以暂缓或拒绝交收。",
    ),
    "statement in an unknown format": (
        _statement_in_an_unknown_format,
        400,
        "invalid_input",
        'format must be "json", "csv" or "pdf".',
        "format 必须为 “json”、“csv” 或 “pdf”。",
    ),
    "price sent as a JSON number": (
        _price_as_a_json_number,
        400,
        "invalid_input",
        'limit_price: Send decimals as strings, for example "10.50", not as JSON numbers.',
        "limit_price: 小数请以字符串发送，例如 “10.50”，不要用 JSON 数字。",
    ),
    "registration with a wrong ID check digit": (
        _registration_with_a_wrong_check_digit,
        400,
        "invalid_input",
        "id_number: The ID number's check digit is wrong.",
        "id_number: 身份证号码的校验位不正确。",
    ),
    "malformed JSON": (
        _raw_body('{"side": "buy",\n "quantity": 100 "limit_price": "10.00"}'),
        400,
        "malformed_json",
        "The request body is not valid JSON (line 2, column 18).",
        "请求体不是有效的 JSON（第 2 行第 18 列）。",
    ),
    "NaN in JSON": (
        _raw_body('{"quantity": NaN}'),
        400,
        "malformed_json",
        "The request body is not valid JSON: NaN and Infinity are not numbers in JSON.",
        "请求体不是有效的 JSON：NaN 和 Infinity 在 JSON 中不是数字。",
    ),
    "a body not in its charset": (
        _raw_body('{"side": "é"}'.encode("latin-1")),
        400,
        "malformed_json",
        "The request body is not text in its charset (UTF-8 unless the Content-Type names another).",
        "请求体不是其字符集的文本（未在 Content-Type 中指明字符集时为 UTF-8）。",
    ),
    "a charset that is not a text encoding": (
        _raw_body("{}", "application/json; charset=bz2_codec"),
        400,
        "malformed_json",
        "The Content-Type names a charset that is not a text encoding: send UTF-8.",
        "Content-Type 指明的字符集不是文本编码：请使用 UTF-8。",
    ),
}


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("case", list(API_ERRORS))
def test_an_api_error_comes_in_the_language_the_client_asks_for(market, case, language):
    # given a request the API refuses
    given, status, code, english, chinese = API_ERRORS[case]
    send = given(market)
    before = snapshot()

    # when the client sends it asking for a language
    response = send({"HTTP_ACCEPT_LANGUAGE": language})

    # then the error comes in that language, with its stable code, and nothing changed
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert response.json()["message"] == (chinese if language == "zh-hans" else english)
    assert snapshot() == before


def test_the_identity_errors_of_a_registration_are_per_field_in_the_language_asked_for(market):
    # when a registration with a wrong check digit is sent in Chinese and in English
    send = _registration_with_a_wrong_check_digit(market)
    chinese = send({"HTTP_ACCEPT_LANGUAGE": "zh-hans"}).json()
    english = send({"HTTP_ACCEPT_LANGUAGE": "en"}).json()

    # then the field the service named carries the message in each language
    assert chinese["fields"] == {"id_number": ["身份证号码的校验位不正确。"]}
    assert english["fields"] == {"id_number": ["The ID number's check digit is wrong."]}
    assert not User.objects.filter(username="zhaoliu").exists()


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "Only staff of the account's broker can move its cash."),
        ("zh-hans", "只有该账户所属券商的员工才能划转其资金。"),
    ],
    ids=["en", "zh-hans"],
)
def test_a_withdrawal_by_staff_of_another_broker_is_refused_in_the_active_language(market, language, message):
    # given a client of the market's broker, and a staff member of another broker
    client = market.investor(cash="1000")
    broker = Broker.objects.create(code="BB", name="Broker B", fee_bps=Decimal("2.5"), fee_minimum=Decimal("5"))
    stranger = market.user(Role.BROKER_STAFF, broker=broker)
    before = snapshot()

    # when the stranger tries to pay out the client's cash, in a language
    with translation.override(language), pytest.raises(err.PermissionDenied) as refused:
        cash_withdraw(actor=stranger, account=client, amount=Decimal("100.00"))

    # then the refusal is in that language, and no cash moved
    assert refused.value.message == message
    assert snapshot() == before


# --------------------------------------------------------------------------
# Upload bodies the form parsers cannot read (found by a probe: DRF's "Multipart form parse error - Invalid
# boundary in multipart: None", in English, under the code malformed_json)


def _kyc_document_upload(market):
    return api_for(online_profile(market, complete=False, applied=False).user), "/api/v1/kyc/me/documents/"


def _disclosure_upload(market):
    return api_for(market.depository), f"/api/v1/securities/{market.security.code}/disclosures/"


UPLOADS = {"KYC document": _kyc_document_upload, "disclosure": _disclosure_upload}
KIND = b'--XYZ\r\nContent-Disposition: form-data; name="kind"\r\n\r\nprospectus\r\n--XYZ--\r\n'
# A file part whose base64 text stops mid-quantum: Django's multipart parser cannot decode it.
CUT_BASE64 = (
    b'--XYZ\r\nContent-Disposition: form-data; name="file"; filename="id.png"\r\nContent-Type: image/png\r\n'
    b"Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgoAAAANSUhEUgAAAAEAAAABC\r\n--XYZ--\r\n"
)
NO_BOUNDARY = (
    "The Content-Type names no valid boundary: send multipart/form-data; boundary=…, with the boundary that "
    "separates the body's parts.",
    "Content-Type 未指明有效的 boundary：请发送 multipart/form-data; boundary=…，"
    "其中 boundary 为分隔请求体各部分的分隔符。",
)
NOT_TEXT = (
    "The Content-Type names a charset that is not a text encoding: send UTF-8.",
    "Content-Type 指明的字符集不是文本编码：请使用 UTF-8。",
)
# Content-Type, body, code, message in English and in Chinese
BAD_UPLOADS = {
    "no boundary": ("multipart/form-data", KIND, "malformed_multipart", *NO_BOUNDARY),
    "a boundary ending in a space": ('multipart/form-data; boundary="XYZ "', KIND, "malformed_multipart", *NO_BOUNDARY),
    "a part that cannot be decoded": (
        "multipart/form-data; boundary=XYZ",
        CUT_BASE64,
        "malformed_multipart",
        "The request body is not valid multipart/form-data.",
        "请求体不是有效的 multipart/form-data。",
    ),
    "multipart in a charset that is not text": (
        "multipart/form-data; boundary=XYZ; charset=bz2_codec",
        KIND,
        "malformed_multipart",
        *NOT_TEXT,
    ),
    "a form in a charset that is not text": (
        "application/x-www-form-urlencoded; charset=bz2_codec",
        b"kind=prospectus",
        "malformed_form",
        *NOT_TEXT,
    ),
}


def _uploaded() -> tuple:
    """What a refused upload must leave as it was."""
    return (
        snapshot(),
        list(KycDocument.objects.values_list("id", flat=True)),
        list(Disclosure.objects.values_list("id", flat=True)),
        AuditEvent.objects.exclude(outcome="refused").count(),
    )


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("case", list(BAD_UPLOADS))
@pytest.mark.parametrize("endpoint", list(UPLOADS))
def test_an_upload_body_the_parser_cannot_read_is_a_400_naming_it_in_the_language_asked_for(
    market, endpoint, case, language
):
    # given a user who may upload there
    client, path = UPLOADS[endpoint](market)
    content_type, body, code, english, chinese = BAD_UPLOADS[case]
    before = _uploaded()

    # when the body sent cannot be read as the form its Content-Type names
    response = client.generic("POST", path, body, content_type=content_type, HTTP_ACCEPT_LANGUAGE=language)

    # then it is a 400 with the form's own code and our message (none of the parser's words), and nothing changed
    assert (response.status_code, response.json()) == (
        400,
        {"code": code, "message": chinese if language == "zh-hans" else english},
    )
    assert _uploaded() == before


# --------------------------------------------------------------------------
# Amounts in messages are grouped by thousands, in both languages, as on the pages


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "The order needs 12,553,137.50 CNY including fees; 1,000.00 CNY is available."),
        ("zh-hans", "该委托需要 12,553,137.50 元（含费用）；可用资金为 1,000.00 元。"),
    ],
)
def test_an_insufficient_cash_error_shows_its_amounts_formatted(market, language, message):
    # given an investor with 1,000.00 CNY, and a buy of 1,000,000 shares at 12.55 (12,550,000.00 + fee 3,137.50)
    market.market_maker()
    investor = market.investor(cash="1000")
    before = snapshot()

    # when the order is sent
    response = api_for(investor.owner).post(
        "/api/v1/orders/",
        {
            "security": market.security.code,
            "side": "buy",
            "quantity": 1_000_000,
            "limit_price": "12.55",
            "time_in_force": "DAY",
            "client_order_id": "big-1",
        },
        format="json",
        HTTP_ACCEPT_LANGUAGE=language,
    )

    # then the refusal names both amounts grouped by thousands, and nothing changed
    assert (response.status_code, response.json()["code"]) == (409, "insufficient_cash")
    assert response.json()["message"] == message
    assert snapshot() == before


@pytest.mark.parametrize(
    ("where", "language", "message"),
    [
        ("disclosure", "en", "The request has more than 1000 fields."),
        ("disclosure", "zh-hans", "请求的字段超过 1000 个。"),
        ("login", "en", "The request has more than 1000 fields."),
    ],
)
def test_a_body_of_too_many_fields_is_a_400_naming_the_limit(market, where, language, message):
    # (found by a probe: Django's limit of 1,000 fields answered only "bad request")
    before = _uploaded()
    # when a body of 1,001 fields is posted: an upload to the API, or the login form
    if where == "login":
        from django.test import Client

        body = "&".join(f"f{i}=x" for i in range(1001))
        response = Client().post(
            "/login/", body, content_type="application/x-www-form-urlencoded", HTTP_ACCEPT_LANGUAGE=language
        )
    else:
        client, path = UPLOADS[where](market)
        parts = b"".join(b'--XYZ\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nx\r\n' % i for i in range(1001))
        response = client.generic(
            "POST", path, parts + b"--XYZ--\r\n", content_type="multipart/form-data; boundary=XYZ",
            HTTP_ACCEPT_LANGUAGE=language,
        )  # fmt: skip
    # then it is a 400 naming the limit, in the reader's language, and nothing changed
    assert response.status_code == 400
    if where == "login":
        assert message in response.content.decode()
    else:
        assert response.json() == {"code": "too_many_fields", "message": message}
    assert _uploaded() == before


@pytest.mark.parametrize("where", ["order", "disclosure", "login"])
def test_a_body_over_the_size_limit_is_a_413_naming_the_limit(market, where, settings):
    # (an outside integrator: a 400 for it read as a malformed request; HTTP says 413 Content Too Large)
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
    before = _uploaded()
    big = b"a" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    # when a body over the limit is posted: JSON to the API, a multipart upload, or the login form
    with translation.override("en"):
        if where == "order":
            client = api_for(market.investor(cash="10000").owner)
            before = _uploaded()
            response = client.generic(
                "POST", "/api/v1/orders/", b'{"x": "' + big + b'"}', content_type="application/json",
                HTTP_ACCEPT_LANGUAGE="en",
            )  # fmt: skip
        elif where == "disclosure":
            client, path = UPLOADS[where](market)
            body = b'--XYZ\r\nContent-Disposition: form-data; name="kind"\r\n\r\n' + big + b"\r\n--XYZ--\r\n"
            response = client.generic(
                "POST", path, body, content_type="multipart/form-data; boundary=XYZ", HTTP_ACCEPT_LANGUAGE="en"
            )
        else:
            from django.test import Client

            response = Client().post(
                "/login/", b"username=" + big, content_type="application/x-www-form-urlencoded",
                HTTP_ACCEPT_LANGUAGE="en",
            )  # fmt: skip
    # then it is a 413 with its code and the limit, not a 400, and nothing changed
    assert response.status_code == 413
    if where == "login":
        assert "The request body is larger than 1 MiB." in response.content.decode()
    else:
        assert response.json() == {"code": "request_too_large", "message": "The request body is larger than 1 MiB."}
    assert _uploaded() == before


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_body_of_json_null_is_refused_in_the_language_asked_for_not_in_drfs_english(market, language):
    # given an investor, and a body that is JSON null (DRF's answer to it, "No data provided", is not translated)
    client = api_for(market.investor(cash="10000").owner)
    before = snapshot()

    # when it is sent as an order
    response = client.generic(
        "POST", "/api/v1/orders/", b"null", content_type="application/json", HTTP_ACCEPT_LANGUAGE=language
    )

    # then it is an invalid_input 400 with a message of ours (English when asked for), and nothing changed
    body = response.json()
    assert (response.status_code, body["code"]) == (400, "invalid_input")
    assert "No data provided" not in body["message"]
    assert body["fields"] == {"non_field_errors": [body["message"]]}
    if language == "en":
        assert body["message"] == "The request body is null: send a JSON object with the operation's fields."
    assert snapshot() == before


@pytest.mark.parametrize(
    "language, message",
    [
        ("en", "Ensure this value is less than or equal to 1,000,000,000,000."),
        ("zh-hans", "确保该值小于或等于1,000,000,000,000。"),
    ],
)
def test_a_quantity_over_its_bound_names_the_bound_grouped_as_the_pages_write_numbers(market, language, message):
    # given an investor at the order ticket
    from tests.test_pages import client_for, ticket_data

    investor = market.investor(cash="100000")
    client = client_for(investor.owner)
    before = snapshot()

    # when the quantity is over the ticket's bound
    response = client.post(
        "/orders/new/", ticket_data(market.security, quantity=str(10**13)), HTTP_ACCEPT_LANGUAGE=language
    )

    # then the form says the bound as the pages write numbers (found by a walk: "1000000000000"), and nothing changed
    assert response.status_code == 200
    assert message in response.content.decode()
    assert snapshot() == before


def test_a_fields_bound_is_grouped_where_said_and_still_a_number_where_counted():
    from django import forms as django_forms

    from core.forms import IntegerField, PlainDecimalField

    # given fields with bounds, one with its own plural message (an RFQ answer's seconds)
    seconds = IntegerField(
        min_value=1,
        max_value=3600,
        error_messages={"max_value": "at most %(limit_value)s seconds", "min_value": "at least %(limit_value)s"},
    )
    amount = PlainDecimalField(min_value=Decimal("0.01"), max_value=Decimal("1000000.50"), decimal_places=2)
    with translation.override("en"):
        # when each is given a value past a bound, then the bound is written grouped
        with pytest.raises(DjangoValidationError) as too_long:
            seconds.clean("3601")
        assert too_long.value.messages == ["at most 3,600 seconds"]
        with pytest.raises(DjangoValidationError) as too_much:
            amount.clean("1000000.51")
        assert too_much.value.messages == ["Ensure this value is less than or equal to 1,000,000.50."]
        with pytest.raises(DjangoValidationError) as too_little:
            amount.clean("0")
        assert too_little.value.messages == ["Ensure this value is greater than or equal to 0.01."]
        # and a plural message chooses its form by the bound as a number (an RFQ answer's seconds)
        from exchange.rfq_forms import RfqAnswerForm
        from exchange.services.rfq import MAX_VALID_SECONDS

        with pytest.raises(DjangoValidationError) as plural:
            RfqAnswerForm.base_fields["valid_seconds"].clean(str(MAX_VALID_SECONDS + 1))
        assert plural.value.messages == [f"An answer may stay firm for at most {MAX_VALID_SECONDS:,} seconds."]
        assert seconds.clean("3600") == 3600 and amount.clean("1000000.50") == Decimal("1000000.50")
    # and Django's own field (anything not ours) is left as Django makes it
    with translation.override("en"):
        with pytest.raises(DjangoValidationError) as django_own:
            django_forms.IntegerField(max_value=10**12).clean(str(10**13))
        assert django_own.value.messages == ["Ensure this value is less than or equal to 1000000000000."]
