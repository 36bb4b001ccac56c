"""API tokens: several per user, stored as digests, each ending (DESIGN.md §8, docs/operations.md "API tokens").

A client sends ``Authorization: Token <key>``. The key (40 hex characters, 160 random bits, the shape DRF's
tokens had) is shown once, when issued; ``ApiToken`` keeps only its SHA-256 digest, unique and indexed, and its
first 8 characters to tell tokens apart. A key is found by its digest, so a database dump holds no working key
and comparing keys leaks nothing about them through timing (the index compares digests). A plain, fast hash is
enough: the key is random, not a password, so there is nothing to guess from the digest.

Two kinds (``ApiToken.Kind``):

* a login token (``token_issue``): ``POST auth/token/`` with the password hands out a new one every time,
  good for ``API_TOKEN_TTL`` seconds. A web logout ends the user's login tokens; at most
  ``API_TOKEN_LOGIN_LIMIT`` are live at once (a client that logs in and never logs out loses its oldest);
* a system token (``token_create``): named, for a broker's or market maker's own systems, good for up to
  ``API_TOKEN_MAX_DAYS`` days. Only a web session creates one (the settings page, or ``POST auth/tokens/``
  with the session's cookie): a token cannot mint tokens, so a stolen one cannot outlive its own end. A web
  logout leaves system tokens alone.

Every token ends at its ``expires_at``, and earlier if the operator lowers ``API_TOKEN_TTL`` (login tokens)
or ``API_TOKEN_MAX_DAYS`` (system tokens): the lifetime is measured from ``created`` at each use. A password
change or a deactivation (``User.save``) ends every token of the user. Revoking marks the row (when, by whom,
why) and writes an ``api_token_revoke`` audit event per token, naming its id and name, never its key; the
rows of tokens ended more than ``ENDED_KEPT`` ago are deleted at the user's next issue.

``last_used_at`` is written at most once per ``TOUCH_EVERY`` per token, not on every request: one
conditional UPDATE a minute, outside the request's own transaction.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from . import errors as err
from .audit import audit_record
from .models import ApiToken, User

LOGIN_NAME = "login"  # the name of every token from POST auth/token/
PREFIX_LENGTH = 8
TOUCH_EVERY = timedelta(minutes=1)
ENDED_KEPT = timedelta(days=30)
NAME_MAX_LENGTH = ApiToken._meta.get_field("name").max_length

TooManyTokens = err.error_class(
    "TooManyTokens",
    "too_many_tokens",
    _("You have as many system tokens as allowed; revoke one you no longer use first."),
    409,
)
# The password checked before the user's row was locked is no longer the user's (changed or disabled since), or
# the user was deactivated meanwhile: no token. The same words as a wrong password, which it now is.
LoginSuperseded = err.error_class("LoginSuperseded", "invalid_credentials", _("Wrong username or password."))
PasswordSuperseded = err.error_class("PasswordSuperseded", "wrong_password", _("Your current password is wrong."))


@dataclass(frozen=True)
class Issued:
    """A token just issued, with its key: the one moment the key exists outside the client."""

    token: ApiToken
    key: str


def token_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _lifetime_cap(token: ApiToken) -> timedelta:
    if token.kind == ApiToken.Kind.LOGIN:
        return timedelta(seconds=settings.API_TOKEN_TTL)
    return timedelta(days=settings.API_TOKEN_MAX_DAYS)


def token_expires_at(token: ApiToken) -> datetime:
    """When the token ends: its own end, or sooner if the operator has lowered the lifetime since."""
    return min(token.expires_at, token.created + _lifetime_cap(token))


def token_is_expired(token: ApiToken, *, now: datetime | None = None) -> bool:
    return (now or timezone.now()) >= token_expires_at(token)


def _live(now: datetime) -> Q:
    return Q(revoked_at__isnull=True, expires_at__gt=now)


def tokens_live(*, user: User) -> list[ApiToken]:
    """The user's tokens that still work, newest first."""
    now = timezone.now()
    rows = ApiToken.objects.filter(_live(now), user=user).order_by("-created", "-pk")
    return [t for t in rows if not token_is_expired(t, now=now)]


def _new(*, user: User, kind: str, name: str, lifetime: timedelta, now: datetime) -> Issued:
    key = secrets.token_hex(20)
    token = ApiToken.objects.create(
        user=user,
        kind=kind,
        name=name,
        digest=token_digest(key),
        prefix=key[:PREFIX_LENGTH],
        created=now,
        expires_at=now + lifetime,
    )
    return Issued(token=token, key=key)


def _lock_user(user: User) -> bool:
    """Lock the user's row; whether the user is still as the caller checked them: active, with the password hash
    read when the password was checked.

    The row lock serialises the user's issues and revocations, so the limits count right. The password was
    checked before it (hashing it takes a while): a password change or deactivation committed meanwhile revoked
    every token then live, and a token issued after it would outlive it."""
    password, active = User.objects.select_for_update().filter(pk=user.pk).values_list("password", "is_active").get()
    return active and password == user.password


def _purge_ended(*, user: User, now: datetime) -> None:
    ApiToken.objects.filter(user=user).filter(
        Q(revoked_at__lt=now - ENDED_KEPT) | Q(expires_at__lt=now - ENDED_KEPT)
    ).delete()


def _audit_issue(*, token: ApiToken, actor: User, ip: str | None) -> None:
    audit_record(
        actor=actor,
        action="api_token",
        target=token.user.username,
        ip=ip,
        detail={"id": token.pk, "name": token.name, "kind": token.kind, "expires_at": token.expires_at.isoformat()},
    )


@transaction.atomic
def token_issue(*, user: User, ip: str | None = None) -> Issued:
    """A new login token (``POST auth/token/``), good for ``API_TOKEN_TTL`` seconds.

    Beyond ``API_TOKEN_LOGIN_LIMIT`` live login tokens the oldest are revoked (reason ``replaced``). ``user`` is
    the user as the password check found them: changed or deactivated since, no token (``LoginSuperseded``).
    """
    if not _lock_user(user):
        raise LoginSuperseded()
    now = timezone.now()
    _purge_ended(user=user, now=now)
    live = list(
        ApiToken.objects.filter(_live(now), user=user, kind=ApiToken.Kind.LOGIN)
        .order_by("-created", "-pk")
        .values_list("pk", flat=True)
    )
    for pk in live[max(settings.API_TOKEN_LOGIN_LIMIT - 1, 0) :]:
        _revoke(ApiToken.objects.get(pk=pk), reason="replaced", actor=None, ip=ip, now=now)
    issued = _new(
        user=user,
        kind=ApiToken.Kind.LOGIN,
        name=LOGIN_NAME,
        lifetime=timedelta(seconds=settings.API_TOKEN_TTL),
        now=now,
    )
    _audit_issue(token=issued.token, actor=user, ip=ip)
    return issued


@transaction.atomic
def token_create(*, user: User, name: str, days: int, ip: str | None = None) -> Issued:
    """A named system token of ``user``, good for ``days`` days (1 to ``API_TOKEN_MAX_DAYS``).

    Callers check that the request comes from the user's web session, not from a token, and the user's password;
    changed or deactivated since that check, no token (``PasswordSuperseded``).
    """
    name = name.strip()
    if not name or len(name) > NAME_MAX_LENGTH or any(unicodedata.category(c) == "Cc" for c in name):
        raise err.InvalidInput(gettext("Give the token a name of at most 100 characters, without control characters."))
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= settings.API_TOKEN_MAX_DAYS:
        raise err.InvalidInput(
            gettext("The lifetime is a whole number of days from 1 to %(max)s.") % {"max": settings.API_TOKEN_MAX_DAYS}
        )
    if not _lock_user(user):
        raise PasswordSuperseded()
    now = timezone.now()
    _purge_ended(user=user, now=now)
    if ApiToken.objects.filter(_live(now), user=user, kind=ApiToken.Kind.SYSTEM).count() >= (
        settings.API_TOKEN_SYSTEM_LIMIT
    ):
        raise TooManyTokens()
    issued = _new(user=user, kind=ApiToken.Kind.SYSTEM, name=name, lifetime=timedelta(days=days), now=now)
    _audit_issue(token=issued.token, actor=user, ip=ip)
    return issued


def token_authenticate(key: str) -> ApiToken | None:
    """The token of this key, with its user, or None: looked up by the key's digest only."""
    return ApiToken.objects.select_related("user").filter(digest=token_digest(key)).first()


def token_touch(token: ApiToken, *, now: datetime | None = None) -> None:
    """Record a use, at most once per ``TOUCH_EVERY``: most requests write nothing."""
    now = now or timezone.now()
    if token.last_used_at is not None and now - token.last_used_at < TOUCH_EVERY:
        return
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - TOUCH_EVERY)
    ).update(last_used_at=now)
    token.last_used_at = now


def _revoke(token: ApiToken, *, reason: str, actor: User | None, ip: str | None, now: datetime) -> bool:
    changed = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=now, revoked_by=actor, revoked_reason=reason
    )
    if not changed:
        return False
    token.revoked_at, token.revoked_by, token.revoked_reason = now, actor, reason
    audit_record(
        actor=actor,
        action="api_token_revoke",
        target=token.user.username,
        ip=ip,
        detail={"id": token.pk, "name": token.name, "kind": token.kind, "reason": reason},
    )
    return True


@transaction.atomic
def token_revoke(
    *, user: User, token_id: int, reason: str, actor: User | None = None, ip: str | None = None
) -> ApiToken:
    """Revoke one token of ``user`` (``DELETE auth/token/``, ``DELETE auth/tokens/{id}/``, the settings page).

    Another user's token, an unknown id, or one already ended, is a 404: a token that no longer works is
    not there to revoke. ``reason`` is recorded: ``api``, ``page``.
    """
    _lock_user(user)
    token = ApiToken.objects.select_related("user").filter(pk=token_id, user=user).first()
    now = timezone.now()
    if token is None or token.revoked_at is not None or token_is_expired(token, now=now):
        raise err.NotFound(gettext("There is no such API token of yours, or it has already ended."))
    _revoke(token, reason=reason, actor=actor, ip=ip, now=now)
    return token


@transaction.atomic
def tokens_revoke(
    *, user: User, reason: str, actor: User | None = None, ip: str | None = None, kind: str | None = None
) -> int:
    """Revoke every token of the user (or every one of ``kind``) still unrevoked; how many were.

    ``reason`` is recorded: ``logout`` (login tokens only), ``password_changed``, ``deactivated``,
    ``operator``. Tokens past their ``expires_at`` are left as they are: nothing brings them back.
    """
    now = timezone.now()
    rows = ApiToken.objects.select_related("user").filter(user_id=user.pk, revoked_at__isnull=True, expires_at__gt=now)
    if kind is not None:
        rows = rows.filter(kind=kind)
    return sum(_revoke(t, reason=reason, actor=actor, ip=ip, now=now) for t in rows.order_by("pk").select_for_update())
