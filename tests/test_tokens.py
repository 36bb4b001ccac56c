"""API tokens (core.tokens, docs/operations.md "API tokens"): several per user, stored as digests, each with an
end; login tokens from ``POST auth/token/`` end with a web logout, named system tokens do not; ``DELETE``
revokes the one token it carries; a password change or deactivation ends them all. Every other user's tokens,
and the user's other tokens, are left as they were."""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.contrib.auth.hashers import make_password
from django.db import connection, connections
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext
from rest_framework.test import APIClient

from core import account_settings
from core.models import ApiToken, AuditEvent, Role, User
from core.tokens import token_create, token_digest, token_issue
from tests.conftest import snapshot
from tests.test_restriction_race import WAIT, start, stopped_in, waits_for_a_lock

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


def with_session(user: User) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def ping(key: str):
    return with_token(key).get("/api/v1/ping/")


def token_of(key: str) -> ApiToken:
    return ApiToken.objects.get(digest=token_digest(key))


def tokens() -> dict[int, tuple]:
    """Every token row: id → (user name, kind, name, revoked reason, expires_at)."""
    return {
        t.pk: (t.user.username, t.kind, t.name, t.revoked_reason, t.expires_at)
        for t in ApiToken.objects.select_related("user")
    }


def working(*keys: str) -> list[int]:
    return [ping(key).status_code for key in keys]


def revocations() -> list[tuple[str, str, str, str]]:
    return list(
        AuditEvent.objects.filter(action="api_token_revoke")
        .order_by("pk")
        .values_list("actor_username", "target", "detail__name", "detail__reason")
    )


def age(key: str, seconds: int) -> None:
    """Move the token's issue time back by ``seconds`` (its stored end with it)."""
    token = token_of(key)
    shift = timedelta(seconds=seconds)
    ApiToken.objects.filter(pk=token.pk).update(created=token.created - shift, expires_at=token.expires_at - shift)


def system_token(user: User, name: str = "back office", days: int = 30) -> str:
    return token_create(user=user, name=name, days=days).key


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
    token = ApiToken.objects.get(user=user)
    assert (token.digest, token.prefix) == (hashlib.sha256(body["token"].encode()).hexdigest(), body["token"][:8])
    assert (token.kind, token.name, token.revoked_at, token.last_used_at) == ("login", "login", None, None)
    assert len(body["token"]) == 40 and int(body["token"], 16) >= 0  # the shape DRF's keys had
    assert parse_datetime(body["expires_at"]) == token.created + timedelta(seconds=settings.API_TOKEN_TTL)
    assert settings.API_TOKEN_TTL == 8 * 3600  # the default: a working day
    assert ping(body["token"]).json() == {"ok": True}
    assert list(AuditEvent.objects.filter(action="api_token").values_list("target", "detail")) == [
        (
            user.username,
            {"id": token.pk, "name": "login", "kind": "login", "expires_at": token.expires_at.isoformat()},
        )
    ]


def test_each_post_auth_token_issues_a_new_token_and_both_work(two_users):
    # given alice's first token and bob's
    alice, key, bob, bob_key = two_users
    before = tokens()

    # when she logs in again (a second system of hers)
    resp = login(alice)

    # then a second token, and both work; nothing else changed
    assert resp.status_code == 200
    second = resp.json()["token"]
    assert second != key
    assert working(key, second, bob_key) == [200, 200, 200]
    after = tokens()
    assert {pk: row for pk, row in after.items() if pk in before} == before
    assert [row[:4] for pk, row in after.items() if pk not in before] == [(alice.username, "login", "login", "")]


def test_revoking_one_of_two_tokens_leaves_the_other(two_users):
    # given alice's two login tokens
    alice, key, bob, bob_key = two_users
    second = login(alice).json()["token"]

    # when she revokes the first with it
    assert with_token(key).delete("/api/v1/auth/token/").status_code == 204

    # then the first is refused, the second and bob's still work
    assert working(key, second, bob_key) == [401, 200, 200]
    assert revocations() == [(alice.username, alice.username, "login", "api")]


def test_an_expired_token_is_refused_and_a_new_login_gives_a_working_one(two_users):
    # given alice's token issued a working day ago, and her system token
    alice, key, bob, bob_key = two_users
    system = system_token(alice)
    age(key, 8 * 3600)
    business = snapshot()
    before = tokens()

    # when she uses it
    resp = ping(key)

    # then a 401 that says why, as before; her other token, bob's, and everything else as they were
    assert resp.status_code == 401
    assert resp.json() == {"code": "token_expired", "message": EXPIRED}
    assert resp["WWW-Authenticate"] == "Token"
    assert working(system, bob_key) == [200, 200]
    assert tokens() == before
    assert snapshot() == business

    # when she logs in again, still sending the expired header
    again = login(alice, header=f"Token {key}")

    # then she gets a new token that works, and the old one stays refused
    assert again.status_code == 200
    new_key = again.json()["token"]
    assert new_key != key
    assert ping(new_key).json() == {"ok": True}
    assert ping(key).json()["code"] == "token_expired"


def test_the_lifetime_is_the_api_token_ttl_setting(two_users, settings):
    # given a lifetime lowered to a minute, alice's token two minutes old, bob's fresh
    alice, key, bob, bob_key = two_users
    settings.API_TOKEN_TTL = 60
    age(key, 120)

    # when / then the lower lifetime ends hers at its next use, though it was issued for longer
    assert ping(key).json()["message"] == EXPIRED
    assert ping(bob_key).status_code == 200


def test_a_system_token_ends_when_its_days_are_over_or_the_maximum_is_lowered(market, settings):
    # given two system tokens of 30 and 10 days, the first 20 days old
    user = market.user(Role.INVESTOR)
    month, ten = system_token(user, "month", 30), system_token(user, "ten", 10)
    age(month, 20 * 86400)

    # when the operator lowers the longest lifetime to 15 days
    settings.API_TOKEN_MAX_DAYS = 15

    # then the 20-day-old one has ended, the other goes on
    assert working(month, ten) == [401, 200]
    assert ping(month).json()["code"] == "token_expired"

    # when the fresh one's own ten days are over
    age(ten, 10 * 86400)

    # then it ends too
    assert ping(ten).json()["code"] == "token_expired"


def test_beyond_the_login_limit_a_login_revokes_the_oldest_login_token(market, settings):
    # given a limit of two live login tokens, a user with two and a system token
    settings.API_TOKEN_LOGIN_LIMIT = 2
    user = market.user(Role.INVESTOR)
    first, second = login(user).json()["token"], login(user).json()["token"]
    system = system_token(user)

    # when a third login
    third = login(user).json()["token"]

    # then the oldest login token is revoked, the rest work
    assert working(first, second, third, system) == [401, 200, 200, 200]
    assert revocations() == [("", user.username, "login", "replaced")]


def test_last_use_is_written_at_most_once_a_minute(two_users):
    # given alice's token, never used
    alice, key, bob, bob_key = two_users

    # when she uses it twice
    ping(key)
    first = token_of(key).last_used_at
    ping(key)

    # then its last use is the first request's (the second wrote nothing), bob's untouched
    assert first is not None and token_of(key).last_used_at == first
    assert token_of(bob_key).last_used_at is None

    # when it was last used over a minute ago
    ApiToken.objects.filter(digest=token_digest(key)).update(last_used_at=first - timedelta(seconds=61))
    ping(key)

    # then the use is recorded again
    assert token_of(key).last_used_at > first


def test_rows_of_tokens_ended_over_30_days_ago_are_deleted_at_the_users_next_issue(two_users):
    # given alice's tokens revoked 31 and 29 days ago, one expired 31 days ago, and bob's revoked 31 days ago
    alice, key, bob, bob_key = two_users
    old, recent, expired = (login(alice).json()["token"] for _ in range(3))
    for k in (old, recent, bob_key):
        with_token(k).delete("/api/v1/auth/token/")
    now = timezone.now()
    for k, days in ((old, 31), (recent, 29), (bob_key, 31)):
        ApiToken.objects.filter(digest=token_digest(k)).update(revoked_at=now - timedelta(days=days))
    age(expired, 31 * 86400 + 8 * 3600)
    ended = {token_of(old).pk, token_of(expired).pk}
    before = tokens()

    # when alice logs in
    login(alice)

    # then her two rows ended over 30 days ago are gone; every other row is as it was
    after = tokens()
    assert set(before) - set(after) == ended
    assert {pk: row for pk, row in after.items() if pk in before} == {
        pk: row for pk, row in before.items() if pk not in ended
    }
    assert ping(key).status_code == 200


# --------------------------------------------------------------------------
# Storage


def test_the_database_holds_no_key_in_clear(two_users):
    # given login and system tokens, used, one revoked
    alice, key, bob, bob_key = two_users
    system = system_token(alice)
    keys = [key, bob_key, system, login(alice).json()["token"]]
    for k in keys:
        ping(k)
    with_token(bob_key).delete("/api/v1/auth/token/")

    # when every table is searched for each key as text
    found = {}
    with connection.cursor() as cur:
        for table in connection.introspection.table_names():
            for k in keys:
                cur.execute(f'SELECT count(*) FROM "{table}" AS t WHERE t::text LIKE %s', [f"%{k}%"])
                if cur.fetchone()[0]:
                    found[table] = k

    # then none holds one; each token's row has its digest and its first 8 characters
    assert found == {}
    assert [(token_of(k).digest, token_of(k).prefix) for k in keys] == [
        (hashlib.sha256(k.encode()).hexdigest(), k[:8]) for k in keys
    ]


def test_an_unknown_key_is_refused_in_drfs_words(two_users):
    # given
    before = tokens()

    # when
    responses = [ping("0" * 40), ping("x"), ping("z" * 300)]

    # then
    assert [r.json() for r in responses] == [{"code": "authentication_failed", "message": "Invalid token."}] * 3
    assert tokens() == before


# --------------------------------------------------------------------------
# DELETE auth/token/


def test_delete_auth_token_revokes_the_callers_token_only(two_users):
    # given alice's login token, her system token, bob's
    alice, key, bob, bob_key = two_users
    system = system_token(alice)
    business = snapshot()

    # when
    resp = with_token(key).delete("/api/v1/auth/token/")

    # then that one token is revoked (its row kept, marked), the others work
    assert resp.status_code == 204
    assert resp.content == b""
    assert ping(key).json() == {"code": "authentication_failed", "message": "Invalid token."}
    assert working(system, bob_key) == [200, 200]
    token = token_of(key)
    assert (token.revoked_by, token.revoked_reason) == (alice, "api") and token.revoked_at is not None
    assert revocations() == [(alice.username, alice.username, "login", "api")]
    assert snapshot() == business


def test_delete_auth_token_without_a_token_is_401_and_revokes_nothing(two_users):
    # given alice signed in on the web, and her token
    alice, key, bob, bob_key = two_users
    before = tokens()

    # when she asks without a token: anonymously, with a session, or with a wrong key
    responses = [
        APIClient().delete("/api/v1/auth/token/"),
        with_session(alice).delete("/api/v1/auth/token/"),
        with_token("0" * 40).delete("/api/v1/auth/token/"),
    ]

    # then each is a 401 and every token is as it was
    assert [r.status_code for r in responses] == [401, 401, 401]
    assert [r.json()["code"] for r in responses] == ["not_authenticated", "not_authenticated", "authentication_failed"]
    assert tokens() == before
    assert revocations() == []


# --------------------------------------------------------------------------
# Password change, deactivation, web logout


def test_a_password_change_revokes_every_token_of_the_user(two_users):
    # given alice's login token and her system token
    alice, key, bob, bob_key = two_users
    system = system_token(alice)

    # when (as manage.py changepassword does)
    alice.set_password("another-pw-2026")
    alice.save()

    # then both end; bob's works
    assert working(key, system, bob_key) == [401, 401, 200]
    assert sorted(revocations()) == [
        ("", alice.username, "back office", "password_changed"),
        ("", alice.username, "login", "password_changed"),
    ]


def test_disabling_the_password_revokes_every_token_of_the_user(two_users):
    # given
    alice, key, bob, bob_key = two_users
    system = system_token(alice)

    # when
    alice.set_unusable_password()
    alice.save()

    # then
    assert working(key, system, bob_key) == [401, 401, 200]
    assert {r[3] for r in revocations()} == {"password_changed"}


def test_saving_a_user_without_a_password_change_keeps_the_tokens(two_users):
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

    # then the hash was upgraded, and she keeps her first token beside the new one
    assert User.objects.get(pk=alice.pk).password != weak
    assert working(key, resp.json()["token"]) == [200, 200]
    assert revocations() == []


def test_deactivation_revokes_every_token_of_the_user(two_users):
    # given
    alice, key, bob, bob_key = two_users
    system = system_token(alice)

    # when
    alice.is_active = False
    alice.save()

    # then
    assert working(key, system, bob_key) == [401, 401, 200]
    assert ApiToken.objects.filter(user=alice, revoked_at__isnull=True).count() == 0
    assert {r[3] for r in revocations()} == {"deactivated"}


def test_a_bulk_deactivation_revokes_the_tokens_at_the_next_use_of_one(two_users):
    # given alice deactivated by an UPDATE, which skips User.save: her tokens are still live
    alice, key, bob, bob_key = two_users
    system = system_token(alice)
    User.objects.filter(pk=alice.pk).update(is_active=False)

    # when
    resp = ping(key)

    # then refused, and every token of hers revoked
    assert resp.status_code == 401
    assert resp.json() == {"code": "authentication_failed", "message": "Invalid token."}
    assert ApiToken.objects.filter(user=alice, revoked_at__isnull=True).count() == 0
    assert working(system, bob_key) == [401, 200]
    assert {r[3] for r in revocations()} == {"deactivated"}


def test_a_deactivated_user_gets_no_new_token(two_users):
    # given
    alice, key, bob, bob_key = two_users
    alice.is_active = False
    alice.save()
    before = tokens()

    # when
    resp = login(alice)

    # then
    assert resp.status_code == 400
    assert resp.json()["code"] == "invalid_credentials"
    assert tokens() == before


def test_web_logout_ends_the_login_tokens_and_keeps_the_system_tokens(two_users):
    # given alice signed in on the web with her password, holding a login token and a system token
    alice, key, bob, bob_key = two_users
    system = system_token(alice)
    web = Client()
    assert web.post("/login/", {"username": alice.username, "password": PASSWORD}).status_code == 302

    # when
    resp = web.post("/logout/")

    # then her login token ends, her system's token and bob's go on
    assert resp["Location"] == "/login/"
    assert working(key, system, bob_key) == [401, 200, 200]
    assert revocations() == [(alice.username, alice.username, "login", "logout")]


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
# Named system tokens: auth/tokens/


def test_a_web_session_creates_a_named_token_shown_once_that_works(two_users):
    # given alice signed in on the web
    alice, key, bob, bob_key = two_users
    session = with_session(alice)

    # when she creates a system token of 60 days
    resp = session.post(
        "/api/v1/auth/tokens/", {"name": "  Back office  ", "days": 60, "password": PASSWORD}, format="json"
    )

    # then its key is in the answer, once, and works; the list shows it without a key
    assert resp.status_code == 201
    body = resp.json()
    new_key = body.pop("token")
    token = token_of(new_key)
    assert body == {
        "id": token.pk,
        "name": "Back office",
        "kind": "system",
        "prefix": new_key[:8],
        "created": body["created"],
        "expires_at": body["expires_at"],
        "last_used_at": None,
    }
    assert parse_datetime(body["expires_at"]) - parse_datetime(body["created"]) == timedelta(days=60)
    assert ping(new_key).status_code == 200
    listed = session.get("/api/v1/auth/tokens/").json()
    assert [(t["name"], t["kind"]) for t in listed["results"]] == [("Back office", "system"), ("login", "login")]
    assert all("token" not in t for t in listed["results"])
    assert new_key not in str(listed)
    issued = AuditEvent.objects.filter(action="api_token", detail__id=token.pk).get()
    assert (issued.actor, issued.detail["name"], issued.detail["kind"]) == (alice, "Back office", "system")
    assert new_key not in str(AuditEvent.objects.values_list("detail", flat=True))


def test_a_named_token_without_days_lasts_thirty(market):
    # given
    user = market.user(Role.INVESTOR)

    # when
    resp = with_session(user).post("/api/v1/auth/tokens/", {"name": "risk", "password": PASSWORD}, format="json")

    # then
    token = ApiToken.objects.get(user=user)
    assert resp.status_code == 201 and token.expires_at - token.created == timedelta(days=30)


def test_a_token_cannot_mint_a_named_token(two_users):
    # given alice's login token
    alice, key, bob, bob_key = two_users
    before = tokens()

    # when she asks for a system token with it
    resp = with_token(key).post(
        "/api/v1/auth/tokens/", {"name": "persist", "days": 90, "password": PASSWORD}, format="json"
    )

    # then a 403, and no token
    assert resp.status_code == 403
    assert resp.json()["code"] == "token_cannot_mint"
    assert tokens() == before
    assert AuditEvent.objects.filter(action="api_token").count() == 2  # the fixture's two logins


@pytest.mark.parametrize(
    "body",
    [
        {"name": "", "days": 30, "password": PASSWORD},
        {"name": "   ", "days": 30, "password": PASSWORD},
        {"name": "x" * 101, "days": 30, "password": PASSWORD},
        {"days": 30, "password": PASSWORD},
        {"name": 5, "days": 30, "password": PASSWORD},
        {"name": "ok", "days": 91, "password": PASSWORD},
        {"name": "ok", "days": 0, "password": PASSWORD},
        {"name": "ok", "days": -3, "password": PASSWORD},
        {"name": "ok", "days": "30", "password": PASSWORD},
        {"name": "ok", "days": 1.5, "password": PASSWORD},
        {"name": "ok", "days": True, "password": PASSWORD},
        {"name": "ok", "days": 10**30, "password": PASSWORD},
        {"name": "ok", "days": 30, "scope": "all", "password": PASSWORD},
        {"name": "bell\x07", "days": 30, "password": PASSWORD},
        {"name": "ok", "days": 30},
        {"name": "ok", "days": 30, "password": None},
        ["name", "ok"],
    ],
)
def test_bad_input_to_create_a_named_token_is_a_400_and_creates_nothing(market, body):
    # given
    user = market.user(Role.INVESTOR)

    # when
    resp = with_session(user).post("/api/v1/auth/tokens/", body, format="json")

    # then
    assert resp.status_code == 400
    assert resp.json()["code"] in {"invalid_input", "validation_error", "parse_error"}
    assert ApiToken.objects.count() == 0
    assert not AuditEvent.objects.filter(action="api_token").exists()


def test_a_body_that_is_not_json_is_refused(market):
    user = market.user(Role.INVESTOR)
    resp = with_session(user).post("/api/v1/auth/tokens/", "name=ok", content_type="text/plain")
    assert resp.status_code == 415
    assert ApiToken.objects.count() == 0


def test_beyond_the_system_limit_a_named_token_is_refused(market, settings):
    # given a limit of two and a user with two system tokens
    settings.API_TOKEN_SYSTEM_LIMIT = 2
    user = market.user(Role.INVESTOR)
    system_token(user, "a"), system_token(user, "b")
    before = tokens()

    # when
    resp = with_session(user).post("/api/v1/auth/tokens/", {"name": "c", "password": PASSWORD}, format="json")

    # then
    assert resp.status_code == 409 and resp.json()["code"] == "too_many_tokens"
    assert tokens() == before


def test_delete_auth_tokens_id_revokes_that_token_only(two_users):
    # given alice's login token and two system tokens
    alice, key, bob, bob_key = two_users
    one, two = system_token(alice, "one"), system_token(alice, "two")

    # when she revokes "one" with her login token
    resp = with_token(key).delete(f"/api/v1/auth/tokens/{token_of(one).pk}/")

    # then only "one" ends; the list no longer has it
    assert resp.status_code == 204
    assert working(one, two, key, bob_key) == [401, 200, 200, 200]
    names = [t["name"] for t in with_token(key).get("/api/v1/auth/tokens/").json()["results"]]
    assert sorted(names) == ["login", "two"]
    assert revocations() == [(alice.username, alice.username, "one", "api")]


def test_another_users_token_id_is_a_404_and_changes_nothing(two_users):
    # given bob's system token, and an id no token has
    alice, key, bob, bob_key = two_users
    bobs = token_of(system_token(bob))
    before = tokens()
    missing = max(before) + 1000

    # when alice tries to revoke it (with her token, then her session), or an unknown id, or a huge one
    responses = [
        with_token(key).delete(f"/api/v1/auth/tokens/{bobs.pk}/"),
        with_session(alice).delete(f"/api/v1/auth/tokens/{bobs.pk}/"),
        with_token(key).delete(f"/api/v1/auth/tokens/{missing}/"),
        with_token(key).delete(f"/api/v1/auth/tokens/{10**30}/"),
    ]

    # then each is a 404 and nothing changed
    assert [r.status_code for r in responses] == [404] * 4
    assert {r.json()["code"] for r in responses} == {"not_found"}
    assert tokens() == before
    assert revocations() == []


def test_the_list_shows_only_the_callers_tokens_that_work(two_users):
    # given alice's login token, a revoked one, an expired one, a system token, and bob's
    alice, key, bob, bob_key = two_users
    revoked, expired = login(alice).json()["token"], login(alice).json()["token"]
    with_token(revoked).delete("/api/v1/auth/token/")
    age(expired, 9 * 3600)
    system_token(alice, "desk")
    system_token(bob, "bob's")

    # when
    resp = with_token(key).get("/api/v1/auth/tokens/")

    # then
    assert resp.status_code == 200
    desk = ApiToken.objects.get(user=alice, name="desk")
    assert [(t["id"], t["name"], t["prefix"]) for t in resp.json()["results"]] == [
        (desk.pk, "desk", desk.prefix),
        (token_of(key).pk, "login", key[:8]),
    ]


def test_the_token_list_needs_a_login(db):
    assert APIClient().get("/api/v1/auth/tokens/").status_code == 401
    assert APIClient().post("/api/v1/auth/tokens/", {"name": "x"}, format="json").status_code == 401


# --------------------------------------------------------------------------
# The settings page


def test_the_page_creates_a_token_shows_it_once_and_revokes_it(market):
    # given an investor signed in on the web
    user = market.user(Role.INVESTOR)
    other = market.user(Role.INVESTOR)
    others = token_of(system_token(other, "not yours"))
    web = Client(HTTP_ACCEPT_LANGUAGE="en")
    web.force_login(user)

    # when she opens the page
    empty = web.get("/settings/api-tokens/")

    # then no token, and the form
    assert empty.status_code == 200
    assert b'id="no-api-tokens"' in empty.content and b'id="api-token-new"' in empty.content
    assert b"not yours" not in empty.content

    # when she creates one
    created = web.post("/settings/api-tokens/", {"name": "Back office", "days": "45", "password": PASSWORD})

    # then its key is on the page, once, and works
    assert created.status_code == 200
    token = ApiToken.objects.get(user=user)
    key = created.context["created"].key
    assert token.digest == token_digest(key) and token.expires_at - token.created == timedelta(days=45)
    assert f'value="{key}"'.encode() in created.content and b'id="api-token-copy"' in created.content
    assert ping(key).status_code == 200
    again = web.get("/settings/api-tokens/")
    assert key.encode() not in again.content
    assert f'data-token="{token.pk}"'.encode() in again.content and token.prefix.encode() in again.content

    # when she revokes another user's token by its id
    refused = web.post(f"/settings/api-tokens/{others.pk}/revoke/")

    # then nothing changes
    assert refused.status_code == 302
    assert ApiToken.objects.get(pk=others.pk).revoked_at is None

    # when she revokes her own (the form asks first, in the browser)
    assert b"data-confirm=" in again.content
    revoked = web.post(f"/settings/api-tokens/{token.pk}/revoke/", follow=True)

    # then it is refused from now on, and gone from the page
    assert revoked.status_code == 200
    assert ping(key).status_code == 401
    assert f'data-token="{token.pk}"'.encode() not in revoked.content
    assert revocations() == [(user.username, user.username, "Back office", "page")]


@pytest.mark.parametrize(
    "form",
    [
        {"name": "", "days": "30", "password": PASSWORD},
        {"name": "ok", "days": "91", "password": PASSWORD},
        {"name": "ok", "days": "x", "password": PASSWORD},
    ],
)
def test_the_page_refuses_bad_input_with_form_errors_and_creates_nothing(market, form):
    # given
    user = market.user(Role.INVESTOR)
    web = Client()
    web.force_login(user)

    # when
    resp = web.post("/settings/api-tokens/", form)

    # then
    assert resp.status_code == 400
    assert resp.context["form"].errors
    assert resp.context["created"] is None
    assert ApiToken.objects.count() == 0


@pytest.mark.parametrize("name", ["bell\x07", "\u202egnp.exe"])
def test_the_page_refuses_a_name_with_a_control_character_or_a_direction_override(market, name):
    # given an investor on the tokens page
    user = market.user(Role.INVESTOR)
    web = Client()
    web.force_login(user)

    # when the name holds a bell or a right-to-left override (the API refuses both)
    resp = web.post(
        "/settings/api-tokens/", {"name": name, "days": "30", "password": PASSWORD}, HTTP_ACCEPT_LANGUAGE="en"
    )

    # then it is a 400 saying so, as every page's form (core.middleware.RejectNulInForms), and no token is made
    assert resp.status_code == 400
    assert b"Control characters (an escape, a bell, a text direction override) are not allowed" in resp.content
    assert ApiToken.objects.count() == 0


def test_the_page_needs_a_login(db):
    resp = Client().get("/settings/api-tokens/")
    assert resp.status_code == 302 and resp["Location"].startswith("/login/")


def test_the_page_is_in_chinese_by_default(market):
    user = market.user(Role.INVESTOR)
    web = Client()
    web.force_login(user)
    resp = web.get("/settings/api-tokens/")
    assert resp.status_code == 200 and resp.headers["Content-Language"] == "zh-hans"


# --------------------------------------------------------------------------
# The upgrade: DRF's tokens, keys in clear, become digests


OLD_SCHEMA = """
CREATE TABLE authtoken_token (
    key varchar(40) PRIMARY KEY,
    created timestamp with time zone NOT NULL,
    user_id bigint NOT NULL UNIQUE REFERENCES exchange_user (id) DEFERRABLE INITIALLY DEFERRED
)
"""


@pytest.mark.django_db(transaction=True)
def test_a_token_issued_before_the_upgrade_still_works_and_its_key_is_gone():
    # given the schema before core 0008, with DRF's token table holding a live key and an expired one
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes()
    executor.migrate([("core", "0007_api_token")])
    live_user = User.objects.create_user(username="old-live", password=PASSWORD)
    stale_user = User.objects.create_user(username="old-stale", password=PASSWORD)
    live, stale = "a1" * 20, "b2" * 20
    issued = timezone.now() - timedelta(hours=1)
    with connection.cursor() as cur:
        cur.execute(OLD_SCHEMA)
        cur.execute(
            "INSERT INTO authtoken_token VALUES (%s, %s, %s), (%s, %s, %s)",
            [live, issued, live_user.pk, stale, timezone.now() - timedelta(hours=9), stale_user.pk],
        )
        cur.execute("INSERT INTO django_migrations (app, name, applied) VALUES ('authtoken', '0001_initial', now())")

    # when the exchange migrates
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(leaves)

    # then the live key works, as a login token issued when it was, and ends a working day after that
    assert ping(live).json() == {"ok": True}
    token = token_of(live)
    assert (token.user, token.kind, token.name, token.created) == (live_user, "login", "login", issued)
    assert token.expires_at == issued + timedelta(hours=8)
    # the expired one was not moved; the old table and its migrations' records are gone
    assert ping(stale).status_code == 401
    assert not ApiToken.objects.filter(user=stale_user).exists()
    assert "authtoken_token" not in connection.introspection.table_names()
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM django_migrations WHERE app = 'authtoken'")
        assert cur.fetchone()[0] == 0

    # and logging out on the web ends it like any login token
    web = Client()
    web.force_login(live_user)
    web.post("/logout/")
    assert ping(live).status_code == 401

    # when the upgrade is rolled back past the new table, then done again
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([("core", "0006_trading_restriction")])
    tables = connection.introspection.table_names()
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(leaves)

    # then the rollback dropped the tokens' table (the keys cannot come back), and the upgrade made it again
    assert "core_apitoken" not in tables and "authtoken_token" not in tables
    assert ApiToken.objects.count() == 0
    assert ping(live).status_code == 401


# --------------------------------------------------------------------------
# Races, on committed transactions


@pytest.mark.django_db(transaction=True)
def test_concurrent_logins_each_get_a_working_token():
    # given a user
    user = User.objects.create_user(username="racer", password=PASSWORD)
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

    # then eight tokens, each working
    assert len(set(keys)) == 8
    assert ApiToken.objects.filter(user=user, revoked_at__isnull=True).count() == 8
    assert working(*keys) == [200] * 8


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("issue", "code"),
    [
        (lambda user: token_issue(user=user), "invalid_credentials"),
        (lambda user: token_create(user=user, name="back office", days=30), "wrong_password"),
    ],
    ids=["login", "named"],
)
def test_a_token_asked_for_with_the_password_a_change_then_replaced_is_refused(issue, code):
    # (found by many logins at once against a live server while the password changed: a login checked the old
    # password, waited for the user's row while the change revoked every token, then issued one that outlived it)
    # given alice's password checked (the user as the check read her), and her password change holding her row
    alice = User.objects.create_user(username="alice", password=PASSWORD)
    checked = User.objects.get(pk=alice.pk)
    new_password = "Another-pass-2026-x"
    with stopped_in(account_settings, "audit_record", thread="change") as stop:
        change = start(
            "change",
            lambda: account_settings.password_set(
                user=User.objects.get(pk=alice.pk), new_password=new_password, reason="change"
            ),
        )
        assert stop.reached.wait(WAIT)

        # when the token is asked for meanwhile, and the change commits
        asking = start("ask", lambda: issue(checked))
        waits_for_a_lock(asking)
        stop.go.set()
        assert change.result() is None

    # then no token: refused as a wrong password (which it now is); the new password is hers
    refused = asking.result()
    assert getattr(refused, "code", refused) == code
    assert ApiToken.objects.filter(user=alice).count() == 0
    assert User.objects.get(pk=alice.pk).check_password(new_password)


@pytest.mark.parametrize("issue", [token_issue, token_create], ids=["login", "named"])
def test_a_token_asked_for_by_a_user_deactivated_since_the_password_check_is_refused(two_users, issue):
    # given alice as her password check found her, then deactivated (her tokens revoked)
    alice, key, bob, bob_key = two_users
    checked = User.objects.get(pk=alice.pk)
    alice.is_active = False
    alice.save()
    before = tokens()

    # when
    kwargs = {"name": "back office", "days": 30} if issue is token_create else {}
    with pytest.raises(Exception) as refused:
        issue(user=checked, **kwargs)

    # then no token; bob's goes on
    assert refused.value.code in ("invalid_credentials", "wrong_password")
    assert tokens() == before
    assert working(bob_key) == [200]


def test_a_named_token_needs_the_current_password_on_the_api_and_the_page(market):
    # (found by a review: a session taken over, at an unlocked desk or by a stolen cookie, could mint itself a key
    # of 90 days that outlives the session's logout; a change of email or password asks for the password)
    user = market.user(Role.INVESTOR)
    web = Client()
    web.force_login(user)
    before = tokens()

    # when the password given is wrong, on the API and on the page
    api = with_session(user).post(
        "/api/v1/auth/tokens/", {"name": "ok", "days": 30, "password": "not-it"}, format="json"
    )
    page = web.post("/settings/api-tokens/", {"name": "ok", "days": "30", "password": "not-it"})

    # then nothing is created, each is refused and audited as refused
    assert api.status_code == 400 and api.json()["code"] == "wrong_password"
    assert page.status_code == 400 and page.context["form"].has_error("password", "wrong_password")
    assert tokens() == before
    refused = AuditEvent.objects.filter(action="api_token", outcome="refused", target=user.username)
    assert refused.count() == 2

    # and with the right one, each creates its token
    ok = with_session(user).post(
        "/api/v1/auth/tokens/", {"name": "ok", "days": 30, "password": PASSWORD}, format="json"
    )
    assert ok.status_code == 201
    assert web.post("/settings/api-tokens/", {"name": "ok2", "days": "30", "password": PASSWORD}).status_code == 200
    assert sorted(ApiToken.objects.filter(user=user, kind="system").values_list("name", flat=True)) == ["ok", "ok2"]


def test_the_page_shows_a_login_token_by_its_kind_in_the_page_language_not_by_its_stored_name(market):
    # given an investor with a login token from POST auth/token/ (every one is stored with the name "login")
    user = market.user(Role.INVESTOR)
    issued = token_issue(user=user)
    token = ApiToken.objects.get(user=user)
    assert token.name == "login"
    web = Client()
    web.force_login(user)

    # when she opens the page in Chinese (the default) and in English
    for language in ("zh-hans", "en"):
        page = web.get("/settings/api-tokens/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
        with translation.override(language):
            label = gettext("Login token")

        # then its row is named by its kind, in that language, and so are its Revoke button and question
        row = page.split(f'data-token="{token.pk}"', 1)[1].split("</tr>", 1)[0]
        assert f'data-label="{gettext_in(language, "Name")}">{label}</td>' in row
        assert f'<span class="visually-hidden"> {label}</span>' in row and f"“{label}”" in row
        assert ">login<" not in row

    # and nothing changed
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None
    assert ping(issued.key).status_code == 200


def gettext_in(language: str, text: str) -> str:
    with translation.override(language):
        return gettext(text)


def test_a_named_token_refused_after_too_many_wrong_passwords_is_a_429_the_schema_documents(market, settings):
    # Given an investor signed in on the web, and a lock after three failed passwords (found by an outside client:
    # the lock's 429 login_locked, with its Retry-After, was not among the answers documented for auth/tokens/)
    from drf_spectacular.generators import SchemaGenerator

    settings.AXES_FAILURE_LIMIT = 3
    user = market.user(Role.INVESTOR)
    session = with_session(user)
    before = tokens()

    # when three wrong passwords are sent to create a named token
    answers = [
        session.post("/api/v1/auth/tokens/", {"name": "ok", "days": 30, "password": "not-it"}, format="json")
        for _ in range(3)
    ]

    # then the third is the lock's 429 with a Retry-After, and each answer is one the schema documents
    assert [a.status_code for a in answers] == [400, 400, 429]
    assert answers[-1].json()["code"] == "login_locked" and int(answers[-1]["Retry-After"]) > 0
    documented = SchemaGenerator().get_schema(request=None, public=True)["paths"]["/api/v1/auth/tokens/"]["post"]
    assert {str(a.status_code) for a in answers} <= set(documented["responses"])
    # and no token was made
    assert tokens() == before
