"""One error shape for the whole API: ``{"code", "message"}`` (+ ``"fields"``): a 4xx, or 503 ``server_busy`` when
the database cannot serve the request (``core.db.base``)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import IntegrityError, InterfaceError, OperationalError
from django.http import Http404
from django.utils.translation import gettext
from rest_framework import exceptions as drf
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from core.audit import refusal_noted, refused_fields
from core.db.base import ServerBusy
from core.errors import DomainError, InvalidInput, refusal_of

logger = logging.getLogger(__name__)

_DRF_CODES = {
    drf.NotAuthenticated: "not_authenticated",
    drf.AuthenticationFailed: "authentication_failed",
    drf.PermissionDenied: "permission_denied",
    drf.NotFound: "not_found",
    drf.MethodNotAllowed: "method_not_allowed",
    drf.NotAcceptable: "not_acceptable",
    drf.UnsupportedMediaType: "unsupported_media_type",
    drf.ParseError: "malformed_json",
    drf.Throttled: "throttled",
}


def _first_message(detail) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            msg = _first_message(value)
            return msg if key == "non_field_errors" else f"{key}: {msg}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def _field_errors(detail, prefix: str = "") -> Iterator[tuple[str, list]]:
    """A ``ValidationError``'s detail, however nested (a list of holders, each with its fields), as (field,
    messages) pairs, the field dotted (``holders.0.quantity``) as the API's ``fields`` nest it."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            yield from _field_errors(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(detail, list) and all(isinstance(d, str) for d in detail):
        if detail:
            yield prefix or "non_field_errors", detail
    elif isinstance(detail, list):
        for i, value in enumerate(detail):
            yield from _field_errors(value, f"{prefix}.{i}" if prefix else str(i))
    else:
        yield prefix or "non_field_errors", [detail]


def _parsed(context) -> Mapping | None:
    """The body the view parsed, if it did (DRF keeps it once read; ``Empty`` until then): it may name what was
    asked for. Never parsed here: the refusal may have come before the view read it."""
    data = getattr(context.get("request"), "_full_data", None)
    return data if isinstance(data, Mapping) else None


def _null_body_named(exc: drf.ValidationError) -> drf.ValidationError:
    """DRF answers a body that is JSON ``null`` with "No data provided", a string it does not mark for translation
    (``Serializer.errors``): it reached a Chinese client in English (found by an outside integrator). The same
    refusal, in the request's language."""
    detail = exc.detail
    if isinstance(detail, dict) and list(detail) == ["non_field_errors"]:
        errors = detail["non_field_errors"]
        if len(errors) == 1 and getattr(errors[0], "code", None) == "null" and str(errors[0]) == "No data provided":
            message = gettext("The request body is null: send a JSON object with the operation's fields.")
            return drf.ValidationError({"non_field_errors": [drf.ErrorDetail(message, code="null")]})
    return exc


def _nested(fields: Mapping[str, object]) -> dict:
    """A service's errors by field (``{"legal_reference": message}``; a dotted name, ``thresholds.min_trades``,
    for a member of an object) in the shape a serializer's refusal has: each field's messages in a list, a
    member's under its object."""
    out: dict = {}
    for name, message in fields.items():
        *outer, last = str(name).split(".")
        node = out
        for part in outer:
            node = node.setdefault(part, {})
        node[last] = [str(message)]
    return out


def exception_handler(exc, context):
    # A refusal by one of the database's named constraints that no service turned into its domain error (a path
    # that did not expect it): the same 409 a service would give, not a 500.
    if isinstance(exc, IntegrityError) and (refusal := refusal_of(exc)) is not None:
        exc = refusal
    if isinstance(exc, drf.ValidationError):
        exc = _null_body_named(exc)
    # A staff member's refused write goes on the audit trail (core.audit), with what its body asked for: refused by
    # a service, by a role, or for its input (as a page's form refused is, core.forms.form_refusal_noted).
    if isinstance(exc, DomainError | DjangoPermissionDenied | drf.PermissionDenied):
        refusal_noted(exc, posted=_parsed(context))
    elif isinstance(exc, drf.ValidationError):
        fields = refused_fields(_field_errors(exc.detail)) if isinstance(exc.detail, dict | list) else {}
        refusal_noted(InvalidInput(_first_message(exc.detail)), fields=fields, posted=_parsed(context))
    if isinstance(exc, DomainError):
        body = {"code": exc.code, "message": exc.message}
        # A service's refusal that names the input fields at fault (``InvalidInput(field=…)``, ``exc.fields``)
        # carries them as a serializer's refusal does: a client finds the field in ``fields`` whichever refused it
        # (found by an integrator: a freeze without its legal reference was a 400 with no ``fields``).
        if fields := getattr(exc, "fields", None):
            body["fields"] = _nested(fields)
        return Response(body, status=exc.status)
    if isinstance(exc, OperationalError | InterfaceError):
        # The database dropped the connection, refused a new one or gave the transaction up (a deadlock, a
        # server restarting): what the request wrote is rolled back, and it may be sent again (the idempotency
        # keys make a retry safe). Told so, 503 as when no connection is free (core.db.base), not a bare 500 (found
        # by a probe: every request in flight when PostgreSQL's backends were terminated was a 500); logged as
        # the 500 was.
        logger.error("the database failed the request: %s", exc, exc_info=exc)
        exc = ServerBusy()
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    if isinstance(exc, drf.ValidationError):
        body = {"code": "invalid_input", "message": _first_message(exc.detail)}
        if isinstance(exc.detail, dict):
            body["fields"] = exc.detail
        return Response(body, status=400)
    if isinstance(exc, drf.APIException):
        # An exception class of ours may name its own code (core.api.authentication.TokenExpired: token_expired).
        own = getattr(type(exc), "error_code", None)
        code = own or next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        return Response({"code": code, "message": _first_message(exc.detail)}, status=exc.status_code, headers=headers)
    return None


class JsonErrorsMixin:
    """For an API view that also answers in another format (``?format=csv``): its errors are JSON whatever format
    was asked for, as every other error of the API is (found by an outside tester: the register's 403 for
    ``?format=csv`` said ``Content-Type: text/csv`` over a JSON body)."""

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response
