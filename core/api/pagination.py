"""Pagination for every list of the API: limit/offset with a ceiling on the page size.

Without ``max_limit`` a client's ``?limit=99999999999999999999`` reaches PostgreSQL
as an out-of-range LIMIT and becomes a 500.

A paginated view sets ``pagination_class = Pagination`` and declares its response as
``Serializer(many=True)``: drf-spectacular then documents the envelope below and the
``limit``/``offset`` parameters (``core.api.schema.paginated`` builds the page).
"""

from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination


class Pagination(LimitOffsetPagination):
    max_limit = 1000

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
                parameter["schema"]["minimum"] = 0
        return parameters
