"""Settlement API: depository operators hold, release or refuse; the monitor's figures."""

from __future__ import annotations

from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from exchange import exceptions as err
from exchange.audit import client_ip
from exchange.models import Role

from . import dvp, selectors


class ReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


def _action_view(service, name: str):
    class ActionApi(APIView):
        @extend_schema(
            request=ReasonInput,
            responses={
                200: inline_serializer(
                    f"Trade{name.title()}", {"id": serializers.IntegerField(), "status": serializers.CharField()}
                )
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


TradeHoldApi = _action_view(dvp.trade_hold, "hold")
TradeReleaseApi = _action_view(dvp.trade_release, "release")
TradeRefuseApi = _action_view(dvp.trade_refuse, "refuse")


class MonitorApi(APIView):
    @extend_schema(responses={200: dict})
    def get(self, request):
        if request.user.role not in (Role.DEPOSITORY_OPERATOR, Role.EXCHANGE_OPERATOR, Role.REGULATOR, Role.AUDITOR):
            raise err.PermissionDenied(gettext("Only supervisors see the settlement monitor."))
        return Response(selectors.monitor_summary())
