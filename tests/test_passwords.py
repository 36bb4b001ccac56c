"""Passwords (security issue 9, item 5).

Eight spaces were accepted as a password, and so was ``83749261``. Django's
validators (at least 10 characters, not all digits, not common, not like the
user's name) and ours (``core.passwords.BlankPasswordValidator``: not only
whitespace) run wherever a password is set: online registration on the page
and the API, the counter's initial password, and Django's password forms.
A refused password is a form error or a 400 field error, and creates nothing.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.forms import PasswordChangeForm, SetPasswordForm
from django.contrib.auth.password_validation import password_validators_help_texts, validate_password
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.utils import translation

from core import errors as err
from core.models import User
from core.passwords import BlankPasswordValidator
from kyc import services
from tests.conftest import api_for, snapshot

VALID_ID = "11010519491231002X"  # the GB 11643 example number
GOOD_PASSWORD = "Kyc-pass-2026!"

pytestmark = pytest.mark.usefixtures("kyc_folders")


def identity() -> services.Identity:
    return services.Identity(
        real_name="张伟",
        id_type="resident_id",
        id_number=VALID_ID,
        phone="13800138000",
        address="北京市朝阳区建国路 88 号",
    )


def codes_of(password: str, user: User | None = None) -> set[str]:
    """The codes of every validator that refuses the password (empty when it is accepted)."""
    try:
        validate_password(password, user)
    except ValidationError as exc:
        return {e.code for e in exc.error_list}
    return set()


def accounts_snapshot() -> dict:
    """The business tables, the KYC profiles, the accounts and the users with their password hashes."""
    out = snapshot()
    with connection.cursor() as cur:
        for table in ("kyc_kycprofile", "exchange_account"):
            cur.execute(f"SELECT * FROM {table} ORDER BY 1")
            out[table] = cur.fetchall()
    out["users"] = list(User.objects.order_by("pk").values_list("pk", "username", "password"))
    return out


# --------------------------------------------------------------------------
# The validators


@pytest.mark.parametrize(
    ("password", "codes"),
    [
        (" " * 8, {"password_too_short", "password_entirely_blank"}),
        (" " * 12, {"password_entirely_blank"}),
        ("\t \u3000\u00a0" * 3, {"password_entirely_blank"}),  # tab, ideographic and no-break spaces
        ("\u200b" * 12, {"password_entirely_blank"}),  # zero-width spaces show nothing either
        ("83749261", {"password_too_short", "password_entirely_numeric"}),
        ("8374926150", {"password_entirely_numeric"}),
        ("８３７４９２６１５０", {"password_entirely_numeric"}),  # fullwidth digits
        ("٨٣٧٤٩٢٦١٥٠", {"password_entirely_numeric"}),  # Arabic-Indic digits
        ("Kx-9-pass", {"password_too_short"}),
        ("password1234", {"password_too_common"}),
    ],
)
def test_weak_passwords_are_refused_by_every_validator_that_applies(password, codes):
    assert codes_of(password) == codes


@pytest.mark.parametrize("password", ["demo-pass-2026", "pw-test-2026", GOOD_PASSWORD, "  spaced pass phrase  "])
def test_the_demo_and_test_passwords_and_spaced_phrases_stay_valid(password):
    assert codes_of(password) == set()
    assert codes_of(password, User(username="investor12", first_name="Investor 12")) == set()


def test_a_password_like_the_user_name_is_refused():
    assert codes_of("zhangwei2026", User(username="zhangwei2026")) == {"password_too_similar"}


def test_the_blank_validator_speaks_django_s_interface():
    validator = BlankPasswordValidator()
    validator.validate("not blank at all")
    with translation.override("en"), pytest.raises(ValidationError) as caught:
        validator.validate(" " * 10, user=None)

    assert [(e.code, e.message) for e in caught.value.error_list] == [
        ("password_entirely_blank", "This password is only spaces.")
    ]
    with translation.override("en"):
        assert "Your password must contain more than spaces." in password_validators_help_texts()
        assert any("at least 10 characters" in text for text in password_validators_help_texts())


# --------------------------------------------------------------------------
# Registration through the service, the API and the page, and at the counter


@pytest.mark.parametrize("password", [" " * 8, " " * 10, "83749261", "8374926150", "Kx-9-pass"])
def test_online_registration_refuses_a_weak_password_and_creates_nothing(market, password):
    before = accounts_snapshot()

    with pytest.raises(err.InvalidInput) as caught:
        services.kyc_register(username="zhangwei", password=password, broker=market.broker, identity=identity())

    assert set(caught.value.fields) == {"password"}
    assert accounts_snapshot() == before


def test_the_registration_error_names_each_rule_broken_in_the_user_s_language(market):
    with translation.override("en"), pytest.raises(err.InvalidInput) as caught:
        services.kyc_register(username="zhangwei", password=" " * 8, broker=market.broker, identity=identity())

    message = caught.value.fields["password"]
    assert "This password is too short. It must contain at least 10 characters." in message
    assert "This password is only spaces." in message

    # and in Chinese every rule is in Chinese (Django's own catalog missed the length rule's message)
    with translation.override("zh-hans"), pytest.raises(err.InvalidInput) as caught:
        services.kyc_register(username="zhangwei", password=" " * 8, broker=market.broker, identity=identity())
    message = caught.value.fields["password"]
    assert "10 个字符" in message and "This password" not in message


@pytest.mark.parametrize("password", [" " * 8, "83749261", " " * 10])
def test_api_registration_with_a_weak_password_is_a_400_field_error(market, api, password):
    body = {
        "broker": market.broker.code,
        "username": "zhangwei",
        "password": password,
        "real_name": "张伟",
        "id_type": "resident_id",
        "id_number": VALID_ID,
        "phone": "13800138000",
        "address": "北京市朝阳区建国路 88 号",
    }
    before = accounts_snapshot()

    resp = api.post("/api/v1/kyc/register/", body, format="json")

    assert resp.status_code == 400, resp.content
    assert resp.json()["code"] == "invalid_input"
    assert list(resp.json()["fields"]) == ["password"]
    assert accounts_snapshot() == before


@pytest.mark.parametrize("password", [" " * 8, "83749261", " " * 10])
def test_the_registration_page_shows_a_weak_password_as_a_form_error(market, password):
    data = {
        "broker": str(market.broker.pk),
        "username": "zhangwei",
        "password": password,
        "password2": password,
        "real_name": "张伟",
        "id_type": "resident_id",
        "id_number": VALID_ID,
        "phone": "13800138000",
        "address": "北京市朝阳区建国路 88 号",
    }
    before = accounts_snapshot()

    response = Client().post("/kyc/register/", data)

    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["password"]
    assert accounts_snapshot() == before


def test_a_good_password_still_registers(market, api):
    body = {
        "broker": market.broker.code,
        "username": "zhangwei",
        "password": GOOD_PASSWORD,
        "real_name": "张伟",
        "id_type": "resident_id",
        "id_number": VALID_ID,
        "phone": "13800138000",
        "address": "北京市朝阳区建国路 88 号",
    }

    resp = api.post("/api/v1/kyc/register/", body, format="json")

    assert resp.status_code == 201, resp.content
    assert User.objects.get(username="zhangwei").check_password(GOOD_PASSWORD)


def test_the_counter_refuses_a_blank_initial_password_and_opens_nothing(market):
    body = {
        "username": "newclient",
        "password": " " * 10,
        "real_name": "赵六",
        "id_type": "resident_id",
        "id_number": VALID_ID,
        "phone": "13700137000",
        "address": "广州市天河区体育西路 1 号",
    }
    before = accounts_snapshot()

    resp = api_for(market.staff).post("/api/v1/counter/clients/", body, format="json")

    assert resp.status_code == 400, resp.content
    assert resp.json()["code"] == "invalid_input" and list(resp.json()["fields"]) == ["password"]
    assert accounts_snapshot() == before


# --------------------------------------------------------------------------
# Changing a password (Django's forms, as the admin and `changepassword` use the same validators)


@pytest.mark.parametrize("password", [" " * 8, " " * 10, "83749261", "8374926150"])
def test_a_password_change_to_a_weak_password_is_refused_and_the_old_one_kept(market, password):
    user = market.user()
    before = User.objects.get(pk=user.pk).password

    change = PasswordChangeForm(
        user, {"old_password": "pw-test-2026", "new_password1": password, "new_password2": password}
    )
    reset = SetPasswordForm(user, {"new_password1": password, "new_password2": password})

    assert not change.is_valid() and list(change.errors) == ["new_password2"]
    assert not reset.is_valid() and list(reset.errors) == ["new_password2"]
    assert User.objects.get(pk=user.pk).password == before
