"""What every API module shares: the error body in the schema, and pagination of a queryset."""

from __future__ import annotations

from rest_framework import serializers

from .pagination import Pagination


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(required=False)


ERRORS = {400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer, 409: ErrorSerializer}


def paginated(request, view, queryset, serializer_class, context: dict | None = None):
    """One page of ``queryset`` serialised with ``serializer_class`` (the request and ``context`` in its context)."""
    paginator = Pagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    data = serializer_class(page, many=True, context={"request": request, **(context or {})}).data
    return paginator.get_paginated_response(data)
