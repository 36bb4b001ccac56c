"""Surveillance API (regulators; auditors read): the alerts the engine raised, with filters, their state changes
with a note (one alert's answer carries its history: every move and note, oldest first), and the rules with their
editable thresholds.

Alerts name accounts by code only: no name, no ID number, no identity index. Who is behind an account is the
identity reveal's business (``kyc``), which records each look.
"""

from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import build_choice_field
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core import errors as err
from core.api.fields import StrictInput
from core.api.pagination import Pagination
from core.api.schema import ERRORS, LIST_ERRORS, choice_param, paginated
from core.audit import client_ip
from core.models import Role
from core.permissions import require_role

from . import services
from .models import Alert, AlertEvent, Rule

READERS = (Role.REGULATOR, Role.AUDITOR)
WRITERS = (Role.REGULATOR,)


class AlertOutput(serializers.ModelSerializer):
    rule = serializers.ChoiceField(source="rule.code", choices=Rule.Code.choices)
    rule_name = serializers.CharField(source="rule.name")
    security = serializers.CharField(source="security.code", allow_null=True, default=None)
    securities = serializers.SerializerMethodField(
        help_text="The codes of the securities the alert is about: the one in `security`, or several (an order "
        "burst or a value spike across securities: `security` is then null), or none"
    )
    accounts = serializers.ListField(child=serializers.CharField())
    trades = serializers.ListField(child=serializers.IntegerField())
    leaves = serializers.ListField(child=serializers.IntegerField())
    detail = serializers.DictField()
    updated_by = serializers.CharField(source="updated_by.username", allow_null=True, default=None)

    class Meta:
        model = Alert
        fields = [
            "id",
            "rule",
            "rule_name",
            "block_height",
            "key",
            "security",
            "securities",
            "accounts",
            "trades",
            "leaves",
            "detail",
            "state",
            "note",
            "created_at",
            "updated_at",
            "updated_by",
        ]

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_securities(self, alert: Alert) -> list[str]:
        if alert.security is not None:
            return [alert.security.code]
        return list(alert.detail.get("securities", []))


class AlertEventOutput(serializers.ModelSerializer):
    by = serializers.CharField(source="by.username")

    class Meta:
        model = AlertEvent
        fields = ["from_state", "to_state", "note", "by", "at"]


class AlertDetailOutput(AlertOutput):
    """One alert, with its history: every move and note, oldest first (``note`` is the latest)."""

    history = AlertEventOutput(source="events", many=True)

    class Meta(AlertOutput.Meta):
        fields = [*AlertOutput.Meta.fields, "history"]


class AlertStateField(serializers.CharField):
    """A state, read as text: the service names any other value (400 ``unknown_alert_state``)."""


class AlertStateSchema(OpenApiSerializerFieldExtension):
    """An ``AlertStateField`` documented as the enum of the states (the one an alert's answer names): "string" let a
    client generated from the schema send any text."""

    target_class = AlertStateField

    def map_serializer_field(self, auto_schema, direction):
        return build_choice_field(serializers.ChoiceField(choices=Alert.State.choices))


class AlertChangeInput(StrictInput, serializers.Serializer):
    state = AlertStateField(required=False, help_text="new, under_review or closed (closing needs a note)")
    note = serializers.CharField(required=False, allow_blank=True, max_length=services.NOTE_MAX_LENGTH)


class AlertReopenInput(StrictInput, serializers.Serializer):
    note = serializers.CharField(
        required=False, allow_blank=True, max_length=services.NOTE_MAX_LENGTH, help_text="Why (required)"
    )


# AlertReopenInput as the schema shows it: the note required and not blank, as the service requires it (a missing or
# blank one is a 400 ``note_required``, which the service names rather than the field). The schema said the note was
# optional, and a client generated from it sent none (found by schemathesis).
@extend_schema_serializer(component_name="AlertReopenInput")
class AlertReopenDocumented(AlertReopenInput):
    """Why a closed alert is reopened: a note is required (400 ``note_required`` without one)."""

    note = serializers.CharField(max_length=services.NOTE_MAX_LENGTH, help_text="Why")


class RuleOutput(serializers.ModelSerializer):
    name = serializers.CharField()
    thresholds = serializers.DictField()
    updated_by = serializers.CharField(source="updated_by.username", allow_null=True, default=None)

    class Meta:
        model = Rule
        fields = ["code", "name", "enabled", "thresholds", "updated_at", "updated_by"]


class RuleChangeInput(StrictInput, serializers.Serializer):
    enabled = serializers.BooleanField(required=False)
    thresholds = serializers.DictField(
        required=False, help_text="Every threshold of the rule: whole numbers, or decimals as strings"
    )


def _alert(alert_id: int) -> Alert:
    alert = (
        Alert.objects.select_related("rule", "security", "updated_by")
        .prefetch_related(Prefetch("events", AlertEvent.objects.select_related("by").order_by("id")))
        .filter(pk=alert_id)
        .first()
    )
    if alert is None:
        raise services.AlertNotFound()
    return alert


class AlertListApi(APIView):
    """The alerts, newest first; filter by ``state`` and ``rule`` (regulators and auditors)."""

    pagination_class = Pagination

    @extend_schema(
        parameters=[
            OpenApiParameter("state", OpenApiTypes.STR, enum=Alert.State.values),
            OpenApiParameter("rule", OpenApiTypes.STR, enum=Rule.Code.values),
        ],
        responses={200: AlertOutput(many=True), **LIST_ERRORS},
    )
    def get(self, request):
        require_role(request.user, READERS)
        alerts = Alert.objects.select_related("rule", "security", "updated_by").order_by("-id")
        state = request.query_params.get("state")
        if state is not None:
            if state not in Alert.State.values:
                raise services.UnknownAlertState()
            alerts = alerts.filter(state=state)
        if rule := choice_param(request, "rule", Rule.Code.values):  # a filter, not a rule looked up: 400
            alerts = alerts.filter(rule__code=rule)
        return paginated(request, self, alerts, AlertOutput)


class AlertDetailApi(APIView):
    """One alert; regulators move it on (new → under_review → closed, closing with a note). A change that
    changes nothing (an empty body, the same state without a note): 400 ``alert_unchanged``, nothing written."""

    @extend_schema(responses={200: AlertDetailOutput, **ERRORS})
    def get(self, request, alert_id: int):
        require_role(request.user, READERS)
        return Response(AlertDetailOutput(_alert(alert_id)).data)

    @extend_schema(request=AlertChangeInput, responses={200: AlertDetailOutput, **ERRORS})
    def patch(self, request, alert_id: int):
        require_role(request.user, WRITERS)
        data = AlertChangeInput(data=request.data)
        data.is_valid(raise_exception=True)
        if not data.validated_data:
            raise services.AlertUnchanged()
        services.alert_change(
            actor=request.user,
            alert_id=alert_id,
            state=data.validated_data.get("state"),
            note=data.validated_data.get("note"),
            ip=client_ip(request),
        )
        return Response(AlertDetailOutput(_alert(alert_id)).data)


class AlertReopenApi(APIView):
    """Reopen a closed alert, back to under_review, with a note saying why (regulators; an audit record and a step
    of its history). An alert that is not closed: 409 ``alert_not_closed``, nothing changed."""

    @extend_schema(request=AlertReopenDocumented, responses={200: AlertDetailOutput, **ERRORS})
    def post(self, request, alert_id: int):
        require_role(request.user, WRITERS)
        data = AlertReopenInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.alert_reopen(
            actor=request.user, alert_id=alert_id, note=data.validated_data.get("note"), ip=client_ip(request)
        )
        return Response(AlertDetailOutput(_alert(alert_id)).data)


class RuleListApi(APIView):
    """The surveillance rules and their thresholds (regulators and auditors)."""

    @extend_schema(responses={200: RuleOutput(many=True), **LIST_ERRORS})
    def get(self, request):
        require_role(request.user, READERS)
        return Response(RuleOutput(Rule.objects.select_related("updated_by").order_by("id"), many=True).data)


class RuleDetailApi(APIView):
    """One rule; regulators switch it and replace its thresholds (an audit record each time). A change that
    changes nothing (an empty body, the value the rule already has): 400 ``rule_unchanged``, nothing written."""

    @extend_schema(responses={200: RuleOutput, **ERRORS})
    def get(self, request, code: str):
        require_role(request.user, READERS)
        rule = Rule.objects.select_related("updated_by").filter(code=code).first()
        if rule is None:
            raise services.RuleNotFound()
        return Response(RuleOutput(rule).data)

    @extend_schema(request=RuleChangeInput, responses={200: RuleOutput, **ERRORS})
    def patch(self, request, code: str):
        require_role(request.user, WRITERS)
        data = RuleChangeInput(data=request.data)
        data.is_valid(raise_exception=True)
        if not data.validated_data:
            raise services.RuleUnchanged()
        try:
            rule = services.rule_change(
                actor=request.user,
                code=code,
                enabled=data.validated_data.get("enabled"),
                thresholds=data.validated_data.get("thresholds"),
                ip=client_ip(request),
            )
        except err.InvalidInput as exc:
            # The thresholds the service refused, by name (``rules.thresholds_checked``): members of the body's
            # ``thresholds``, in ``fields`` as a serializer's refusal of them would be (core.api.errors).
            if fields := getattr(exc, "fields", None):
                exc.fields = {f"thresholds.{name}": message for name, message in fields.items()}
            raise
        return Response(RuleOutput(rule).data)
