"""What every API module shares: the error body in the schema, and pagination of a queryset."""

from __future__ import annotations

import threading

from django.conf import settings
from django.contrib.auth import password_validation
from django.utils import translation
from django.utils.translation import get_language, gettext
from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import build_choice_field, get_relative_url, set_query_parameters
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.reverse import reverse

from .errors import JsonErrorsMixin
from .fields import CONTROL_CHARACTERS, is_password
from .pagination import Pagination


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(required=False)


ERRORS = {400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer, 409: ErrorSerializer}
# A read of a whole list (no id in its path, nothing changed): it misses nothing and conflicts with nothing, so it
# answers no 404 or 409; ERRORS documented both, and a client wrote handlers for answers that never come.
LIST_ERRORS = {400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer}


class DecimalStringSchema(OpenApiSerializerFieldExtension):
    """A ``DecimalString`` input as what it takes: a string of plain digits, at most so many before the point and
    ``places`` after, not zero (a digit 1-9 somewhere: the field refuses "0.00" as not positive). "string" alone
    let a typed client send "1e5" or 10.5 and learn from the 400 (found by an outside integrator), and the pattern
    alone "0.00" (found by an outside client). Leading zeros do not count against the digits before the point, as
    the field does not count them."""

    target_class = "core.api.fields.DecimalString"

    def map_serializer_field(self, auto_schema, direction):
        field = self.target
        whole = field.max_digits - field.places
        if direction != "request":
            return {"type": "string", "format": "decimal"}
        return {
            "type": "string",
            "format": "decimal",
            "pattern": rf"^(?=[0-9.]*[1-9])0*[0-9]{{1,{whole}}}(?:\.[0-9]{{1,{field.places}}})?$",
            "example": "10.50",
        }


class RegisteredChoiceSchema(OpenApiSerializerFieldExtension):
    """A ``RegisteredChoice`` as the enum of the values registered when the schema is made ("string" alone gave a
    client generated from the schema nothing to match on)."""

    target_class = "core.api.fields.RegisteredChoice"

    def map_serializer_field(self, auto_schema, direction):
        field = serializers.ChoiceField(choices=list(self.target.registered()), allow_null=self.target.allow_null)
        return build_choice_field(field)


class StrictIntegerSchema(OpenApiSerializerFieldExtension):
    """A ``StrictInteger`` input with the bounds it enforces: positive, at most ``max_value`` (10^12)."""

    target_class = "core.api.fields.StrictInteger"

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "integer", "minimum": 1, "maximum": self.target.max_value}


class IdempotencyKeySchema(OpenApiSerializerFieldExtension):
    """An ``IdempotencyKey`` with what it takes: 1 to 64 visible ASCII characters. "string" with a maximum length
    alone let a generated client send "", "a b" or "订单-1" and learn from the 400 (found by an outside client)."""

    target_class = "core.api.fields.IdempotencyKey"

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "string", "minLength": 1, "maxLength": self.target.max_length, "pattern": self.target.PATTERN}


class NewPasswordSchema(OpenApiSerializerFieldExtension):
    """A ``NewPassword`` with the shortest length ``AUTH_PASSWORD_VALIDATORS`` take: "string" alone let a generated
    client send a password the service refuses (found by an outside integrator)."""

    target_class = "core.api.fields.NewPassword"

    def map_serializer_field(self, auto_schema, direction):
        shortest = max(
            (getattr(v, "min_length", 0) for v in password_validation.get_default_password_validators()), default=0
        )
        schema = {"type": "string", "maxLength": self.target.max_length}
        if shortest:
            schema["minLength"] = shortest
        return schema


# Text a StrictInput takes: no control character but tab, line feed and carriage return, and no text direction
# override (core.api.fields._CONTROL, and NUL, which DRF's CharField refuses); and where it may not be blank, one
# character that is not a space.
TEXT_PATTERN = rf"^[^\x00{CONTROL_CHARACTERS}]*$"
NON_BLANK_TEXT_PATTERN = rf"^(?=[\s\S]*\S)[^\x00{CONTROL_CHARACTERS}]*$"


class StrictInputSchema(OpenApiSerializerExtension):
    """A ``StrictInput`` body as the API takes it: no field beyond those named (``additionalProperties: false``; an
    unknown field is a 400), no control character in text (but tab and line breaks), no blank text where a field may
    not be blank (``minLength: 1`` and, where the field trims its spaces, a pattern that wants one non-space
    character) and no empty list where one may not be empty (``minItems: 1``). Without these a client generated from
    the schema sent ``{"security": ""}``, a reason with a bell in it, a list of no trading modes or a misspelt field,
    all valid by the schema, and learnt from the 400 (found by schemathesis's check that a request the schema takes
    is not refused)."""

    target_class = "core.api.fields.StrictInput"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction != "request":
            return schema
        schema["additionalProperties"] = False
        properties = schema.get("properties", {})
        for name, field in self.target.fields.items():
            prop = properties.get(name)
            if prop is None or field.read_only or "$ref" in prop or "enum" in prop:
                continue
            if isinstance(field, serializers.CharField) and "pattern" not in prop:
                # no control character but tab and line breaks (StrictInput refuses them; a NUL, the CharField),
                # but in a password, taken as typed
                if not is_password(name):
                    prop["pattern"] = TEXT_PATTERN
                if not field.allow_blank:
                    prop.setdefault("minLength", 1)
                    if field.trim_whitespace and not is_password(name):
                        prop["pattern"] = NON_BLANK_TEXT_PATTERN
            elif isinstance(field, (serializers.ListField, serializers.ListSerializer)) and not field.allow_empty:
                prop.setdefault("minItems", 1)
        return schema


def document_common_errors(result, generator, request, public):
    """A drf-spectacular postprocessing hook: every operation that reads a token documents its 401 (one that needs
    no login too: a token sent and not valid is refused there as well), every one its 400 (a malformed query
    string, a NUL byte in it, a bad page's ``limit``) and its 406 (an ``Accept`` it cannot answer), and every one
    whose method carries a body its 413 (a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE``, ``request_too_large``) and its
    415 (a body that is not JSON; an action that takes no body still reads one sent to it), where an operation's
    own declaration left them out; and every one its 503 ``server_busy`` with ``Retry-After`` (the database could
    not serve it: nothing was written, send it again), which any of them may answer; a 503 or a 429 documents its
    ``Retry-After``; and every one its 429 ``throttled`` (``core.api.throttles``: its user's or address's rate spent).
    Each comes with the error body."""
    error = {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    descriptions = {
        "400": "The request is malformed.",
        "401": "No valid login (token or session).",
        "401 optional": "The token sent is not valid (expired, revoked or unknown); without one this is answered.",
        "406": "The Accept header names no type this operation answers in.",
        "413": "The body is larger than the request size limit (request_too_large).",
        "415": "The body is not JSON (Content-Type).",
        "503": "The database could not serve the request (server_busy): nothing was written; send it again after "
        "Retry-After seconds (an idempotency key makes a retried write safe).",
        "429": "Too many requests (throttled): the user's rate for this kind of request (trading, other writes, "
        "reads), or without a login the address's, is spent (API_RATE_*). Nothing was done; send it again after "
        "Retry-After seconds.",
    }
    retry_after = {
        "Retry-After": {"schema": {"type": "integer", "minimum": 0}, "description": "Seconds to wait before a retry."}
    }
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            security = operation.get("security", result.get("security", []))
            anonymous = not security or {} in security
            # a login is optional where {} is one of the alternatives; the token is still read (an invalid one is a
            # 401, found by a client sending an expired token to the ledger's keys), unless no alternative names one
            reads_token = any(security)
            statuses = ["400", "406"]
            if reads_token:
                statuses.append("401")
            # an action that takes no body (an approval, a cancel) still parses one sent with it: a body that is not
            # JSON is a 415 and one too large a 413 there as well (found by a client sending text to an approval)
            if "requestBody" in operation or method in ("post", "put", "patch", "delete"):
                statuses += ["413", "415"]
            for status in statuses:
                description = descriptions["401 optional" if status == "401" and anonymous else status]
                responses.setdefault(status, {"description": description, **error})
            responses.setdefault("503", {"description": descriptions["503"], "headers": retry_after, **error})
            # every operation counts against a rate (core.api.throttles; online registration, against its own)
            responses.setdefault("429", {"description": descriptions["429"], **error})
            if "429" in responses:  # a lock or a throttle: it says when to come back
                responses["429"].setdefault("headers", retry_after)
    return result


def paginated(request, view, queryset, serializer_class, context: dict | None = None):
    """One page of ``queryset`` serialised with ``serializer_class`` (the request and ``context`` in its context)."""
    paginator = Pagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    data = serializer_class(page, many=True, context={"request": request, **(context or {})}).data
    return paginator.get_paginated_response(data)


def choice_param(request, name: str, choices) -> str | None:
    """The query parameter ``name`` when it is one of ``choices`` (None when absent or empty); a 400 naming the
    choices otherwise. An unknown filter value answered an empty list, as if nothing matched."""
    value = request.query_params.get(name)
    if not value:
        return None
    if value not in choices:
        raise serializers.ValidationError(
            {name: [gettext("Must be one of: %(choices)s.") % {"choices": ", ".join(choices)}]}
        )
    return value


# The language of /api/schema/ when ``?lang=`` names none of ``LANGUAGES``: one schema for every reader.
SCHEMA_LANGUAGE = "en"


def schema_language(request) -> str:
    """The language ``?lang=`` asks for (one of ``LANGUAGES``, or its variant: ``zh`` is ``zh-hans``), else
    ``SCHEMA_LANGUAGE``. Never ``Accept-Language``: a generated client's docstrings and enum labels came out in
    Chinese or English depending on who downloaded the schema (found by an outside integrator)."""
    asked = request.GET.get("lang", "")
    try:
        return translation.get_supported_language_variant(asked) if asked else SCHEMA_LANGUAGE
    except LookupError:
        return SCHEMA_LANGUAGE


class SchemaView(JsonErrorsMixin, SpectacularAPIView):
    """``/api/schema/``: the OpenAPI schema, built once a process and language, under a lock; in English unless
    ``?lang=`` asks for another (``schema_language``).

    drf-spectacular builds it on every request, and loads its extensions on the first one; two first requests at
    once in one worker's threads (gunicorn's gthread) raced in that loading and answered 500. The schema is
    public (``SERVE_PUBLIC``): it is the same for every reader, bar the language asked for. Its errors (an
    ``Accept`` it cannot answer, an unknown ``?format=``) are JSON, as every other of the API: drf-spectacular
    answered them in YAML, its first renderer."""

    _lock = threading.Lock()
    _built: dict[tuple, dict] = {}

    @extend_schema(exclude=True)  # as drf-spectacular's, with SERVE_INCLUDE_SCHEMA off
    def get(self, request, *args, **kwargs):
        # Not drf-spectacular's get: it follows the request's language, and activates any ``lang`` it is given (a
        # language per made-up value, each kept here).
        language = schema_language(request)
        with translation.override(language):
            response = self._get_schema_response(request)
        response["Content-Language"] = language
        return response

    def _get_schema_response(self, request):
        version = self.api_version or request.version or self._get_version_parameter(request)
        # The venue's profile too: the schema's description names it (``registry.schema.venue_rules_described``).
        key = (version, get_language(), settings.VENUE_PROFILE)
        with self._lock:
            schema = self._built.get(key)
            if schema is None:
                generator = self.generator_class(urlconf=self.urlconf, api_version=version, patterns=self.patterns)
                schema = self._built[key] = generator.get_schema(request=request, public=self.serve_public)
        filename = self._get_filename(request, version)
        return Response(data=schema, headers={"Content-Disposition": f'inline; filename="{filename}"'})


class DocsView(SpectacularSwaggerSplitView):
    """``/api/docs/``: Swagger UI on the schema in the reader's language (``?lang=``, else the page's language, as
    every page), where ``/api/schema/`` alone is English; its footer names the venue rule profile, as every page's
    does (``templates/api/docs.html``)."""

    template_name = "api/docs.html"

    def _get_schema_url(self, request):
        schema_url = self.url or get_relative_url(reverse(self.url_name, request=request))
        return set_query_parameters(
            url=schema_url, lang=request.GET.get("lang") or get_language(), version=request.GET.get("version")
        )
