"""``GET /api/v1/regulatory-feed/?after=N&limit=M``: the regulatory data feed (``auditing.feed``).

Regulators and auditors only. Records of sealed entries in leaf order; the cursor is a leaf index
(``next_after``): pass it back as ``after`` to read on. A page holds the records of at most ``limit``
leaves (a SETTLEMENT gives two records of one leaf, never split across pages).
"""

from __future__ import annotations

from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core import errors as err
from core.api.schema import ERRORS
from core.permissions import require_role
from ledger import selectors as ledger_selectors

from . import feed, selectors

DEFAULT_LIMIT = 500
MAX_LIMIT = 5000


class FeedRecordOutput(serializers.Serializer):
    leaf_index = serializers.IntegerField()
    block_height = serializers.IntegerField()
    group = serializers.ChoiceField(choices=feed.GROUPS)
    kind = serializers.CharField(help_text="the ledger entry's kind")
    recorded_at = serializers.CharField(help_text="as in the canonical bytes (UTC, microseconds)")
    leaf_hash = serializers.CharField(help_text="hex; SHA-256(0x00 ‖ canonical)")
    canonical = serializers.CharField(help_text="base64 of the entry's canonical bytes")
    record = serializers.DictField(help_text="the entry's payload in the group's fields")


class FeedOutput(serializers.Serializer):
    results = FeedRecordOutput(many=True)
    next_after = serializers.IntegerField(allow_null=True, help_text="the cursor: the last leaf of this page")
    tree_size = serializers.IntegerField(help_text="the latest checkpoint's tree size")


def _cursor(params, name: str, default: int | None, *, least: int) -> int | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit() or len(raw) > 18 or int(raw) < least:
        raise err.InvalidInput(
            gettext("%(name)s must be a whole number of at least %(least)s.") % {"name": name, "least": least}
        )
    return int(raw)


class RegulatoryFeedApi(APIView):
    """Sealed ledger entries as records in the groups of JR/T 0315-2024, each linked to its leaf."""

    @extend_schema(
        parameters=[
            OpenApiParameter("after", int, required=False, description="the cursor: a leaf index (exclusive)"),
            OpenApiParameter("limit", int, required=False, description=f"leaves per page (≤ {MAX_LIMIT})"),
        ],
        responses={200: FeedOutput, **ERRORS},
        operation_id="regulatory_feed",
    )
    def get(self, request):
        require_role(
            request.user, selectors.AUDIT_READERS, gettext("Only regulators and auditors read the regulatory feed.")
        )
        after = _cursor(request.query_params, "after", None, least=0)
        limit = min(_cursor(request.query_params, "limit", DEFAULT_LIMIT, least=1), MAX_LIMIT)
        leaves = feed.sealed_after(after, limit)
        head = ledger_selectors.head()
        return Response(
            {
                "results": list(feed.feed_records(leaves)),
                "next_after": leaves[-1].leaf_index if leaves else after,
                "tree_size": head.tree_size if head else 0,
            }
        )
