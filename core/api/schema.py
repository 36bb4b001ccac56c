"""What every API module shares: the error body in the schema, and pagination of a queryset."""

from __future__ import annotations

from django.utils.translation import gettext
from rest_framework import serializers

from .pagination import Pagination


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(required=False)


ERRORS = {400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer, 409: ErrorSerializer}


def document_common_errors(result, generator, request, public):
    """A drf-spectacular postprocessing hook: every operation that needs a login documents its 401, and every one
    its 400 (a malformed query string, a NUL byte in it, a bad page's ``limit``), where an operation's own
    declaration left them out. Both come with the error body."""
    error = {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    descriptions = {"400": "The request is malformed.", "401": "No valid login (token or session)."}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            security = operation.get("security", result.get("security", []))
            anonymous = not security or {} in security
            for status in ("400",) if anonymous else ("400", "401"):
                responses.setdefault(status, {"description": descriptions[status], **error})
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
