"""The audit trail: an append-only record of who did what (see AuditEvent); and a web logout ends the API token."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextvars import ContextVar

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from .audit_actions import FORM_PAGES, refused_action
from .models import AuditEvent, User
from .roles import STAFF_ROLES, SUPERVISORS


def client_ip(request) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


# The request being answered (set by core.middleware.audit_refusals), so that the places that turn a refusal
# into an answer (a page's message or form error, the API's error) can note it without being handed the request.
_request: ContextVar = ContextVar("audited_request", default=None)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def refusal_noted(exc, *, fields: dict[str, list[str]] | None = None, posted: Mapping | None = None) -> None:
    """A refusal (``core.errors.DomainError``, a permission the API denied, input the API's serializer or a page's
    form refused) is being shown to the caller: noted on the request, for ``refusal_audited`` once the answer is
    made. The first one noted is the request's: one record a submission. ``fields``: for input refused before any
    service, its errors by field (``core.forms.form_refusal_noted``, the API's ``ValidationError``; None for any
    other refusal); ``posted``: the body an API view parsed, which may name the object asked for
    (``core.audit_actions``)."""
    request = _request.get()
    if request is not None and getattr(request, "audit_refusal", None) is None:
        request.audit_refusal = exc
        request.audit_refusal_fields = fields
        request.audit_posted = posted


# At most this many fields' errors, each at most three messages of 200 characters, go in a refusal's detail: an
# issuance of a thousand holders refused for each of them is one record of bounded size.
MAX_REFUSED_FIELDS = 20


def refused_fields(pairs: Iterable[tuple[str, Iterable[object]]]) -> dict[str, list[str]]:
    """The errors of refused input by field (``(field, messages)`` pairs, in order), bounded for the trail."""
    out: dict[str, list[str]] = {}
    for name, messages in pairs:
        if len(out) >= MAX_REFUSED_FIELDS:
            break
        out.setdefault(str(name)[:100], []).extend(str(m)[:200] for m in list(messages)[:3])
    return out


def refusal_audited(request) -> None:
    """A staff member's write that was refused, recorded once it is answered (outside any transaction the refusal
    rolled back), with outcome ``refused``: the trail is of every staff action and its outcome (DESIGN §6; found
    by a probe: refused freezes, transfers and corrections left no trace). Not when the service recorded the
    refusal itself (``audit_record`` with that outcome in the same request). Input refused before any service ran
    (a page's form, the API's serializer) is recorded for the supervisors' roles only, with its errors by field."""
    exc = getattr(request, "audit_refusal", None)
    user = getattr(request, "user", None)
    if exc is None or getattr(request, "refusal_recorded", False) or request.method in SAFE_METHODS:
        return
    if user is None or not user.is_authenticated or getattr(user, "role", None) not in STAFF_ROLES:
        return
    if getattr(request, "audit_refusal_fields", None) is not None and user.role not in SUPERVISORS:
        # Input refused before any service (a form's or the API's checks) is recorded for the supervisory,
        # depository and exchange operators' deeds; a broker's staff typing a client's data at the counter, as an
        # investor typing their own, is not (docs/operations.md, "The audit trail").
        return
    code = getattr(exc, "code", None) or getattr(exc, "default_code", None) or "permission_denied"
    message = getattr(exc, "message", None) or str(getattr(exc, "detail", exc))
    action, target = refused_request_named(request)
    detail = {"method": request.method, "path": request.path, "code": str(code), "message": str(message)[:500]}
    if fields := getattr(request, "audit_refusal_fields", None):
        detail["fields"] = fields
    audit_record(actor=user, action=action, target=target, outcome="refused", ip=client_ip(request), detail=detail)


def refused_request_named(request) -> tuple[str, str]:
    """The action and object of a refused request as the trail names them when done (``core.audit_actions``);
    a URL not named there by its name and its path."""
    match = request.resolver_match
    if match is None:
        return "request", request.path
    # A page's form as posted (the pages that read it: FORM_PAGES), or the body an API view parsed (noted with the
    # refusal): never a body the view did not read.
    posted = request.POST if match.view_name in FORM_PAGES else getattr(request, "audit_posted", None) or {}
    return refused_action(match.view_name, match.kwargs, posted) or (match.view_name, request.path)


def audit_record(
    *,
    actor: User | None,
    action: str,
    target: str = "",
    outcome: str = "ok",
    ip: str | None = None,
    detail: dict | None = None,
    username: str = "",
) -> AuditEvent:
    if outcome == "refused" and (request := _request.get()) is not None:
        request.refusal_recorded = True
    return AuditEvent.objects.create(
        actor=actor,
        actor_username=storable((actor.username if actor is not None else username)[:150]),
        action=action,
        target=storable(target[:200]),
        outcome=outcome,
        ip=ip,
        detail=storable(detail or {}),
    )


def storable(value):
    """``value`` with every NUL character in its text (keys too) replaced by U+FFFD: PostgreSQL text and jsonb
    cannot hold NUL, and a refused request's record echoes what was sent (a field's name, a value in an error
    message), so an API body with a NUL in it made the refusal's record, and the answer, a 500 (found by a probe:
    a regulator's ``{"zz\\u0000": 1}`` to ``freezes/``, an operator's holiday dated ``"\\u0000"``)."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, Mapping):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value


# Django's auth signals are the one place a login is observable; recording
# them here keeps the views free of audit code.
@receiver(user_logged_in, dispatch_uid="audit_login")
def _on_login(sender, request, user, **kwargs) -> None:
    audit_record(actor=user, action="login", ip=client_ip(request))


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def _on_login_failed(sender, credentials, request=None, **kwargs) -> None:
    if credentials.get("recorded"):  # a wrong current password on a settings page: recorded by its service
        return
    audit_record(
        actor=None,
        username=str(credentials.get("username", "")),
        action="login",
        outcome="failed",
        ip=client_ip(request),
        detail={"step": "otp"} if credentials.get("otp") else None,
    )


# django-axes locks a user name from an address after AXES_FAILURE_LIMIT failed logins (core.twofactor); its
# signal is the one place the lockout, and each login refused while it lasts, is observable.
@receiver(user_locked_out, dispatch_uid="audit_login_locked")
def _on_locked_out(sender, request=None, username=None, ip_address=None, **kwargs) -> None:
    audit_record(
        actor=None,
        username=str(username or ""),
        action="login_locked",
        outcome="refused",
        ip=ip_address or client_ip(request),
        detail={"path": getattr(request, "path", "")},
    )


@receiver(user_logged_out, dispatch_uid="audit_logout")
def _on_logout_audit(sender, request, user, **kwargs) -> None:
    if user is None:  # a logout without a signed-in user: nothing happened
        return
    audit_record(actor=user, action="logout", ip=client_ip(request))


# The same holds for a logout, wherever it happens (the site's LogoutView, the admin's): it ends the
# user's login tokens too (those of POST auth/token/), so signing out of the web leaves no login behind; the
# named system tokens of the user's systems go on (core.tokens).
@receiver(user_logged_out, dispatch_uid="api_token_revoke_logout")
def _on_logout(sender, request, user, **kwargs) -> None:
    if user is None:  # a logout without a signed-in user
        return
    from .tokens import tokens_revoke  # core.tokens imports this module

    tokens_revoke(user=user, reason="logout", actor=user, ip=client_ip(request), kind="login")
