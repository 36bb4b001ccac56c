"""Registry API: securities as the API shows them, halting and resuming a security or the market
(exchange operators), the market's state (anyone signed in) and the holidays of the trading calendar."""

from __future__ import annotations

import datetime as dt

from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core import errors as err
from core.api.schema import ERRORS
from core.audit import client_ip

from . import calendar, holidays, services
from .models import Holiday, MarketState, Security


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


class HolidayOutput(serializers.ModelSerializer):
    class Meta:
        model = Holiday
        fields = ["date", "name", "created_at"]


class HolidayInput(serializers.Serializer):
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
    def delete(self, request, date):
        holidays.require_operator(request.user)
        try:
            day = dt.date.fromisoformat(date)
        except ValueError:
            raise err.InvalidInput(gettext("The date must be written YYYY-MM-DD.")) from None
        holidays.holiday_remove(actor=request.user, date=day, ip=client_ip(request))
        return Response(status=204)
