"""Registry API: securities as the API shows them, halting and resuming a security or the market
(exchange operators), the market's state (anyone signed in), the holidays of the trading calendar, listing
and changing securities, and disclosure documents (published by depository and exchange operators; listed,
downloaded and checked by anyone signed in)."""

from __future__ import annotations

import datetime as dt

from django.http import FileResponse
from django.urls import reverse
from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core import errors as err
from core.api.fields import DecimalString, StrictInput, StrictInteger, Upload, takes_no_body
from core.api.pagination import Pagination
from core.api.parsers import FormParser, MultiPartParser
from core.api.schema import ERRORS, ErrorSerializer
from core.audit import client_ip
from ledger.models import Leaf

from . import calendar, disclosures, holidays, listing, profile, services
from .models import Disclosure, Holiday, MarketState, Security

# A list of trading modes, as the schema documents one (an answer's modes are some of these, in this order).
TRADING_MODES = serializers.ListField(child=serializers.ChoiceField(choices=profile.MODES))


class SecuritySwitchesOutput(serializers.Serializer):
    """The security's own switches, as the exchange operator set them; the venue's profile may tighten them."""

    trading_modes = serializers.SerializerMethodField()
    max_holders = serializers.IntegerField()
    qualified_only = serializers.BooleanField()
    min_holding_days = serializers.IntegerField()

    @extend_schema_field(TRADING_MODES)
    def get_trading_modes(self, obj) -> list[str]:
        return [m for m in profile.MODES if getattr(obj, f"mode_{m}")]


class VenueOverrideOutput(serializers.Serializer):
    field = serializers.ChoiceField(
        choices=profile.OVERRIDE_FIELDS,
        help_text="the field of the security's own switches the venue's rule overrides",
    )
    message = serializers.CharField()


class SecurityOutput(serializers.ModelSerializer):
    """A security. ``trading_modes``, ``max_holders``, ``qualified_only`` and ``min_holding_days`` are the rules in
    force: the venue's profile (``venue_profile``) and the security's own switches (``security_settings``)
    together, the tighter of the two; ``venue_overrides`` names each own switch that is looser than the venue's
    rule, which applies instead."""

    band_low = serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True)
    band_high = serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True)
    risk_rating = serializers.SerializerMethodField()
    trading_modes = serializers.SerializerMethodField()
    # The rules in force, not the raw switches (found by a tester: 500 holders shown where the venue's 200 apply).
    max_holders = serializers.SerializerMethodField(help_text="the holder cap in force")
    qualified_only = serializers.SerializerMethodField(help_text="whether only qualified investors may buy")
    min_holding_days = serializers.SerializerMethodField(help_text="trading days between buying and selling")
    security_settings = SecuritySwitchesOutput(source="*", read_only=True)
    venue_profile = serializers.SerializerMethodField()
    venue_overrides = serializers.SerializerMethodField()

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
            "security_settings",
            "venue_profile",
            "venue_overrides",
        ]

    @extend_schema_field(serializers.ChoiceField(choices=listing.RISK_RATINGS))
    def get_risk_rating(self, obj) -> str:
        return f"R{obj.risk_rating}"

    @extend_schema_field(TRADING_MODES)
    def get_trading_modes(self, obj) -> list[str]:
        # Only what both the security and the venue's profile allow, and the platform builds.
        return profile.trading_modes(obj)

    def get_max_holders(self, obj) -> int:
        return profile.max_holders(obj)

    def get_qualified_only(self, obj) -> bool:
        return profile.qualified_only(obj)

    def get_min_holding_days(self, obj) -> int:
        return profile.holding_days(obj)

    @extend_schema_field(serializers.ChoiceField(choices=profile.PROFILE_NAMES))
    def get_venue_profile(self, obj) -> str:
        return profile.current().name

    @extend_schema_field(VenueOverrideOutput(many=True))
    def get_venue_overrides(self, obj) -> list[dict]:
        return [{"field": o.field, "message": o.message} for o in profile.overrides(obj)]


@extend_schema_serializer(component_name="HaltReason")
class ReasonInput(StrictInput, serializers.Serializer):
    reason = serializers.CharField(max_length=err.REASON_MAX_LENGTH)


class SecurityParametersInput(StrictInput, serializers.Serializer):
    """A security's parameters. Listing needs name, issuer, risk rating and reference price; the rest have
    defaults (lot 100, tick 0.01, band 30 %, 200 holders, every mode, gross settlement, no rule switch)."""

    name = serializers.CharField(max_length=200, required=False)
    issuer = serializers.CharField(max_length=200, required=False)
    risk_rating = serializers.CharField(max_length=2, required=False, help_text='"R1" … "R5" (or "1" … "5"), as text')
    lot_size = StrictInteger(required=False, max_value=1_000_000)
    tick_size = DecimalString(required=False, help_text='e.g. "0.01"')
    reference_price = DecimalString(required=False)
    band_pct = DecimalString(required=False, max_digits=5, help_text="percent either side of the reference price")
    max_holders = StrictInteger(required=False, max_value=listing.MAX_HOLDERS_LIMIT)
    trading_modes = serializers.ListField(
        child=serializers.ChoiceField(choices=listing.MODES), required=False, allow_empty=False
    )
    settlement_mode = serializers.ChoiceField(choices=Security.SettlementMode.choices, required=False)
    qualified_only = serializers.BooleanField(required=False)
    min_holding_days = serializers.IntegerField(required=False, min_value=0, max_value=listing.MAX_HOLDING_DAYS)


@extend_schema_serializer(component_name="SecurityListing")
class SecurityListingInput(SecurityParametersInput):
    code = serializers.CharField(max_length=16)
    # What a listing cannot do without (the schema says so: a change may send any of them, a listing all four).
    name = serializers.CharField(max_length=200)
    issuer = serializers.CharField(max_length=200)
    risk_rating = serializers.CharField(max_length=2, help_text='"R1" … "R5" (or "1" … "5"), as text')
    reference_price = DecimalString()


@extend_schema_serializer(component_name="SecurityChange")
class SecurityChangeInput(SecurityParametersInput):
    reason = serializers.CharField(max_length=err.REASON_MAX_LENGTH)
    confirm_holder_cap_below_holders = serializers.BooleanField(
        required=False,
        default=False,
        help_text="true to set max_holders below the security's current number of holders: existing holders keep "
        "their shares, and no new holder may buy until the count is below the cap. Without it such a change is "
        "refused with 409 holder_cap_below_holders, whose message names the count.",
    )


def _parameters(data: dict) -> dict:
    return {k: v for k, v in data.items() if k not in ("code", "reason", "confirm_holder_cap_below_holders")}


class SecurityListApi(APIView):
    """The securities that are listed or halted; exchange operators list new ones."""

    @extend_schema(responses=SecurityOutput(many=True))
    def get(self, request):
        securities = Security.objects.exclude(status=Security.Status.DELISTED).order_by("code")
        return Response(SecurityOutput(securities, many=True).data)

    @extend_schema(request=SecurityListingInput, responses={201: SecurityOutput, **ERRORS})
    def post(self, request):
        data = SecurityListingInput(data=request.data)
        data.is_valid(raise_exception=True)
        security = listing.security_list(
            actor=request.user,
            code=data.validated_data["code"],
            data=_parameters(data.validated_data),
            ip=client_ip(request),
        )
        return Response(SecurityOutput(security).data, status=201)


def _security(code: str) -> Security:
    security = Security.objects.filter(code=code).first()
    if security is None:
        raise err.UnknownSecurity()
    return security


class SecurityDetailApi(APIView):
    """One security; exchange operators change its parameters with a reason (resting orders that no longer fit
    the new lot, tick, band or modes are cancelled with the change as their reason). A holder cap below the
    current holders needs ``confirm_holder_cap_below_holders`` (else 409 ``holder_cap_below_holders``)."""

    @extend_schema(responses={200: SecurityOutput, **ERRORS})
    def get(self, request, code):
        return Response(SecurityOutput(_security(code)).data)

    @extend_schema(request=SecurityChangeInput, responses={200: SecurityOutput, **ERRORS})
    def patch(self, request, code):
        data = SecurityChangeInput(data=request.data)
        data.is_valid(raise_exception=True)
        security = listing.security_change(
            actor=request.user,
            code=code,
            data=_parameters(data.validated_data),
            reason=data.validated_data["reason"],
            confirm_holder_cap_below_holders=data.validated_data["confirm_holder_cap_below_holders"],
            ip=client_ip(request),
        )
        return Response(SecurityOutput(security).data)


class SecurityDelistApi(APIView):
    """Delist a security (exchange operators): resting orders are cancelled and quotes pulled; matched trades
    still settle and holdings stay on the register."""

    @extend_schema(request=ReasonInput, responses={200: SecurityOutput, **ERRORS})
    def post(self, request, code):
        data = ReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        security = listing.security_delist(
            actor=request.user, code=code, reason=data.validated_data["reason"], ip=client_ip(request)
        )
        return Response(SecurityOutput(security).data)


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
    profile = serializers.ChoiceField(choices=profile.PROFILE_NAMES, help_text="the venue's rule profile")
    session = serializers.ChoiceField(
        choices=[*calendar.SESSION_NAMES, calendar.CONTINUOUS],
        allow_null=True,
        help_text="continuous while the market is kept open around the clock; null between sessions or halted",
    )
    next_open = serializers.DateTimeField(allow_null=True)
    halted_reason = serializers.CharField(allow_blank=True)
    changed_at = serializers.DateTimeField(allow_null=True)


def market_json() -> dict:
    state = MarketState.objects.filter(id=1).first() or MarketState(id=1)
    is_open = calendar.market_is_open()
    return {
        "state": "halted" if state.halted else ("open" if is_open else "closed"),
        # The venue rule profile (DESIGN §2, registry.profile).
        "profile": profile.current().name,
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


class HolidayOutput(serializers.ModelSerializer):
    class Meta:
        model = Holiday
        fields = ["date", "name", "created_at"]


class HolidayInput(StrictInput, serializers.Serializer):
    date = serializers.DateField(input_formats=["%Y-%m-%d"])
    name = serializers.CharField(max_length=holidays.HOLIDAY_NAME_MAX_LENGTH)


class HolidaysApi(APIView):
    """The market's holidays (weekdays without trading), anyone signed in; exchange operators add future ones."""

    @extend_schema(responses={200: HolidayOutput(many=True)})
    def get(self, request):
        return Response(HolidayOutput(Holiday.objects.order_by("date"), many=True).data)

    @extend_schema(request=HolidayInput, responses={201: HolidayOutput, **ERRORS})
    def post(self, request):
        holidays.require_operator(request.user)
        data = HolidayInput(data=request.data)
        data.is_valid(raise_exception=True)
        holiday = holidays.holiday_add(
            actor=request.user,
            date=data.validated_data["date"],
            name=data.validated_data["name"],
            ip=client_ip(request),
        )
        return Response(HolidayOutput(holiday).data, status=201)


class HolidayApi(APIView):
    """Remove a future holiday (exchange operators): the market trades that day again."""

    @extend_schema(
        parameters=[OpenApiParameter("date", str, OpenApiParameter.PATH, description="YYYY-MM-DD")],
        responses={204: None, **ERRORS},
    )
    @takes_no_body
    def delete(self, request, date):
        holidays.require_operator(request.user)
        try:
            day = dt.date.fromisoformat(date)
        except ValueError:
            raise err.InvalidInput(gettext("The date must be written YYYY-MM-DD.")) from None
        holidays.holiday_remove(actor=request.user, date=day, ip=client_ip(request))
        return Response(status=204)


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


class DisclosureInput(StrictInput, serializers.Serializer):
    kind = serializers.ChoiceField(choices=Disclosure.Kind.choices)
    title = serializers.CharField(max_length=Disclosure.TITLE_MAX_LENGTH)
    # Empty files reach the service, which refuses them with the same message as the page.
    file = Upload(allow_empty_file=True, max_length=1000)


class DisclosureCheckInput(StrictInput, serializers.Serializer):
    file = Upload(allow_empty_file=True, max_length=1000)


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
