"""Pagination for every list of the API: limit/offset with a ceiling on the page size.

Without ``max_limit`` a client's ``?limit=99999999999999999999`` reaches PostgreSQL
as an out-of-range LIMIT and becomes a 500. A ``limit`` outside 1..1000 or an ``offset``
below 0 (or either not a whole number) is a 400, as the schema documents them: DRF's own
reads them as the default page or the first, silently.

A paginated view sets ``pagination_class = Pagination`` and declares its response as
``Serializer(many=True)``: drf-spectacular then documents the envelope below and the
``limit``/``offset`` parameters (``core.api.schema.paginated`` builds the page).
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination

BIGINT_MAX = 2**63 - 1  # a leaf index, a tree size, a block height: PostgreSQL's bigint


def whole_param(request, name: str, low: int, high: int, default: int | None = None) -> int | None:
    """The query parameter ``name`` as a whole number in [low, high] (``default`` when absent or empty); a 400
    naming it otherwise. Plain ASCII digits only: Python's ``int`` also reads " 5", "+5", "5_000" and other
    scripts' digits. Every integer parameter of the API is read here (pages, cursors, tree sizes)."""
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        raise ValidationError({name: [_("Must be a whole number, %(bounds)s.") % {"bounds": f"{low}–{high}"}]})
    return int(text)


def whole_parameter(name: str, low: int, high: int, description: str = "") -> OpenApiParameter:
    """``whole_param``'s parameter in the schema, with its bounds."""
    return OpenApiParameter(
        name, {"type": "integer", "minimum": low, "maximum": high}, required=False, description=description
    )


MAX_OFFSET = 10**12  # beyond any list here, and within PostgreSQL's OFFSET


class Pagination(LimitOffsetPagination):
    max_limit = 1000

    def get_limit(self, request):
        limit = whole_param(request, self.limit_query_param, 1, self.max_limit)
        return self.default_limit if limit is None else limit

    def get_offset(self, request):
        return whole_param(request, self.offset_query_param, 0, MAX_OFFSET, 0)

    def get_paginated_response_schema(self, schema):
        # DRF's own leaves out "next" and "previous" from "required"; every page has all four keys.
        envelope = super().get_paginated_response_schema(schema)
        envelope["required"] = ["count", "next", "previous", "results"]
        return envelope

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.limit_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_limit)
            elif parameter["name"] == self.offset_query_param:
                parameter["schema"].update(minimum=0, maximum=MAX_OFFSET)
        return parameters
