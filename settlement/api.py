"""Settlement API: depository operators hold, release or refuse; the monitor's figures."""

from __future__ import annotations

from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core import errors as err
from core.api.schema import ERRORS, ErrorSerializer
from core.audit import client_ip
from core.permissions import require_role
from core.roles import SUPERVISORS
from exchange import selectors as exchange_selectors
from exchange.api.views import TradeOutput

from . import selectors, services


@extend_schema_serializer(component_name="SettlementReasonInput")
class ReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=err.REASON_MAX_LENGTH)


def _action_view(service, name: str):
    class ActionApi(APIView):
        @extend_schema(
            request=ReasonInput,
            responses={
                200: inline_serializer(
                    f"Trade{name.title()}", {"id": serializers.IntegerField(), "status": serializers.CharField()}
                ),
                **ERRORS,
            },
            operation_id=f"trade_{name}",
        )
        def post(self, request, trade_id):
            data = ReasonInput(data=request.data)
            data.is_valid(raise_exception=True)
            trade = service(
                actor=request.user, trade_id=trade_id, reason=data.validated_data["reason"], ip=client_ip(request)
            )
            return Response({"id": trade.pk, "status": trade.status})

    ActionApi.__name__ = f"Trade{name.title()}Api"
    return ActionApi


TradeHoldApi = _action_view(services.trade_hold, "hold")
TradeReleaseApi = _action_view(services.trade_release, "release")
TradeRefuseApi = _action_view(services.trade_refuse, "refuse")


class MonitorOutput(serializers.Serializer):
    awaiting_seal = serializers.IntegerField()
    awaiting_settlement = serializers.IntegerField()
    held = serializers.IntegerField()
    failed_last_hour = serializers.IntegerField()
    settled_last_hour = serializers.IntegerField()
    latency_median_s = serializers.FloatField(allow_null=True)
    latency_p99_s = serializers.FloatField(allow_null=True)
    as_of = serializers.DateTimeField()


class ActionOutput(serializers.Serializer):
    action = serializers.CharField()
    reason = serializers.CharField()
    at = serializers.DateTimeField()


class LifecycleOutput(serializers.Serializer):
    matched_at = serializers.DateTimeField()
    sealed_at = serializers.DateTimeField(allow_null=True)
    leaf_index = serializers.IntegerField(allow_null=True)
    block_height = serializers.IntegerField(allow_null=True)
    settled_at = serializers.DateTimeField(allow_null=True)
    settlement_mode = serializers.CharField(allow_null=True)
    settlement_leaf_index = serializers.IntegerField(allow_null=True)
    settlement_block_height = serializers.IntegerField(allow_null=True)
    actions = ActionOutput(many=True)


class TradeNoteOutput(serializers.Serializer):
    kind = serializers.CharField()
    text = serializers.CharField()
    entry = serializers.IntegerField(allow_null=True)


class TradeDetailOutput(TradeOutput):
    lifecycle = LifecycleOutput(read_only=True)
    notes = TradeNoteOutput(many=True, read_only=True, help_text="Corrections of the trade, beside the original.")


class MonitorApi(APIView):
    @extend_schema(responses={200: MonitorOutput, 403: ErrorSerializer})
    def get(self, request):
        require_role(request.user, SUPERVISORS, gettext("Only supervisors see the settlement monitor."))
        return Response(selectors.monitor_summary())


class TradeDetailApi(APIView):
    """A trade as its parties (and supervisors) see it, with its lifecycle: matched → sealed → settled."""

    @extend_schema(responses={200: TradeDetailOutput, 404: ErrorSerializer})
    def get(self, request, trade_id):
        trade = exchange_selectors.trades_visible(request.user).filter(pk=trade_id).first()
        if trade is None:
            raise err.NotFound(gettext("No such trade."))
        data = TradeOutput(trade, context={"request": request}).data
        data["lifecycle"] = selectors.trade_lifecycle(trade)
        data["notes"] = exchange_selectors.trade_notes([trade.pk]).get(trade.pk, [])
        return Response(data)
