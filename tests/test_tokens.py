"""API tokens that end (core.tokens, docs/operations.md "API tokens"): a lifetime, ``DELETE auth/token/``, and
revocation by web logout, password change and deactivation. Every other user's token is left as it was."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.contrib.auth.hashers import make_password
from django.db import connections
from django.test import Client
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core.models import AuditEvent, Role, User
from core.tokens import token_issue
from tests.conftest import snapshot

PASSWORD = "pw-test-2026"
EXPIRED = "The API token has expired. Request a new one with POST /api/v1/auth/token/."


def login(user: User, *, header: str | None = None):
    """``POST auth/token/`` as a client would, optionally still sending an old ``Authorization`` header."""
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    return client.post("/api/v1/auth/token/", {"username": user.username, "password": PASSWORD}, format="json")


def with_token(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}", HTTP_ACCEPT_LANGUAGE="en")  # messages in English
    return client


def ping(key: str):
    return with_token(key).get("/api/v1/ping/")


def tokens() -> dict[str, tuple[str, object]]:
    """Every token: user name → (key, created)."""
    return {t.user.username: (t.key, t.created) for t in Token.objects.select_related("user")}


def revocations() -> list[tuple[str, str, str]]:
    return list(
        AuditEvent.objects.filter(action="api_token_revoke")
        .order_by("pk")
        .values_list("actor_username", "target", "detail__reason")
    )


def age(key: str, seconds: int) -> None:
    """Move the token's issue time back by ``seconds``."""
    Token.objects.filter(key=key).update(created=timezone.now() - timedelta(seconds=seconds))


@pytest.fixture
def two_users(market):
    """Two investors, each with a token from ``POST auth/token/``: (alice, alice's key, bob, bob's key)."""
    alice, bob = market.user(Role.INVESTOR), market.user(Role.INVESTOR)
    return alice, login(alice).json()["token"], bob, login(bob).json()["token"]


# --------------------------------------------------------------------------
# Issue and lifetime


def test_a_token_from_post_auth_token_works_and_says_when_it_ends(market, settings):
    # given
    user = market.user(Role.INVESTOR)

    # when
    resp = login(user)

    # then
    assert resp.status_code == 200
    body = resp.json()
    assert body.keys() == {"token", "expires_at"}
    token = Token.objects.get(user=user)
    assert body["token"] == token.key
    assert parse_datetime(body["expires_at"]) == token.created + timedelta(seconds=settings.API_TOKEN_TTL)
    assert settings.API_TOKEN_TTL == 8 * 3600  # the default: a working day
    assert ping(body["token"]).json() == {"ok": True}
    assert list(AuditEvent.objects.filter(action="api_token").values_list("target", "detail")) == [
        (user.username, {"new": True})
    ]


def test_post_auth_token_twice_within_the_lifetime_returns_the_same_token(two_users):
    # given
    alice, key, bob, bob_key = two_users
    age(key, 8 * 3600 - 60)  # a minute left
    before = tokens()

    # when
    resp = login(alice)

    # then the same token, unchanged, still working
    assert resp.status_code == 200
    assert resp.json()["token"] == key
    assert tokens() == before
    assert ping(key).status_code == 200
    assert list(AuditEvent.objects.filter(action="api_token", target=alice.username).values_list("detail")) == [
        ({"new": True},),
        ({"new": False},),
    ]


def test_an_expired_token_is_refused_deleted_and_a_new_login_gives_a_working_one(two_users):
    # given alice's token issued a working day ago
    alice, key, bob, bob_key = two_users
    age(key, 8 * 3600)
    business = snapshot()

    # when she uses it
    resp = ping(key)

    # then a 401 that says why, the token is gone, and nothing else changed
    assert resp.status_code == 401
    assert resp.json() == {"code": "token_expired", "message": EXPIRED}
    assert resp["WWW-Authenticate"] == "Token"
    assert set(tokens()) == {bob.username}
    assert ping(bob_key).status_code == 200
    assert snapshot() == business

    # when she logs in again, still sending the expired header
    again = login(alice, header=f"Token {key}")

    # then she gets a new token that works, and the old one stays refused
    assert again.status_code == 200
    new_key = again.json()["token"]
    assert new_key != key
    assert ping(new_key).json() == {"ok": True}
    assert ping(key).status_code == 401
    assert tokens()[bob.username][0] == bob_key


def test_login_replaces_an_expired_token_never_used_again(two_users):
    # given alice's token expired but still stored (she has not used it since)
    alice, key, bob, bob_key = two_users
    age(key, 9 * 3600)

    # when
    resp = login(alice)

    # then
    new_key = resp.json()["token"]
    assert new_key != key
    assert {u: k for u, (k, _) in tokens().items()} == {alice.username: new_key, bob.username: bob_key}
    assert ping(new_key).status_code == 200


def test_the_lifetime_is_the_api_token_ttl_setting(two_users, settings):
    # given a lifetime of a minute and alice's token two minutes old, bob's fresh
    alice, key, bob, bob_key = two_users
    settings.API_TOKEN_TTL = 60
    age(key, 120)

    # when / then
    assert ping(key).json()["message"] == EXPIRED
    assert ping(bob_key).status_code == 200
    assert set(tokens()) == {bob.username}


# --------------------------------------------------------------------------
# DELETE auth/token/


def test_delete_auth_token_revokes_the_callers_token_only(two_users):
    # given
    alice, key, bob, bob_key = two_users
    business = snapshot()

    # when
    resp = with_token(key).delete("/api/v1/auth/token/")

    # then
    assert resp.status_code == 204
    assert resp.content == b""
    assert ping(key).status_code == 401
    assert ping(key).json() == {"code": "authentication_failed", "message": "Invalid token."}
    assert set(tokens()) == {bob.username}
    assert ping(bob_key).status_code == 200
    assert revocations() == [(alice.username, alice.username, "api")]
    assert snapshot() == business


def test_delete_auth_token_without_a_token_is_401_and_deletes_nothing(two_users):
    # given alice signed in on the web, and her token
    alice, key, bob, bob_key = two_users
    web = APIClient()
    web.force_login(alice)
    before = tokens()

    # when she asks without a token: anonymously, with a session, or with a wrong key
    responses = [
        APIClient().delete("/api/v1/auth/token/"),
        web.delete("/api/v1/auth/token/"),
        with_token("0" * 40).delete("/api/v1/auth/token/"),
    ]

    # then each is a 401 and every token is as it was
    assert [r.status_code for r in responses] == [401, 401, 401]
    assert [r.json()["code"] for r in responses] == ["not_authenticated", "not_authenticated", "authentication_failed"]
    assert tokens() == before
    assert revocations() == []


# --------------------------------------------------------------------------
# Password change, deactivation, web logout


def test_a_password_change_revokes_the_users_token(two_users):
    # given
    alice, key, bob, bob_key = two_users

    # when (as manage.py changepassword does)
    alice.set_password("another-pw-2026")
    alice.save()

    # then
    assert ping(key).status_code == 401
    assert set(tokens()) == {bob.username}
    assert ping(bob_key).status_code == 200
    assert revocations() == [("", alice.username, "password_changed")]


def test_disabling_the_password_revokes_the_users_token(two_users):
    # given
    alice, key, bob, bob_key = two_users

    # when
    alice.set_unusable_password()
    alice.save()

    # then
    assert ping(key).status_code == 401
    assert set(tokens()) == {bob.username}
    assert revocations() == [("", alice.username, "password_changed")]


def test_saving_a_user_without_a_password_change_keeps_the_token(two_users):
    # given
    alice, key, bob, bob_key = two_users
    before = tokens()

    # when
    alice.first_name = "Alice"
    alice.save()

    # then
    assert tokens() == before
    assert ping(key).status_code == 200
    assert revocations() == []


def test_a_password_hash_upgrade_at_login_is_not_a_password_change(two_users):
    # given alice's password stored with a salt too short for the hasher, which Django re-hashes at login
    alice, key, bob, bob_key = two_users
    weak = make_password(PASSWORD, salt="abc", hasher="md5")
    User.objects.filter(pk=alice.pk).update(password=weak)

    # when
    resp = login(alice)

    # then the hash was upgraded, and she keeps her token
    assert User.objects.get(pk=alice.pk).password != weak
    assert resp.json()["token"] == key
    assert ping(key).status_code == 200
    assert revocations() == []


def test_deactivation_revokes_the_users_token(two_users):
    # given
    alice, key, bob, bob_key = two_users

    # when
    alice.is_active = False
    alice.save()

    # then the token is deleted, not merely refused
    assert not Token.objects.filter(key=key).exists()
    assert ping(key).status_code == 401
    assert set(tokens()) == {bob.username}
    assert ping(bob_key).status_code == 200
    assert revocations() == [("", alice.username, "deactivated")]


def test_a_bulk_deactivation_deletes_the_token_at_its_next_use(two_users):
    # given alice deactivated by an UPDATE, which skips User.save: her token is still stored
    alice, key, bob, bob_key = two_users
    User.objects.filter(pk=alice.pk).update(is_active=False)
    assert Token.objects.filter(key=key).exists()

    # when
    resp = ping(key)

    # then
    assert resp.status_code == 401
    assert resp.json() == {"code": "authentication_failed", "message": "Invalid token."}
    assert set(tokens()) == {bob.username}
    assert revocations() == [("", alice.username, "deactivated")]


def test_a_deactivated_user_gets_no_new_token(two_users):
    # given
    alice, key, bob, bob_key = two_users
    alice.is_active = False
    alice.save()

    # when
    resp = login(alice)

    # then
    assert resp.status_code == 400
    assert resp.json()["code"] == "invalid_credentials"
    assert set(tokens()) == {bob.username}


def test_web_logout_revokes_the_users_token(two_users):
    # given alice signed in on the web with her password, and holding an API token
    alice, key, bob, bob_key = two_users
    web = Client()
    assert web.post("/login/", {"username": alice.username, "password": PASSWORD}).status_code == 302

    # when
    resp = web.post("/logout/")

    # then
    assert resp["Location"] == "/login/"
    assert ping(key).status_code == 401
    assert set(tokens()) == {bob.username}
    assert ping(bob_key).status_code == 200
    assert revocations() == [(alice.username, alice.username, "logout")]


def test_a_logout_without_a_session_revokes_nothing(two_users):
    # given
    before = tokens()

    # when
    resp = Client().post("/logout/")

    # then
    assert resp.status_code == 302
    assert tokens() == before
    assert revocations() == []


# --------------------------------------------------------------------------
# Races, on committed transactions


@pytest.mark.django_db(transaction=True)
def test_concurrent_logins_after_expiry_all_get_the_same_new_token():
    # given a user whose token has expired
    user = User.objects.create_user(username="racer", password=PASSWORD)
    old = token_issue(user=user).key
    age(old, 9 * 3600)
    barrier = threading.Barrier(8)

    def issue():
        try:
            barrier.wait()
            return token_issue(user=user).key
        finally:
            connections.close_all()

    # when eight logins race
    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = list(pool.map(lambda _: issue(), range(8)))

    # then one new token, given to all of them
    assert len(set(keys)) == 1
    assert keys[0] != old
    assert list(Token.objects.values_list("key", flat=True)) == [keys[0]]
