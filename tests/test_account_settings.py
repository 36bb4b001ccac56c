"""A user's own settings (core.account_settings, core.settings_views): the settings page of every role, changing
the password, setting, confirming and removing the email address, and resetting a forgotten password.

Mail is Django's test outbox. A service queues each mail after its commit (``core.tasks.account_mail``); the tests
run the commit callbacks, and the task then runs at once in this process (Celery's eager mode, as the notifications'
tests run theirs). The tests of the queue itself (at the end) run the task by hand. Pages are read in
the default language, Chinese; what they assert is codes, field names and the state of the database.
"""

from __future__ import annotations

import json
import re
import smtplib
import time
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.core import mail, signing
from django.core.cache import cache
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction
from django.test import Client, TestCase
from django.utils import translation
from django.utils.html import escape
from django.utils.translation import gettext

from config.celery import app as celery_app
from core import account_settings, tasks
from core.models import ApiToken, AuditEvent, Role, User
from core.tokens import token_issue
from notifications import services as notification_services
from notifications.models import Preference
from tests.conftest import log_in, totp_enrol

PASSWORD = "pw-test-2026"
NEW_PASSWORD = "Fresh-pass-2027!"


@pytest.fixture(autouse=True)
def _reset_limits(settings):
    """Reset requests from the test client's address are not limited, but where a test sets its own rates; and
    none is left counted from an earlier run (the cache is Redis, which outlives the test database)."""
    settings.PASSWORD_RESET_IP_RATE = "100000/hour"
    settings.PASSWORD_RESET_ADDRESS_RATE = "100000/hour"
    settings.EMAIL_CHANGE_RATE = "100000/hour"
    cache.delete("password-reset:ip:127.0.0.1")


@pytest.fixture(autouse=True)
def _tasks_in_process(monkeypatch):
    """The mail tasks the commits queue run at once, in the process that committed (here the test's own)."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)


def signed_in(user: User) -> Client:
    client = Client()
    log_in(client, user)
    return client


def state(user: User) -> tuple:
    """What a refused request must leave as it was: the user's password hash and address, their API token."""
    user = User.objects.get(pk=user.pk)
    return user.password, user.email, list(live_tokens(user))


def live_tokens(user: User):
    """The user's API tokens still working (not revoked), by id."""
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).values_list("pk", flat=True)


def records(user: User, *actions: str) -> list[tuple[str, str, dict]]:
    return list(
        AuditEvent.objects.filter(actor=user, action__in=actions)
        .order_by("pk")
        .values_list("action", "outcome", "detail")
    )


def link_in(message) -> str:
    """The path of the one link in a mail."""
    (url,) = set(re.findall(r"https?://[^\s]+", message.body))
    return re.sub(r"^https?://[^/]+", "", url)


def confirmation_token(user: User, new_email: str) -> str:
    """Ask for ``new_email`` as ``user`` and commit: the signed value of the link the worker then mails (the
    request no longer makes it, nor returns it)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        account_settings.email_change_request(user=user, new_email=new_email, site="https://exchange.example")
    message = mail.outbox[-1]
    assert message.to == [new_email]
    return link_in(message).strip("/").split("/")[-1]


# --------------------------------------------------------------------------
# The settings page


@pytest.mark.parametrize("role", list(Role.values))
def test_every_role_has_a_settings_page_linked_from_the_top_bar(market, role):
    # given a user of each role (staff through their second factor)
    user = market.user(role)
    client = signed_in(user)

    # when they open the market watch, then the settings
    home = client.get("/").content.decode()
    page = client.get("/settings/")

    # then the top bar links their settings, which name them, their role and their second factor
    assert 'id="my-settings" href="/settings/"' in home
    assert page.status_code == 200
    body = page.content.decode()
    assert f'id="settings-username">{user.username}<' in body
    two_factor = re.search(r'id="settings-2fa" data-state="([a-z-]+)"', body).group(1)
    assert two_factor == ("not-required" if role in {Role.INVESTOR, Role.MARKET_MAKER} else "on")
    assert 'href="/settings/password/"' in body and 'href="/settings/email/"' in body
    assert 'id="settings-email" data-set="0"' in body


@pytest.mark.parametrize("role", list(Role.values))
def test_the_address_is_said_to_carry_notifications_only_to_the_roles_that_get_them(market, role):
    # given a user of each role with a confirmed address
    user = market.user(role)
    User.objects.filter(pk=user.pk).update(email="someone@example.com")
    client = signed_in(user)
    notified = role in {Role.INVESTOR, Role.MARKET_MAKER}  # notifications.models.RECIPIENTS: the others have none
    with translation.override("en"):
        index_hint = gettext(
            "Used to send notifications by email, if you switch that on, and to reset a forgotten password."
            if notified
            else "Used to reset a forgotten password."
        )
        remove_hint = gettext(
            "Notifications are then no longer emailed, and a forgotten password can only be reset by your broker or "
            "the exchange."
            if notified
            else "A forgotten password can then no longer be reset by email."
        )

    # when they read their settings and their email page (in English)
    index = client.get("/settings/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    email = client.get("/settings/email/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    # then only investors and market makers are told of emailed notifications, which the others cannot switch on
    assert re.search(r'id="settings-email-hint">([^<]*)<', index).group(1) == escape(index_hint)
    assert re.search(r'id="email-remove-hint">([^<]*)<', email).group(1) == escape(remove_hint)
    assert User.objects.get(pk=user.pk).email == "someone@example.com"


def test_the_settings_page_shows_the_account_and_the_address_masked(market):
    investor = market.investor()
    user = investor.owner
    User.objects.filter(pk=user.pk).update(email="zhangwei@example.com")

    body = signed_in(user).get("/settings/").content.decode()

    assert f'id="settings-account">{investor.code}<' in body
    assert "z***@example.com" in body and "zhangwei@example.com" not in body


def test_the_settings_pages_need_a_login(db):
    for path in ("/settings/", "/settings/password/", "/settings/email/", "/settings/email/confirm/x/"):
        response = Client().get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login/?next="), path


# --------------------------------------------------------------------------
# Changing the password


def password_post(client: Client, old: str = PASSWORD, new1: str = NEW_PASSWORD, new2: str | None = None):
    body = {"old_password": old, "new_password1": new1, "new_password2": new1 if new2 is None else new2}
    return client.post("/settings/password/", body)


def test_a_password_change_keeps_this_session_ends_others_and_the_token(market, django_capture_on_commit_callbacks):
    # given an investor with an address, signed in twice, with an API token
    user = market.user()
    User.objects.filter(pk=user.pk).update(email="me@example.com")
    client, other = signed_in(user), signed_in(user)
    token_issue(user=user)

    # when they change their password
    with django_capture_on_commit_callbacks(execute=True):
        response = password_post(client)

    # then it is changed and audited; this session goes on, the other one and the token end
    assert response.status_code == 302 and response["Location"] == "/settings/"
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD) and not user.check_password(PASSWORD)
    assert client.get("/settings/").status_code == 200
    assert other.get("/settings/").status_code == 302
    assert not live_tokens(user).exists()
    assert records(user, "password_change") == [("password_change", "ok", {})]
    assert AuditEvent.objects.filter(action="api_token_revoke", target=user.username).exists()
    # and the address on record is told, in both languages
    (notice,) = mail.outbox
    assert notice.to == ["me@example.com"] and " / " in notice.subject


def test_a_staff_member_changing_the_password_keeps_the_second_factor_of_this_session(market):
    # given a broker's staff member signed in with their code
    staff = market.staff
    client = signed_in(staff)

    # when they change their password
    response = password_post(client)

    # then the session still has its second factor: the staff pages open without a new code
    assert response.status_code == 302 and response["Location"] == "/settings/"
    assert client.get("/settings/").status_code == 200
    assert client.get("/counter/").status_code == 200
    assert User.objects.get(pk=staff.pk).check_password(NEW_PASSWORD)


@pytest.mark.parametrize(
    ("old", "new1", "new2", "field", "code"),
    [
        ("wrong-password-9", NEW_PASSWORD, NEW_PASSWORD, "old_password", "password_incorrect"),
        (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x", "new_password2", "password_mismatch"),
        (PASSWORD, "8374926150", "8374926150", "new_password1", "password_entirely_numeric"),
        (PASSWORD, " " * 12, " " * 12, "new_password1", "password_entirely_blank"),
        (PASSWORD, "short-1", "short-1", "new_password1", "password_too_short"),
        # the same password again would change nothing but end every session and token (found by a walk)
        (PASSWORD, PASSWORD, PASSWORD, "new_password1", "password_unchanged"),
    ],
)
def test_a_refused_password_change_changes_nothing(market, old, new1, new2, field, code):
    # given
    user = market.user()
    client = signed_in(user)
    token_issue(user=user)
    before = state(user)

    # when
    response = password_post(client, old, new1, new2)

    # then the form says which field, and nothing changed
    assert response.status_code == 200
    form = response.context["form"]
    assert form.has_error(field, code), form.errors.as_data()
    assert state(user) == before
    assert client.get("/settings/").status_code == 200  # still signed in
    refused = [("password_change", "refused", {"code": "wrong_password"})] if field == "old_password" else []
    assert records(user, "password_change") == refused


def test_a_wrong_current_password_is_audited_and_counts_towards_the_lockout(settings, market):
    # given a signed-in investor, and a lockout after three failures
    settings.AXES_FAILURE_LIMIT = 3
    user = market.user()
    client = signed_in(user)
    before = state(user)

    # when they give a wrong current password twice
    for _ in range(2):
        assert password_post(client, old="wrong-password-9").status_code == 200

    # then each is on the trail as refused (no "failed login" besides), and they are still signed in
    assert records(user, "password_change") == [("password_change", "refused", {"code": "wrong_password"})] * 2
    assert not AuditEvent.objects.filter(action="login", outcome="failed", actor_username=user.username).exists()
    assert client.get("/settings/").status_code == 200

    # when a third wrong password (on the email page) reaches the limit
    third = client.post("/settings/email/", {"new_email": "a@example.com", "password": "wrong-password-9"})

    # then the session ends and the login is locked from this address, even with the right password
    assert third.status_code in (302, 429)
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="login_locked", actor_username=user.username).exists()
    assert Client().post("/login/", {"username": user.username, "password": PASSWORD}).status_code == 429
    assert state(user) == before
    assert mail.outbox == []


# --------------------------------------------------------------------------
# The email address


def email_post(client: Client, address: str, password: str = PASSWORD):
    return client.post("/settings/email/", {"new_email": address, "password": password})


def test_a_new_address_is_mailed_a_link_and_changes_only_when_the_user_opens_it(
    market, django_capture_on_commit_callbacks
):
    # given an investor with an address
    user = market.user()
    User.objects.filter(pk=user.pk).update(email="old@example.com")
    client = signed_in(user)

    # when they ask for a new address
    with django_capture_on_commit_callbacks(execute=True):
        response = email_post(client, "  New.Person@Example.COM ")

    # then a link goes to the new address only, and their address is still the old one
    assert response.status_code == 302 and response["Location"] == "/settings/email/"
    (confirm,) = mail.outbox
    assert confirm.to == ["New.Person@example.com"]
    assert User.objects.get(pk=user.pk).email == "old@example.com"
    assert records(user, "email_change_request") == [("email_change_request", "ok", {"new": "N***@example.com"})]
    path = link_in(confirm)
    assert path.startswith("/settings/email/confirm/")

    # when they open the link: a page that asks, and changes nothing yet
    page = client.get(path)
    assert page.status_code == 200 and "New.Person@example.com" in page.content.decode()
    assert User.objects.get(pk=user.pk).email == "old@example.com"

    # when they confirm
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(path)

    # then it is their address, audited, and the old address is told
    assert done.status_code == 302 and done["Location"] == "/settings/"
    assert User.objects.get(pk=user.pk).email == "New.Person@example.com"
    assert records(user, "email_change") == [
        ("email_change", "ok", {"old": "o***@example.com", "new": "N***@example.com"})
    ]
    assert [m.to for m in mail.outbox[1:]] == [["old@example.com"]]

    # when they open the link again
    again = client.post(path)

    # then it no longer works, and nothing changes
    assert again.status_code == 409 and again.context["error_code"] == "email_link_used"
    assert client.get(path).context["error_code"] == "email_link_used"
    assert User.objects.get(pk=user.pk).email == "New.Person@example.com"
    assert records(user, "email_change")[-1] == ("email_change", "refused", {"code": "email_link_used"})
    assert len(mail.outbox) == 2


def test_confirmation_links_one_user_asks_for_are_limited(settings, market, django_capture_on_commit_callbacks):
    # given a user (anyone may register through the API) and a limit of 2 links an hour (found by a review: a user
    # could have the exchange mail a link to any number of addresses, unlimited)
    settings.EMAIL_CHANGE_RATE = "2/hour"
    user = market.user()
    client = signed_in(user)

    # when they ask for three addresses in a row (each mail sent before the next request: a link a newer request
    # replaced before the worker came to it is not sent, test_a_link_that_no_longer_works_when_the_worker_comes...)
    answers = []
    for n in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            answers.append(email_post(client, f"n{n}@example.com"))

    # then two links are sent; the third is refused on the form (429), mails nothing and is audited as refused
    assert [a.status_code for a in answers] == [302, 302, 429]
    assert answers[2].context["form"].non_field_errors()
    assert [m.to for m in mail.outbox] == [["n0@example.com"], ["n1@example.com"]]
    assert [r[:2] for r in records(user, "email_change_request")] == [
        ("email_change_request", "ok"),
        ("email_change_request", "ok"),
        ("email_change_request", "refused"),
    ]
    assert records(user, "email_change_request")[2][2] == {"code": "email_change_rate_limited"}
    assert User.objects.get(pk=user.pk).email == ""


def test_then_the_notifications_can_be_emailed(market, django_capture_on_commit_callbacks):
    # given an investor without an address: the notifications page points to the settings
    user = market.investor().owner
    client = signed_in(user)
    assert 'href="/settings/email/"' in client.get("/notifications/").content.decode()

    # when they set and confirm one
    with django_capture_on_commit_callbacks(execute=True):
        email_post(client, "investor@example.com")
    client.post(link_in(mail.outbox[0]))

    # then they may switch email on
    notification_services.preference_set(user=User.objects.get(pk=user.pk), muted=[], email=True)
    assert Preference.objects.get(user=user).email is True
    assert 'id="no-email-hint"' not in client.get("/notifications/").content.decode()


@pytest.mark.parametrize(
    ("address", "password", "field", "code"),
    [
        ("not-an-address", PASSWORD, "new_email", "invalid"),
        ("a@b@example.com", PASSWORD, "new_email", "invalid"),
        ("", PASSWORD, "new_email", "required"),
        ("x" * 250 + "@example.com", PASSWORD, "new_email", "max_length"),
        ("new@example.com", "wrong-password-9", "password", "wrong_password"),
        ("new@example.com", "", "password", "required"),
    ],
)
def test_a_refused_address_sends_nothing_and_changes_nothing(market, address, password, field, code):
    user = market.user()
    User.objects.filter(pk=user.pk).update(email="old@example.com")
    client = signed_in(user)
    before = state(user)

    response = email_post(client, address, password)

    assert response.status_code == 200
    assert response.context["form"].has_error(field, code), response.context["form"].errors.as_data()
    assert state(user) == before and mail.outbox == []
    assert all(outcome == "refused" for _a, outcome, _d in records(user, "email_change_request"))


def test_the_same_address_again_is_refused(market):
    user = market.user()
    User.objects.filter(pk=user.pk).update(email="me@example.com")

    response = email_post(signed_in(user), "ME@example.com")

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() or response.context["form"].errors
    assert mail.outbox == [] and User.objects.get(pk=user.pk).email == "me@example.com"
    assert records(user, "email_change_request") == []


def test_an_expired_link_changes_nothing(market, monkeypatch):
    # given a link made 25 hours ago
    user = market.user()
    real = time.time
    monkeypatch.setattr(signing.time, "time", lambda: real() - 25 * 3600)
    token = confirmation_token(user, "new@example.com")
    monkeypatch.setattr(signing.time, "time", real)
    client = signed_in(user)

    # when it is opened and confirmed
    response = client.post(f"/settings/email/confirm/{token}/")

    # then it has expired
    assert response.status_code == 410 and response.context["error_code"] == "email_link_expired"
    assert User.objects.get(pk=user.pk).email == ""


def test_a_link_opened_by_another_user_changes_nobody(market):
    # given a link for alice, opened by bob
    alice, bob = market.user(), market.user()
    token = confirmation_token(alice, "alice@example.com")
    client = signed_in(bob)

    # when bob confirms it
    response = client.post(f"/settings/email/confirm/{token}/")

    # then it is refused, audited, and neither address changed; alice may still use it
    assert response.status_code == 403 and response.context["error_code"] == "email_link_other_user"
    assert User.objects.get(pk=bob.pk).email == "" and User.objects.get(pk=alice.pk).email == ""
    assert records(bob, "email_change") == [("email_change", "refused", {"code": "email_link_other_user"})]
    assert signed_in(alice).post(f"/settings/email/confirm/{token}/").status_code == 302
    assert User.objects.get(pk=alice.pk).email == "alice@example.com"


@pytest.mark.parametrize("token", ["garbage", "eyJ1IjoxfQ:1abc:xyz", "a" * 300])
def test_a_forged_link_is_invalid(market, token):
    user = market.user()
    response = signed_in(user).post(f"/settings/email/confirm/{token}/")
    assert response.status_code == 400 and response.context["error_code"] == "email_link_invalid"
    assert User.objects.get(pk=user.pk).email == ""


def test_a_newer_request_or_a_password_change_ends_the_older_link(market):
    user = market.user()
    first = confirmation_token(user, "first@example.com")
    second = confirmation_token(User.objects.get(pk=user.pk), "second@example.com")
    client = signed_in(user)

    assert client.post(f"/settings/email/confirm/{first}/").context["error_code"] == "email_link_used"
    account_settings.password_set(user=User.objects.get(pk=user.pk), new_password=NEW_PASSWORD, reason="change")
    assert User.objects.get(pk=user.pk).email == ""
    client = Client()
    client.force_login(User.objects.get(pk=user.pk))
    assert client.post(f"/settings/email/confirm/{second}/").context["error_code"] == "email_link_used"
    assert User.objects.get(pk=user.pk).email == ""


def test_a_link_opened_signed_out_asks_for_the_login_first(market):
    user = market.user()
    token = confirmation_token(user, "new@example.com")
    path = f"/settings/email/confirm/{token}/"

    response = Client().post(path)

    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")
    assert User.objects.get(pk=user.pk).email == ""


def test_removing_the_address_needs_the_password_and_tells_the_old_one(market, django_capture_on_commit_callbacks):
    user = market.user()
    User.objects.filter(pk=user.pk).update(email="old@example.com")
    client = signed_in(user)

    # a wrong password removes nothing
    refused = client.post("/settings/email/remove/", {"remove-password": "wrong-password-9"})
    assert refused.status_code == 200 and refused.context["remove_form"].has_error("password", "wrong_password")
    assert User.objects.get(pk=user.pk).email == "old@example.com"
    assert records(user, "email_remove") == [("email_remove", "refused", {"code": "wrong_password"})]

    # the right one does
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post("/settings/email/remove/", {"remove-password": PASSWORD})
    assert done.status_code == 302
    assert User.objects.get(pk=user.pk).email == ""
    assert records(user, "email_remove")[-1] == ("email_remove", "ok", {"old": "o***@example.com"})
    assert [m.to for m in mail.outbox] == [["old@example.com"]]


# --------------------------------------------------------------------------
# A forgotten password


def reset_post(client: Client, address: str):
    return client.post("/password-reset/", {"email": address})


def test_the_login_page_links_the_reset(db):
    assert 'href="/password-reset/"' in Client().get("/login/").content.decode()


def test_a_reset_for_an_unknown_address_sends_nothing_and_answers_the_same(market, django_capture_on_commit_callbacks):
    # given one user with a (verified) address
    user = market.user()
    User.objects.filter(pk=user.pk).update(email="known@example.com")

    # when a reset is asked for an unknown address and for the known one
    with django_capture_on_commit_callbacks(execute=True):
        unknown = reset_post(Client(), "nobody@example.com")
    assert mail.outbox == []
    with django_capture_on_commit_callbacks(execute=True):
        known = reset_post(Client(), "KNOWN@example.com")

    # then both answers are the same redirect to the same page
    assert (
        (unknown.status_code, unknown["Location"])
        == (known.status_code, known["Location"])
        == (302, "/password-reset/sent/")
    )
    assert [m.to for m in mail.outbox] == [["known@example.com"]]
    assert records(user, "password_reset_request") == [("password_reset_request", "ok", {})]
    assert AuditEvent.objects.filter(action="password_reset_request").count() == 1


def test_no_link_for_an_inactive_user_or_an_unusable_password(market, django_capture_on_commit_callbacks):
    inactive, unusable = market.user(), market.user()
    User.objects.filter(pk=inactive.pk).update(email="inactive@example.com", is_active=False)
    unusable.set_unusable_password()
    unusable.email = "unusable@example.com"
    unusable.save()

    with django_capture_on_commit_callbacks(execute=True):
        assert reset_post(Client(), "inactive@example.com").status_code == 302
        assert reset_post(Client(), "unusable@example.com").status_code == 302

    assert mail.outbox == []


def test_a_reset_link_sets_a_new_password_once_and_ends_the_token(market, django_capture_on_commit_callbacks):
    # given an investor with a verified address and an API token, who asked for a reset
    user = market.user()
    User.objects.filter(pk=user.pk).update(email="me@example.com")
    token_issue(user=user)
    with django_capture_on_commit_callbacks(execute=True):
        reset_post(Client(), "me@example.com")
    path = link_in(mail.outbox[0])
    client = Client()

    # when they open the link (which goes on to a page without the token in its address)
    opened = client.get(path)
    assert opened.status_code == 302 and opened["Location"].endswith("/set-password/")
    form_page = opened["Location"]
    assert client.get(form_page).context["validlink"] is True

    # and a weak password is refused, changing nothing
    before = state(user)
    weak = client.post(form_page, {"new_password1": "8374926150", "new_password2": "8374926150"})
    assert weak.status_code == 200 and weak.context["form"].has_error("new_password1", "password_entirely_numeric")
    assert state(user) == before

    # when a good one is set
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(form_page, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    # then the password is the new one, the token ended, it is audited, and nobody is signed in
    assert done.status_code == 302 and done["Location"] == "/password-reset/done/"
    assert User.objects.get(pk=user.pk).check_password(NEW_PASSWORD)
    assert not live_tokens(user).exists()
    assert records(user, "password_reset") == [("password_reset", "ok", {})]
    assert "_auth_user_id" not in client.session
    assert [m.to for m in mail.outbox] == [["me@example.com"], ["me@example.com"]]  # the link, then the notice

    # and the link works no more
    again = Client().get(path, follow=True)
    assert again.context["validlink"] is False
    assert User.objects.get(pk=user.pk).check_password(NEW_PASSWORD)


def test_a_reset_link_of_a_user_deactivated_since_it_was_sent_sets_nothing(market, django_capture_on_commit_callbacks):
    # given a user who asked for a reset, then was deactivated (Django's link is bound to the password hash, the
    # last login and the address, not to whether the user is active; found by a review: the link still set a new
    # password of the deactivated login)
    user = market.user()
    User.objects.filter(pk=user.pk).update(email="gone@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        reset_post(Client(), "gone@example.com")
    path = link_in(mail.outbox[0])
    user = User.objects.get(pk=user.pk)
    user.is_active = False
    user.save()
    before = state(user)

    # when the link is opened and a new password posted
    client = Client()
    opened = client.get(path, follow=True)
    posted = client.post(path, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}, follow=True)

    # then the link is not valid, the password and everything else stay, and nothing is audited as reset
    assert opened.status_code == 200 and opened.context["validlink"] is False
    assert posted.status_code == 200 and posted.context["validlink"] is False
    assert state(user) == before
    assert User.objects.get(pk=user.pk).check_password(PASSWORD)
    assert records(user, "password_reset") == []


def test_after_a_reset_staff_still_need_their_second_factor(market, django_capture_on_commit_callbacks):
    staff = market.staff
    totp_enrol(staff)
    User.objects.filter(pk=staff.pk).update(email="staff@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        reset_post(Client(), "staff@example.com")
    client = Client()
    form_page = client.get(link_in(mail.outbox[0]))["Location"]
    client.post(form_page, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    fresh = Client()
    login = fresh.post("/login/", {"username": staff.username, "password": NEW_PASSWORD})

    # the new password is the first step; every page then asks for the code
    assert login.status_code == 302
    assert fresh.get("/settings/")["Location"].startswith("/otp/")
    assert fresh.get("/").status_code == 302


def test_reset_requests_are_limited_per_address_and_per_client(settings, market, django_capture_on_commit_callbacks):
    # given limits of two requests an hour, and a client address of this test alone
    settings.PASSWORD_RESET_ADDRESS_RATE = "2/hour"
    settings.PASSWORD_RESET_IP_RATE = "3/hour"
    ip = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    address = f"{uuid.uuid4().hex[:12]}@example.com"
    user = market.user()
    User.objects.filter(pk=user.pk).update(email=address)
    client = Client(REMOTE_ADDR=ip)

    # when the address is asked for three times
    with django_capture_on_commit_callbacks(execute=True):
        answers = [reset_post(client, address) for _ in range(3)]

    # then the third is refused and sends nothing
    assert [a.status_code for a in answers] == [302, 302, 429]
    assert answers[-1].context["form"].non_field_errors()
    assert len(mail.outbox) == 2

    # and the client is then over its own limit for any address, known or not: the same refusal
    other = reset_post(client, f"{uuid.uuid4().hex[:12]}@example.com")
    assert other.status_code == 429
    refused = AuditEvent.objects.filter(action="password_reset_request", outcome="refused", ip=ip)
    assert refused.count() == 2 and len(mail.outbox) == 2


@pytest.mark.parametrize("page", ["reset", "email"])
def test_with_the_sites_address_set_emailed_links_ignore_the_requests_host(
    settings, market, django_capture_on_commit_callbacks, page
):
    # given an operator who let every host in (ALLOWED_HOSTS "*", say behind a balancer) and set the site's
    # address; a request whose Host header an attacker chose (found by a review: the links were built from the
    # request's host, so a reset link mailed to a victim could point at the attacker's server)
    settings.ALLOWED_HOSTS = ["*"]
    settings.EXCHANGE_SITE_URL = "https://exchange.example"
    user = market.user()
    User.objects.filter(pk=user.pk).update(email="me@example.com")

    # when a reset or an email change is asked for with that Host
    with django_capture_on_commit_callbacks(execute=True):
        if page == "reset":
            answer = Client(HTTP_HOST="evil.example").post("/password-reset/", {"email": "me@example.com"})
        else:
            client = signed_in(user)
            answer = client.post(
                "/settings/email/", {"new_email": "new@example.com", "password": PASSWORD}, HTTP_HOST="evil.example"
            )

    # then the mailed link starts with the site's address, not the request's host
    assert answer.status_code == 302
    (message,) = mail.outbox
    (url,) = set(re.findall(r"https?://[^\s]+", message.body))
    assert url.startswith("https://exchange.example/") and "evil.example" not in message.body


def test_the_password_form_names_the_current_password_as_the_email_form_does_and_the_top_bar_marks_settings(market):
    # (found by a probe: "Old password" / 旧密码 on one form, "Current password" / 当前密码 on the other, Django's
    # own refusal in 你 where the site says 您; and the top bar's settings link not current on the tokens page)
    user = market.user()
    client = signed_in(user)
    page = client.get("/settings/password/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "当前密码" in page and "旧密码" not in page
    refused = client.post(
        "/settings/password/",
        {"old_password": "not-it", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert refused.context["form"].has_error("old_password", "password_incorrect")
    assert "当前密码不正确。" in refused.content.decode()
    for path in ("/settings/", "/settings/api-tokens/"):
        html = client.get(path).content.decode()
        assert 'id="my-settings" href="/settings/"' in html
        assert html.split('id="my-settings"', 1)[1].split(">", 1)[0].count('aria-current="page"') == 1, path


def test_a_token_lifetime_out_of_bounds_reads_the_forms_own_words(market):
    user = market.user()
    client = signed_in(user)
    for days in ("0", "9999", "x"):
        response = client.post(
            "/settings/api-tokens/", {"name": "ok", "days": days, "password": PASSWORD}, HTTP_ACCEPT_LANGUAGE="en"
        )
        assert response.status_code == 400
        assert response.context["form"].errors["days"] == ["The lifetime is a whole number of days from 1 to 90."]


# --------------------------------------------------------------------------
# The mails leave the request: queued after the commit, sent by the worker (core.tasks.account_mail)

# The task itself, kept before a test holds the queue (``queued``) in its place.
account_mail = tasks.account_mail


class FlakyBackend(BaseEmailBackend):
    """A mail server whose next ``failures`` sends fail (it hangs up), each after ``delay`` seconds; then Django's
    test outbox. ``calls`` counts every attempt."""

    failures = 0
    delay = 0.0
    calls = 0

    def send_messages(self, messages):
        type(self).calls += 1
        time.sleep(type(self).delay)
        if type(self).failures:
            type(self).failures -= 1
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        mail.outbox.extend(messages)
        return len(messages)


@pytest.fixture
def flaky_mail(settings):
    settings.EMAIL_BACKEND = f"{__name__}.FlakyBackend"
    FlakyBackend.failures, FlakyBackend.delay, FlakyBackend.calls = 0, 0.0, 0
    yield FlakyBackend
    FlakyBackend.failures, FlakyBackend.delay, FlakyBackend.calls = 0, 0.0, 0


@pytest.fixture
def queued(monkeypatch):
    """The account mails the commits queue, held here (in order) instead of going to a worker."""
    held: list[dict] = []

    def apply_async(*, args, argsrepr):
        (message,) = args
        assert message["to"] not in argsrepr and "site" not in argsrepr
        held.append(message)

    monkeypatch.setattr(tasks, "account_mail", SimpleNamespace(apply_async=apply_async))
    return held


@pytest.mark.parametrize("flow", ["reset", "email_change", "email_confirm", "email_remove", "password_change"])
def test_a_request_sends_no_mail_it_queues_one_for_the_worker(market, queued, django_capture_on_commit_callbacks, flow):
    # given a user with an address (found by a review: every account mail was sent by the request after its
    # commit, so a slow or failing mail server slowed or failed the request)
    user = market.user()
    User.objects.filter(pk=user.pk).update(email="me@example.com")
    client = signed_in(user)
    token = None
    if flow == "email_confirm":
        user = User.objects.get(pk=user.pk)
        account_settings.email_change_request(user=user, new_email="new@example.com", site="")
        token = account_settings.email_link_token(user=User.objects.get(pk=user.pk), new_email="new@example.com")
        queued.clear()

    # when the user does what mails them, and the request's transaction commits
    with django_capture_on_commit_callbacks(execute=True):
        answer = {
            "reset": lambda: reset_post(Client(), "me@example.com"),
            "email_change": lambda: email_post(client, "new@example.com"),
            "email_confirm": lambda: client.post(f"/settings/email/confirm/{token}/"),
            "email_remove": lambda: client.post("/settings/email/remove/", {"remove-password": PASSWORD}),
            "password_change": lambda: password_post(client),
        }[flow]()

    # then the request answered as always and sent nothing: one mail is queued, which names its user and address
    assert answer.status_code == 302
    assert mail.outbox == []
    expected = {
        "reset": ("password_reset", "me@example.com"),
        "email_change": ("email_confirm", "new@example.com"),
        "email_confirm": ("email_changed", "me@example.com"),
        "email_remove": ("email_changed", "me@example.com"),
        "password_change": ("password_changed", "me@example.com"),
    }[flow]
    assert [(m["kind"], m["user_id"], m["to"]) for m in queued] == [(*expected[:1], user.pk, expected[1])]

    # when the worker runs it
    result = account_mail.apply(args=[queued[0]])

    # then it sends that one mail
    assert result.successful() and result.get() is True
    assert [m.to for m in mail.outbox] == [[expected[1]]]


@pytest.mark.django_db(transaction=True)
def test_a_reset_answers_at_once_and_alike_for_any_address_however_slow_or_broken_the_mail_server(queued, flaky_mail):
    # given a user with an address, committed as in production (the request's own commit runs its callbacks), and
    # a mail server that takes ten seconds to fail every time (far more than a request takes on a loaded machine:
    # with two, a request slower than that there would have read as one that waited for the mail server)
    user = User.objects.create_user(
        username=f"reset{uuid.uuid4().hex[:8]}", password=PASSWORD, role=Role.INVESTOR, email="known@example.com"
    )
    flaky_mail.failures, flaky_mail.delay = 99, 10.0

    # when a reset is asked for an unknown address and for the known one
    times, answers = [], []
    for address in ("nobody@example.com", "known@example.com"):
        started = time.monotonic()
        answers.append(reset_post(Client(), address))
        times.append(time.monotonic() - started)

    # then both answers are the same, neither waited for the mail server nor touched it, and the known address's
    # request is committed: its audit record, and one mail queued for the worker; the unknown one queued nothing
    assert [(a.status_code, a["Location"]) for a in answers] == [(302, "/password-reset/sent/")] * 2
    assert flaky_mail.calls == 0 and mail.outbox == []
    assert max(times) < flaky_mail.delay
    assert [(m["kind"], m["user_id"], m["to"]) for m in queued] == [("password_reset", user.pk, "known@example.com")]
    assert records(user, "password_reset_request") == [("password_reset_request", "ok", {})]
    assert AuditEvent.objects.filter(action="password_reset_request").count() == 1
    assert User.objects.get(pk=user.pk).check_password(PASSWORD)

    # and the worker, not the request, meets the broken server: it tries, retries five times, then gives up
    flaky_mail.delay = 0.0
    assert account_mail.apply(args=[queued[0]]).state == "FAILURE"
    assert flaky_mail.calls == 6 and mail.outbox == []


@pytest.mark.django_db(transaction=True)
def test_a_password_or_address_change_is_made_whatever_the_mail_server_does(queued, flaky_mail):
    # given a user with an address, signed in, and a mail server that fails every time
    user = User.objects.create_user(
        username=f"change{uuid.uuid4().hex[:8]}", password=PASSWORD, role=Role.INVESTOR, email="old@example.com"
    )
    client = signed_in(user)
    flaky_mail.failures = 99

    # when they change their password, ask for a new address and remove the old one
    changed = password_post(client)
    asked = email_post(client, "new@example.com", password=NEW_PASSWORD)
    removed = client.post("/settings/email/remove/", {"remove-password": NEW_PASSWORD})

    # then each is answered as always and made whole, and the mail server was not touched
    assert [r.status_code for r in (changed, asked, removed)] == [302, 302, 302]
    user = User.objects.get(pk=user.pk)
    assert user.check_password(NEW_PASSWORD) and user.email == ""
    assert [r[:2] for r in records(user, "password_change", "email_change_request", "email_remove")] == [
        ("password_change", "ok"),
        ("email_change_request", "ok"),
        ("email_remove", "ok"),
    ]
    assert flaky_mail.calls == 0 and mail.outbox == []
    assert [(m["kind"], m["to"]) for m in queued] == [
        ("password_changed", "old@example.com"),
        ("email_confirm", "new@example.com"),
        ("email_changed", "old@example.com"),
    ]


def test_a_rolled_back_change_queues_nothing(market, queued, django_capture_on_commit_callbacks):
    # given a user with an address
    user = market.user()
    User.objects.filter(pk=user.pk).update(email="me@example.com")
    before = state(user)

    # when their password is changed inside a transaction that then fails
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        account_settings.password_set(user=User.objects.get(pk=user.pk), new_password=NEW_PASSWORD, reason="change")
        raise RuntimeError("the caller's transaction fails after the change")

    # then nothing is queued, nor sent, nor changed
    assert queued == [] and mail.outbox == [] and state(user) == before


def test_the_worker_sends_the_mail_in_both_languages_chinese_first(market, queued, django_capture_on_commit_callbacks):
    # given a reset asked for a user with an address
    user = market.user()
    User.objects.filter(pk=user.pk).update(email="me@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        reset_post(Client(), "me@example.com")

    # when the worker sends it
    account_mail.apply(args=[queued[0]])

    # then it is one mail to that address: the subject and text in Chinese, then in English, the link in each
    (message,) = mail.outbox
    with translation.override("zh-hans"):
        zh_subject, zh_hello = gettext("Reset your password"), gettext("Hello %(name)s,") % {"name": user.username}
    assert zh_subject != "Reset your password"
    assert message.to == ["me@example.com"] and message.subject == f"{zh_subject} / Reset your password"
    zh_part, en_part = message.body.split("\n\n----\n\n")
    assert zh_part.startswith(zh_hello) and en_part.startswith(f"Hello {user.username},")
    (url,) = set(re.findall(r"https?://[^\s]+", zh_part))
    assert re.findall(r"https?://[^\s]+", en_part) == [url]
    assert "within 1 hour; it works once" in en_part
    # and the link, which the worker made, resets this user's password
    uid, token = link_in(message).strip("/").split("/")[-2:]
    assert default_token_generator.check_token(User.objects.get(pk=user.pk), token)


def test_a_retried_mail_is_sent_once(market, queued, flaky_mail, django_capture_on_commit_callbacks):
    # given a queued reset mail, and a mail server that hangs up once
    user = market.user()
    User.objects.filter(pk=user.pk).update(email="me@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        reset_post(Client(), "me@example.com")
    flaky_mail.failures = 1

    # when the worker runs it (here eagerly: Celery runs the retry at once, in this process)
    result = account_mail.apply(args=[queued[0]])

    # then the first try failed, the retry sent it: one mail
    assert result.successful() and result.get() is True
    assert flaky_mail.calls == 2 and [m.to for m in mail.outbox] == [["me@example.com"]]

    # when the same message is delivered once more (a worker lost before its acknowledgement)
    again = account_mail.apply(args=[queued[0]])

    # then nothing more is sent, nor tried
    assert again.get() is False
    assert flaky_mail.calls == 2 and len(mail.outbox) == 1


def test_a_mail_server_that_keeps_failing_is_retried_with_backoff_then_given_up(
    market, queued, flaky_mail, caplog, django_capture_on_commit_callbacks
):
    # given a queued notice, and a mail server that always hangs up
    user = market.user()
    User.objects.filter(pk=user.pk).update(email="me@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        password_post(signed_in(user))
    flaky_mail.failures = 99

    # when the worker runs it
    result = account_mail.apply(args=[queued[0]])

    # then it tried once and retried five times, each later than the one before, then failed; nothing sent
    assert result.state == "FAILURE" and isinstance(result.result, smtplib.SMTPException)
    assert flaky_mail.calls == 6 and mail.outbox == []
    delays = re.findall(r"Retry in (\d+)s", caplog.text)
    assert delays == ["30", "60", "120", "240", "480"]


def test_a_link_that_no_longer_works_when_the_worker_comes_is_not_sent(
    market, queued, django_capture_on_commit_callbacks
):
    # given a user who asked for two addresses in a row, and for a reset, all queued, none sent yet
    user = market.user()
    User.objects.filter(pk=user.pk).update(email="me@example.com")
    client = signed_in(user)
    with django_capture_on_commit_callbacks(execute=True):
        email_post(client, "first@example.com")
        email_post(client, "second@example.com")
        reset_post(Client(), "me@example.com")
    first, second, reset = queued

    # when the worker comes to them two hours after the reset was asked for (the link made then would have expired:
    # the reset's request has lapsed)
    reset = {**reset, "requested": reset["requested"] - 2 * 3600}
    sent = [account_mail.apply(args=[m]).get() for m in (first, second, reset)]

    # then only the request that still stands is mailed: the newer request replaced the first, the reset lapsed
    assert sent == [False, True, False]
    assert [m.to for m in mail.outbox] == [["second@example.com"]]


def test_a_reset_link_is_not_sent_once_the_user_has_logged_in_since(market, queued, django_capture_on_commit_callbacks):
    user = market.user()
    User.objects.filter(pk=user.pk).update(email="me@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        reset_post(Client(), "me@example.com")

    signed_in(user)  # Django's reset token is bound to the last login

    assert account_mail.apply(args=[queued[0]]).get() is False and mail.outbox == []


# The links are made by the worker when it sends them (found by a review: the request made them and they went
# through Redis as the task's arguments, where anyone reading the broker could take an account over; and a link the
# worker sent late still promised its full lifetime)


def link_request(kind: str, user: User) -> None:
    """``user`` (address me@example.com, signed in) asks for a reset, or for new@example.com, and it commits."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        if kind == "password_reset":
            reset_post(Client(), "me@example.com")
        else:
            email_post(signed_in(user), "new@example.com")


def link_works(kind: str, user: User, token: str) -> bool:
    user = User.objects.get(pk=user.pk)
    if kind == "password_reset":
        return default_token_generator.check_token(user, token)
    try:
        return account_settings.email_link_read(user=user, token=token) == "new@example.com"
    except account_settings.err.DomainError:
        return False


_real_time, _real_now = time.time, default_token_generator._now


def clock_moved(monkeypatch, seconds: float) -> None:
    """Every clock the links read (``time.time``, the reset token's own) ``seconds`` after the real one."""
    monkeypatch.setattr(time, "time", lambda: _real_time() + seconds)
    monkeypatch.setattr(default_token_generator, "_now", lambda: _real_now() + timedelta(seconds=seconds))


@pytest.mark.parametrize("kind", ["password_reset", "email_confirm"])
def test_the_queued_message_names_the_mail_and_carries_no_link(market, queued, kind):
    # given a user with an address
    user = market.user()
    User.objects.filter(pk=user.pk).update(email="me@example.com")

    # when they ask for a link, and the request commits
    link_request(kind, user)

    # then the one message for the broker names the mail: its kind, user, address, key, the request's time and
    # state, the site; nothing else
    (message,) = queued
    to = "me@example.com" if kind == "password_reset" else "new@example.com"
    assert {k: message[k] for k in ("kind", "user_id", "to")} == {"kind": kind, "user_id": user.pk, "to": to}
    assert set(message) == {"kind", "user_id", "to", "key", "requested", "state", "site"}
    assert message["site"] == "http://testserver" and abs(message["requested"] - time.time()) < 60

    # when the worker sends it
    assert account_mail.apply(args=[message]).get() is True

    # then the mailed link works, and the message held neither it, nor its token, nor any value that opens a link
    (sent,) = mail.outbox
    path = link_in(sent)
    token = path.strip("/").split("/")[-1]
    assert link_works(kind, user, token)
    text = json.dumps(message)
    assert token not in text and path not in text
    assert "/password-reset/" not in text and "/settings/email/confirm/" not in text
    for value in message.values():
        assert not link_works(kind, user, str(value))
        assert not link_works("password_reset", user, str(value))


@pytest.mark.parametrize(("kind", "lifetime"), [("password_reset", 3600), ("email_confirm", 86400)])
def test_a_link_mailed_late_states_its_full_lifetime_and_has_it(market, queued, monkeypatch, kind, lifetime):
    # given a link asked for, whose mail the worker comes to 40 minutes later (retries, seals before it)
    user = market.user()
    User.objects.filter(pk=user.pk).update(email="me@example.com")
    link_request(kind, user)
    (message,) = queued
    clock_moved(monkeypatch, 40 * 60)

    # when it sends it
    assert account_mail.apply(args=[message]).get() is True

    # then the mail states the link's lifetime in full...
    (sent,) = mail.outbox
    en_part = sent.body.split("\n\n----\n\n")[1]
    assert f"within {'1 hour' if lifetime == 3600 else '24 hours'}" in en_part
    token = link_in(sent).strip("/").split("/")[-1]

    # ...and the link has it, counted from the send: it works just before, not after
    clock_moved(monkeypatch, 40 * 60 + lifetime - 2)
    assert link_works(kind, user, token)
    clock_moved(monkeypatch, 40 * 60 + lifetime + 2)
    assert not link_works(kind, user, token)


@pytest.mark.parametrize("kind", ["password_reset", "email_confirm"])
def test_a_link_made_late_in_a_second_still_works_for_its_whole_stated_lifetime(market, monkeypatch, kind):
    # given a link made 0.9 s into a second (Django's signer stamps the second it falls in, so its link ended
    # 0.9 s before the lifetime the mail states had run)
    user = market.user()
    User.objects.filter(pk=user.pk).update(email="me@example.com")
    user = User.objects.get(pk=user.pk)
    made = int(_real_time()) + 0.9
    clock_moved(monkeypatch, made - _real_time())
    if kind == "password_reset":
        token = account_settings.password_reset_url(user=user, site="").strip("/").split("/")[-1]
        lifetime = 3600
    else:
        token = account_settings.email_link_token(user=user, new_email="new@example.com")
        lifetime = 86400

    # when it is opened as its stated lifetime ends
    clock_moved(monkeypatch, made + lifetime - _real_time())

    # then it still works
    assert link_works(kind, user, token)


@pytest.mark.parametrize("kind", ["password_reset", "email_confirm"])
@pytest.mark.parametrize("change", ["deactivated", "password_changed", "address_removed", "lapsed"])
def test_the_worker_drops_a_link_whose_request_no_longer_stands(market, queued, kind, change):
    # given a link asked for and queued, then the user changed before the worker came to it
    user = market.user()
    User.objects.filter(pk=user.pk).update(email="me@example.com")
    link_request(kind, user)
    (message,) = queued
    user = User.objects.get(pk=user.pk)
    if change == "deactivated":
        User.objects.filter(pk=user.pk).update(is_active=False)
    elif change == "password_changed":
        account_settings.password_set(user=user, new_password=NEW_PASSWORD, reason="change")
    elif change == "address_removed":
        account_settings.email_remove(user=user)
    else:  # the worker comes after the link's lifetime of the request
        message = {**message, "requested": message["requested"] - (3600 if kind == "password_reset" else 86400) - 1}
    before = state(user)

    # when the worker comes to it
    sent = account_mail.apply(args=[message]).get()

    # then nothing is mailed, nor changed
    assert sent is False and mail.outbox == [] and state(user) == before


def test_a_link_lifetime_under_an_hour_reads_in_minutes(settings, market, django_capture_on_commit_callbacks):
    # given links that work for half an hour (found by a review: the pages and mails said "0 hours")
    settings.PASSWORD_RESET_TIMEOUT = 1800
    settings.EMAIL_CHANGE_LINK_SECONDS = 1800
    user = market.user()
    User.objects.filter(pk=user.pk).update(email="me@example.com")
    client = signed_in(user)

    # when a reset and an address change are asked for
    with django_capture_on_commit_callbacks(execute=True):
        page = Client().post("/password-reset/", {"email": "me@example.com"}, follow=True, HTTP_ACCEPT_LANGUAGE="en")
        changed = client.post(
            "/settings/email/", {"new_email": "new@example.com", "password": PASSWORD}, HTTP_ACCEPT_LANGUAGE="en"
        )
    shown = [str(m) for m in changed.wsgi_request._messages]

    # then the page, the message and both mails say 30 minutes, in every language, never 0 hours
    assert "It works once, within 30 minutes." in page.content.decode()
    assert any("Open it within 30 minutes, signed in as now" in m for m in shown)
    reset_mail, confirm_mail = mail.outbox
    assert "open this link within 30 minutes; it works once" in reset_mail.body
    assert "signed in as that user, within 30 minutes:" in confirm_mail.body
    for text in (page.content.decode(), *shown, reset_mail.body, confirm_mail.body):
        assert "0 hour" not in text and "0 小时" not in text


@pytest.mark.parametrize(
    ("seconds", "en"),
    [
        (60, "1 minute"),
        (1800, "30 minutes"),
        (3599, "59 minutes"),
        (3600, "1 hour"),
        (5400, "90 minutes"),
        (86400, "24 hours"),
        (30, "1 minute"),
    ],
)
def test_a_duration_reads_in_whole_hours_else_minutes(seconds, en):
    from core.labels import duration_text

    with translation.override("en"):
        assert duration_text(seconds) == en
