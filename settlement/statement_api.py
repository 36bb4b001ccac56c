"""The investor's own statement and holdings certificate (``/api/v1/statement/``, ``/api/v1/holdings-certificate/``).

The JSON shapes (``StatementOutput``, ``ClientTradeOutput``) are the counter's
too: ``counter.api`` serves a client's statement with them.
"""

from __future__ import annotations

import datetime as dt

from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from core import errors as err
from core.api.fields import RegisteredChoice
from core.api.schema import ERRORS
from core.money import CURRENCY
from exchange.models import Order, Trade
from exchange.selectors import account_of

from . import statements
from .statement_views import certificate_response, statement_response


class ClientTradeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    security = serializers.CharField()
    side = serializers.ChoiceField(choices=Order.Side.values)
    price = serializers.DecimalField(max_digits=14, decimal_places=2)
    quantity = serializers.IntegerField()
    value = serializers.DecimalField(max_digits=20, decimal_places=2)
    fee = serializers.DecimalField(max_digits=20, decimal_places=2)
    status = serializers.ChoiceField(choices=Trade.Status.choices)
    matched_at = serializers.DateTimeField()
    entered_at_counter = serializers.BooleanField(source="at_counter")
    leaf_index = serializers.IntegerField(allow_null=True)
    block_height = serializers.IntegerField(allow_null=True)
    notes = serializers.ListField(
        child=serializers.CharField(), help_text="What happened to the trade since: a correction, in words."
    )


class MovementOutput(serializers.Serializer):
    at = serializers.DateTimeField()
    kind = RegisteredChoice(statements.movement_kinds)
    amount = serializers.DecimalField(max_digits=20, decimal_places=2)
    fee = serializers.DecimalField(max_digits=20, decimal_places=2)
    balance = serializers.DecimalField(max_digits=20, decimal_places=2)
    security = serializers.CharField()
    quantity = serializers.IntegerField(allow_null=True)
    price = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    trade_ids = serializers.ListField(child=serializers.IntegerField())
    reference = serializers.CharField()
    entry_id = serializers.IntegerField()
    leaf_index = serializers.IntegerField(allow_null=True)


class HoldingOutput(serializers.Serializer):
    security = serializers.CharField()
    name = serializers.CharField()
    quantity = serializers.IntegerField()


class StatementOutput(serializers.Serializer):
    account = serializers.CharField(source="account.code")
    start = serializers.DateField()
    end = serializers.DateField()
    currency = serializers.SerializerMethodField()
    opening_cash = serializers.DecimalField(max_digits=20, decimal_places=2)
    closing_cash = serializers.DecimalField(max_digits=20, decimal_places=2)
    totals = serializers.DictField(child=serializers.DecimalField(max_digits=20, decimal_places=2))
    movements = MovementOutput(many=True)
    trades = ClientTradeOutput(many=True)
    holdings = HoldingOutput(many=True)
    generated_at = serializers.DateTimeField()

    @extend_schema_field(serializers.ChoiceField(choices=[CURRENCY]))
    def get_currency(self, obj) -> str:
        return CURRENCY


def date_param(request, name: str) -> dt.date:
    value = request.query_params.get(name)
    if not value:
        raise err.InvalidInput(gettext("Give %(name)s=YYYY-MM-DD.") % {"name": name}, field=name)
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise err.InvalidInput(gettext("%(name)s is not a date (YYYY-MM-DD).") % {"name": name}, field=name) from exc


class CertificateOutput(serializers.Serializer):
    account = serializers.CharField(source="account.code")
    year = serializers.IntegerField()
    as_of = serializers.DateField()
    holdings = HoldingOutput(many=True)
    generated_at = serializers.DateTimeField()


class _OwnAccountApi(APIView):
    permission_classes = [IsAuthenticated]

    def perform_content_negotiation(self, request, force=False):
        # ``format`` names the file type here; errors are always JSON.
        return JSONRenderer(), JSONRenderer.media_type

    @staticmethod
    def own_account(request):
        account = account_of(request.user)
        if account is None:
            # The 403 ``account/`` and the order, RFQ and negotiated endpoints give (it was a 404 ``not_found``
            # here, which an outside integrator's client read as a wrong address).
            raise err.NoAccount()
        return account

    @staticmethod
    def kind(request) -> str:
        kind = request.query_params.get("format", "json")
        if kind not in ("json", "csv", "pdf"):
            raise err.InvalidInput(gettext('format must be "json", "csv" or "pdf".'), field="format")
        return kind


FILE_RESPONSES = {
    (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY),
    (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY),
    **ERRORS,
}


class MyStatementApi(_OwnAccountApi):
    """The caller's own statement for ``from`` … ``to`` (Beijing dates, both included) as JSON, CSV or PDF."""

    @extend_schema(
        operation_id="statement_own",
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, required=True),
            OpenApiParameter("to", OpenApiTypes.DATE, required=True),
            OpenApiParameter("format", str, enum=["json", "csv", "pdf"], required=False),
        ],
        responses={(200, "application/json"): StatementOutput, **FILE_RESPONSES},
    )
    def get(self, request):
        account = self.own_account(request)
        kind = self.kind(request)
        statement = statements.account_statement(account, date_param(request, "from"), date_param(request, "to"))
        if kind == "json":
            return Response(StatementOutput(statement).data)
        return statement_response(statement, kind)


class MyCertificateApi(_OwnAccountApi):
    """The caller's holdings certificate of ``year`` (at the end of 31 December, or today for this year)."""

    @extend_schema(
        operation_id="holdings_certificate_own",
        parameters=[
            OpenApiParameter("year", int, required=True),
            OpenApiParameter("format", str, enum=["json", "csv", "pdf"], required=False),
        ],
        responses={(200, "application/json"): CertificateOutput, **FILE_RESPONSES},
    )
    def get(self, request):
        account = self.own_account(request)
        kind = self.kind(request)
        year = request.query_params.get("year", "")
        if not (year.isascii() and year.isdigit() and len(year) == 4):
            raise err.InvalidInput(gettext("Give year=YYYY."), field="year")
        certificate = statements.holdings_certificate(account, int(year))
        if kind == "json":
            return Response(CertificateOutput(certificate).data)
        return certificate_response(certificate, kind)
