"""Settlement API: depository operators hold, release or refuse; the monitor's figures; standing settlement
instructions."""

from __future__ import annotations

import datetime as dt

from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core import errors as err
from core.api.fields import DecimalString, Moment, RegisteredChoice, StrictInput
from core.api.pagination import Pagination
from core.api.schema import ERRORS, LIST_ERRORS, ErrorSerializer
from core.audit import client_ip
from core.models import Role
from core.permissions import require_role
from core.roles import SUPERVISORS
from exchange import selectors as exchange_selectors
from exchange.api.views import TradeOutput
from exchange.models import Trade
from registry.models import Security

from . import instructions, net_windows, selectors, services
from .models import SettlementAction


@extend_schema_serializer(component_name="SettlementReasonInput")
class ReasonInput(StrictInput, serializers.Serializer):
    reason = serializers.CharField(max_length=err.REASON_MAX_LENGTH)


def _action_view(service, name: str):
    class ActionApi(APIView):
        @extend_schema(
            request=ReasonInput,
            responses={
                200: inline_serializer(
                    f"Trade{name.title()}",
                    {"id": serializers.IntegerField(), "status": serializers.ChoiceField(choices=Trade.Status.choices)},
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
            # The status this action left, as the trade's own page gives it: a released trade already in a block
            # is "sealed". Only whether it is sealed is read again (it only ever becomes so): the status read
            # after the commit could be another action's, a refusal sent at the same moment (found by a probe).
            status = trade.status
            if status == Trade.Status.MATCHED and Trade.objects.filter(pk=trade.pk, entry__leaf__isnull=False).exists():
                status = Trade.Status.SEALED
            return Response({"id": trade.pk, "status": status})

    ActionApi.__name__ = f"Trade{name.title()}Api"
    return ActionApi


TradeHoldApi = _action_view(services.trade_hold, "hold")
TradeReleaseApi = _action_view(services.trade_release, "release")
TradeRefuseApi = _action_view(services.trade_refuse, "refuse")


class NetBlockerOutput(serializers.Serializer):
    account = serializers.CharField(
        allow_null=True, help_text="the account's code; null for a cause that names none (database, other)"
    )
    reason_code = serializers.ChoiceField(
        choices=net_windows.WHYS,
        help_text="cash: cannot pay its net obligation; shares: cannot deliver it; fee_account: its broker has no "
        "fee account; database: the database refused a balance of the window; other: see reason",
    )
    since = serializers.DateTimeField(help_text="UTC; since when it has blocked the window without a break")


class NetWindowOutput(serializers.Serializer):
    security = serializers.CharField()
    trades_waiting = serializers.IntegerField(help_text="sealed trades of the security waiting for its window")
    blockers = NetBlockerOutput(
        many=True, help_text="every participant that keeps the window from settling, in the order the window met them"
    )
    blockers_not_named = serializers.IntegerField(
        help_text=f"more blockers, beyond the first {net_windows.NAMED}, counted but not named"
    )
    reason = serializers.CharField(help_text="why, in words, in the request's language")
    since = serializers.DateTimeField(help_text="UTC; the earliest of its blockers' since")
    last_tried_at = serializers.DateTimeField(help_text="UTC; when the window was last tried (every minute)")


class MonitorOutput(serializers.Serializer):
    awaiting_seal = serializers.IntegerField()
    awaiting_settlement = serializers.IntegerField()
    held = serializers.IntegerField()
    failed_last_hour = serializers.IntegerField()
    settled_last_hour = serializers.IntegerField()
    latency_median_s = serializers.FloatField(allow_null=True)
    latency_p99_s = serializers.FloatField(allow_null=True)
    as_of = serializers.DateTimeField()
    net_windows_blocked = NetWindowOutput(
        many=True,
        help_text="the net windows (DvP model 3) that could not settle when last tried and still have trades "
        "waiting, by security code; a window that settles leaves the list",
    )


class ActionOutput(serializers.Serializer):
    action = serializers.ChoiceField(choices=SettlementAction.Action.choices)
    reason = serializers.CharField(
        allow_null=True, help_text="null for the trade's parties when a regulator's standing instruction held it"
    )
    standing_instruction_by = serializers.ChoiceField(
        choices=["depository", "regulator"],
        allow_null=True,
        help_text="whose standing settlement instruction made this hold; null for an action by hand",
    )
    at = serializers.DateTimeField()


class LifecycleOutput(serializers.Serializer):
    matched_at = serializers.DateTimeField()
    sealed_at = serializers.DateTimeField(allow_null=True)
    leaf_index = serializers.IntegerField(allow_null=True)
    block_height = serializers.IntegerField(allow_null=True)
    settled_at = serializers.DateTimeField(allow_null=True)
    # (Security.SettlementMode's choices: a settlement's Settlement.Mode has the same values, one enum of them)
    settlement_mode = serializers.ChoiceField(choices=Security.SettlementMode.choices, allow_null=True)
    settlement_leaf_index = serializers.IntegerField(allow_null=True)
    settlement_block_height = serializers.IntegerField(allow_null=True)
    actions = ActionOutput(many=True)


class TradeNoteOutput(serializers.Serializer):
    kind = RegisteredChoice(exchange_selectors.trade_note_kinds)
    text = serializers.CharField()
    entry = serializers.IntegerField(allow_null=True)


class TradeDetailOutput(TradeOutput):
    lifecycle = LifecycleOutput(read_only=True)
    notes = TradeNoteOutput(many=True, read_only=True, help_text="Corrections of the trade, beside the original.")


class MonitorApi(APIView):
    @extend_schema(responses={200: MonitorOutput, 403: ErrorSerializer})
    def get(self, request):
        require_role(request.user, SUPERVISORS, gettext("Only supervisors see the settlement monitor."))
        summary = selectors.monitor_summary()
        summary["net_windows_blocked"] = [_net_window(w) for w in selectors.net_windows_blocked()]
        return Response(summary)


def _net_window(w: net_windows.BlockedWindow) -> dict:
    """A blocked net window as the API gives it: times in UTC, as ``as_of`` (the notes keep them in UTC)."""
    return {
        "security": w.security,
        "trades_waiting": w.trades,
        "blockers": [
            {"account": b.account or None, "reason_code": b.why, "since": b.since.astimezone(dt.UTC)}
            for b in w.blockers
        ],
        "blockers_not_named": w.others,
        "reason": w.reason,
        "since": w.since.astimezone(dt.UTC),
        "last_tried_at": w.tried_at.astimezone(dt.UTC),
    }


class TradeDetailApi(APIView):
    """A trade as its parties (and supervisors) see it, with its lifecycle: matched → sealed → settled."""

    @extend_schema(responses={200: TradeDetailOutput, 404: ErrorSerializer})
    def get(self, request, trade_id):
        trade = exchange_selectors.trades_visible(request.user).filter(pk=trade_id).first()
        if trade is None:
            raise err.NotFound(gettext("No such trade."))
        data = TradeOutput(trade, context={"request": request}).data
        data["lifecycle"] = selectors.trade_lifecycle(trade, viewer=request.user)
        data["notes"] = exchange_selectors.trade_notes([trade.pk]).get(trade.pk, [])
        return Response(data)


# --------------------------------------------------------------------------
# Standing settlement instructions (settlement.instructions): depository operators and regulators set and end
# them; auditors read them too.


# The roles that set and end standing instructions, in the order of Role's choices.
SETTER_ROLES = [(value, label) for value, label in Role.choices if value in instructions.SETTERS]


class InstructionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    account = serializers.CharField(source="account.code", allow_null=True, default=None)
    security = serializers.CharField(source="security.code", allow_null=True, default=None)
    min_amount = serializers.DecimalField(max_digits=20, decimal_places=2, allow_null=True)
    reason = serializers.CharField()
    status = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.username")
    set_by_role = serializers.ChoiceField(
        choices=SETTER_ROLES, help_text="depository_operator or regulator: who may end it (and a regulator)"
    )
    created_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    ended_by = serializers.CharField(source="ended_by.username", allow_null=True, default=None)
    ended_by_role = serializers.SerializerMethodField(help_text="the role of who ended it early, when they did")
    end_reason = serializers.CharField(allow_blank=True)
    held_trades = serializers.IntegerField(help_text="how many trades it held")

    @extend_schema_field(serializers.ChoiceField(choices=instructions.STATUSES))
    def get_status(self, obj) -> str:
        return instructions.instruction_status(obj)

    @extend_schema_field(serializers.ChoiceField(choices=SETTER_ROLES, allow_null=True))
    def get_ended_by_role(self, obj) -> str | None:
        return obj.ended_by_role or None


@extend_schema_serializer(component_name="SettlementInstructionInput")
class InstructionInput(StrictInput, serializers.Serializer):
    """At least one of ``account``, ``security`` and ``min_amount``; several combine with AND."""

    account = serializers.CharField(max_length=32, required=False, allow_null=True, allow_blank=True)
    security = serializers.CharField(max_length=16, required=False, allow_null=True, allow_blank=True)
    min_amount = DecimalString(
        max_digits=20, required=False, allow_null=True, help_text="hold trades worth at least this (CNY)"
    )
    reason = serializers.CharField(
        max_length=err.REASON_MAX_LENGTH,
        help_text="a depository operator's is shown to the investors whose trades it holds; a regulator's is not "
        "(they are told only that the regulator's instruction holds the trade)",
    )
    ends_at = Moment(help_text="ISO 8601 with a time zone; in the future")

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: gettext("Unknown field.") for name in unknown})
        return attrs


@extend_schema_serializer(component_name="SettlementInstructionEnd")
class InstructionEndInput(StrictInput, serializers.Serializer):
    reason = serializers.CharField(max_length=err.REASON_MAX_LENGTH)


class InstructionListApi(APIView):
    """Standing settlement instructions, newest first, active and ended, each with the number of trades it
    held (depository operators, regulators, auditors); depository operators and regulators set new ones."""

    pagination_class = Pagination

    @extend_schema(responses={200: InstructionOutput(many=True), **LIST_ERRORS})
    def get(self, request):
        instructions.require_reader(request.user)
        paginator = Pagination()
        page = paginator.paginate_queryset(instructions.instructions_listed(), request, view=self)
        return paginator.get_paginated_response(InstructionOutput(page, many=True).data)

    @extend_schema(request=InstructionInput, responses={201: InstructionOutput, **ERRORS})
    def post(self, request):
        # The role first: whoever may not set instructions learns nothing from the validation of the rest.
        instructions.require_setter(request.user)
        data = InstructionInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        instruction = instructions.instruction_create(
            actor=request.user,
            account_code=v.get("account"),
            security_code=v.get("security"),
            min_amount=v.get("min_amount"),
            reason=v["reason"],
            ends_at=v["ends_at"],
            ip=client_ip(request),
        )
        return Response(InstructionOutput(_listed(instruction.pk)).data, status=201)


def _listed(instruction_id: int):
    return instructions.instructions_listed().get(pk=instruction_id)


class InstructionEndApi(APIView):
    """End an instruction early, with a reason: it holds nothing more; the trades it held stay held. The role
    that set it ends it, or a regulator: a depository operator ending a regulator's is refused (403)."""

    @extend_schema(request=InstructionEndInput, responses={200: InstructionOutput, **ERRORS})
    def post(self, request, instruction_id: int):
        instructions.require_setter(request.user, ending=True)
        data = InstructionEndInput(data=request.data)
        data.is_valid(raise_exception=True)
        instructions.instruction_end(
            actor=request.user,
            instruction_id=instruction_id,
            reason=data.validated_data["reason"],
            ip=client_ip(request),
        )
        return Response(InstructionOutput(_listed(instruction_id)).data)
