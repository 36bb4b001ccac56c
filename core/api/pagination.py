"""Pagination for every list of the API: limit/offset with a ceiling on the page size.

Without ``max_limit`` a client's ``?limit=99999999999999999999`` reaches PostgreSQL
as an out-of-range LIMIT and becomes a 500.
"""

from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination


class Pagination(LimitOffsetPagination):
    max_limit = 1000
