"""The user's API tokens (core.tokens): list, create a named system token, revoke one (``auth/tokens/``).

Listing and revoking take a token or a web session. Creating takes a web session only (its CSRF token,
and the second factor for staff, as every session request): a token cannot mint tokens, so a stolen one
cannot outlive its own end. No answer but the creation's carries a key.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core import account_settings, tokens
from core import errors as err
from core.api.fields import StrictInput, StrictInteger, takes_no_body
from core.api.pagination import BIGINT_MAX, Pagination
from core.api.schema import ErrorSerializer, paginated
from core.audit import client_ip
from core.models import ApiToken

TokenCannotMint = err.error_class(
    "TokenCannotMint",
    "token_cannot_mint",
    gettext_lazy(
        "An API token cannot create tokens: create a named token on the API tokens page of your settings, signed "
        "in on the web."
    ),
    403,
)


DEFAULT_DAYS = 30


class ApiTokenOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(
        choices=ApiToken.Kind.choices,
        help_text="`login`: from `POST auth/token/`, ends with a web logout; `system`: named, created here.",
    )
    prefix = serializers.CharField(help_text="The token's first 8 characters, to tell it apart (not a secret).")
    created = serializers.DateTimeField()
    expires_at = serializers.SerializerMethodField()
    last_used_at = serializers.DateTimeField(
        allow_null=True, help_text="When it was last used, to the minute: at most one write a minute."
    )

    # A date-time as the other times are, not a bare "string" (found with the enums: a generated client typed it as
    # text).
    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_expires_at(self, token) -> str:
        return serializers.DateTimeField().to_representation(tokens.token_expires_at(token))


class ApiTokenListApi(APIView):
    """The caller's tokens that still work (GET); a new named system token (POST, web session only)."""

    pagination_class = Pagination

    @extend_schema_serializer(component_name="ApiTokenCreateRequest")
    class InputSerializer(StrictInput, serializers.Serializer):
        name = serializers.CharField(max_length=tokens.NAME_MAX_LENGTH, help_text="What the token is for.")
        password = serializers.CharField(
            write_only=True,
            trim_whitespace=False,
            max_length=4096,
            help_text=(
                "The user's current password: a web session alone does not mint a token that outlives it (a wrong "
                "one is a 400 `wrong_password`, audited and counted as a failed login)."
            ),
        )
        days = StrictInteger(
            required=False,
            max_value=10**6,
            help_text="Lifetime in days, 1 to `API_TOKEN_MAX_DAYS` (90 by default); 30 when left out.",
        )

        def validate_name(self, value: str) -> str:
            if not value.strip():
                raise serializers.ValidationError(gettext_lazy("Give the token a name."))
            return value.strip()

        def validate_days(self, value: int) -> int:
            if value > settings.API_TOKEN_MAX_DAYS:
                raise serializers.ValidationError(
                    gettext_lazy("At most %(max)s days.") % {"max": settings.API_TOKEN_MAX_DAYS}
                )
            return value

    @extend_schema_serializer(component_name="ApiTokenCreated")
    class CreatedSerializer(ApiTokenOutput):
        token = serializers.CharField(help_text="The key: shown this once, stored only as a digest.")

    @extend_schema(
        description=(
            "The caller's API tokens that still work, newest first, without their keys: login tokens from "
            "`POST auth/token/` and named system tokens."
        ),
        responses={200: ApiTokenOutput(many=True)},
    )
    def get(self, request):
        return paginated(request, self, tokens.tokens_live(user=request.user), ApiTokenOutput)

    @extend_schema(
        description=(
            "Create a named system token for one of the user's systems: it lasts `days` days and, unlike a login "
            "token, survives the user's web logouts; a password change or deactivation ends it. Only a web "
            "session (with its CSRF token) may create one: a request authenticated with a token gets a 403 "
            "`token_cannot_mint`. At most `API_TOKEN_SYSTEM_LIMIT` (20) live system tokens: beyond, a 409 "
            "`too_many_tokens`. The key is in this answer only. A wrong password counts as a failed login: the "
            "`AXES_FAILURE_LIMIT`-th (5 by default) locks the user's logins from that address for a while, a 429 "
            "`login_locked` with `Retry-After`, as `POST auth/token/` does."
        ),
        request=InputSerializer,
        # (no 404: nothing is looked up)
        responses={
            201: CreatedSerializer,
            **{code: ErrorSerializer for code in (400, 401, 403, 409, 429)},
        },
    )
    def post(self, request):
        if isinstance(request.auth, ApiToken):
            raise TokenCannotMint()
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # The password again, as a change of email or password asks for it: a session taken over (an unlocked
        # desk, a stolen cookie) would otherwise mint itself a key that outlives the session's logout (found by a
        # review).
        if not request.user.check_password(data.validated_data["password"]):
            account_settings.password_refused(user=request.user, action="api_token", ip=client_ip(request))
            user_login_failed.send(
                sender=__name__,
                credentials={"username": request.user.username, "recorded": True},
                request=request._request,
            )
            raise account_settings.WrongPassword()
        issued = tokens.token_create(
            user=request.user,
            name=data.validated_data["name"],
            days=data.validated_data.get("days", min(DEFAULT_DAYS, settings.API_TOKEN_MAX_DAYS)),
            ip=client_ip(request),
        )
        body = {**ApiTokenOutput(issued.token).data, "token": issued.key}
        return Response(body, status=status.HTTP_201_CREATED)


class ApiTokenDetailApi(APIView):
    @extend_schema(
        description=(
            "Revoke one of the caller's tokens (with a token or a web session). Another user's token, or one "
            "already ended, is a 404."
        ),
        request=None,
        responses={204: None, 401: ErrorSerializer, 404: ErrorSerializer},
    )
    @takes_no_body
    def delete(self, request, token_id: int):
        if token_id > BIGINT_MAX:  # no such row, and beyond PostgreSQL's bigint
            raise err.NotFound(gettext_lazy("There is no such API token of yours, or it has already ended."))
        tokens.token_revoke(
            user=request.user, token_id=token_id, reason="api", actor=request.user, ip=client_ip(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
