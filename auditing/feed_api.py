"""``GET /api/v1/regulatory-feed/?after=N&limit=M``: the regulatory data feed (``auditing.feed``).

Regulators and auditors only. Records of sealed entries in leaf order; the cursor is a leaf index
(``next_after``): pass it back as ``after`` to read on. A page holds the records of at most ``limit``
leaves (a SETTLEMENT gives two records of one leaf, never split across pages).
"""

from __future__ import annotations

from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.pagination import BIGINT_MAX, whole_param, whole_parameter
from core.api.schema import LIST_ERRORS
from core.db.replica import replica_read
from core.permissions import require_role
from ledger import selectors as ledger_selectors
from ledger.models import EntryKind

from . import feed, selectors

DEFAULT_LIMIT = 500
MAX_LIMIT = 5000


class FeedRecordOutput(serializers.Serializer):
    leaf_index = serializers.IntegerField()
    block_height = serializers.IntegerField()
    group = serializers.ChoiceField(choices=feed.GROUPS)
    kind = serializers.ChoiceField(choices=EntryKind.choices, help_text="the ledger entry's kind")
    recorded_at = serializers.CharField(help_text="as in the canonical bytes (UTC, microseconds)")
    leaf_hash = serializers.CharField(help_text="hex; SHA-256(0x00 ‖ canonical)")
    canonical = serializers.CharField(help_text="base64 of the entry's canonical bytes")
    record = serializers.DictField(help_text="the entry's payload in the group's fields")


class FeedOutput(serializers.Serializer):
    results = FeedRecordOutput(many=True)
    next_after = serializers.IntegerField(allow_null=True, help_text="the cursor: the last leaf of this page")
    tree_size = serializers.IntegerField(help_text="the latest checkpoint's tree size")


class RegulatoryFeedApi(APIView):
    """Sealed ledger entries as records in the groups of JR/T 0315-2024, each linked to its leaf."""

    @extend_schema(
        parameters=[
            whole_parameter("after", 0, BIGINT_MAX, "the cursor: a leaf index (exclusive)"),
            whole_parameter("limit", 1, MAX_LIMIT, f"leaves per page ({DEFAULT_LIMIT} unless given)"),
        ],
        responses={200: FeedOutput, **LIST_ERRORS},
        operation_id="regulatory_feed",
    )
    def get(self, request):
        require_role(
            request.user, selectors.AUDIT_READERS, gettext("Only regulators and auditors read the regulatory feed.")
        )
        after = whole_param(request, "after", 0, BIGINT_MAX)
        limit = whole_param(request, "limit", 1, MAX_LIMIT, DEFAULT_LIMIT)
        # On the replica when usable: sealed leaves never change, so a lagging replica gives a shorter page (or
        # none: next_after stays ``after``), never a different one; the head is read there too, as of the same
        # moment. Every leaf it serves is on the primary, whose proof API proves it.
        return Response(replica_read(lambda alias: _page(after, limit, alias)))


def _page(after: int | None, limit: int, alias: str) -> dict:
    leaves = feed.sealed_after(after, limit, using=alias)
    head = ledger_selectors.head(using=alias)
    return {
        "results": list(feed.feed_records(leaves)),
        "next_after": leaves[-1].leaf_index if leaves else after,
        "tree_size": head.tree_size if head else 0,
    }
