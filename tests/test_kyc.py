"""KYC: onboarding, maker-checker review, personal data encryption, identity reveal."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, connection, connections, transaction
from django.utils import timezone, translation

from core import crypto, names
from core import errors as err
from core.models import AuditEvent, Role, User
from kyc import services
from kyc.entries import IdentityReveal as IdentityRevealEntry
from kyc.idcard import check_character, validate_resident_id
from kyc.models import IdentityReveal, KycProfile
from kyc.questionnaire import QUESTIONS, score
from kyc.tasks import expire_due
from ledger.models import Entry, EntryKind
from tests.conftest import build_market
from tests.test_restriction_race import WAIT, start, stopped_in

VALID_ID = "11010519491231002X"  # the GB 11643 example number
# A whole one-pixel PNG: an upload's structure is checked, not only its first bytes.
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\x0bIDATx\xdac\xf8\x0f\x04\x00\t\xfb\x03\xfdh\xfa\x1c\xcc\x00\x00\x00\x00IEND\xaeB`\x82"
)
ANSWERS_C5 = {q["key"]: max(q["options"], key=lambda o: o[2])[0] for q in QUESTIONS}
ANSWERS_C1 = {q["key"]: min(q["options"], key=lambda o: o[2])[0] for q in QUESTIONS}


pytestmark = pytest.mark.usefixtures("kyc_folders")


def identity(**over) -> services.Identity:
    base = {
        "real_name": "张伟",
        "id_type": "resident_id",
        "id_number": VALID_ID,
        "phone": "13800138000",
        "address": "北京市朝阳区建国路 88 号",
    }
    return services.Identity(**{**base, **over})


@pytest.fixture
def staff_pair(market):
    other = market.user(Role.BROKER_STAFF, broker=market.broker)
    return market.staff, other


def complete_application(market, staff, *, answers=ANSWERS_C5) -> KycProfile:
    profile = services.kyc_register(
        username="zhangwei", password=None, broker=market.broker, identity=identity(), entered_by=staff
    )
    services.kyc_assess(actor=staff, profile_id=profile.pk, answers=answers)
    services.kyc_document_add(
        actor=staff, profile_id=profile.pk, kind="id_front", upload=SimpleUploadedFile("id.png", PNG)
    )
    return profile


def test_resident_id_checksum():
    assert validate_resident_id(VALID_ID) is None
    assert check_character(VALID_ID[:17]) == "X"
    assert "check digit" in validate_resident_id(VALID_ID[:17] + "1")
    assert validate_resident_id("110105194913310028")  # no 31st of the 13th month
    assert validate_resident_id("12345")


def test_a_resident_id_of_someone_born_today_in_china_is_plausible_while_utc_is_still_yesterday(monkeypatch):
    # given 07:30 on 2 March 2027 in Shanghai, 23:30 on 1 March UTC
    monkeypatch.setattr(timezone, "now", lambda: dt.datetime(2027, 3, 1, 23, 30, tzinfo=dt.UTC))

    def born(day: str) -> str:
        first17 = f"11010520270{day}002"
        return first17 + check_character(first17)

    # when numbers of someone born on 2 March and on 3 March are checked
    # then the first is plausible (born today there), the second is not (tomorrow)
    assert validate_resident_id(born("302")) is None
    assert validate_resident_id(born("303")) == "The date of birth in the ID number is not plausible."


def test_questionnaire_scores_to_levels():
    assert score(ANSWERS_C1) == (2, 1)
    assert score(ANSWERS_C5)[1] == 5
    with pytest.raises(ValueError):
        score({**ANSWERS_C1, "age": "bogus"})


def test_counter_opening_then_maker_checker_approval(market, staff_pair):
    maker, checker = staff_pair
    profile = complete_application(market, maker)
    services.kyc_submit(staff=maker, profile_id=profile.pk)

    with pytest.raises(services.MakerChecker):
        services.kyc_approve(staff=maker, profile_id=profile.pk)
    assert KycProfile.objects.get(pk=profile.pk).state == "submitted"

    approved = services.kyc_approve(staff=checker, profile_id=profile.pk)
    assert (approved.state, approved.reviewed_by_id, approved.risk_level) == ("approved", checker.pk, 5)
    actions = list(AuditEvent.objects.filter(action="kyc_approve").order_by("id").values_list("actor_id", "outcome"))
    assert actions == [(maker.pk, "refused"), (checker.pk, "ok")]
    # both under the investor's user name: the refused one is found beside the one done
    assert set(AuditEvent.objects.filter(action="kyc_approve").values_list("target", flat=True)) == {
        profile.user.username
    }


def test_one_id_number_under_two_names_is_refused_and_one_name_written_two_ways_is_not(market, staff_pair):
    # (found by a walk-through: 110105199003078019 was opened at the counter for 测试用户 and registered online for
    # 李四, and both were approved: the holder cap would count two people as one)
    maker, checker = staff_pair
    first = complete_application(market, maker)
    services.kyc_submit(staff=maker, profile_id=first.pk)
    services.kyc_approve(staff=checker, profile_id=first.pk)

    def second(name: str, username: str) -> KycProfile:
        profile = services.kyc_register(
            username=username, password=None, broker=market.broker, identity=identity(real_name=name), entered_by=maker
        )
        services.kyc_assess(actor=maker, profile_id=profile.pk, answers=ANSWERS_C5)
        services.kyc_document_add(
            actor=maker, profile_id=profile.pk, kind="id_front", upload=SimpleUploadedFile("id.png", PNG)
        )
        return profile

    # when the same ID number comes under another name, then it is refused at submission and nothing changes
    other = second("李四", "lisi")
    with pytest.raises(services.IdentityNameMismatch):
        services.kyc_submit(staff=maker, profile_id=other.pk)
    assert KycProfile.objects.get(pk=other.pk).state == "draft"
    # and when the same person's second account writes the name with its pinyin, it goes through
    same = second("张伟 Zhang Wei", "zhangwei2")
    services.kyc_submit(staff=maker, profile_id=same.pk)
    assert services.kyc_approve(staff=checker, profile_id=same.pk).state == "approved"
    # and an application submitted before another under a different name was approved is refused at approval
    late = second("王五", "wangwu")
    KycProfile.objects.filter(pk=late.pk).update(state="submitted", submitted_by=maker)
    with pytest.raises(services.IdentityNameMismatch):
        services.kyc_approve(staff=checker, profile_id=late.pk)
    assert KycProfile.objects.get(pk=late.pk).state == "submitted"


def test_an_expired_profile_renamed_to_another_persons_number_is_refused(market, staff_pair):
    # (found by a review: an expired profile stays on file, and its identity could be edited without the check)
    maker, checker = staff_pair
    first = complete_application(market, maker)
    services.kyc_submit(staff=maker, profile_id=first.pk)
    services.kyc_approve(staff=checker, profile_id=first.pk)
    other = services.kyc_register(
        username="lisi",
        password=None,
        broker=market.broker,
        identity=identity(real_name="李四", id_number="110105194912310011"),
        entered_by=maker,
    )
    KycProfile.objects.filter(pk=other.pk).update(state="expired")
    before = KycProfile.objects.values_list("identity", "name_index").get(pk=other.pk)
    # when staff give the expired profile the first person's number under another name, it is refused
    with pytest.raises(services.IdentityNameMismatch):
        services.kyc_update_identity(actor=maker, profile_id=other.pk, identity=identity(real_name="李四"))
    assert KycProfile.objects.values_list("identity", "name_index").get(pk=other.pk) == before


@pytest.mark.django_db(transaction=True)
def test_two_names_for_one_id_number_submitted_at_once_one_waits_for_the_other_and_is_refused():
    # (left open by the last review: two applications under different names submitted at the same moment would
    # each find the other not yet on file)
    market = build_market()
    maker = market.staff
    first = complete_application(market, maker)
    other = services.kyc_register(
        username="lisi", password=None, broker=market.broker, identity=identity(real_name="李四"), entered_by=maker
    )
    services.kyc_assess(actor=maker, profile_id=other.pk, answers=ANSWERS_C5)
    services.kyc_document_add(
        actor=maker, profile_id=other.pk, kind="id_front", upload=SimpleUploadedFile("id.png", PNG)
    )
    held, release = threading.Event(), threading.Event()

    def submit_and_hold():
        # the first submission has checked the number and not yet committed
        try:
            with transaction.atomic():
                services.kyc_submit(staff=maker, profile_id=first.pk)
                held.set()
                release.wait(10)
        finally:
            connections.close_all()

    def submit_other():
        try:
            services.kyc_submit(staff=maker, profile_id=other.pk)
            return "submitted"
        except err.DomainError as exc:
            return exc.code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=2) as pool:
        holding = pool.submit(submit_and_hold)
        assert held.wait(10)
        # when the second name comes for the same number meanwhile, it waits for the first
        second = pool.submit(submit_other)
        time.sleep(0.5)
        waited = not second.done()
        release.set()
        holding.result(10)
        # then, the first committed, it finds the number on file under another name and is refused
        assert (waited, second.result(10)) == (True, "identity_name_mismatch")
    states = dict(KycProfile.objects.filter(pk__in=[first.pk, other.pk]).values_list("pk", "state"))
    assert states == {first.pk: "submitted", other.pk: "draft"}


def test_the_database_itself_refuses_a_maker_as_checker(market, staff_pair):
    maker, _checker = staff_pair
    profile = complete_application(market, maker)
    services.kyc_submit(staff=maker, profile_id=profile.pk)
    with pytest.raises(IntegrityError), transaction.atomic():
        KycProfile.objects.filter(pk=profile.pk).update(state="approved", reviewed_by=maker)


def test_a_staff_member_who_edited_an_application_may_not_decide_it_though_another_edited_it_after(market, staff_pair):
    # given an application opened by A, whose identity B corrected, then A edited again and submitted (so that
    # the profile names A as its opener, last editor and submitter, and B nowhere)
    a, b = staff_pair
    c = market.user(Role.BROKER_STAFF, broker=market.broker)
    profile = complete_application(market, a)
    services.kyc_update_identity(actor=b, profile_id=profile.pk, identity=identity(address="上海市浦东新区1号"))
    services.kyc_assess(actor=a, profile_id=profile.pk, answers=ANSWERS_C5)
    services.kyc_submit(staff=a, profile_id=profile.pk)
    assert KycProfile.objects.get(pk=profile.pk).makers == [a.pk, b.pk]

    # when B approves it, or rejects it
    # then both are refused as the maker's, recorded as refused, and the application waits as it was
    for decide in (
        lambda: services.kyc_approve(staff=b, profile_id=profile.pk),
        lambda: services.kyc_reject(staff=b, profile_id=profile.pk, reason="Unclear photo"),
    ):
        with pytest.raises(services.MakerChecker):
            decide()
    after = KycProfile.objects.get(pk=profile.pk)
    assert (after.state, after.reviewed_by_id) == ("submitted", None)
    refused = AuditEvent.objects.filter(actor=b, outcome="refused").values_list("action", flat=True)
    assert sorted(refused) == ["kyc_approve", "kyc_reject"]
    # and the database itself refuses B as the checker
    with pytest.raises(IntegrityError), transaction.atomic():
        KycProfile.objects.filter(pk=profile.pk).update(state="approved", reviewed_by=b, reviewed_at=timezone.now())

    # and a third staff member, who made none of it, approves it
    services.kyc_approve(staff=c, profile_id=profile.pk)
    assert KycProfile.objects.get(pk=profile.pk).state == "approved"


def test_a_re_assessment_is_a_new_application_whose_makers_are_counted_afresh(market, staff_pair):
    # given an application B edited and C approved
    a, b = staff_pair
    c = market.user(Role.BROKER_STAFF, broker=market.broker)
    profile = complete_application(market, a)
    services.kyc_update_identity(actor=b, profile_id=profile.pk, identity=identity(address="上海市浦东新区1号"))
    services.kyc_submit(staff=a, profile_id=profile.pk)
    services.kyc_approve(staff=c, profile_id=profile.pk)

    # when A re-assesses the investor and submits it again
    services.kyc_assess(actor=a, profile_id=profile.pk, answers=ANSWERS_C5)
    services.kyc_submit(staff=a, profile_id=profile.pk)

    # then its makers are A alone (B's edit was checked by C), and B may approve it
    assert KycProfile.objects.get(pk=profile.pk).makers == [a.pk]
    services.kyc_approve(staff=b, profile_id=profile.pk)
    assert KycProfile.objects.get(pk=profile.pk).reviewed_by_id == b.pk

    # and when the assessment expires, C updates the identity and A submits, then C may not approve it
    KycProfile.objects.filter(pk=profile.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert services.kyc_expire_due() == 1
    assert KycProfile.objects.get(pk=profile.pk).makers == []
    services.kyc_update_identity(actor=c, profile_id=profile.pk, identity=identity(address="上海市黄浦区2号"))
    services.kyc_assess(actor=a, profile_id=profile.pk, answers=ANSWERS_C5)
    services.kyc_submit(staff=a, profile_id=profile.pk)
    assert KycProfile.objects.get(pk=profile.pk).makers == [c.pk, a.pk]
    with pytest.raises(services.MakerChecker):
        services.kyc_approve(staff=c, profile_id=profile.pk)
    services.kyc_approve(staff=b, profile_id=profile.pk)


def test_rejection_carries_a_reason_and_allows_a_fix(market, staff_pair):
    maker, checker = staff_pair
    profile = complete_application(market, maker)
    services.kyc_submit(staff=maker, profile_id=profile.pk)
    with pytest.raises(err.InvalidInput):
        services.kyc_reject(staff=checker, profile_id=profile.pk, reason=" ")
    # the maker may not reject either: deciding is the checker's (found by a walk-through: the submitter rejected)
    before = (KycProfile.objects.get(pk=profile.pk).state, AuditEvent.objects.filter(action="kyc_reject").count())
    with pytest.raises(services.MakerChecker):
        services.kyc_reject(staff=maker, profile_id=profile.pk, reason="I changed my mind.")
    assert KycProfile.objects.get(pk=profile.pk).state == before[0] == "submitted"
    refused = AuditEvent.objects.filter(action="kyc_reject")
    assert refused.count() == before[1] + 1 and refused.latest("id").outcome == "refused"
    rejected = services.kyc_reject(staff=checker, profile_id=profile.pk, reason="The ID photo is blurred.")
    assert (rejected.state, rejected.rejection_reason) == ("rejected", "The ID photo is blurred.")
    services.kyc_update_identity(actor=profile.user, profile_id=profile.pk, identity=identity(phone="13900139000"))
    services.kyc_submit(staff=checker, profile_id=profile.pk)
    with pytest.raises(services.MakerChecker):  # the maker entered it at the counter
        services.kyc_approve(staff=maker, profile_id=profile.pk)
    third = market.user(Role.BROKER_STAFF, broker=market.broker)
    assert services.kyc_approve(staff=third, profile_id=profile.pk).state == "approved"


def test_a_corrected_name_reaches_the_account_and_the_user(market, staff_pair):
    # given an application whose name was entered wrongly, and an unrelated account
    maker, _ = staff_pair
    profile = complete_application(market, maker)
    bystander = market.investor()
    bystander_name = bystander.name

    # when the investor corrects it
    services.kyc_update_identity(actor=profile.user, profile_id=profile.pk, identity=identity(real_name="张伟明"))

    # then the account carries the new name, encrypted in full and masked in the clear (the counter, statements
    # and registers show them), the user the masked one, and no other account changed
    profile.user.refresh_from_db()
    account = profile.user.account
    assert (account.name, profile.user.first_name, names.holder_name(account)) == ("张**", "张**", "张伟明")
    assert "张伟明".encode() not in bytes(account.holder_name_enc)
    bystander.refresh_from_db()
    assert bystander.name == bystander_name


def test_staff_of_another_broker_cannot_touch_the_application(market, staff_pair):
    from core.models import Broker

    maker, _ = staff_pair
    profile = complete_application(market, maker)
    other_broker = Broker.objects.create(code="B-OTHER", name="Other")
    outsider = market.user(Role.BROKER_STAFF, broker=other_broker)
    with pytest.raises(err.NotFound):
        services.kyc_submit(staff=outsider, profile_id=profile.pk)
    with pytest.raises(err.PermissionDenied):
        services.kyc_register(
            username="x1",
            password=None,
            broker=market.broker,
            identity=identity(id_number="110105194912310037"),
            entered_by=outsider,
        )


def _tables_holding(secret: str) -> list[str]:
    """Every table of the database with a row that holds ``secret`` in the clear, in a text column (any case)
    or in a binary one (as its UTF-8 bytes: a row as text shows them in hex)."""
    found = []
    with connection.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")
        for (table,) in cur.fetchall():
            cur.execute(
                f'SELECT count(*) FROM "{table}" t WHERE t::text ILIKE %s OR t::text LIKE %s',
                ["%" + secret + "%", "%" + secret.encode().hex() + "%"],
            )
            if cur.fetchone()[0]:
                found.append(table)
    return found


def test_personal_data_is_not_readable_in_the_database(market, staff_pair):
    # given an investor opened at the counter, whose name was corrected, approved by a second person
    maker, checker = staff_pair
    profile = complete_application(market, maker)
    services.kyc_update_identity(
        actor=maker, profile_id=profile.pk, identity=identity(real_name="欧阳娜娜 Ouyang Nana")
    )
    services.kyc_submit(staff=maker, profile_id=profile.pk)
    services.kyc_approve(staff=checker, profile_id=profile.pk)

    # when every table of the database is searched for the investor's identity
    secrets = ("欧阳娜娜", "Ouyang Nana", "张伟", VALID_ID, "13800138000", "建国路")
    found = {secret: _tables_holding(secret) for secret in secrets}

    # then no table holds any of it in the clear (DESIGN.md §7): not the profile, the account, the user, the
    # audit trail or the ledger; only the masks are there
    assert found == {secret: [] for secret in secrets}
    profile.refresh_from_db()
    account = profile.user.account
    assert (profile.real_name_masked, account.name, profile.user.first_name) == ("欧***", "欧***", "欧***")
    assert profile.id_number_masked == "110***********002X"
    assert profile.phone_masked == "138****8000"
    # and those who may read it still can
    assert profile.real_name == names.holder_name(account) == "欧阳娜娜 Ouyang Nana"


def test_the_database_refuses_an_investor_account_named_in_the_clear(market, staff_pair):
    # given an investor's account
    maker, _ = staff_pair
    account = complete_application(market, maker).user.account
    before = (account.name, bytes(account.holder_name_enc))

    # when something writes a real name into its plain name, or drops its encrypted one
    for change in ({"name": "张伟"}, {"holder_name_enc": None}, {"name": "张**伟"}):
        with pytest.raises(IntegrityError, match="account_investor_name_encrypted"), transaction.atomic():
            type(account).objects.filter(pk=account.pk).update(**change)

    # then the database refused it, and the account is as it was
    account.refresh_from_db()
    assert (account.name, bytes(account.holder_name_enc)) == before == ("张*", before[1])
    # and the same for the profile's plain copy of the name
    profile = account.owner.kyc
    with pytest.raises(IntegrityError, match="kyc_name_masked"), transaction.atomic():
        KycProfile.objects.filter(pk=profile.pk).update(real_name_masked="张伟")
    profile.refresh_from_db()
    assert profile.real_name_masked == "张*"


@pytest.mark.parametrize(
    ("field", "value"),
    [("id_number", "110105194912310021"), ("phone", "12ab"), ("address", "x"), ("real_name", " ")],
)
def test_bad_identity_is_refused_and_nothing_is_created(market, staff_pair, field, value):
    maker, _ = staff_pair
    with pytest.raises(err.InvalidInput):
        services.kyc_register(
            username="bad", password=None, broker=market.broker, identity=identity(**{field: value}), entered_by=maker
        )
    assert not KycProfile.objects.exists()


def test_documents_are_checked_by_content_and_size(market, staff_pair, settings):
    maker, _ = staff_pair
    profile = services.kyc_register(
        username="doc", password=None, broker=market.broker, identity=identity(), entered_by=maker
    )
    with pytest.raises(err.InvalidInput):
        services.kyc_document_add(
            actor=maker, profile_id=profile.pk, kind="id_front", upload=SimpleUploadedFile("x.png", b"<html>")
        )
    settings.KYC_DOCUMENT_MAX_BYTES = 10
    with pytest.raises(err.InvalidInput):
        services.kyc_document_add(
            actor=maker, profile_id=profile.pk, kind="id_front", upload=SimpleUploadedFile("x.png", PNG)
        )
    assert not profile.documents.exists()


def test_only_the_regulator_reveals_and_every_reveal_is_recorded(market, staff_pair):
    maker, _ = staff_pair
    profile = complete_application(market, maker)
    with pytest.raises(err.PermissionDenied):
        services.identity_reveal(regulator=maker, profile_id=profile.pk, reason="curious")
    regulator = market.user(Role.REGULATOR)
    with pytest.raises(err.InvalidInput):
        services.identity_reveal(regulator=regulator, profile_id=profile.pk, reason="")
    assert not IdentityReveal.objects.exists()

    shown = services.identity_reveal(regulator=regulator, profile_id=profile.pk, reason="Court order (2026) 京01 123")

    assert (shown["id_number"], shown["phone"]) == (VALID_ID, "13800138000")
    assert IdentityReveal.objects.get().regulator == regulator
    assert AuditEvent.objects.filter(action="identity_reveal", actor=regulator).count() == 1


def test_key_rotation_and_reencryption(market, staff_pair):
    maker, _ = staff_pair
    profile = complete_application(market, maker)
    old = crypto.ring().primary
    new = crypto.rotate()
    assert services.kyc_reencrypt() == services.Reencrypted(profiles=1, accounts=1, documents=1)
    profile.refresh_from_db()
    account = profile.user.account
    ring = crypto.ring()
    assert ring.key_of(profile.id_number_enc) == ring.key_of(profile.real_name_enc) == new != old
    assert ring.key_of(account.holder_name_enc) == new
    assert ring.decrypt(profile.phone_enc) == "13800138000"
    assert profile.real_name == names.holder_name(account) == "张伟"
    # and a second run has nothing left to rewrite
    assert services.kyc_reencrypt() == services.Reencrypted(profiles=0, accounts=0, documents=0)


@pytest.mark.django_db(transaction=True)
def test_one_user_name_in_two_cases_registered_at_once_opens_one_user():
    # (found by registering "Racer" and "racer" at once against a live server: each registration found the other's
    # name not yet taken, and both users were opened, where one after the other the second is refused)
    market = build_market()

    def register(username: str) -> KycProfile:
        return services.kyc_register(
            username=username, password=None, broker=market.broker, identity=identity(), entered_by=market.staff
        )

    # given "Racer" registering, its name checked and its user not yet saved
    with stopped_in(services, "_new_investor", thread="first") as stop:
        first = start("first", lambda: register("Racer"))
        assert stop.reached.wait(WAIT)

        # when "racer" registers meanwhile, and then "Racer" goes on
        second = register("racer")
        stop.go.set()
        refused = first.result()

    # then "racer" is the one user of that name; "Racer" is refused as a taken name, and opened nothing
    assert isinstance(refused, err.InvalidInput)
    assert set(refused.fields) == {"username"}
    assert list(User.objects.filter(username__iexact="racer").values_list("username", flat=True)) == ["racer"]
    assert list(KycProfile.objects.filter(user__username__iexact="racer").values_list("pk", flat=True)) == [second.pk]


def test_registration_names_every_bad_field_at_once(market, staff_pair):
    maker, _ = staff_pair
    User.objects.create_user(username="Taken", password="pw-test-2026")

    # (services give their messages in the active language; outside a request that is LANGUAGE_CODE, zh-hans)
    with translation.override("en"), pytest.raises(err.InvalidInput) as caught:
        services.kyc_register(
            username="taken",
            password="123",
            broker=market.broker,
            identity=identity(phone="12ab", id_number=VALID_ID[:17] + "1"),
        )

    assert set(caught.value.fields) == {"username", "password", "phone", "id_number"}
    assert caught.value.fields["username"] == "That user name is taken."
    with pytest.raises(err.InvalidInput) as caught:
        services.kyc_register(
            username="a b/c", password=None, broker=market.broker, identity=identity(), entered_by=maker
        )
    assert set(caught.value.fields) == {"username"}
    assert not KycProfile.objects.exists()


def test_a_document_opens_for_its_investor_their_brokers_staff_and_a_regulator_after_a_reveal(market, staff_pair):
    from core.models import Broker

    maker, _ = staff_pair
    profile = complete_application(market, maker)
    document = profile.documents.get()
    regulator, other_regulator = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    outsider = market.user(Role.BROKER_STAFF, broker=Broker.objects.create(code="B-OUT", name="Out"))

    for allowed in (profile.user, maker):
        opened, data = services.kyc_document_open(actor=allowed, document_id=document.pk)
        assert opened == document and data == PNG
    for refused in (outsider, market.user(Role.AUDITOR), market.user(Role.INVESTOR)):
        with pytest.raises(err.NotFound):
            services.kyc_document_open(actor=refused, document_id=document.pk)
    with pytest.raises(err.NotFound):
        services.kyc_document_open(actor=regulator, document_id=document.pk + 1000)

    # a scan shows the full identity: a regulator opens it only after revealing that identity with a reason
    with pytest.raises(services.RevealRequired):
        services.kyc_document_open(actor=regulator, document_id=document.pk)
    services.identity_reveal(regulator=regulator, profile_id=profile.pk, reason="Court order (2026)沪74执9号")
    opened, data = services.kyc_document_open(actor=regulator, document_id=document.pk)
    assert opened == document and data == PNG
    with pytest.raises(services.RevealRequired):  # one regulator's reveal is not another's
        services.kyc_document_open(actor=other_regulator, document_id=document.pk)
    later = timezone.now() + dt.timedelta(seconds=settings.KYC_REVEAL_DOCUMENT_SECONDS + 1)
    with mock.patch("django.utils.timezone.now", return_value=later), pytest.raises(services.RevealRequired):
        services.kyc_document_open(actor=regulator, document_id=document.pk)  # nor does it last

    views = list(AuditEvent.objects.filter(action="kyc_document_view").order_by("id"))
    assert [v.actor_id for v in views] == [maker.pk, regulator.pk]  # the investor's own look is not an event
    assert views[1].detail["reveal"] == IdentityReveal.objects.get().pk


def test_the_expiry_task_expires_lapsed_assessments_once(market, staff_pair):
    # given an approved investor whose assessment lapsed a second ago, and one still valid
    maker, checker = staff_pair
    lapsed = complete_application(market, maker)
    services.kyc_submit(staff=maker, profile_id=lapsed.pk)
    services.kyc_approve(staff=checker, profile_id=lapsed.pk)
    KycProfile.objects.filter(pk=lapsed.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    valid = market.investor()

    # when the periodic task runs twice
    first, second = expire_due(), expire_due()

    # then the lapsed profile is expired and recorded once; the valid one is untouched
    assert (first, second) == (1, 0)
    assert KycProfile.objects.get(pk=lapsed.pk).state == "expired"
    assert KycProfile.objects.get(user=valid.owner).state == "approved"
    assert AuditEvent.objects.filter(action="kyc_expire", target="zhangwei").count() == 1
    assert "kyc.tasks.expire_due" in {e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()}


def test_the_rotate_command_makes_a_new_primary_key_and_rewrites_every_record(market, staff_pair, monkeypatch):
    from io import StringIO

    from django.core.management import CommandError, call_command

    # given an application encrypted with the current key
    maker, _ = staff_pair
    profile = complete_application(market, maker)
    old = crypto.ring().primary
    before = (profile.id_number_enc, profile.identity)

    # when the operator rotates
    out = StringIO()
    call_command("kyc_rotate_key", stdout=out)

    # then a new key is primary, the record is re-encrypted with it, and still reads and indexes the same
    profile.refresh_from_db()
    ring = crypto.ring()
    assert ring.primary != old and ring.key_of(profile.id_number_enc) == ring.primary
    assert profile.id_number_enc != before[0] and profile.identity == before[1]
    assert ring.decrypt(profile.phone_enc) == "13800138000"
    assert f"1 KYC records, 1 account names and 1 ID documents re-encrypted with key {ring.primary}" in out.getvalue()
    # and a second re-encryption has nothing left to do
    out = StringIO()
    call_command("kyc_rotate_key", "--reencrypt-only", stdout=out)
    assert "0 KYC records, 0 account names and 0 ID documents re-encrypted" in out.getvalue()
    # and with keys from the environment the command refuses to make one, changing nothing
    monkeypatch.setenv("KYC_DATA_KEYS", "k:" + "A" * 44)
    with pytest.raises(CommandError):
        call_command("kyc_rotate_key", stdout=StringIO())
    monkeypatch.delenv("KYC_DATA_KEYS")
    assert crypto.ring().primary == ring.primary


def test_a_reveal_is_a_ledger_entry_without_personal_data(market, staff_pair):
    # given an applicant, and a reveal refused for want of a reason
    maker, _ = staff_pair
    profile = complete_application(market, maker)
    regulator = market.user(Role.REGULATOR)
    before = Entry.objects.count()
    with pytest.raises(err.InvalidInput):
        services.identity_reveal(regulator=regulator, profile_id=profile.pk, reason=" ")
    assert Entry.objects.count() == before

    # when the regulator reveals the identity with a reason
    shown = services.identity_reveal(regulator=regulator, profile_id=profile.pk, reason=" Court order 17/2026 ")

    # then one IDENTITY_REVEAL entry says who, which account, why and when, and the audit record names it
    entry = Entry.objects.get(kind=EntryKind.IDENTITY_REVEAL)
    assert Entry.objects.count() == before + 1
    payload = IdentityRevealEntry.read(json.loads(bytes(entry.canonical))["payload"])
    reveal = IdentityReveal.objects.get()
    assert (payload.revealed_by, payload.account, payload.reason, payload.at) == (
        regulator.username,
        shown["account"],
        "Court order 17/2026",
        reveal.at,
    )
    event = AuditEvent.objects.get(action="identity_reveal")
    assert (event.detail["entry"], event.detail["account"]) == (entry.pk, shown["account"])
    # and nothing personal: no name, ID number, phone or address, nor the investor's user name
    canonical = bytes(entry.canonical).decode()
    for secret in (shown["real_name"], shown["id_number"], shown["phone"], shown["address"], profile.user.username):
        assert secret not in canonical


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("+86 138-0013-8000", "+8613800138000"),
        ("(010) 6512.3456", "01065123456"),
        ("138 0013 8000", "13800138000"),
        ("0086 138 0013 8000", "+8613800138000"),  # the international call prefix
    ],
)
def test_a_phone_number_written_with_spaces_dashes_or_brackets_is_its_digits(market, staff_pair, typed, stored):
    # Given a phone number as people write it; when the account is opened with it
    maker, _ = staff_pair
    profile = services.kyc_register(
        username="phone", password=None, broker=market.broker, identity=identity(phone=typed), entered_by=maker
    )
    # Then what is kept is the number's digits (and its +)
    assert crypto.ring().decrypt(profile.phone_enc) == stored
