"""A user's own settings: the password, the email address, and a forgotten password (docs/operations.md,
"A user's own settings").

* ``password_set`` is the one way a user's password changes from their settings page or a reset link: the
  project's validators (``AUTH_PASSWORD_VALIDATORS``), the new hash and the audit record in one transaction.
  ``User.save`` ends the user's API token (``core.tokens``) in that transaction too. If the user has an email
  address, it is told of the change after the commit.
* ``User.email`` holds only a verified address: one staff set (the shell, the demo), or one the user confirmed
  by opening the link sent to it. An address asked for stays out of the database until then: it travels in the
  signed link the worker mails (``email_link_token``), valid ``EMAIL_CHANGE_LINK_SECONDS`` (24 h) from the send,
  bound to the user, the new address and the user's email state (their address, their password hash and the
  latest email record on the audit trail), so the link works once, and a newer request or a password change ends
  it. A user asks for at most ``EMAIL_CHANGE_RATE`` links (counted in the cache). The old address is told of the
  change. A forgotten password is therefore only ever sent to a verified address.
* ``password_reset_send`` has the worker mail Django's one-time reset link (``default_token_generator``, made by
  ``password_reset_url``) to every active user with that address and a usable password, and says nothing to the
  caller about whether there was one. The requests one client address and one email address may make are limited
  (``PASSWORD_RESET_*_RATE``, counted in the cache, which is Redis).
* Every change and every refusal of a wrong current password is an audit record; the wrong password is also a
  failed login for django-axes (the caller sends the signal, it needs the request).

Emails are in both languages, Chinese first, as the notifications' are. None is sent inside the request: the
service queues ``core.tasks.account_mail`` once its transaction commits (``_mail_queue``), and the worker sends it
(``account_mail_send``), retrying a mail server that fails. A slow or failing mail server therefore neither slows
nor fails the request, and a reset for an address some account has answers as fast as one for an address none
has. The message names the mail only: its kind, the user's id, the address, a once-only key, and for a link the
request's time, the site the link starts with (plain text) and a keyed digest of the state the link depends on
(``_mail_state``: it opens nothing). It never carries a link, a token or a signed value, so the broker (Redis,
its dumps) holds nothing that takes an account over. The worker makes the link when it sends it: Django's reset
token for that user, the confirmation's signed value as the request would have made it; the link's lifetime
counts from the send, and the mail states that lifetime, which the link has in full. A request no longer current
when the worker comes to it (older than the link's lifetime; the user gone, deactivated, their address, password
or email state changed since, or for a reset, a login since) is not mailed.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
import uuid
from typing import Literal

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import EmailValidator
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.crypto import salted_hmac
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext, gettext_lazy, gettext_noop

from . import errors as err
from .audit import audit_record
from .models import AuditEvent, User

WrongPassword = err.error_class("WrongPassword", "wrong_password", gettext_lazy("Your current password is wrong."))
EmailUnchanged = err.error_class(
    "EmailUnchanged", "email_unchanged", gettext_lazy("This is already your email address.")
)
NoEmail = err.error_class("NoEmail", "no_email", gettext_lazy("Your account has no email address."), 409)
EmailLinkInvalid = err.error_class(
    "EmailLinkInvalid",
    "email_link_invalid",
    gettext_lazy("This confirmation link is not valid. Ask for a new one on your settings page."),
)
EmailLinkExpired = err.error_class(
    "EmailLinkExpired",
    "email_link_expired",
    gettext_lazy("This confirmation link has expired. Ask for a new one on your settings page."),
    410,
)
EmailLinkUsed = err.error_class(
    "EmailLinkUsed",
    "email_link_used",
    gettext_lazy("This confirmation link no longer works: it was used, or a newer one was sent."),
    409,
)
EmailLinkOtherUser = err.error_class(
    "EmailLinkOtherUser",
    "email_link_other_user",
    gettext_lazy("This confirmation link is for another user. Log in as that user to open it."),
    403,
)
ResetRateLimited = err.error_class(
    "ResetRateLimited",
    "password_reset_rate_limited",
    gettext_lazy("Too many password reset requests. Try again in an hour."),
    429,
)

EmailChangeRateLimited = err.error_class(
    "EmailChangeRateLimited",
    "email_change_rate_limited",
    gettext_lazy("Too many confirmation links asked for. Try again in an hour."),
    429,
)

log = logging.getLogger(__name__)

EMAIL_LINK_SALT = "core.account_settings.email_change"
# The audit actions that change a user's email state: a new request ends the links sent before it.
EMAIL_ACTIONS = ("email_change_request", "email_change", "email_remove")


def _invalid(field: str, messages: list[str]) -> err.InvalidInput:
    exc = err.InvalidInput(messages[0])
    exc.fields = {field: " ".join(messages)}
    return exc


def email_masked(address: str) -> str:
    """An address as a page shows it in passing: ``z***@example.com``."""
    local, at, domain = address.partition("@")
    if not at:
        return address[:1] + "***" if address else ""
    return f"{local[:1]}***@{domain}"


# The account mails: subject (a msgid) and text template of each kind.
MAILS: dict[str, tuple[str, str]] = {
    "password_changed": (gettext_noop("Your password was changed"), "settings/mail/password_changed.txt"),
    "email_confirm": (gettext_noop("Confirm your email address"), "settings/mail/email_confirm.txt"),
    "email_changed": (gettext_noop("Your email address was changed"), "settings/mail/email_changed.txt"),
    "password_reset": (gettext_noop("Reset your password"), "settings/mail/password_reset.txt"),
}
# How long the worker remembers a mail it sent (``account_mail_send``): far beyond the task's retries (minutes)
# and a message's redelivery (the broker's visibility timeout, an hour).
MAIL_SENT_MEMORY = 2 * 86400


def _mail(*, to: str, subject: str, template: str, context: dict) -> None:
    """One email in both languages, Chinese first: ``subject`` is a msgid, ``template`` a text template."""
    subjects, bodies = [], []
    for language in ("zh-hans", "en"):
        with translation.override(language):
            subjects.append(gettext(subject))
            bodies.append(render_to_string(template, context).strip())
    send_mail(" / ".join(subjects), "\n\n----\n\n".join(bodies), settings.DEFAULT_FROM_EMAIL, [to])


MAIL_STATE_SALT = "core.account_settings.mail_state"


def _mail_state(user: User, kind: str) -> str:
    """A keyed digest of what the link of the mail ``kind`` depends on, taken when it is asked for and again when
    the worker sends it: a change in between ends the request. For a reset, what Django's token is bound to (the
    password hash, the last login, the address); for a confirmation, the email state (``_email_state``). Of a
    salt of its own: it is no part of any link, and opens nothing."""
    if kind == "password_reset":
        login = user.last_login.isoformat() if user.last_login else ""
        text = f"{user.pk}|{user.password}|{login}|{user.email}"
    else:
        text = _email_state(user)
    return salted_hmac(MAIL_STATE_SALT, f"{kind}|{text}", algorithm="sha256").hexdigest()[:32]


def _mail_queue(*, kind: str, user: User, to: str, **facts: object) -> None:
    """Queue the account mail ``kind`` to ``to`` about ``user`` once the transaction commits (none if it rolls
    back). ``facts``: JSON values the mail needs besides the user, never a link, a token or a signed value (the
    message sits in the broker until sent): for a link, the site it starts with, and the request's time and state
    are added here. Queuing is the request's only mail work; a broker that cannot take it is logged (``robust``),
    the change is committed by then."""
    from . import tasks  # core.tasks calls this module's account_mail_send

    mail = {"kind": kind, "user_id": user.pk, "to": to, "key": uuid.uuid4().hex, **facts}
    if kind in LINK_SECONDS:
        mail.update(requested=int(time.time()), state=_mail_state(user, kind))
    # What the worker's log and a monitor show of the task's arguments: never the address.
    shown = repr({"kind": kind, "user_id": user.pk, "key": mail["key"]})
    transaction.on_commit(lambda: tasks.account_mail.apply_async(args=[mail], argsrepr=shown), robust=True)


# How long the link of each kind works once made (the setting's name): the mail states it, and a request older
# than it is not mailed.
LINK_SECONDS = {"password_reset": "PASSWORD_RESET_TIMEOUT", "email_confirm": "EMAIL_CHANGE_LINK_SECONDS"}


def _request_current(*, user: User, kind: str, to: str, facts: dict) -> bool:
    """Whether the request that queued a link mail still stands, as the link the request once made would still
    have worked: the user active, at the same state, within the link's lifetime of the request."""
    if not user.is_active:
        return False
    requested = facts.get("requested")
    if not isinstance(requested, int) or time.time() - requested > getattr(settings, LINK_SECONDS[kind]):
        return False
    if facts.get("state") != _mail_state(user, kind):
        return False
    if kind == "password_reset":
        return user.email == to and user.has_usable_password()
    return True


def password_reset_url(*, user: User, site: str) -> str:
    """A reset link for ``user``, made now: Django's token, good for ``PASSWORD_RESET_TIMEOUT`` from now (its
    time is the whole second now falls in, and it works through the whole second that many seconds later)."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return site + reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": token})


class _SignerFromNextSecond(signing.TimestampSigner):
    """Django's signer stamps the whole second now falls in, so a link made at 12:00:00.9 is ``max_age`` old at
    12:00:00 the next day, 0.9 s short of what the mail says: this one stamps the next whole second instead."""

    def timestamp(self) -> str:
        return signing.b62_encode(math.ceil(time.time()))


def email_link_token(*, user: User, new_email: str) -> str:
    """The signed value of a confirmation link for ``new_email``, made now from the user's email state: good for
    ``EMAIL_CHANGE_LINK_SECONDS`` from now at least (``email_link_read``)."""
    payload = {"u": user.pk, "e": new_email, "s": _email_state(user)}
    return _SignerFromNextSecond(salt=EMAIL_LINK_SALT).sign_object(payload)


def account_mail_send(*, kind: str, user_id: int, to: str, key: str, **facts: object) -> bool:
    """Send one queued account mail (``core.tasks.account_mail``); whether it was sent. ``key`` names the mail:
    one already sent is not sent again (a message delivered twice). A link is made here, when it is sent, and only
    while its request stands (``_request_current``); the mail states the link's full lifetime, which counts from
    now. A mail server's error propagates, for the task to retry; until a send succeeds, nothing is remembered."""
    if kind not in MAILS:
        return False  # a message from another version of the code
    sent = f"account-mail:sent:{key}"
    if cache.get(sent):
        return False
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return False
    context: dict = {"user": user}
    if kind in LINK_SECONDS:
        if not _request_current(user=user, kind=kind, to=to, facts=facts) or not isinstance(facts.get("site"), str):
            log.info("account mail %s (%s, user %s) not sent: its request no longer stands", key, kind, user_id)
            return False
        if kind == "password_reset":
            url = password_reset_url(user=user, site=facts["site"])
        else:
            url = facts["site"] + reverse("settings-email-confirm", args=[email_link_token(user=user, new_email=to)])
        context.update(url=url, seconds=getattr(settings, LINK_SECONDS[kind]))
    elif kind == "email_changed":
        context["new"] = facts["new"]
    else:
        context["reset"] = facts["reset"]
    subject, template = MAILS[kind]
    _mail(to=to, subject=subject, template=template, context=context)
    cache.set(sent, 1, timeout=MAIL_SENT_MEMORY)
    return True


# --------------------------------------------------------------------------
# Passwords


def password_refused(*, user: User, action: str, ip: str | None = None) -> None:
    """A wrong current password given to change a setting (``action``): on the audit trail as refused."""
    audit_record(
        actor=user, action=action, target=user.username, outcome="refused", ip=ip, detail={"code": WrongPassword.code}
    )


def password_set(*, user: User, new_password: str, reason: Literal["change", "reset"], ip: str | None = None) -> None:
    """Give ``user`` a new password (their own change, or a reset link's): it must pass the project's validators.
    Audited as ``password_change`` or ``password_reset``; the API token ends (``User.save``)."""
    try:
        password_validation.validate_password(new_password, user)
    except ValidationError as exc:
        raise _invalid("new_password2", list(exc.messages)) from None
    action = "password_change" if reason == "change" else "password_reset"
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True).get()
        user.set_password(new_password)
        user.save(update_fields=["password"])
        audit_record(actor=user, action=action, target=user.username, ip=ip)
        if user.email:
            _mail_queue(kind="password_changed", user=user, to=user.email, reset=reason == "reset")


# --------------------------------------------------------------------------
# The email address


def email_normalised(address: object) -> str:
    """An address as typed, checked: trimmed, its domain in lower case; an InvalidInput on ``new_email``."""
    if not isinstance(address, str):
        raise _invalid("new_email", [gettext("Enter a valid email address.")])
    address = User.objects.normalize_email(address.strip())
    try:
        EmailValidator()(address)
        if len(address) > 254:
            raise _invalid("new_email", [gettext("Enter a valid email address.")])
    except ValidationError:
        raise _invalid("new_email", [gettext("Enter a valid email address.")]) from None
    return address


def _email_state(user: User) -> str:
    """What a confirmation link is bound to besides the user and the new address; it changes when a link is used,
    when a newer one is asked for, when the address is removed and when the password changes."""
    last = (
        AuditEvent.objects.filter(actor_id=user.pk, action__in=EMAIL_ACTIONS, outcome="ok")
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    )
    text = f"{user.pk}|{user.email}|{user.password}|{last}"
    return salted_hmac(EMAIL_LINK_SALT, text, algorithm="sha256").hexdigest()[:32]


def email_change_request(*, user: User, new_email: str, site: str, ip: str | None = None) -> None:
    """Mail a confirmation link for ``new_email`` to that address; the user's address is unchanged until the link
    is opened (``email_change_confirm``). ``site``: the scheme and host the link starts with; the worker makes the
    link when it sends it (``account_mail_send``). The caller checked the current password."""
    new_email = email_normalised(new_email)
    if new_email.lower() == user.email.lower():
        raise EmailUnchanged()
    # Each link is a mail to an address the user typed: so many an hour, not a relay to any number of addresses.
    # Counted per user (their id and when they joined: a database made afresh counts afresh) in the cache.
    if _over_limit(f"email-change:user:{user.pk}:{int(user.date_joined.timestamp())}", settings.EMAIL_CHANGE_RATE):
        audit_record(
            actor=user,
            action="email_change_request",
            target=user.username,
            outcome="refused",
            ip=ip,
            detail={"code": EmailChangeRateLimited.code},
        )
        raise EmailChangeRateLimited()
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True).get()
        audit_record(
            actor=user,
            action="email_change_request",
            target=user.username,
            ip=ip,
            detail={"new": email_masked(new_email)},
        )
        _mail_queue(kind="email_confirm", user=user, to=new_email, site=site)


def email_link_read(*, user: User, token: str) -> str:
    """The new address a confirmation link carries, if it may be used by ``user`` now; else the link's error."""
    try:
        payload = signing.loads(token, salt=EMAIL_LINK_SALT, max_age=settings.EMAIL_CHANGE_LINK_SECONDS)
    except signing.SignatureExpired:
        raise EmailLinkExpired() from None
    except signing.BadSignature:
        raise EmailLinkInvalid() from None
    if not isinstance(payload, dict) or not isinstance(payload.get("e"), str):
        raise EmailLinkInvalid()
    if payload.get("u") != user.pk:
        raise EmailLinkOtherUser()
    if payload.get("s") != _email_state(user):
        raise EmailLinkUsed()
    return payload["e"]


def email_change_confirm(*, user: User, token: str, ip: str | None = None) -> str:
    """Open a confirmation link as ``user``: their address becomes the link's, once. The old address, if any, is
    told. Returns the new address. A refused link is on the audit trail with its code."""
    try:
        with transaction.atomic():
            user = User.objects.select_for_update().get(pk=user.pk)
            new_email = email_link_read(user=user, token=token)
            old_email = user.email
            user.email = new_email
            user.save(update_fields=["email"])
            audit_record(
                actor=user,
                action="email_change",
                target=user.username,
                ip=ip,
                detail={"old": email_masked(old_email), "new": email_masked(new_email)},
            )
            if old_email:
                _mail_queue(kind="email_changed", user=user, to=old_email, new=email_masked(new_email))
    except err.DomainError as exc:
        audit_record(
            actor=user,
            action="email_change",
            target=user.username,
            outcome="refused",
            ip=ip,
            detail={"code": exc.code},
        )
        raise
    return new_email


def email_remove(*, user: User, ip: str | None = None) -> None:
    """Remove the user's address (the caller checked the current password); the old address is told."""
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        if not user.email:
            raise NoEmail()
        old_email = user.email
        user.email = ""
        user.save(update_fields=["email"])
        audit_record(
            actor=user, action="email_remove", target=user.username, ip=ip, detail={"old": email_masked(old_email)}
        )
        _mail_queue(kind="email_changed", user=user, to=old_email, new="")


# --------------------------------------------------------------------------
# A forgotten password


def _rate(text: str) -> tuple[int, int]:
    """``"N/second|minute|hour|day"`` as (N, seconds)."""
    count, _, period = text.partition("/")
    return int(count), {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[:1]]


def _over_limit(key: str, rate: str) -> bool:
    limit, seconds = _rate(rate)
    cache.add(key, 0, timeout=seconds)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between the two calls: this request starts a new window
        cache.set(key, 1, timeout=seconds)
        count = 1
    return count > limit


def password_reset_throttle(*, address: str, ip: str | None) -> None:
    """Count a reset request from ``ip`` for ``address`` (whether or not any user has it, so the limit tells
    nothing either); ResetRateLimited when either is over its rate."""
    digest = hashlib.sha256(address.strip().lower().encode()).hexdigest()[:32]
    over_ip = _over_limit(f"password-reset:ip:{ip or 'unknown'}", settings.PASSWORD_RESET_IP_RATE)
    over_address = _over_limit(f"password-reset:address:{digest}", settings.PASSWORD_RESET_ADDRESS_RATE)
    if over_ip or over_address:
        audit_record(
            actor=None,
            action="password_reset_request",
            outcome="refused",
            ip=ip,
            detail={"code": ResetRateLimited.code},
        )
        raise ResetRateLimited()


def password_reset_send(*, address: str, site: str, ip: str | None = None) -> int:
    """Mail a one-time reset link to each active user whose (verified) address is ``address`` and whose password
    is usable; ``site``: the scheme and host the link starts with. The mails are queued (after the commit), never
    sent here, so the request takes as long for an address no account has. Returns how many were queued, which
    the caller must not show. Each is audited as ``password_reset_request`` by the user it is for."""
    users = [
        u
        for u in User.objects.filter(email__iexact=address.strip(), is_active=True).order_by("pk")
        if u.has_usable_password() and u.email.lower() == address.strip().lower()
    ]
    with transaction.atomic():
        for user in users:
            audit_record(actor=user, action="password_reset_request", target=user.username, ip=ip)
            _mail_queue(kind="password_reset", user=user, to=user.email, site=site)
    return len(users)
