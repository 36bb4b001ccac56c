"""The counter API (``/api/v1/counter/``): broker staff act for their own broker's clients.

One view per resource and method, as in ``exchange.api.views``: validate with a
nested serializer, call one service or selector, shape the output. Every view
first checks that the caller is broker staff (403 otherwise); every client
route resolves the account among the caller's broker's clients (404 for any
other account, so nothing tells a foreign client from a missing one).
"""

from __future__ import annotations

from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from core import errors as err
from core import names
from core.api.fields import DecimalString, IdempotencyKey, StrictInput, takes_no_body
from core.api.pagination import Pagination, period_param, period_parameters
from core.api.schema import ERRORS, ErrorSerializer, choice_param, paginated
from core.audit import client_ip
from core.errors import REASON_MAX_LENGTH
from exchange.api.views import (
    CLIENT_ORDER_ID_PARAMETER,
    TRADE_FILTER_PARAMETERS,
    AccountOutput,
    CashOutput,
    OrderListApi,
    OrderOutput,
    trades_filtered,
)
from exchange.models import Order
from exchange.selectors import account_balances, orders_in_period, trades_in_period
from exchange.services import OrderRequest
from kyc import questionnaire
from kyc.api import IdentityAddress, IdentityName
from kyc.models import KycProfile
from kyc.services import Identity, kyc_register
from settlement.statement_api import ClientTradeOutput, StatementOutput, date_param
from settlement.statement_views import statement_response

from . import selectors, services
from .models import CashRequest


class CounterApi(APIView):
    """Broker staff only: the check runs after authentication, before the handler. A method the address does not
    take is a 405 naming those it does (``Allow``) for every caller, as at every other address of the API, not a
    403 for all but staff."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        method = request.method.lower()
        # As dispatch finds the handler: a method it does not take (``CLIENT``, the name of a helper here) is its 405
        if method in self.http_method_names and hasattr(self, method):
            selectors.require_staff(request.user)

    def client(self, request, code: str):
        return selectors.client_get(request.user, code)


# --------------------------------------------------------------------------
# Clients


class ClientOutput(serializers.Serializer):
    account = serializers.CharField(source="code")
    name = serializers.SerializerMethodField(help_text="The holder's name in full (the broker's staff may see it)")
    username = serializers.CharField()
    real_name = serializers.SerializerMethodField(help_text="The KYC name in full; null without a KYC record")
    kyc_state = serializers.ChoiceField(choices=KycProfile.State.choices, allow_null=True)
    risk_level = serializers.SerializerMethodField()
    id_number_masked = serializers.CharField(allow_null=True)
    phone_masked = serializers.CharField(allow_null=True)
    cash_total = serializers.DecimalField(max_digits=20, decimal_places=2, allow_null=True)
    cash_available = serializers.DecimalField(max_digits=20, decimal_places=2, allow_null=True)
    created_at = serializers.DateTimeField()

    def get_name(self, obj) -> str:
        return names.holder_name(obj)

    def get_real_name(self, obj) -> str | None:
        return names.holder_name(obj) if obj.kyc_id else None

    @extend_schema_field(serializers.ChoiceField(choices=questionnaire.LEVEL_NAMES, allow_null=True))
    def get_risk_level(self, obj) -> str | None:
        return questionnaire.level_name(obj.risk_level)


class OpenAccountInput(StrictInput, serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False, write_only=True)
    real_name = IdentityName()
    id_type = serializers.ChoiceField(choices=KycProfile.IdType.values)
    id_number = serializers.CharField(max_length=40)
    phone = serializers.CharField(max_length=20)
    address = IdentityAddress()


class OpenAccountOutput(serializers.Serializer):
    account = serializers.CharField()
    username = serializers.CharField()
    kyc_id = serializers.IntegerField()
    kyc_state = serializers.ChoiceField(choices=KycProfile.State.choices)


class ClientListApi(CounterApi):
    """Search the caller's broker's clients (GET) or open a new client account at the counter (POST)."""

    pagination_class = Pagination

    @extend_schema(
        parameters=[OpenApiParameter("q", str, required=False, description="account, user, name, ID number")],
        responses={200: ClientOutput(many=True), 403: ErrorSerializer},
    )
    def get(self, request):
        query = request.query_params.get("q", "")
        return paginated(request, self, selectors.clients_of(request.user, query=query), ClientOutput)

    @extend_schema(request=OpenAccountInput, responses={201: OpenAccountOutput, **ERRORS})
    def post(self, request):
        data = OpenAccountInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        identity = Identity.of(v)
        try:
            profile = kyc_register(
                username=v["username"],
                password=v.get("password") or None,
                broker=request.user.broker,
                identity=identity,
                entered_by=request.user,
                ip=client_ip(request),
            )
        except err.InvalidInput as exc:
            if getattr(exc, "fields", None):
                # A list of messages a field, as every other field error of the API.
                raise serializers.ValidationError({k: [v] for k, v in exc.fields.items()}) from exc
            raise
        body = {
            "account": profile.user.account.code,
            "username": profile.user.username,
            "kyc_id": profile.pk,
            "kyc_state": profile.state,
        }
        return Response(OpenAccountOutput(body).data, status=status.HTTP_201_CREATED)


class ClientDetailOutput(AccountOutput):
    client = ClientOutput()


class ClientDetailApi(CounterApi):
    """A client's cash and positions (the ``account/`` shape) and who the client is."""

    @extend_schema(responses={200: ClientDetailOutput, 403: ErrorSerializer, 404: ErrorSerializer})
    def get(self, request, code):
        account = self.client(request, code)
        return Response(ClientDetailOutput({**account_balances(account), "client": account}).data)


# --------------------------------------------------------------------------
# Cash


class CashInput(StrictInput, serializers.Serializer):
    # Up to what the cash columns hold: the service then names the limit per movement (cash_movement_limit).
    amount = DecimalString(max_digits=20)
    reference = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        default="",
        help_text="The bank slip's reference: a reference moves this account's cash in a direction once (409 "
        "cash_repeated the second time)",
    )
    client_request_id = IdempotencyKey(
        required=False, help_text="Your key for this movement: a repeat of it is refused (409 cash_repeated), not done"
    )


class CashResult(serializers.Serializer):
    account = serializers.CharField()
    cash = CashOutput()


class CashRequestOutput(serializers.Serializer):
    id = serializers.IntegerField()
    account = serializers.CharField(source="account.code")
    direction = serializers.ChoiceField(choices=CashRequest.Direction.values)
    amount = serializers.DecimalField(max_digits=20, decimal_places=2)
    reference = serializers.CharField()
    status = serializers.ChoiceField(choices=CashRequest.Status.values)
    proposed_by = serializers.CharField(source="proposed_by.username")
    proposed_at = serializers.DateTimeField()
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True, default=None)
    decided_at = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField()


def _cash_api(direction: str, name: str):
    class CashApi(CounterApi):
        @extend_schema(
            request=CashInput,
            responses={200: CashResult, 202: CashRequestOutput, **ERRORS},
            operation_id=f"counter_client_{name}",
            description="Up to the broker's approval threshold the cash moves at once (200); above it the "
            "movement waits for a second staff member (202, the request; see cash-requests/).",
        )
        def post(self, request, code):
            account = self.client(request, code)
            data = CashInput(data=request.data)
            data.is_valid(raise_exception=True)
            outcome = services.counter_cash(
                staff=request.user,
                account_code=account.code,
                direction=direction,
                amount=data.validated_data["amount"],
                reference=data.validated_data["reference"],
                ip=client_ip(request),
                once=f"api:{key}" if (key := data.validated_data.get("client_request_id")) else "",
            )
            if outcome.request is not None:
                return Response(CashRequestOutput(outcome.request).data, status=status.HTTP_202_ACCEPTED)
            balances = account_balances(account)
            return Response(CashResult({"account": account.code, "cash": balances["cash"]}).data)

    CashApi.__name__ = f"Client{name.title()}Api"
    CashApi.__qualname__ = CashApi.__name__
    return CashApi


ClientDepositApi = _cash_api(CashRequest.Direction.DEPOSIT, "deposit")
ClientWithdrawApi = _cash_api(CashRequest.Direction.WITHDRAW, "withdraw")


class CashRequestListApi(CounterApi):
    """The caller's broker's cash requests above the approval threshold, newest first."""

    pagination_class = Pagination

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=CashRequest.Status.values, required=False)],
        responses={200: CashRequestOutput(many=True), 400: ErrorSerializer, 403: ErrorSerializer},
    )
    def get(self, request):
        # The filter is read as every list's (a 400 naming the choices, in "fields"), before the selector's check.
        status_filter = choice_param(request, "status", CashRequest.Status.values)
        qs = selectors.cash_requests_of(request.user, status=status_filter)
        return paginated(request, self, qs, CashRequestOutput)


class ReasonInput(StrictInput, serializers.Serializer):
    reason = serializers.CharField(max_length=REASON_MAX_LENGTH, required=False, allow_blank=True, default="")


class CashRequestApproveApi(CounterApi):
    """A second staff member approves: the cash moves now."""

    @extend_schema(request=None, responses={200: CashRequestOutput, **ERRORS})
    @takes_no_body
    def post(self, request, request_id):
        done = services.cash_request_approve(staff=request.user, request_id=request_id, ip=client_ip(request))
        return Response(CashRequestOutput(done).data)


class CashRequestRejectApi(CounterApi):
    """A second staff member refuses the movement (a reason is required)."""

    @extend_schema(request=ReasonInput, responses={200: CashRequestOutput, **ERRORS})
    def post(self, request, request_id):
        data = ReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        done = services.cash_request_reject(
            staff=request.user, request_id=request_id, reason=data.validated_data["reason"], ip=client_ip(request)
        )
        return Response(CashRequestOutput(done).data)


class CashRequestWithdrawApi(CounterApi):
    """The proposer takes the request back."""

    @extend_schema(request=ReasonInput, responses={200: CashRequestOutput, **ERRORS})
    def post(self, request, request_id):
        data = ReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        done = services.cash_request_withdraw(
            staff=request.user, request_id=request_id, reason=data.validated_data["reason"], ip=client_ip(request)
        )
        return Response(CashRequestOutput(done).data)


# --------------------------------------------------------------------------
# Orders and trades


class CounterOrderOutput(OrderOutput):
    placed_by = serializers.CharField(source="placed_by.username")
    entered_at_counter = serializers.SerializerMethodField()

    def get_entered_at_counter(self, obj) -> bool:
        return selectors.order_entered_at_counter(obj, self.context["account"])


# The body of ``POST orders/``: the same class, so the schema has one "OrderRequest" component.
CounterOrderInput = OrderListApi.InputSerializer


class ClientOrderListApi(CounterApi):
    """A client's orders (GET), or an order placed for the client at the counter (POST, body as ``orders/``)."""

    throttle_scope = "trading"  # its writes count as trading messages (core.api.throttles)

    pagination_class = Pagination

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=Order.Status.values, required=False),
            CLIENT_ORDER_ID_PARAMETER,
            *period_parameters("created_at"),
        ],
        responses={200: CounterOrderOutput(many=True), 403: ErrorSerializer, 404: ErrorSerializer},
    )
    def get(self, request, code):
        account = self.client(request, code)
        qs = orders_in_period(selectors.client_orders(account), *period_param(request))
        if status_filter := choice_param(request, "status", Order.Status.values):
            qs = qs.filter(status=status_filter)
        if key := request.query_params.get("client_order_id"):
            qs = qs.filter(client_order_id=key)
        return paginated(request, self, qs, CounterOrderOutput, {"account": account})

    @extend_schema(request=CounterOrderInput, responses={201: CounterOrderOutput, 200: CounterOrderOutput, **ERRORS})
    def post(self, request, code):
        account = self.client(request, code)
        data = CounterOrderInput(data=request.data)
        data.is_valid(raise_exception=True)
        order, created = services.counter_order_place(
            staff=request.user,
            account_code=account.code,
            request=OrderRequest(**data.validated_data),
            ip=client_ip(request),
        )
        order.account = account
        return Response(
            CounterOrderOutput(order, context={"account": account}).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class ClientOrderDetailApi(CounterApi):
    """One of a client's orders (GET); cancel its rest (DELETE)."""

    throttle_scope = "trading"  # its writes count as trading messages (core.api.throttles)

    @extend_schema(responses={200: CounterOrderOutput, 403: ErrorSerializer, 404: ErrorSerializer})
    def get(self, request, code, order_id):
        account = self.client(request, code)
        order = selectors.client_order(account, order_id)
        return Response(CounterOrderOutput(order, context={"account": account}).data)

    @extend_schema(responses={200: CounterOrderOutput, **ERRORS})
    def delete(self, request, code, order_id):
        account = self.client(request, code)
        order = services.counter_order_cancel(
            staff=request.user, account_code=account.code, order_id=order_id, ip=client_ip(request)
        )
        order.account = account
        return Response(CounterOrderOutput(order, context={"account": account}).data)


class ClientTradeListApi(CounterApi):
    """A client's trades, newest first: the client's side and fee, and whether the order came from the counter."""

    pagination_class = Pagination

    @extend_schema(
        parameters=[*TRADE_FILTER_PARAMETERS, *period_parameters("matched_at")],
        responses={200: ClientTradeOutput(many=True), 403: ErrorSerializer, 404: ErrorSerializer},
    )
    def get(self, request, code):
        account = self.client(request, code)
        # Filtered as ``trades/`` is (found by an outside integrator: the counter's list had neither filter).
        trades = trades_filtered(request, trades_in_period(selectors.client_trades(account), *period_param(request)))
        paginator = Pagination()
        page = paginator.paginate_queryset(trades, request, view=self)
        data = [ClientTradeOutput(t).data for t in selectors.trade_views(page, account)]
        return paginator.get_paginated_response(data)


# --------------------------------------------------------------------------
# Statements


class ClientStatementApi(CounterApi):
    """A client's statement for ``from`` … ``to`` (Beijing dates, both included) as JSON, CSV or PDF."""

    def perform_content_negotiation(self, request, force=False):
        # ``format`` names the statement's file type here; errors are always JSON.
        return JSONRenderer(), JSONRenderer.media_type

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, required=True),
            OpenApiParameter("to", OpenApiTypes.DATE, required=True),
            OpenApiParameter("format", str, enum=["json", "csv", "pdf"], required=False),
        ],
        responses={
            (200, "application/json"): StatementOutput,
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY),
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY),
            **ERRORS,
        },
    )
    def get(self, request, code):
        account = self.client(request, code)
        kind = request.query_params.get("format", "json")
        if kind not in ("json", "csv", "pdf"):
            raise err.InvalidInput(gettext('format must be "json", "csv" or "pdf".'), field="format")
        statement = selectors.client_statement(account, date_param(request, "from"), date_param(request, "to"))
        if kind == "json":
            return Response(StatementOutput(statement).data)
        return statement_response(statement, kind)
