"""Registry API: securities as the API shows them, halting and resuming a security or the market
(exchange operators), the market's state (anyone signed in), and disclosure documents (published by
depository and exchange operators; listed, downloaded and checked by anyone signed in)."""

from __future__ import annotations

from django.http import FileResponse
from django.urls import reverse
from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from core import errors as err
from core.api.pagination import Pagination
from core.api.schema import ERRORS, ErrorSerializer
from core.audit import client_ip
from ledger.models import Leaf

from . import calendar, disclosures, services
from .models import Disclosure, MarketState, Security


class SecurityOutput(serializers.ModelSerializer):
    band_low = serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True)
    band_high = serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True)
    risk_rating = serializers.SerializerMethodField()
    trading_modes = serializers.SerializerMethodField()

    class Meta:
        model = Security
        fields = [
            "code",
            "name",
            "issuer",
            "risk_rating",
            "lot_size",
            "tick_size",
            "reference_price",
            "band_pct",
            "band_low",
            "band_high",
            "max_holders",
            "status",
            "halt_reason",
            "trading_modes",
            "settlement_mode",
            "qualified_only",
            "min_holding_days",
            "issued_quantity",
        ]

    def get_risk_rating(self, obj) -> str:
        return f"R{obj.risk_rating}"

    def get_trading_modes(self, obj) -> list[str]:
        modes = [("market_making", obj.mode_market_making), ("rfq", obj.mode_rfq), ("negotiated", obj.mode_negotiated)]
        return [name for name, on in modes if on]


@extend_schema_serializer(component_name="HaltReason")
class ReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=err.REASON_MAX_LENGTH)


class SecurityHaltApi(APIView):
    """Halt trading in one security (exchange operators): new orders and quotes are refused; resting orders stay."""

    @extend_schema(request=ReasonInput, responses={200: SecurityOutput, **ERRORS})
    def post(self, request, code):
        data = ReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        security = services.security_halt(
            actor=request.user, code=code, reason=data.validated_data["reason"], ip=client_ip(request)
        )
        return Response(SecurityOutput(security).data)


class SecurityResumeApi(APIView):
    @extend_schema(request=ReasonInput, responses={200: SecurityOutput, **ERRORS})
    def post(self, request, code):
        data = ReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        security = services.security_resume(
            actor=request.user, code=code, reason=data.validated_data["reason"], ip=client_ip(request)
        )
        return Response(SecurityOutput(security).data)


class MarketOutput(serializers.Serializer):
    state = serializers.ChoiceField(choices=["open", "closed", "halted"])
    profile = serializers.CharField()
    session = serializers.CharField(allow_null=True)
    next_open = serializers.DateTimeField(allow_null=True)
    halted_reason = serializers.CharField(allow_blank=True)
    changed_at = serializers.DateTimeField(allow_null=True)


def market_json() -> dict:
    state = MarketState.objects.filter(id=1).first() or MarketState(id=1)
    is_open = calendar.market_is_open()
    return {
        "state": "halted" if state.halted else ("open" if is_open else "closed"),
        # The venue rule profile (DESIGN §2); only "open" exists until the rule profiles are built.
        "profile": "open",
        "session": None if state.halted else calendar.session_now(),
        "next_open": None if is_open else calendar.next_open(),
        "halted_reason": state.reason if state.halted else "",
        "changed_at": state.changed_at,
    }


class MarketApi(APIView):
    """The market's state: open, closed (between sessions) or halted, with the session and the next open."""

    @extend_schema(responses={200: MarketOutput})
    def get(self, request):
        return Response(MarketOutput(market_json()).data)


class MarketHaltApi(APIView):
    """The kill switch (exchange operators): trading stops everywhere and settlement pauses; sealing goes on."""

    @extend_schema(request=ReasonInput, responses={200: MarketOutput, **ERRORS})
    def post(self, request):
        data = ReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.market_halt(actor=request.user, reason=data.validated_data["reason"], ip=client_ip(request))
        return Response(MarketOutput(market_json()).data)


class MarketResumeApi(APIView):
    @extend_schema(request=ReasonInput, responses={200: MarketOutput, **ERRORS})
    def post(self, request):
        data = ReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.market_resume(actor=request.user, reason=data.validated_data["reason"], ip=client_ip(request))
        return Response(MarketOutput(market_json()).data)


# --------------------------------------------------------------------------
# Disclosure documents (registry.disclosures): anyone signed in lists, downloads and checks them;
# depository and exchange operators publish them.


class DisclosureOutput(serializers.ModelSerializer):
    security = serializers.CharField(source="security.code")
    leaf_index = serializers.SerializerMethodField(help_text="the DISCLOSURE entry's leaf, once sealed")
    download_url = serializers.SerializerMethodField()
    proof_url = serializers.SerializerMethodField(help_text="the entry's inclusion proof, once sealed")
    check_url = serializers.SerializerMethodField()

    class Meta:
        model = Disclosure
        fields = [
            "id",
            "security",
            "kind",
            "title",
            "filename",
            "content_type",
            "size",
            "sha256",
            "published_at",
            "leaf_index",
            "download_url",
            "proof_url",
            "check_url",
        ]

    def _leaf(self, obj) -> int | None:
        return self.context.get("leaves", {}).get(obj.entry_id)

    def get_leaf_index(self, obj) -> int | None:
        return self._leaf(obj)

    def get_download_url(self, obj) -> str:
        return reverse("api-disclosure-file", args=[obj.security.code, obj.pk])

    def get_proof_url(self, obj) -> str | None:
        index = self._leaf(obj)
        return None if index is None else reverse("api-ledger-proof", args=[index])

    def get_check_url(self, obj) -> str:
        return reverse("api-disclosure-check", args=[obj.security.code, obj.pk])


def disclosure_leaves(disclosures) -> dict[int, int]:
    """{entry id: leaf index} of the sealed DISCLOSURE entries of ``disclosures``."""
    return dict(
        Leaf.objects.filter(entry_id__in=[d.entry_id for d in disclosures]).values_list("entry_id", "leaf_index")
    )


class DisclosureInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Disclosure.Kind.choices)
    title = serializers.CharField(max_length=Disclosure.TITLE_MAX_LENGTH)
    # Empty files reach the service, which refuses them with the same message as the page.
    file = serializers.FileField(allow_empty_file=True, max_length=1000)


class DisclosureCheckInput(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True, max_length=1000)


class DisclosureCheckOutput(serializers.Serializer):
    matches = serializers.BooleanField()
    sha256 = serializers.CharField(help_text="the SHA-256 of the file sent")
    recorded_sha256 = serializers.CharField(help_text="the SHA-256 on the ledger")


def _security_or_404(code: str) -> Security:
    security = Security.objects.filter(code=code).first()
    if security is None:
        raise err.UnknownSecurity()
    return security


def _disclosure_or_404(code: str, document_id: int) -> Disclosure:
    disclosure = Disclosure.objects.select_related("security").filter(security__code=code, pk=document_id).first()
    if disclosure is None:
        raise err.NotFound(gettext("No such document."))
    return disclosure


class DisclosureListApi(APIView):
    """A security's disclosure documents, newest first (anyone signed in); publish one (multipart ``kind``,
    ``title``, ``file``: PDF, PNG, JPEG or UTF-8 text) as a depository or exchange operator."""

    parser_classes = [MultiPartParser, FormParser]
    pagination_class = Pagination

    @extend_schema(responses={200: DisclosureOutput(many=True), **ERRORS})
    def get(self, request, code):
        security = _security_or_404(code)
        queryset = (
            Disclosure.objects.filter(security=security).select_related("security").order_by("-published_at", "-id")
        )
        paginator = Pagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        data = DisclosureOutput(page, many=True, context={"leaves": disclosure_leaves(page)}).data
        return paginator.get_paginated_response(data)

    @extend_schema(
        request={"multipart/form-data": DisclosureInput},
        responses={201: DisclosureOutput, 413: ErrorSerializer, 415: ErrorSerializer, **ERRORS},
    )
    def post(self, request, code):
        # The role first: whoever may not publish learns nothing from the validation of the rest.
        if request.user.role not in disclosures.PUBLISHERS:
            raise err.PermissionDenied(gettext("Only depository and exchange operators publish disclosure documents."))
        data = DisclosureInput(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        disclosure = disclosures.disclosure_publish(
            actor=request.user,
            code=code,
            kind=data.validated_data["kind"],
            title=data.validated_data["title"],
            filename=upload.name,
            content=upload,
            ip=client_ip(request),
        )
        return Response(DisclosureOutput(disclosure).data, status=status.HTTP_201_CREATED)


class DisclosureFileApi(APIView):
    """The document's file (anyone signed in), served only when its bytes still hash to the recorded SHA-256."""

    @extend_schema(
        responses={
            **{(200, t): OpenApiResponse(OpenApiTypes.BINARY) for t in disclosures.CONTENT_TYPES},
            404: ErrorSerializer,
            409: ErrorSerializer,
        }
    )
    def get(self, request, code, document_id: int):
        disclosure = _disclosure_or_404(code, document_id)
        handle = disclosures.disclosure_open(disclosure)
        response = FileResponse(
            handle, content_type=disclosure.content_type, as_attachment=True, filename=disclosure.filename
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Disclosure-SHA256"] = disclosure.sha256
        return response


class DisclosureCheckApi(APIView):
    """Check a file one holds against the document's recorded SHA-256 (multipart ``file``); nothing is stored."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": DisclosureCheckInput}, responses={200: DisclosureCheckOutput, **ERRORS}
    )
    def post(self, request, code, document_id: int):
        disclosure = _disclosure_or_404(code, document_id)
        data = DisclosureCheckInput(data=request.data)
        data.is_valid(raise_exception=True)
        matches, sha256 = disclosures.disclosure_check(disclosure, data.validated_data["file"])
        return Response({"matches": matches, "sha256": sha256, "recorded_sha256": disclosure.sha256})
