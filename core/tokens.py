"""API tokens that end: issue, expiry and revocation (DESIGN.md §8, docs/operations.md "API tokens").

The token is DRF's own ``rest_framework.authtoken`` Token: one per user, its
key sent as ``Authorization: Token <key>``, so the contract outside clients
rely on (``POST auth/token/`` ``{"username", "password"}`` → ``{"token"}``)
stays as it was. What this module adds is an end:

* a token is good for ``settings.API_TOKEN_TTL`` seconds from its ``created``;
  ``core.api.authentication.ExpiringTokenAuthentication`` refuses an older
  one with a 401 and deletes it;
* ``token_issue`` hands out the user's token while it is good (a second login
  within the lifetime gets the same token, as before) and a new one after;
* ``tokens_revoke`` deletes the user's token. It is called by
  ``DELETE auth/token/``, by a web logout (``core.audit``), and by
  ``User.save`` when the password changed or the user is inactive
  (``core.models``), so no caller can forget it.

django-rest-knox was considered: it stores only a digest of each token and
allows several per user, but it brings its own table and login view, and every
token already issued would stop working at once. Tokens here are stored as
DRF stores them (the key in clear), which the lifetime bounds.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from .audit import audit_record
from .models import User


def token_expires_at(token: Token) -> datetime:
    return token.created + timedelta(seconds=settings.API_TOKEN_TTL)


def token_is_expired(token: Token, *, now: datetime | None = None) -> bool:
    return (now or timezone.now()) >= token_expires_at(token)


@transaction.atomic
def token_issue(*, user: User, ip: str | None = None) -> Token:
    """The user's API token: the current one while it is good, else a new one (the old one deleted)."""
    # The user row lock serialises two logins of one user, so the second finds the first's token
    # instead of tripping over the one-token-per-user key.
    User.objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True).get()
    token = Token.objects.filter(user=user).first()
    new = token is None or token_is_expired(token)
    if token is not None and new:
        token.delete()
    if new:
        token = Token.objects.create(user=user)
    audit_record(actor=user, action="api_token", target=user.username, ip=ip, detail={"new": new})
    return token


def token_expire(token: Token) -> None:
    """Delete a token found expired. Only that key: the user may have been given a new one meanwhile."""
    Token.objects.filter(key=token.key).delete()


@transaction.atomic
def tokens_revoke(*, user: User, reason: str, actor: User | None = None, ip: str | None = None) -> bool:
    """Delete the user's API token; True when there was one (and the revocation is then audited).

    ``reason`` is recorded: ``api`` (DELETE auth/token/), ``logout``, ``password_changed`` or ``deactivated``.
    """
    deleted, _ = Token.objects.filter(user_id=user.pk).delete()
    if not deleted:
        return False
    audit_record(actor=actor, action="api_token_revoke", target=user.username, ip=ip, detail={"reason": reason})
    return True
