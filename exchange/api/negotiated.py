"""The negotiated-transfer API (DESIGN.md §8): ``negotiated-trades/``, detail, ``confirm/`` and ``withdraw/``.

Views validate input, call one service (``exchange.services.negotiated``) and shape the output.
"""

from __future__ import annotations

from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core import errors as err
from core.api.fields import DecimalString, IdempotencyKey, StrictInput, StrictInteger, takes_no_body
from core.api.pagination import Pagination
from core.api.schema import ERRORS, ErrorSerializer, choice_param, paginated
from core.audit import client_ip
from exchange import selectors
from exchange.models import NegotiatedTrade, Order
from exchange.services import negotiated

from .rfq import StatusNow


@extend_schema_field(serializers.ChoiceField(choices=NegotiatedTrade.Status.choices))
class ProposalStatusNow(StatusNow):
    pass


class PartyOutput(serializers.Serializer):
    account = serializers.CharField(source="code")
    broker = serializers.CharField(source="broker.code", allow_null=True, default=None)


class NegotiatedOutput(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    security = serializers.CharField(source="security.code")
    side = serializers.ChoiceField(  # an enum, as an order's (found by an outside integrator)
        choices=Order.Side.values, help_text="The proposer's side; the counterparty takes the other."
    )
    quantity = serializers.IntegerField()
    price = serializers.DecimalField(max_digits=14, decimal_places=2)
    proposer = PartyOutput()
    counterparty = PartyOutput()
    status = ProposalStatusNow()
    proposed_at_counter = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)
    trade = serializers.IntegerField(source="trade_id", allow_null=True)
    client_request_id = serializers.SerializerMethodField()

    def get_client_request_id(self, obj) -> str | None:
        """Shown to the proposer's side only."""
        request = self.context.get("request")
        if request is None or obj.proposer.owner_id == request.user.pk:
            return obj.client_request_id
        return None


@extend_schema_serializer(component_name="NegotiatedCreated")
class NegotiatedCreatedOutput(NegotiatedOutput):
    code = serializers.CharField(
        allow_null=True,
        help_text="The confirmation code, shown once (null on a retry): pass it to the counterparty.",
    )


def _get(request, proposal_id: int) -> NegotiatedTrade:
    p = negotiated.negotiated_visible(request.user).filter(pk=proposal_id).first()
    if p is None:
        raise err.NotFound(gettext("No such proposal."))
    return p


class NegotiatedListApi(APIView):
    """Negotiated transfers (协议转让): the proposals the caller may see; a new proposal."""

    throttle_scope = "trading"  # its writes count as trading messages (core.api.throttles)

    pagination_class = Pagination

    @extend_schema_serializer(component_name="NegotiatedRequest")
    class InputSerializer(StrictInput, serializers.Serializer):
        security = serializers.CharField(max_length=16)
        side = serializers.ChoiceField(choices=NegotiatedTrade.Side.values)
        quantity = StrictInteger()
        price = DecimalString()
        counterparty = serializers.CharField(max_length=32, help_text="The counterparty's account code.")
        client_request_id = IdempotencyKey()

    @extend_schema(
        parameters=[OpenApiParameter("status", str, required=False, enum=NegotiatedTrade.Status.values)],
        responses=NegotiatedOutput(many=True),
    )
    def get(self, request):
        qs = negotiated.negotiated_visible(request.user)
        if status_filter := choice_param(request, "status", NegotiatedTrade.Status.values):
            qs = qs.filter(status=status_filter)
        return paginated(request, self, qs, NegotiatedOutput)

    @extend_schema(
        request=InputSerializer, responses={201: NegotiatedCreatedOutput, 200: NegotiatedCreatedOutput, **ERRORS}
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = selectors.account_of(request.user)
        if account is None:
            raise err.NoAccount()
        proposal, code, created = negotiated.negotiated_propose(
            actor=request.user,
            account=account,
            request=negotiated.NegotiatedRequest(**data.validated_data),
            ip=client_ip(request),
        )
        proposal = _get(request, proposal.pk)
        proposal.code = code
        return Response(
            NegotiatedCreatedOutput(proposal, context={"request": request}).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class NegotiatedDetailApi(APIView):
    @extend_schema(responses={200: NegotiatedOutput, 404: ErrorSerializer})
    def get(self, request, proposal_id: int):
        return Response(NegotiatedOutput(_get(request, proposal_id), context={"request": request}).data)


class NegotiatedConfirmApi(APIView):
    """The counterparty (or its broker's staff) confirms with the proposer's code; the trade is made at once."""

    throttle_scope = "trading"  # its writes count as trading messages (core.api.throttles)

    @extend_schema_serializer(component_name="NegotiatedConfirm")
    class InputSerializer(StrictInput, serializers.Serializer):
        code = serializers.CharField(max_length=32)

    @extend_schema(request=InputSerializer, responses={200: NegotiatedOutput, **ERRORS})
    def post(self, request, proposal_id: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        negotiated.negotiated_confirm(
            actor=request.user, proposal_id=proposal_id, code=data.validated_data["code"], ip=client_ip(request)
        )
        return Response(NegotiatedOutput(_get(request, proposal_id), context={"request": request}).data)


class NegotiatedWithdrawApi(APIView):
    """Either party withdraws an open proposal; the proposer's reservation is released."""

    throttle_scope = "trading"  # its writes count as trading messages (core.api.throttles)

    @extend_schema(request=None, responses={200: NegotiatedOutput, **ERRORS})
    @takes_no_body
    def post(self, request, proposal_id: int):
        negotiated.negotiated_withdraw(actor=request.user, proposal_id=proposal_id, ip=client_ip(request))
        return Response(NegotiatedOutput(_get(request, proposal_id), context={"request": request}).data)
