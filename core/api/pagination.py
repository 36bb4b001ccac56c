"""Pagination for every list of the API: limit/offset with a ceiling on the page size.

Without ``max_limit`` a client's ``?limit=99999999999999999999`` reaches PostgreSQL
as an out-of-range LIMIT and becomes a 500. A ``limit`` outside 1..1000 or an ``offset``
below 0 (or either not a whole number) is a 400, as the schema documents them: DRF's own
reads them as the default page or the first, silently. So is another API's page number (``?page=2``,
``page_size``), which would otherwise be served the first page.

A paginated view sets ``pagination_class = Pagination`` and declares its response as
``Serializer(many=True)``: drf-spectacular then documents the envelope below and the
``limit``/``offset`` parameters (``core.api.schema.paginated`` builds the page).
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from drf_spectacular.plumbing import is_jsonschema_compliant
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination

from core import errors as err

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
# Other APIs' page parameters: a client sending ?page=2 was served the first page as if it were the second.
PAGE_NUMBER_PARAMS = ("page", "page_size", "per_page", "pageSize")


class Pagination(LimitOffsetPagination):
    max_limit = 1000

    def paginate_queryset(self, queryset, request, view=None):
        for name in PAGE_NUMBER_PARAMS:
            if name in request.query_params:
                raise ValidationError(
                    {
                        name: [
                            _("This list is paged by limit and offset (limit=%(limit)s&offset=%(offset)s).")
                            % {"limit": self.default_limit, "offset": self.default_limit}
                        ]
                    }
                )
        return super().paginate_queryset(queryset, request, view)

    def get_limit(self, request):
        limit = whole_param(request, self.limit_query_param, 1, self.max_limit)
        return self.default_limit if limit is None else limit

    def get_offset(self, request):
        return whole_param(request, self.offset_query_param, 0, MAX_OFFSET, 0)

    def get_paginated_response_schema(self, schema):
        # DRF's own leaves out "next" and "previous" from "required"; every page has all four keys.
        envelope = super().get_paginated_response_schema(schema)
        envelope["required"] = ["count", "next", "previous", "results"]
        if is_jsonschema_compliant():
            # OpenAPI 3.1 (OAS_VERSION) has JSON Schema's "null" type, and no "nullable", which DRF's envelope
            # still writes: a 3.1 validator read "next": null as not allowed.
            for name in ("next", "previous"):
                prop = envelope["properties"][name]
                if prop.pop("nullable", False):
                    prop["type"] = [prop["type"], "null"]
        return envelope

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.limit_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_limit)
            elif parameter["name"] == self.offset_query_param:
                parameter["schema"].update(minimum=0, maximum=MAX_OFFSET)
        return parameters


def moment(name: str, raw: str, *, end: bool) -> dt.datetime:
    """``raw``, a date (``YYYY-MM-DD``, the exchange's day, Asia/Shanghai) or an ISO 8601 time (without an offset
    the exchange's time), as an aware moment: a date is its day's start, or with ``end`` the next day's (an end
    date is included, an end time is not). Anything else, or a moment PostgreSQL cannot be sent, is an
    ``invalid_input`` 400 naming ``name``. The audit trail's ``since``/``until`` and the trade and order lists'."""
    try:
        value = parse_datetime(raw) if "T" in raw or " " in raw else None
    except ValueError:  # well formed but not a time: 25:00, 2026-02-30
        value = None
    day = None
    if value is None:
        try:
            day = parse_date(raw) if "T" not in raw and " " not in raw else None
        except ValueError:
            day = None
        if day is None:
            raise err.InvalidInput(_("%(name)s must be a date (YYYY-MM-DD) or an ISO 8601 time.") % {"name": name})
    # The moment as PostgreSQL will be sent it, in UTC: the day after 9999-12-31 does not exist, nor does
    # 0001-01-01T00:00+08:00 in UTC; both are a 400 naming the range, not a 500.
    try:
        if day is not None:
            value = dt.datetime.combine(day + dt.timedelta(days=1) if end else day, dt.time())
        if timezone.is_naive(value):
            value = timezone.make_aware(value)
        in_range = (
            dt.datetime(1, 1, 2, tzinfo=dt.UTC) <= value.astimezone(dt.UTC) < dt.datetime(9999, 12, 31, tzinfo=dt.UTC)
        )
    except (OverflowError, ValueError):
        in_range = False
    if not in_range:
        raise err.InvalidInput(_("%(name)s must be a date between 0001-01-02 and 9999-12-30.") % {"name": name})
    return value


def period_param(request) -> tuple[dt.datetime | None, dt.datetime | None]:
    """A list's ``since`` and ``until`` (``moment``; None when absent or empty), ``since`` not after ``until``."""
    names = ("since", "until")  # the parameters' own names, in every language
    since, until = (request.query_params.get(name, "").strip() for name in names)
    start = moment(names[0], since, end=False) if since else None
    stop = moment(names[1], until, end=True) if until else None
    if start and stop and start > stop:
        raise err.InvalidInput(_("%(since)s must not be after %(until)s.") % dict(zip(names, names, strict=True)))
    return start, stop


def period_parameters(what: str) -> list[OpenApiParameter]:
    """``period_param``'s parameters in the schema; ``what`` names the time they filter on."""
    return [
        OpenApiParameter(
            "since",
            str,
            required=False,
            description=f"only those whose {what} is at or after this: a date (YYYY-MM-DD, Beijing time, from its "
            "start) or an ISO 8601 time (without an offset, Beijing time)",
        ),
        OpenApiParameter(
            "until",
            str,
            required=False,
            description=f"only those whose {what} is before this: a date (YYYY-MM-DD, Beijing time, that day "
            "included) or an ISO 8601 time (excluded). Paging a list newest first while new rows arrive moves "
            "every offset: set until to the moment the walk started and each page stays where it was.",
        ),
    ]
