"""The audit trail API (DESIGN.md §6, §8): ``audit/`` (filters, pages, ``?format=csv``), ``audit/{id}/``,
``audit/evidence/?account=…|trade=…``. Auditors and regulators only (``selectors.AUDIT_READERS``)."""

from __future__ import annotations

from django.http import HttpResponse
from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from core import errors as err
from core import spreadsheet
from core.api.errors import JsonErrorsMixin
from core.api.pagination import MAX_OFFSET, Pagination, whole_parameter
from core.api.schema import ERRORS, LIST_ERRORS
from core.audit import audit_record, client_ip
from core.db.replica import replica_read
from core.labels import OUTCOMES
from core.models import Account, Role
from core.permissions import require_role
from ledger.models import EntryKind

from . import selectors


def require_auditor(user) -> None:
    require_role(user, selectors.AUDIT_READERS, gettext("Only auditors and regulators read the audit trail."))


class CsvRenderer(BaseRenderer):
    """Lets ``?format=csv`` through content negotiation; the view builds the CSV itself."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, str | bytes) else b""


class AuditEventOutput(serializers.Serializer):
    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    user = serializers.CharField(help_text="the actor's user name (also for failed logins)")
    role = serializers.ChoiceField(
        choices=Role.choices, allow_blank=True, help_text="the actor's role; blank for no user (a failed login)"
    )
    action = serializers.CharField()
    outcome = serializers.ChoiceField(choices=list(OUTCOMES.items()))
    target = serializers.CharField()
    ip = serializers.CharField(allow_null=True)
    detail = serializers.DictField()
    entry_id = serializers.IntegerField(allow_null=True, help_text="the ledger entry the action wrote, if named")


class EntryLinkOutput(serializers.Serializer):
    entry_id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=EntryKind.choices)
    recorded_at = serializers.DateTimeField()
    exact = serializers.BooleanField(help_text="named by the record; false: matched by kind, target and time")
    leaf_index = serializers.IntegerField(allow_null=True)
    block_height = serializers.IntegerField(allow_null=True)
    proof_url = serializers.CharField(allow_null=True)
    payload = serializers.DictField()


class AuditEventDetailOutput(AuditEventOutput):
    ledger_entry = EntryLinkOutput(allow_null=True)


class EvidenceEntryOutput(serializers.Serializer):
    entry_id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=EntryKind.choices)
    recorded_at = serializers.DateTimeField()
    canonical = serializers.CharField(help_text="base64 of the entry's canonical bytes")
    leaf_hash = serializers.CharField(help_text="hex")
    leaf_index = serializers.IntegerField(required=False)
    proof = serializers.ListField(child=serializers.CharField(), required=False, help_text="hex hashes")


class EvidenceOutput(serializers.Serializer):
    type = serializers.ChoiceField(choices=[selectors.EVIDENCE_TYPE])
    subject = serializers.DictField()
    generated_at = serializers.DateTimeField()
    generated_by = serializers.CharField()
    checkpoint = serializers.CharField(allow_null=True, help_text="the signed note")
    tree_size = serializers.IntegerField()
    keys = serializers.ListField(child=serializers.DictField())
    entries = EvidenceEntryOutput(many=True)
    waiting = EvidenceEntryOutput(many=True, help_text="not sealed yet: no proof")
    audit = AuditEventOutput(many=True)
    command = serializers.CharField()
    note = serializers.CharField()


FILTER_PARAMETERS = [
    OpenApiParameter("user", str, required=False, description="the actor's user name"),
    OpenApiParameter("role", str, required=False, enum=Role.values, description="the actor's role"),
    OpenApiParameter(
        "action",
        str,
        required=False,
        description="a part of the action's code (freeze: freeze_propose, freeze_approve, …) or of its name in the "
        "request's language (Accept-Language), case-insensitive",
    ),
    OpenApiParameter(
        "target",
        str,
        required=False,
        description="the object acted on (exact; an account code in any case: inv000004 finds INV000004, with the "
        "records whose detail names that account, such as an identity reveal of its holder)",
    ),
    OpenApiParameter("outcome", str, required=False, enum=list(OUTCOMES)),
    OpenApiParameter("since", str, required=False, description="date or ISO 8601 time (inclusive)"),
    OpenApiParameter("until", str, required=False, description="date (inclusive) or ISO 8601 time (exclusive)"),
    OpenApiParameter("format", str, required=False, enum=["json", "csv"]),
]


def csv_response(filters: dict, *, params, actor, ip: str | None, filename: str = "audit.csv") -> HttpResponse:
    """The trail filtered by ``filters`` (checked from the query ``params``) as a CSV download, the export itself
    on the trail: who, the filters as asked, how many records (DESIGN §6: every data reveal; found by an outside
    tester: exports left no trace)."""
    # Read on the replica when usable (before the export's own record is written, on the primary).
    events = replica_read(lambda alias: list(selectors.events_filtered(filters).using(alias)[: selectors.MAX_CSV_ROWS]))
    # UTF-8 with a byte-order mark, as the register's CSV (found by an outside tester: Excel garbled the Chinese)
    response = HttpResponse(spreadsheet.csv_file(selectors.events_csv(events)), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    audit_record(
        actor=actor,
        action="audit_export",
        ip=ip,
        detail={"format": "csv", "filters": selectors.filters_asked(params), "rows": len(events)},
    )
    return response


class AuditListApi(JsonErrorsMixin, APIView):
    """The audit trail, newest first, filtered; ``?format=csv`` gives every matching record as CSV."""

    renderer_classes = [JSONRenderer, CsvRenderer]
    pagination_class = Pagination

    @extend_schema(
        # The page's parameters, named here: drf-spectacular pages the answer of an APIView with a described
        # response but adds no limit/offset (found by a probe: both were taken and checked, neither documented).
        parameters=[
            *FILTER_PARAMETERS,
            whole_parameter("limit", 1, Pagination.max_limit, Pagination.limit_query_description),
            whole_parameter("offset", 0, MAX_OFFSET, Pagination.offset_query_description),
        ],
        operation_id="audit_list",
        responses={
            (200, "application/json"): OpenApiResponse(AuditEventOutput(many=True), description="a page of records"),
            # ``?format=csv``: every matching record (up to the export's limit), not the JSON page (found by a probe).
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="every matching record, as CSV"),
            **LIST_ERRORS,
        },
    )
    def get(self, request):
        require_auditor(request.user)
        filters = selectors.filters_checked(request.query_params)
        if request.accepted_renderer.format == "csv":
            return csv_response(filters, params=request.query_params, actor=request.user, ip=client_ip(request))
        paginator = Pagination()

        def read(alias: str) -> list[dict]:
            events = paginator.paginate_queryset(selectors.events_filtered(filters).using(alias), request, view=self)
            return [selectors.event_json(e) for e in events]

        rows = replica_read(read)  # the replica when usable: a record may show a few seconds late
        return paginator.get_paginated_response(rows)


class AuditDetailApi(APIView):
    """One audit record, with the ledger entry the action wrote (and where its inclusion proof is)."""

    @extend_schema(responses={200: AuditEventDetailOutput, **ERRORS})
    def get(self, request, event_id):
        require_auditor(request.user)
        event = selectors.AuditEvent.objects.select_related("actor").filter(pk=event_id).first()
        if event is None:
            raise err.NotFound(gettext("No such audit record."))
        return Response(
            {**selectors.event_json(event), "ledger_entry": selectors.entry_link_json(selectors.entry_of(event))}
        )


def _subject(params) -> tuple[dict, str]:
    # A code as typed ("inv000004"), as the trail's own filter and the account look-up take it (found by a walk:
    # the evidence form answered "No such account." for a code in small letters).
    account = Account.typed_code(params.get("account") or "")
    trade = (params.get("trade") or "").strip()
    if account and trade:
        raise err.InvalidInput(gettext("Give either account or trade, not both."))
    if not account and not trade:
        raise err.InvalidInput(gettext("Give an account code or a trade id."))
    if trade:
        if not (trade.isascii() and trade.isdigit()) or len(trade) > 18:
            raise err.InvalidInput(gettext("trade must be a trade id (a whole number)."))
        return {"trade": int(trade)}, f"trade-{int(trade)}"
    if len(account) > 32:
        raise err.NotFound(gettext("No such account."))
    return {"account": account}, f"account-{account}"


def evidence(params, user, *, ip: str | None) -> tuple[dict, str]:
    """The evidence bundle asked for by ``account`` or ``trade``, and its file name; the export on the trail, under
    the account or trade it is of, with what it holds (DESIGN §6: every data reveal)."""
    subject, name = _subject(params)
    if "trade" in subject:
        events, entries = selectors.trade_evidence_parts(subject["trade"])
    else:
        events, entries = selectors.account_evidence_parts(subject["account"])
    bundle = selectors.evidence_bundle(subject=subject, events=events, entries=entries, by=user.username)
    audit_record(
        actor=user,
        action="evidence_export",
        target=f"trade {subject['trade']}" if "trade" in subject else subject["account"],
        ip=ip,
        detail={
            **subject,
            "audit_records": len(bundle["audit"]),
            "entries": len(bundle["entries"]),
            "waiting": len(bundle["waiting"]),
        },
    )
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
    return bundle, f"evidence-{safe}.json"


class AuditEvidenceApi(APIView):
    """One downloadable file: an account's or a trade's audit records and ledger entries, the entries with
    inclusion proofs against one signed checkpoint; ``python ledger/verifier.py evidence`` checks it offline."""

    @extend_schema(
        parameters=[
            OpenApiParameter("account", str, required=False, description="an account code"),
            OpenApiParameter("trade", OpenApiTypes.INT, required=False, description="a trade id"),
        ],
        responses={200: EvidenceOutput, **ERRORS},
    )
    def get(self, request):
        require_auditor(request.user)
        bundle, filename = evidence(request.query_params, request.user, ip=client_ip(request))
        return Response(bundle, headers={"Content-Disposition": f'attachment; filename="{filename}"'})
