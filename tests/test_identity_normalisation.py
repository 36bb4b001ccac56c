"""One identity, one index (security issue 9, item 4).

A resident ID number typed with fullwidth digits used to register as a second
identity with its own blind index, so the holder cap and identity linking saw
two people. Every identifier (the ID number of every ID type, the phone
number) is now NFKC-normalized before it is validated, encrypted and indexed;
what is not plain ASCII after that is refused with a field error. Arabic-Indic
digits are not changed by NFKC (and ``str.isdigit`` is True for them), so they
are refused, never stored.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import translation

from core import crypto
from core import errors as err
from core.models import User
from counter.selectors import clients_of
from kyc import services
from kyc.idcard import validate_resident_id
from kyc.models import KycProfile
from tests.conftest import snapshot

VALID_ID = "11010519491231002X"  # the GB 11643 example number
FULLWIDTH_ID = "１１０１０５１９４９１２３１００２Ｘ"
FULLWIDTH_LOWER_X_ID = "１１０１０５１９４９１２３１００２ｘ"
MIXED_ID = "110105１９４９1231００2x"  # ASCII and fullwidth digits, a lower-case x
SPACED_ID = "110105\u30001949 1231\u3000002X"  # ideographic spaces, as a Chinese IME types them
ARABIC_INDIC_ID = "١١٠١٠٥١٩٤٩١٢٣١٠٠٢X"  # U+0660..U+0669: NFKC leaves them as they are
MIXED_ARABIC_ID = "110105194912310٠٢X"  # one Arabic-Indic zero among ASCII digits
PERSIAN_ID = "۱۱۰۱۰۵۱۹۴۹۱۲۳۱۰۰۲X"  # extended Arabic-Indic digits, U+06F0..U+06F9
DEVANAGARI_ID = "११०१०५१९४९१२३१००२X"

PHONE = "13800138000"
FULLWIDTH_PHONE = "１３８００１３８０００"
INTERNATIONAL_PHONE = "+8613800138000"
FULLWIDTH_INTERNATIONAL_PHONE = "＋８６ １３８ ００１３ ８０００"

ID_NUMBER_NOT_ASCII = "Write the ID number with the digits 0-9 and the letters A-Z only."
PHONE_NOT_ASCII = "Write the phone number with the digits 0-9 only (and + in front)."

pytestmark = pytest.mark.usefixtures("kyc_folders")


def identity(**over) -> services.Identity:
    base = {
        "real_name": "张伟",
        "id_type": "resident_id",
        "id_number": VALID_ID,
        "phone": PHONE,
        "address": "北京市朝阳区建国路 88 号",
    }
    return services.Identity(**{**base, **over})


def register(market, username: str, **over) -> KycProfile:
    return services.kyc_register(
        username=username, password=None, broker=market.broker, identity=identity(**over), entered_by=market.staff
    )


def kyc_snapshot() -> dict:
    """The business tables, the KYC profiles and the users: a refused registration leaves them as they were."""
    out = snapshot()
    with connection.cursor() as cur:
        for table in ("kyc_kycprofile", "exchange_account"):
            cur.execute(f"SELECT * FROM {table} ORDER BY 1")
            out[table] = cur.fetchall()
    out["users"] = list(User.objects.order_by("pk").values_list("pk", "username"))
    return out


def stored(profile: KycProfile) -> tuple[str, str, str, str, str]:
    """What the database holds for a profile: the decrypted ID number and phone, the masks and the index."""
    profile.refresh_from_db()
    ring = crypto.ring()
    return (
        ring.decrypt(profile.id_number_enc),
        ring.decrypt(profile.phone_enc),
        profile.id_number_masked,
        profile.phone_masked,
        profile.identity,
    )


# --------------------------------------------------------------------------
# The normalization itself


@pytest.mark.parametrize(
    ("typed", "normalized"),
    [
        (VALID_ID, VALID_ID),
        (FULLWIDTH_ID, VALID_ID),
        (FULLWIDTH_LOWER_X_ID, VALID_ID),
        (MIXED_ID, VALID_ID),
        (SPACED_ID, VALID_ID),
        (FULLWIDTH_PHONE, PHONE),
        (FULLWIDTH_INTERNATIONAL_PHONE, INTERNATIONAL_PHONE),
        ("ｅ１２３４５６７８", "E12345678"),
    ],
)
def test_fullwidth_and_spaced_identifiers_normalize_to_the_ascii_form_and_its_index(typed, normalized):
    ring = crypto.ring()

    assert crypto.normalize_identifier(typed) == normalized
    assert ring.index(typed) == ring.index(normalized)


@pytest.mark.parametrize("typed", [ARABIC_INDIC_ID, MIXED_ARABIC_ID, PERSIAN_ID, DEVANAGARI_ID, "1101\u200b05"])
def test_digits_nfkc_does_not_fold_stay_non_ascii_and_are_no_valid_resident_id(typed):
    assert not crypto.normalize_identifier(typed).isascii()
    assert validate_resident_id(typed) == "A resident ID number has 17 digits and a check digit (0-9 or X)."


def test_the_resident_id_check_itself_takes_ascii_digits_only():
    # int() and str.isdigit() accept fullwidth digits: the checksum alone would pass this one.
    assert validate_resident_id(VALID_ID) is None
    assert validate_resident_id(FULLWIDTH_ID) == "A resident ID number has 17 digits and a check digit (0-9 or X)."


def test_upper_casing_never_turns_a_non_ascii_value_into_an_accepted_one():
    # "ß".upper() is "SS": a value must be ASCII before it is upper-cased, or it stays as typed (and is refused).
    assert crypto.normalize_identifier("E1234ß") == "E1234ß"
    assert crypto.normalize_identifier("e1234ss") == "E1234SS"


# --------------------------------------------------------------------------
# Registration through the service


@pytest.mark.parametrize("typed", [FULLWIDTH_ID, FULLWIDTH_LOWER_X_ID, MIXED_ID, SPACED_ID])
def test_a_fullwidth_or_mixed_id_number_is_stored_and_indexed_as_the_ascii_one(market, typed):
    # given an investor registered with the ASCII ID number and phone
    first = register(market, "ascii", id_number=VALID_ID, phone=PHONE)

    # when the same person registers again, the numbers typed in fullwidth (or mixed) digits
    second = register(market, "fullwidth", id_number=typed, phone=FULLWIDTH_PHONE)

    # then both hold exactly the same stored values and one identity (blind index) for the holder cap
    assert stored(second) == stored(first)
    assert stored(second) == (VALID_ID, PHONE, "110***********002X", "138****8000", crypto.ring().index(VALID_ID))
    assert KycProfile.objects.filter(identity=first.identity).count() == 2


def test_an_identity_corrected_in_fullwidth_digits_keeps_its_index(market):
    # given a profile registered in ASCII
    profile = register(market, "ascii", id_number=VALID_ID, phone=PHONE)
    index = profile.identity

    # when the identity is re-entered in fullwidth digits
    services.kyc_update_identity(
        actor=market.staff,
        profile_id=profile.pk,
        identity=identity(id_number=FULLWIDTH_ID, phone=FULLWIDTH_INTERNATIONAL_PHONE),
    )

    # then the ID number and its index are unchanged, and the phone is stored in ASCII
    assert stored(profile) == (VALID_ID, INTERNATIONAL_PHONE, "110***********002X", "+86****8000", index)


def test_a_passport_number_in_fullwidth_letters_and_digits_is_stored_in_ascii(market):
    ascii_profile = register(market, "ascii", id_type="passport", id_number="E12345678")
    fullwidth_profile = register(market, "fullwidth", id_type="passport", id_number="ｅ１２３４５６７８")

    assert stored(fullwidth_profile)[0] == "E12345678"
    assert fullwidth_profile.identity == ascii_profile.identity


@pytest.mark.parametrize(
    "typed", [ARABIC_INDIC_ID, MIXED_ARABIC_ID, PERSIAN_ID, DEVANAGARI_ID, "1101\u200b0519491231002X"]
)
def test_an_id_number_not_ascii_after_nfkc_is_refused_and_nothing_is_created(market, typed):
    before = kyc_snapshot()

    with translation.override("en"), pytest.raises(err.InvalidInput) as caught:
        register(market, "arabic", id_number=typed)

    assert caught.value.fields == {"id_number": ID_NUMBER_NOT_ASCII}
    assert kyc_snapshot() == before


@pytest.mark.parametrize(
    ("id_type", "typed"),
    [
        ("passport", "E١٢٣٤٥٦٧٨"),  # Arabic-Indic digits after a Latin letter
        ("passport", "护照12345678"),  # str.isalnum() is True for these too
        ("hk_macao_permit", "Ｃ١٢٣٤٥٦٧٨"),
    ],
)
def test_other_id_types_refuse_non_ascii_numbers_too(market, id_type, typed):
    assert id_type in KycProfile.IdType.values
    before = kyc_snapshot()

    with translation.override("en"), pytest.raises(err.InvalidInput) as caught:
        register(market, "other", id_type=id_type, id_number=typed)

    assert caught.value.fields == {"id_number": ID_NUMBER_NOT_ASCII}
    assert kyc_snapshot() == before


@pytest.mark.parametrize("typed", ["١٣٨٠٠١٣٨٠٠٠", "138001٣٨٠٠٠", "+٨٦13800138000", "१३८००१३८०००"])
def test_a_phone_number_not_ascii_after_nfkc_is_refused_and_nothing_is_created(market, typed):
    before = kyc_snapshot()

    with translation.override("en"), pytest.raises(err.InvalidInput) as caught:
        register(market, "arabic", phone=typed)

    assert caught.value.fields == {"phone": PHONE_NOT_ASCII}
    assert kyc_snapshot() == before


@pytest.mark.parametrize(
    "typed",
    # the last two: a date ("00" is the international prefix, and no country code starts with 0)
    ["++8613800138000", "8613800138000+", "123456", "1" * 16, "+0123456789", "0001-01-01"],
)
def test_a_phone_number_is_an_optional_plus_and_7_to_15_ascii_digits(market, typed):
    before = kyc_snapshot()

    with translation.override("en"), pytest.raises(err.InvalidInput) as caught:
        register(market, "phone", phone=typed)

    assert caught.value.fields == {"phone": "Enter a phone number of 7 to 15 digits."}
    assert kyc_snapshot() == before


def test_a_refused_identifier_leaves_an_existing_profile_as_it_was(market):
    profile = register(market, "ascii")
    before = stored(profile)

    with pytest.raises(err.InvalidInput):
        services.kyc_update_identity(
            actor=market.staff, profile_id=profile.pk, identity=identity(id_number=ARABIC_INDIC_ID)
        )

    assert stored(profile) == before


# --------------------------------------------------------------------------
# Through the API and the counter's search


def test_api_registration_in_fullwidth_digits_gets_the_ascii_identity(market, api):
    first = register(market, "ascii")
    body = {
        "broker": market.broker.code,
        "username": "online",
        "password": "Kyc-pass-2026!",
        "real_name": "张伟",
        "id_type": "resident_id",
        "id_number": FULLWIDTH_ID,
        "phone": FULLWIDTH_PHONE,
        "address": "北京市朝阳区建国路 88 号",
    }

    resp = api.post("/api/v1/kyc/register/", body, format="json")

    assert resp.status_code == 201, resp.content
    assert (resp.json()["profile"]["id_number"], resp.json()["profile"]["phone"]) == (
        "110***********002X",
        "138****8000",
    )
    assert KycProfile.objects.get(user__username="online").identity == first.identity


def test_api_registration_in_arabic_indic_digits_is_a_400_field_error(market, api):
    body = {
        "broker": market.broker.code,
        "username": "online",
        "password": "Kyc-pass-2026!",
        "real_name": "张伟",
        "id_type": "resident_id",
        "id_number": ARABIC_INDIC_ID,
        "phone": "١٣٨٠٠١٣٨٠٠٠",
        "address": "北京市朝阳区建国路 88 号",
    }
    before = kyc_snapshot()

    resp = api.post("/api/v1/kyc/register/", body, format="json", HTTP_ACCEPT_LANGUAGE="en")

    assert resp.status_code == 400, resp.content
    assert resp.json()["code"] == "invalid_input"
    assert resp.json()["fields"] == {"id_number": [ID_NUMBER_NOT_ASCII], "phone": [PHONE_NOT_ASCII]}
    assert kyc_snapshot() == before


def test_staff_find_a_client_by_the_id_number_typed_in_fullwidth(market):
    profile = register(market, "ascii")

    found = list(clients_of(market.staff, query=FULLWIDTH_ID))

    assert [account.owner_id for account in found] == [profile.user_id]


def _store_raw(profile: KycProfile, *, id_number: str, phone: str) -> None:
    """What a registration before normalization stored: the values as typed, indexed as typed."""
    ring = crypto.ring()
    KycProfile.objects.filter(pk=profile.pk).update(
        id_number_enc=ring.encrypt(id_number),
        phone_enc=ring.encrypt(phone),
        identity=ring.index("".join(id_number.split()) + "-as-typed"),
    )


def test_identities_stored_before_normalization_get_their_one_form(market):
    # given one person registered twice, the second time (before normalization) with fullwidth digits,
    # and a third profile whose stored number has Arabic-Indic digits
    first = register(market, "norm-first")
    second = register(market, "norm-second")
    _store_raw(second, id_number=FULLWIDTH_ID, phone=FULLWIDTH_PHONE)
    third = register(market, "norm-third")
    _store_raw(third, id_number=ARABIC_INDIC_ID, phone=PHONE)
    before_third = KycProfile.objects.values().get(pk=third.pk)
    assert KycProfile.objects.get(pk=second.pk).identity != first.identity

    # when the identifiers are normalized
    result = services.kyc_identifiers_normalize()

    # then the second profile has the first's stored values and blind index, the third is listed for review
    # and untouched, and the first did not change
    ring = crypto.ring()
    again = KycProfile.objects.get(pk=second.pk)
    assert (result.rewritten, result.refused) == ([second.pk], [third.pk])
    assert again.identity == first.identity
    assert (ring.decrypt(again.id_number_enc), ring.decrypt(again.phone_enc)) == (VALID_ID, PHONE)
    assert KycProfile.objects.values().get(pk=third.pk) == before_third
    assert KycProfile.objects.get(pk=first.pk).identity == first.identity

    # and a second run changes nothing
    assert services.kyc_identifiers_normalize() == services.NormalizeResult(rewritten=[], refused=[third.pk])
