"""Balances API: issuances, each proposed by one depository operator and approved (or rejected) by another, or
withdrawn by its proposer; a security's issuances; the shareholder register."""

from __future__ import annotations

import datetime as dt
import io
import json

from django.db import connection
from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from core import errors as err
from core import spreadsheet
from core.api.errors import JsonErrorsMixin
from core.api.fields import IdempotencyKey, StrictInput, StrictInteger, require_no_body
from core.api.pagination import Pagination
from core.api.schema import ERRORS, LIST_ERRORS, choice_param, paginated
from core.audit import audit_record, client_ip
from core.models import Account
from core.roles import SUPERVISORS
from registry.models import Security

from . import issuances, services
from .models import IssuanceProposal
from .register import persons_holding, register_as_of


class HolderInput(StrictInput, serializers.Serializer):
    account = serializers.CharField(max_length=32)
    quantity = StrictInteger()
    locked_quantity = serializers.IntegerField(required=False, min_value=0, default=0)
    locked_until = serializers.DateField(required=False, allow_null=True, default=None)


@extend_schema_serializer(component_name="IssuanceRequest")
class IssuanceInput(StrictInput, serializers.Serializer):
    holders = HolderInput(many=True, allow_empty=False)
    reference = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    client_request_id = IdempotencyKey(
        required=False,
        help_text="Your own key for this proposal: a retry with it answers the proposal made first (200, not 202) "
        "instead of a second one, whatever became of it since; the key used for another proposal is a 409 "
        "client_request_id_reused.",
    )


class AllocationOutput(serializers.Serializer):
    account = serializers.CharField()
    quantity = serializers.IntegerField()
    locked_quantity = serializers.IntegerField(allow_null=True)
    locked_until = serializers.DateField(allow_null=True)


class IssuanceOutput(serializers.Serializer):
    entry = serializers.IntegerField(help_text="id of the ISSUE entry")
    leaf_index = serializers.IntegerField(allow_null=True)
    recorded_at = serializers.DateTimeField()
    security = serializers.CharField()
    quantity = serializers.IntegerField()
    reference = serializers.CharField()
    allocations = AllocationOutput(many=True)
    issuance = serializers.IntegerField(
        allow_null=True, help_text="the approved proposal (issuance-proposals/{id}/); null for an issue before them"
    )
    proposed_by = serializers.CharField(allow_null=True, help_text="the depository operator who proposed it")
    approved_by = serializers.CharField(allow_null=True, help_text="the depository operator who approved it")


def issuances_of(code: str, *, entry: int | None = None) -> list[dict]:
    """A security's ISSUE entries (or the one ``entry``), oldest first, as the ledger records them."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT e.id, l.leaf_index, e.recorded_at, e.canonical FROM ledger_entry e"
            " LEFT JOIN ledger_leaf l ON l.entry_id = e.id"
            " WHERE e.kind = 'ISSUE' AND convert_from(e.canonical, 'UTF8')::jsonb -> 'payload' ->> 'security' = %s"
            " AND (%s::bigint IS NULL OR e.id = %s::bigint) ORDER BY e.id",
            [code, entry, entry],
        )
        rows = cur.fetchall()
    out = []
    for entry_id, leaf, recorded_at, canonical in rows:
        payload = json.loads(bytes(canonical))["payload"]
        out.append(
            {
                "entry": entry_id,
                "leaf_index": leaf,
                "recorded_at": recorded_at,
                "security": payload["security"],
                "quantity": int(payload["quantity"]),
                "reference": payload.get("reference", ""),
                "allocations": [
                    {
                        "account": a["account"],
                        "quantity": int(a["quantity"]),
                        "locked_quantity": int(a["locked_quantity"]) if a.get("locked_quantity") else None,
                        "locked_until": a.get("locked_until"),
                    }
                    for a in payload["allocations"]
                ],
                "issuance": payload.get("issuance"),
                "proposed_by": payload.get("proposed_by"),
                "approved_by": payload.get("approved_by"),
            }
        )
    return out


class IssuanceProposalOutput(serializers.ModelSerializer):
    security = serializers.CharField(source="security.code")
    allocations = AllocationOutput(many=True)
    proposed_by = serializers.CharField(source="proposed_by.username")
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True, default=None)
    entry = serializers.IntegerField(allow_null=True, help_text="id of the ISSUE entry, once approved")

    class Meta:
        model = IssuanceProposal
        fields = [
            "id", "status", "security", "quantity", "reference", "allocations", "proposed_by", "proposed_at",
            "decided_by", "decided_at", "decision_reason", "entry",
        ]  # fmt: skip


class IssuanceApi(APIView):
    """A security's issuances (depository, exchange and supervisory staff); a depository operator proposes one:
    holders with their quantities, each possibly with a lock-up (quantity and end date), issued when a second
    depository operator approves it (``issuance-proposals/``)."""

    @extend_schema(responses={200: IssuanceOutput(many=True), **ERRORS})
    def get(self, request, code):
        if request.user.role not in ISSUANCE_READERS:
            raise err.PermissionDenied()
        if not Security.objects.filter(code=code).exists():
            raise err.UnknownSecurity()
        return Response(IssuanceOutput(issuances_of(code), many=True).data)

    @extend_schema(
        request=IssuanceInput,
        responses={202: IssuanceProposalOutput, 200: IssuanceProposalOutput, **ERRORS},
        description="Propose an issuance: checked in full now, issued when a second depository operator approves it "
        "(POST issuance-proposals/{id}/approve/). Answers 202 with the proposal; nothing is credited yet.",
    )
    def post(self, request, code):
        if request.user.role != "depository_operator":
            raise err.PermissionDenied(gettext("Only the depository registers issuances."))
        data = IssuanceInput(data=request.data)
        data.is_valid(raise_exception=True)
        holders = data.validated_data["holders"]
        accounts = {a.code: a for a in Account.objects.filter(code__in=[h["account"] for h in holders])}
        unknown = sorted({h["account"] for h in holders} - set(accounts))
        if unknown:
            raise err.InvalidInput(gettext("No such account: %(codes)s.") % {"codes": ", ".join(unknown)})
        if not Security.objects.filter(code=code).exists():
            raise err.UnknownSecurity()
        proposal, made = issuances.issuance_propose_once(
            actor=request.user,
            security_code=code,
            allocations=[
                services.Holding(accounts[h["account"]], h["quantity"], h["locked_quantity"], h["locked_until"])
                for h in holders
            ],
            reference=data.validated_data["reference"],
            client_request_id=data.validated_data.get("client_request_id", ""),
            ip=client_ip(request),
        )
        return Response(IssuanceProposalOutput(proposal).data, status=202 if made else 200)


ISSUANCE_READERS = {*SUPERVISORS, "depository_operator", "exchange_operator"}


class IssuanceProposalListApi(APIView):
    """Issuance proposals, newest first (the readers of issuances): ``status=proposed`` for those waiting for a
    second depository operator."""

    pagination_class = Pagination

    @extend_schema(
        parameters=[
            OpenApiParameter("security", str, required=False),
            OpenApiParameter("status", str, enum=IssuanceProposal.Status.values, required=False),
        ],
        responses={200: IssuanceProposalOutput(many=True), **LIST_ERRORS},
    )
    def get(self, request):
        if request.user.role not in ISSUANCE_READERS:
            raise err.PermissionDenied()
        qs = IssuanceProposal.objects.select_related("security", "proposed_by", "decided_by")
        if security := request.query_params.get("security"):
            qs = qs.filter(security__code=security)
        if status := choice_param(request, "status", IssuanceProposal.Status.values):
            qs = qs.filter(status=status)
        return paginated(request, self, qs.order_by("-id"), IssuanceProposalOutput)


@extend_schema_serializer(component_name="IssuanceDecisionReason")
class ReasonInput(StrictInput, serializers.Serializer):
    reason = serializers.CharField(max_length=500)


def _decision(action: str):
    """``issuance-proposals/{id}/approve|reject|withdraw/``, as supervision's decisions: approve takes no body,
    reject and withdraw a reason."""

    class DecisionApi(APIView):
        @extend_schema(
            request=ReasonInput if action != "approve" else None,
            responses={200: IssuanceProposalOutput, **ERRORS},
            operation_id=f"issuance_proposals_{action}",
        )
        def post(self, request, pk: int):
            ip = client_ip(request)
            if action == "approve":
                require_no_body(request)
                row = issuances.issuance_approve(actor=request.user, issuance_id=pk, ip=ip)
            else:
                data = ReasonInput(data=request.data)
                data.is_valid(raise_exception=True)
                fn = issuances.issuance_reject if action == "reject" else issuances.issuance_withdraw
                row = fn(actor=request.user, issuance_id=pk, reason=data.validated_data["reason"], ip=ip)
            return Response(IssuanceProposalOutput(row).data)

    DecisionApi.__name__ = f"IssuanceProposal{action.title()}Api"
    return DecisionApi


class RegisterLineOutput(serializers.Serializer):
    account = serializers.CharField()
    name = serializers.CharField()
    broker = serializers.CharField()
    quantity = serializers.IntegerField()
    locked = serializers.IntegerField()
    frozen = serializers.IntegerField()
    percent = serializers.CharField(help_text="share of the issued total, percent, four places")


class RegisterOutput(serializers.Serializer):
    security = serializers.CharField()
    as_of = serializers.DateField()
    holders = serializers.IntegerField(
        help_text="real persons holding shares, each counted once however many accounts they hold them in, as "
        "the holder cap counts them"
    )
    accounts = serializers.IntegerField(help_text="accounts holding shares (the lines with a quantity)")
    issued = serializers.IntegerField()
    lines = RegisterLineOutput(many=True)


class RegisterCsvRenderer(BaseRenderer):
    """The register as CSV (UTF-8 with a byte-order mark, so spreadsheets read the Chinese names)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if not isinstance(data, dict) or "lines" not in data:  # not a register (errors are JSON: JsonErrorsMixin)
            return json.dumps(data, ensure_ascii=False).encode()
        out = io.StringIO()
        writer = spreadsheet.Writer(out)
        writer.writerow(["security", "as_of", "account", "name", "broker", "quantity", "locked", "frozen", "percent"])
        for line in data["lines"]:
            writer.writerow(
                [data["security"], data["as_of"]]
                + [line[k] for k in ("account", "name", "broker", "quantity", "locked", "frozen", "percent")]
            )
        return spreadsheet.csv_file(out.getvalue())


REGISTER_READERS = {"depository_operator", "regulator", "auditor"}


def register_json(security: Security, as_of: dt.date) -> dict:
    lines = register_as_of(security, as_of)
    return {
        "security": security.code,
        "as_of": as_of,
        "holders": persons_holding(lines),
        "accounts": sum(1 for line in lines if line.quantity),
        "issued": sum(line.quantity for line in lines),
        "lines": [line.__dict__ for line in lines],
    }


class RegisterApi(JsonErrorsMixin, APIView):
    """The shareholder register as of the end of a date (Asia/Shanghai; today by default), rebuilt from the
    ledger alone. Depository, regulator and auditor. ``?format=csv`` for a CSV file; errors are JSON."""

    renderer_classes = [JSONRenderer, RegisterCsvRenderer]

    @extend_schema(
        parameters=[
            OpenApiParameter("as_of", OpenApiTypes.DATE, description="YYYY-MM-DD; today when absent"),
            OpenApiParameter("format", str, enum=["json", "csv"]),
        ],
        responses={200: RegisterOutput, **ERRORS},
    )
    def get(self, request, code):
        if request.user.role not in REGISTER_READERS:
            raise err.PermissionDenied()
        security = Security.objects.filter(code=code).first()
        if security is None:
            raise err.UnknownSecurity()
        as_of = services.shanghai_today()
        if raw := request.query_params.get("as_of"):
            try:
                as_of = dt.date.fromisoformat(raw)
            except ValueError:
                raise err.InvalidInput(gettext("as_of must be a date, YYYY-MM-DD."), field="as_of") from None
            if as_of > services.shanghai_today():
                raise err.InvalidInput(gettext("as_of cannot be in the future."), field="as_of")
        register = register_json(security, as_of)
        response = Response(RegisterOutput(register).data)
        if getattr(request, "accepted_renderer", None) and request.accepted_renderer.format == "csv":
            response["Content-Disposition"] = f'attachment; filename="register-{security.code}-{as_of}.csv"'
            # The export of every holder's line is on the audit trail: who, which register, how many lines (DESIGN
            # §6: every data reveal; found by an outside tester: it left no trace).
            audit_record(
                actor=request.user,
                action="register_export",
                target=security.code,
                ip=client_ip(request),
                detail={"format": "csv", "as_of": as_of.isoformat(), "rows": len(register["lines"])},
            )
        return response
