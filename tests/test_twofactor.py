"""The staff's second factor and the login lockout (core.twofactor, core.middleware.staff_second_factor).

Every staff login here goes through the real second step: the code is computed from the device's key by
django-otp's RFC 6238 implementation (tests.conftest.totp_code) and typed into the code page or sent as
``otp`` to ``auth/token/``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from core.models import ApiToken, AuditEvent, Role
from core.roles import STAFF_ROLES
from tests.conftest import totp_code, totp_enrol

PASSWORD = "pw-test-2026"
STAFF_PAGES = ["/counter/", "/settlement/", "/ledger/", "/kyc/applications/", "/"]
STAFF_OF_EVERY_KIND = sorted(STAFF_ROLES)


def password_login(client: Client, username: str, password: str = PASSWORD, **extra):
    return client.post("/login/", {"username": username, "password": password}, **extra)


def staff_user(market, role: str = Role.BROKER_STAFF):
    return market.staff if role == Role.BROKER_STAFF else market.user(role)


def token_post(api: APIClient, body: dict, **extra):
    return api.post("/api/v1/auth/token/", body, format="json", **extra)


@pytest.mark.parametrize("role", STAFF_OF_EVERY_KIND)
def test_a_staff_password_alone_reaches_no_staff_page(market, role):
    # given a staff member with an authenticator who passed only the password
    user = staff_user(market, role)
    totp_enrol(user)
    client = Client()
    assert password_login(client, user.username).status_code == 302

    # when they open each staff page
    for path in STAFF_PAGES:
        response = client.get(path)

        # then every one sends them to the code page, nothing else
        assert response.status_code == 302, path
        assert response["Location"].startswith("/otp/?next="), path
    # and the session reaches nothing on the API either
    assert client.get("/api/v1/counter/clients/").status_code in (401, 403)
    assert client.get("/api/v1/account/").status_code in (401, 403)


def test_a_staff_login_through_the_code_page_reaches_the_staff_pages(market):
    # given broker staff with an authenticator, signed in with the password
    device = totp_enrol(market.staff)
    client = Client()
    response = password_login(client, market.staff.username)
    assert response.status_code == 302
    response = client.get("/counter/")
    assert response["Location"] == "/otp/?next=%2Fcounter%2F"
    page = client.get(response["Location"])
    assert "6" in page.content.decode() and 'name="code"' in page.content.decode()

    # when they type the current code
    response = client.post("/otp/", {"code": totp_code(device), "next": "/counter/"})

    # then they land where they were going, and the staff pages open
    assert response.status_code == 302 and response["Location"] == "/counter/"
    assert client.get("/counter/").status_code == 200
    assert client.get("/kyc/applications/").status_code == 200
    assert AuditEvent.objects.filter(actor=market.staff, action="otp_verified").count() == 1


def test_a_wrong_code_is_refused_and_verifies_nothing(market):
    # given
    device = totp_enrol(market.staff)
    client = Client()
    password_login(client, market.staff.username)
    right = totp_code(device)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"

    # when
    response = client.post("/otp/", {"code": wrong, "next": "/counter/"})

    # then the page is shown again with the error, and the staff pages stay closed
    assert response.status_code == 200
    assert "code" in response.context["form"].errors
    assert client.get("/counter/").status_code == 302
    assert AuditEvent.objects.filter(action="login", outcome="failed", actor_username=market.staff.username).exists()


def test_a_recovery_code_works_once(market):
    # given staff enrolled through the enrolment page, holding their recovery codes
    client = Client()
    password_login(client, market.staff.username)
    assert client.get("/otp/")["Location"] == "/otp/enrol/"
    client.get("/otp/enrol/")
    device = TOTPDevice.objects.get(user=market.staff, confirmed=False)
    codes = client.post("/otp/enrol/", {"code": totp_code(device)}).context["codes"]
    assert len(codes) == 10

    # when a new session uses one recovery code
    second = Client()
    password_login(second, market.staff.username)
    response = second.post("/otp/", {"code": codes[0], "next": "/counter/"})

    # then it passes, once
    assert response["Location"] == "/counter/"
    assert second.get("/counter/").status_code == 200
    assert not StaticToken.objects.filter(token=codes[0]).exists()
    assert StaticToken.objects.filter(device__user=market.staff).count() == 9
    third = Client()
    password_login(third, market.staff.username)
    assert third.post("/otp/", {"code": codes[0], "next": "/counter/"}).status_code == 200
    assert third.get("/counter/").status_code == 302
    assert AuditEvent.objects.filter(actor=market.staff, action="otp_recovery_code").count() == 1


def test_first_login_enrols_by_qr_code_and_a_first_code(market):
    # given staff without any authenticator, signed in with the password
    user = market.user(Role.REGULATOR)
    client = Client()
    password_login(client, user.username)

    # when they follow the code page
    response = client.get("/otp/?next=/ledger/")
    assert response["Location"] == "/otp/enrol/"
    page = client.get("/otp/enrol/")

    # then the enrolment page shows a QR code (an SVG data: URI, no script) and the secret
    html = page.content.decode()
    assert 'src="data:image/svg+xml;base64,' in html
    assert "<script>" not in html
    device = TOTPDevice.objects.get(user=user)
    assert not device.confirmed
    assert page.context["secret"].replace(" ", "") in device.config_url
    # and the staff pages stay closed until a code confirms the device
    assert client.get("/ledger/").status_code == 302
    assert client.post("/otp/enrol/", {"code": "000000"}).status_code == 200
    device.refresh_from_db()
    assert not device.confirmed

    # when they confirm with the app's code
    done = client.post("/otp/enrol/", {"code": totp_code(device)})

    # then the device is confirmed, the recovery codes shown once, and the session verified
    device.refresh_from_db()
    assert device.confirmed
    assert len(done.context["codes"]) == 10
    assert done.context["next"] == "/ledger/"
    assert client.get("/ledger/").status_code == 200
    assert AuditEvent.objects.filter(actor=user, action="otp_enrolled").count() == 1


def test_a_staff_token_needs_the_code(api, market):
    # given depository staff with an authenticator
    user = market.depository
    device = totp_enrol(user)
    body = {"username": user.username, "password": PASSWORD}

    # when they ask for a token without a code, or with a wrong one
    missing = token_post(api, body)
    right = totp_code(device)
    wrong = token_post(api, {**body, "otp": f"{(int(right) + 1) % 1_000_000:06d}"})

    # then no token
    assert missing.status_code == 400 and missing.json()["code"] == "otp_required"
    assert wrong.status_code == 400 and wrong.json()["code"] == "otp_invalid"
    assert not ApiToken.objects.filter(user=user).exists()

    # when with the current code
    ok = token_post(api, {**body, "otp": totp_code(device)})

    # then the token, which works
    assert ok.status_code == 200
    api.credentials(HTTP_AUTHORIZATION=f"Token {ok.json()['token']}")
    assert api.get("/api/v1/ping/").status_code == 200


def test_staff_without_an_authenticator_gets_no_token(api, market):
    response = token_post(api, {"username": market.staff.username, "password": PASSWORD, "otp": "123456"})
    assert response.status_code == 400 and response.json()["code"] == "otp_invalid"
    assert not ApiToken.objects.filter(user=market.staff).exists()


def test_investors_and_market_makers_are_unaffected(api, market):
    # given an investor and a market maker
    for user in (market.user(Role.INVESTOR), market.user(Role.MARKET_MAKER)):
        # when they log in with the password alone
        client = Client()
        assert password_login(client, user.username)["Location"] == "/"

        # then the pages open, and the token comes without a code
        assert client.get("/").status_code == 200
        assert token_post(api, {"username": user.username, "password": PASSWORD}).status_code == 200
    assert not TOTPDevice.objects.exists()


def test_the_nth_failed_web_login_locks_the_name_from_the_address_and_is_audited(settings, market):
    # given
    settings.AXES_FAILURE_LIMIT = 5
    user = market.user(Role.INVESTOR)
    client = Client()

    # when four logins fail, then a fifth
    for _ in range(4):
        response = password_login(client, user.username, "wrong-password-1")
        assert response.status_code == 200
    assert not AuditEvent.objects.filter(action="login_locked").exists()
    fifth = password_login(client, user.username, "wrong-password-1")

    # then the fifth is answered with the lockout, which is audited
    assert fifth.status_code == 429 and fifth["Retry-After"] == str(15 * 60)  # the cool-off, at most
    assert "Too many failed logins" in fifth.content.decode() or "登录失败次数过多" in fifth.content.decode()
    locked = AuditEvent.objects.get(action="login_locked")
    assert (locked.actor_username, locked.ip, locked.outcome) == (user.username, "127.0.0.1", "refused")
    # and even the right password is refused from that address
    assert password_login(client, user.username).status_code == 429
    assert "_auth_user_id" not in client.session
    # while the same name from another address still gets in
    other = Client(REMOTE_ADDR="10.0.0.7")
    assert password_login(other, user.username).status_code == 302


def test_the_nth_failed_token_login_locks_and_is_audited(settings, api, market):
    # given
    settings.AXES_FAILURE_LIMIT = 5
    user = market.user(Role.INVESTOR)

    # when
    answers = [token_post(api, {"username": user.username, "password": "wrong-password-1"}) for _ in range(5)]

    # then the first four are wrong passwords, the fifth the lockout
    assert [a.status_code for a in answers] == [400, 400, 400, 400, 429]
    assert answers[-1].json()["code"] == "login_locked" and answers[-1]["Retry-After"] == str(15 * 60)
    assert AuditEvent.objects.filter(action="login_locked", actor_username=user.username).count() == 1
    right = token_post(api, {"username": user.username, "password": PASSWORD})
    assert right.status_code == 429 and right.json()["code"] == "login_locked"
    assert not ApiToken.objects.filter(user=user).exists()


@pytest.mark.parametrize("where", ["api", "page"])
@pytest.mark.parametrize("reset_on_failure", [False, True])
def test_a_lockout_says_how_long_is_left_not_the_whole_cool_off(settings, api, market, where, reset_on_failure):
    # (an outside integrator: Retry-After said 900 however much of the cool-off had passed)
    # given a name and address locked 10 minutes ago (of a 15-minute cool-off)
    settings.AXES_FAILURE_LIMIT = 5
    settings.AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = reset_on_failure
    user = market.user(Role.INVESTOR)
    for _ in range(5):
        token_post(api, {"username": user.username, "password": "wrong-password-1"})
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=10))
    before = (
        set(ApiToken.objects.values_list("pk", flat=True)),
        AuditEvent.objects.filter(action="login").exclude(outcome__in=["failed", "refused"]).count(),
    )

    # when the right password is sent
    if where == "api":
        answer = token_post(api, {"username": user.username, "password": PASSWORD}, HTTP_ACCEPT_LANGUAGE="en")
        message = answer.json()["message"]
    else:
        answer = password_login(Client(), user.username, HTTP_ACCEPT_LANGUAGE="en")
        message = answer.content.decode()

    # then it is still refused, and told what is left: with axes' default a login during the lockout starts the
    # whole cool-off again (as the records show), else 5 minutes are left
    assert answer.status_code == 429
    left = int(answer["Retry-After"])
    if reset_on_failure:
        assert left == 15 * 60
        assert AccessAttempt.objects.get().attempt_time > timezone.now() - timedelta(minutes=1)
        assert "Try again in 15 minutes." in message
    else:
        assert 5 * 60 - 2 <= left <= 5 * 60
        assert "Try again in 5 minutes." in message
    assert (
        set(ApiToken.objects.values_list("pk", flat=True)),
        AuditEvent.objects.filter(action="login").exclude(outcome__in=["failed", "refused"]).count(),
    ) == (before)
    # and once the time said has passed, the right password gets in
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=15, seconds=1))
    assert token_post(api, {"username": user.username, "password": PASSWORD}).status_code == 200


def test_wrong_codes_count_towards_the_lockout(settings, api, market):
    # given staff who know the password but not the code
    settings.AXES_FAILURE_LIMIT = 3
    user = market.staff
    device = totp_enrol(user)
    body = {"username": user.username, "password": PASSWORD}

    # when they guess codes
    answers = [token_post(api, {**body, "otp": f"{n:06d}"}) for n in range(3)]

    # then the third guess locks them out, even with the right code after
    assert answers[-1].status_code == 429
    assert token_post(api, {**body, "otp": totp_code(device)}).status_code == 429
    assert AuditEvent.objects.filter(action="login_locked", actor_username=user.username).exists()


def test_enrolment_without_a_next_page_continues_to_the_market_watch(market):
    client = Client()
    password_login(client, market.staff.username)
    client.get("/otp/enrol/")
    device = TOTPDevice.objects.get(user=market.staff, confirmed=False)

    done = client.post("/otp/enrol/", {"code": totp_code(device)})

    assert done.context["next"] == "/"
    assert '<a class="button primary" href="/" id="otp-continue">' in done.content.decode()


@pytest.mark.parametrize("step", ["code", "enrolment"])
def test_the_second_factor_gives_the_session_a_new_key(market, step):
    # given staff signed in with the password only, and the session key they hold at that point
    user = market.staff if step == "code" else market.user(Role.REGULATOR)
    device = totp_enrol(user) if step == "code" else None
    client = Client()
    password_login(client, user.username)
    before = client.cookies["sessionid"].value
    csrf_before = client.cookies["csrftoken"].value if "csrftoken" in client.cookies else None

    # when they pass the second factor (the code page, or a first enrolment)
    if step == "code":
        response = client.post("/otp/", {"code": totp_code(device), "next": "/counter/"})
        assert response.status_code == 302 and response["Location"] == "/counter/"
    else:
        client.get("/otp/enrol/")
        response = client.post("/otp/enrol/", {"code": totp_code(TOTPDevice.objects.get(user=user))})
        assert response.status_code == 200 and len(response.context["codes"]) == 10

    # then the verified session has a new key (and CSRF token), and still reaches the staff pages
    after = client.cookies["sessionid"].value
    assert after != before
    assert client.cookies["csrftoken"].value != csrf_before
    page = "/counter/" if step == "code" else "/ledger/"
    assert client.get(page).status_code == 200
    # and the key seen before the code opens nothing: it is no session any more
    stale = Client()
    stale.cookies["sessionid"] = before
    response = stale.get(page)
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    # and nothing else changed: one verification on the trail
    assert AuditEvent.objects.filter(actor=user, action="otp_verified").count() == 1


@pytest.mark.parametrize("role", [Role.REGULATOR, Role.EXCHANGE_OPERATOR])
def test_before_the_second_factor_the_header_offers_no_page_of_the_role(market, role):
    # (found by a walk: a new regulator's enrolment page showed the whole supervision menu and the settings link,
    # each of which led back to the enrolment page)
    user = staff_user(market, role)
    device = totp_enrol(user)
    client = Client()
    password_login(client, user.username)
    before = AuditEvent.objects.exclude(action__in=["login", "otp_verified"]).count()

    # when the member is on the code page, before typing the code
    page = client.get("/otp/?next=/").content.decode()
    header = page.split("<header", 1)[1].split("</header>", 1)[0]

    # then the header names them and lets them log out or switch language, and offers nothing else
    assert user.username in header and 'action="/logout/"' in header and 'action="/i18n/setlang/"' in header
    assert 'class="mainnav"' not in header and 'href="/settings/"' not in header
    assert 'href="/audit/"' not in header and 'href="/operations/"' not in header

    # and once the code is typed, the role's menu and the settings link are there
    client.post("/otp/", {"code": totp_code(device), "next": "/"})
    header = client.get("/").content.decode().split("<header", 1)[1].split("</header>", 1)[0]
    assert 'class="mainnav"' in header and 'id="my-settings" href="/settings/"' in header
    assert AuditEvent.objects.exclude(action__in=["login", "otp_verified"]).count() == before
