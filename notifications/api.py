"""Notifications API (investors and market makers, their own only): ``GET notifications/`` (paginated,
``?unread=true|false``), ``POST notifications/{id}/read/``, ``POST notifications/read-all/``,
``GET|PUT notifications/preferences/``.

Another user's notification is a 404, as one that does not exist."""

from __future__ import annotations

from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core import errors as err
from core.api.fields import StrictInput, takes_no_body
from core.api.pagination import Pagination
from core.api.schema import ERRORS, LIST_ERRORS, paginated
from core.permissions import require_role

from . import messages, selectors, services
from .models import RECIPIENTS, Kind, Notification, kinds_for

FLAGS = {"true": True, "1": True, "false": False, "0": False}


class NotificationOutput(serializers.ModelSerializer):
    title = serializers.SerializerMethodField()
    body = serializers.SerializerMethodField()
    link = serializers.SerializerMethodField()
    read = serializers.BooleanField(source="is_read")
    params = serializers.DictField(help_text="The event's facts: ids, codes, amounts as decimal strings, a reason")

    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "link", "params", "created_at", "read", "read_at"]

    def get_title(self, obj) -> str:
        return messages.title(obj)

    def get_body(self, obj) -> str:
        return messages.body(obj)

    def get_link(self, obj) -> str:
        return messages.link(obj)


class ReadAllOutput(serializers.Serializer):
    marked = serializers.IntegerField()


@extend_schema_serializer(component_name="NotificationPreferences")
class PreferenceOutput(serializers.Serializer):
    muted = serializers.ListField(child=serializers.ChoiceField(choices=Kind.choices))
    email = serializers.BooleanField()
    kinds = serializers.SerializerMethodField(help_text="the kinds of notification the user's role receives")

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=Kind.choices)))
    def get_kinds(self, obj) -> list[str]:
        return kinds_for(obj.user.role)


@extend_schema_field(serializers.ChoiceField(choices=Kind.choices))
class KindName(serializers.CharField):
    """A kind of notification, by name: documented as the kinds there are, which the service checks (400
    ``unknown_notification_kind`` for any other). "string" alone let a generated client mute a kind that is none and
    learn from the 400 (found by an outside integrator)."""


@extend_schema_serializer(component_name="NotificationPreferencesRequest")
class PreferenceInput(StrictInput, serializers.Serializer):
    muted = serializers.ListField(child=KindName(max_length=32), max_length=len(Kind.values) * 2)
    email = serializers.BooleanField()


class NotificationListApi(APIView):
    """The user's notifications, newest first; ``unread=true`` for the unread ones only (its ``count`` is
    the bell's number)."""

    pagination_class = Pagination

    @extend_schema(
        parameters=[OpenApiParameter("unread", OpenApiTypes.STR, enum=["true", "false"])],
        responses={200: NotificationOutput(many=True), **LIST_ERRORS},
    )
    def get(self, request):
        require_role(request.user, RECIPIENTS)
        unread = request.query_params.get("unread")
        if unread is not None:
            if unread.lower() not in FLAGS:
                raise err.InvalidInput(gettext('unread is "true" or "false".'), field="unread")
            unread = FLAGS[unread.lower()]
        return paginated(request, self, selectors.notifications_of(request.user, unread=unread), NotificationOutput)


class NotificationReadApi(APIView):
    """Mark one notification read (a second time changes nothing)."""

    @extend_schema(request=None, responses={200: NotificationOutput, **ERRORS})
    @takes_no_body
    def post(self, request, notification_id: int):
        require_role(request.user, RECIPIENTS)
        n = services.notification_read(user=request.user, notification_id=notification_id)
        return Response(NotificationOutput(n).data)


class NotificationReadAllApi(APIView):
    """Mark every unread notification read."""

    @extend_schema(request=None, responses={200: ReadAllOutput, **ERRORS})
    @takes_no_body
    def post(self, request):
        require_role(request.user, RECIPIENTS)
        return Response({"marked": services.notifications_read_all(user=request.user)})


class PreferenceApi(APIView):
    """The kinds the user switched off (``muted``), whether each notification is also emailed, and the kinds a
    user of their role may be told (``kinds``: a market maker's are what happens to its account)."""

    @extend_schema(responses={200: PreferenceOutput, **LIST_ERRORS})
    def get(self, request):
        require_role(request.user, RECIPIENTS)
        return Response(PreferenceOutput(services.preference_of(request.user)).data)

    @extend_schema(request=PreferenceInput, responses={200: PreferenceOutput, **ERRORS})
    def put(self, request):
        require_role(request.user, RECIPIENTS)
        data = PreferenceInput(data=request.data)
        data.is_valid(raise_exception=True)
        pref = services.preference_set(
            user=request.user, muted=data.validated_data["muted"], email=data.validated_data["email"]
        )
        return Response(PreferenceOutput(pref).data)
