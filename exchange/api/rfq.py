"""The request-for-quote API (issue 12 item 5): ``rfqs/``, ``rfqs/{id}/``, ``rfqs/{id}/answers/``,
``rfqs/{id}/accept/``, ``rfqs/{id}/cancel/``. Views validate, call one service or selector, shape the output."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core import errors as err
from core.api.fields import DecimalString, IdempotencyKey, StrictInput, StrictInteger, takes_no_body
from core.api.pagination import Pagination
from core.api.schema import ERRORS, ErrorSerializer, choice_param, paginated
from core.models import Account, Role
from exchange import selectors
from exchange.models import Order, RfqAnswer, RfqRequest
from exchange.services import rfq as rfq_services


class StatusNow(serializers.Field):
    """The status of a row that waits until its expiry (``exchange.models.ExpiresWhileWaiting``) as of this
    answer: past its expiry it is "expired", though the sweep that closes it comes only every few seconds."""

    def __init__(self, **kwargs) -> None:
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, obj) -> str:
        return obj.status_at(timezone.now())


@extend_schema_field(serializers.ChoiceField(choices=RfqAnswer.Status.choices))
class AnswerStatusNow(StatusNow):
    pass


@extend_schema_field(serializers.ChoiceField(choices=RfqRequest.Status.choices))
class RequestStatusNow(StatusNow):
    pass


class RfqAnswerOutput(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    request = serializers.IntegerField(source="request_id")
    market_maker = serializers.CharField(source="account.code")
    price = serializers.DecimalField(max_digits=14, decimal_places=2)
    quantity = serializers.IntegerField()
    status = AnswerStatusNow()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    trade = serializers.IntegerField(source="trade_id", allow_null=True)


class RfqOutput(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    client_request_id = serializers.CharField()
    account = serializers.CharField(source="account.code")
    security = serializers.CharField(source="security.code")
    side = serializers.ChoiceField(choices=Order.Side.values)  # an enum, as an order's (found by an integrator)
    quantity = serializers.IntegerField()
    status = RequestStatusNow()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)
    trade = serializers.SerializerMethodField(help_text="The trade of the accepted answer, once accepted.")
    answers = serializers.SerializerMethodField(
        help_text="The answers the caller may see: all of them for the investor, its own for a market maker."
    )
    holding_period = serializers.SerializerMethodField(
        help_text=(
            "For a market maker, on an open request: true when the venue's interval between buying and selling a "
            "security (cn-regional-2017: 5 trading days) refuses its answer now (409 `holding_period`), false when "
            "it does not. Null for every other caller and for a request no longer open."
        )
    )

    def _answers(self, obj):
        return selectors.rfq_answers_visible(obj, self.context["request"].user)

    def get_holding_period(self, obj) -> bool | None:
        user = self.context["request"].user
        if user.role != Role.MARKET_MAKER or obj.status_at(timezone.now()) != RfqRequest.Status.OPEN:
            return None
        if "interval" not in self.context:  # one desk and one read per security and side for the whole page
            desk = Account.objects.filter(owner=user, kind=Account.Kind.MARKET_MAKER).first()
            self.context["interval"] = rfq_services.IntervalRefusals(desk)
        return bool(self.context["interval"].of(obj))

    def get_trade(self, obj) -> int | None:
        return next((a.trade_id for a in obj.answers.all() if a.trade_id), None)

    @extend_schema_field(RfqAnswerOutput(many=True))
    def get_answers(self, obj):
        return RfqAnswerOutput(self._answers(obj), many=True).data


def _rfq(request, rfq_id: int) -> RfqRequest:
    rfq = selectors.rfqs_visible(request.user).filter(pk=rfq_id).first()
    if rfq is None:
        raise err.NotFound(gettext("No such request for quote."))
    return rfq


def _shaped(request, rfq_id: int, *, code: int = status.HTTP_200_OK, **extra) -> Response:
    body = RfqOutput(_rfq(request, rfq_id), context={"request": request}).data
    return Response({**body, **extra}, status=code)


class RfqListApi(APIView):
    """Requests for quote: an investor's own (POST asks), the open ones for market makers, all for supervisors."""

    throttle_scope = "trading"  # its writes count as trading messages (core.api.throttles)

    pagination_class = Pagination

    @extend_schema_serializer(component_name="RfqRequest")
    class InputSerializer(StrictInput, serializers.Serializer):
        security = serializers.CharField(max_length=16)
        side = serializers.ChoiceField(choices=Order.Side.values)
        quantity = StrictInteger()
        client_request_id = IdempotencyKey()

    @extend_schema(
        parameters=[OpenApiParameter("status", str, required=False, enum=RfqRequest.Status.values)],
        responses=RfqOutput(many=True),
    )
    def get(self, request):
        qs = selectors.rfqs_visible(request.user)
        if status_filter := choice_param(request, "status", RfqRequest.Status.values):
            qs = qs.filter(status=status_filter)
        return paginated(request, self, qs, RfqOutput)

    @extend_schema(
        description=(
            "Ask the market makers for a firm price. Checked now: KYC, suitability, the qualified-investor rule, "
            "the holder cap, the RFQ mode, lots, the security tradable (and shares for a sale). Nothing is "
            "reserved until acceptance. Idempotent on `client_request_id`: a retry returns the first request (200)."
        ),
        request=InputSerializer,
        responses={201: RfqOutput, 200: RfqOutput, **ERRORS},
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = selectors.account_of(request.user)
        if account is None:
            raise err.NoAccount()
        rfq, created = rfq_services.rfq_request(
            requested_by=request.user, account=account, request=rfq_services.RfqRequestInput(**data.validated_data)
        )
        return _shaped(request, rfq.pk, code=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class RfqDetailApi(APIView):
    @extend_schema(responses={200: RfqOutput, 404: ErrorSerializer})
    def get(self, request, rfq_id):
        return _shaped(request, rfq_id)


class RfqAnswerApi(APIView):
    throttle_scope = "trading"  # its writes count as trading messages (core.api.throttles)

    @extend_schema_serializer(component_name="RfqAnswerRequest")
    class InputSerializer(StrictInput, serializers.Serializer):
        price = DecimalString()
        # Bounded here as the service bounds it, so that the schema says 1..MAX_VALID_SECONDS, not 10^12.
        valid_seconds = StrictInteger(
            max_value=rfq_services.MAX_VALID_SECONDS,
            help_text=f"1 to {rfq_services.MAX_VALID_SECONDS}; never past the request.",
        )

    @extend_schema(
        description=(
            "A market maker's firm price for the whole quantity, valid for `valid_seconds` (never past the "
            "request's expiry). Its side is reserved while firm: its shares when the investor buys, price × "
            "quantity cash when the investor sells. A new answer replaces the market maker's earlier one."
        ),
        request=InputSerializer,
        responses={201: RfqAnswerOutput, **ERRORS},
    )
    def post(self, request, rfq_id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        answer = rfq_services.rfq_answer(user=request.user, rfq_id=rfq_id, **data.validated_data)
        return Response(RfqAnswerOutput(answer).data, status=status.HTTP_201_CREATED)


class RfqAcceptApi(APIView):
    throttle_scope = "trading"  # its writes count as trading messages (core.api.throttles)

    @extend_schema_serializer(component_name="RfqAcceptRequest")
    class InputSerializer(StrictInput, serializers.Serializer):
        answer = StrictInteger()

    @extend_schema(
        description=(
            "Accept a firm answer before it expires: the investor's side is reserved with every pre-trade check "
            "and the trade is made at once at the answer's price; the other answers are released. A retry of an "
            "acceptance that went through returns it."
        ),
        request=InputSerializer,
        responses={200: RfqOutput, **ERRORS},
    )
    def post(self, request, rfq_id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = rfq_services.rfq_accept(actor=request.user, rfq_id=rfq_id, answer_id=data.validated_data["answer"])
        return _shaped(request, result.request.pk)


class RfqCancelApi(APIView):
    throttle_scope = "trading"  # its writes count as trading messages (core.api.throttles)

    @extend_schema(request=None, responses={200: RfqOutput, **ERRORS})
    @takes_no_body
    def post(self, request, rfq_id):
        rfq = rfq_services.rfq_cancel(actor=request.user, rfq_id=rfq_id)
        return _shaped(request, rfq.pk)
