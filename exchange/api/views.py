"""The REST API of the exchange (DESIGN.md §8 core contract).

Views validate input with nested serializers, call one service or selector,
and shape the output. No business rule lives here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from django.contrib.auth import authenticate
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core import errors as err
from core import tokens, twofactor
from core.api.authentication import ExpiringTokenAuthentication
from core.api.fields import DecimalString, IdempotencyKey, StrictInput, StrictInteger, takes_no_body
from core.api.pagination import BIGINT_MAX, Pagination, period_param, period_parameters, whole_parameter
from core.api.schema import ERRORS, ErrorSerializer, choice_param, paginated
from core.api.serializers import represent
from core.audit import client_ip
from core.models import Account
from core.money import CURRENCY
from exchange import precheck, selectors, services
from exchange.models import Order, Quote, Trade
from ledger import api as ledger_api
from ledger import selectors as ledger_selectors
from registry.calendar import SHANGHAI
from registry.models import Security


def _require_account(user):
    account = selectors.account_of(user)
    if account is None:
        raise err.NoAccount()
    return account


class PingApi(APIView):
    """A trivial authenticated endpoint: the baseline of `make bench`."""

    @extend_schema(responses=inline_serializer("Ping", {"ok": serializers.BooleanField()}))
    def get(self, request):
        return Response({"ok": True})


class TokenApi(APIView):
    """A login token (core.tokens): POST issues a new one, DELETE revokes the one the request carries.

    POST reads no credentials but the user name and password, so a client still sending an expired
    token gets a new one. DELETE is authenticated by the token itself, never by a session. Named system
    tokens are core.api.tokens's (``auth/tokens/``).
    """

    # Named components: the bare "Input" and "Output" collide with other views' serializers in the schema.
    @extend_schema_serializer(component_name="TokenRequest")
    class InputSerializer(StrictInput, serializers.Serializer):
        # The user model's 150 characters: a longer name cannot be anyone's (and django-axes, which records
        # every failed login, keeps at most 255).
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(trim_whitespace=False, max_length=4096)
        otp = serializers.CharField(
            required=False,
            max_length=20,
            help_text=(
                "Staff roles only (broker staff, exchange and depository operators, regulator, auditor): the "
                "current 6-digit code of the user's authenticator, or one of their recovery codes. Investors "
                "and market makers leave it out."
            ),
        )

    @extend_schema_serializer(component_name="TokenResponse")
    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()
        expires_at = serializers.DateTimeField()

    def get_authenticators(self):
        # Called before DRF wraps the request: self.request is Django's (as_view's setup), or None while
        # drf-spectacular builds its mock request (it asks again once the mock request is set).
        return [ExpiringTokenAuthentication()] if getattr(self.request, "method", None) == "DELETE" else []

    def get_permissions(self):
        return [IsAuthenticated()] if self.request.method == "DELETE" else [AllowAny()]

    @extend_schema(
        description=(
            "Log in with a user name and password and get a new login token, sent then as `Authorization: Token "
            "<token>`. Each call issues a new token (named `login`), good until `expires_at`: `API_TOKEN_TTL` "
            "seconds, set by the operator, a working day by default. Several tokens of a user work side by side; "
            "beyond `API_TOKEN_LOGIN_LIMIT` live login tokens (50 by default) a login revokes the oldest. A login "
            "token also ends with `DELETE` (that token only), a web logout of the user, a password change or "
            "deactivation. For a system that must keep working across logouts, create a named token on the "
            "settings page (`auth/tokens/`). The token is stored only as a digest: it is shown this once. "
            "A staff user (every role but investor and market maker) also sends "
            "`otp`, the current code of the authenticator enrolled at their first web login: without it the answer "
            "is a 400 `otp_required`, with a wrong one `otp_invalid`. The "
            "`AXES_FAILURE_LIMIT`-th failed login of one user name from one address (5 by default) locks that pair "
            "for a while (15 minutes by default): a 429 `login_locked`, on this endpoint and on the login page alike."
        ),
        request=InputSerializer,
        responses={200: OutputSerializer, **ERRORS, 429: ErrorSerializer},
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        credentials = {k: v for k, v in data.validated_data.items() if k != "otp"}
        # With the request, so that django-axes counts a failure and refuses a locked-out user name and address.
        user = authenticate(request._request, **credentials)
        if user is None:
            raise InvalidCredentials()
        if twofactor.second_factor_required(user):
            code = data.validated_data.get("otp", "")
            if not code:
                raise OtpRequired()
            if twofactor.otp_check(user=user, code=code, ip=client_ip(request)) is None:
                twofactor.otp_failed(request._request, user=user)  # a failed login: audited, counted by axes
                raise OtpInvalid()
        issued = tokens.token_issue(user=user, ip=client_ip(request))
        return Response(
            self.OutputSerializer({"token": issued.key, "expires_at": tokens.token_expires_at(issued.token)}).data
        )

    @extend_schema(
        description=(
            "Revoke the token this request is authenticated with, and only that one (the user's other tokens go "
            "on). Any later use of it is a 401."
        ),
        request=None,
        responses={204: None, 401: ErrorSerializer},
    )
    @takes_no_body
    def delete(self, request):
        tokens.token_revoke(
            user=request.user, token_id=request.auth.pk, reason="api", actor=request.user, ip=client_ip(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvalidCredentials(err.DomainError):
    code = "invalid_credentials"
    status = 400
    default_message = gettext_lazy("Wrong username or password.")


class OtpRequired(err.DomainError):
    code = "otp_required"
    status = 400
    default_message = gettext_lazy(
        "Staff accounts need the current code of their authenticator in the otp field (set it up at the first "
        "web login)."
    )


class OtpInvalid(err.DomainError):
    code = "otp_invalid"
    status = 400
    default_message = gettext_lazy("Wrong or expired code.")


# --------------------------------------------------------------------------
# Securities and quotes


def _security(code: str) -> Security:
    security = Security.objects.filter(code=code).first()
    if security is None:
        raise err.UnknownSecurity()
    return security


class BookLevel(serializers.Serializer):
    price = serializers.DecimalField(max_digits=14, decimal_places=2)
    quantity = serializers.IntegerField()
    market_maker = serializers.CharField()
    quote_id = serializers.IntegerField()


class BookOutput(serializers.Serializer):
    security = serializers.CharField()
    bids = BookLevel(many=True)
    asks = BookLevel(many=True)


class SecurityQuotesApi(APIView):
    @extend_schema(responses={200: BookOutput, 404: ErrorSerializer})
    def get(self, request, code):
        security = _security(code)
        return Response(BookOutput({"security": security.code, **selectors.quote_book(security)}).data)


# --------------------------------------------------------------------------
# Market data of a security: candles and time and sales (public to anyone signed in, no parties)

# Without from/to: the current trading day by the minute, or the last 90 days by the day.
CANDLES_DEFAULT_DAYS = {"1m": 1, "1d": 90}


# The moments a range may name, in UTC, as in every other period of the API (``core.api.pagination.moment``):
# PostgreSQL is sent them in UTC, and the day before the first or after the last does not exist there.
_FIRST = dt.datetime(1, 1, 2, tzinfo=dt.UTC)
_LAST = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)


def _date_alone(text: str) -> bool:
    """Whether ``text`` is a date without a time (``2026-12-01``, ``20261201``). As a date reads, not by the
    letters of a time: ISO 8601 lets a time follow a small ``t`` (``20261201t0931``), which is no date."""
    try:
        dt.date.fromisoformat(text.strip())
    except ValueError:
        return False
    return True


def _moment(text: str, name: str, *, end: bool = False) -> dt.datetime:
    """An ISO 8601 date or date-time; without an offset it is the exchange's time (Asia/Shanghai). A date is its
    day's start, or with ``end`` the next day's: an end date is included, an end time is not, as in every other
    period of the API (``core.api.pagination.moment``; found by a probe: ``from=2026-12-01&to=2026-12-01`` gave
    no candle, where the trade list and the statement give that day's)."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
        if end and _date_alone(text):  # the day, whole
            moment += dt.timedelta(days=1)
    except (ValueError, OverflowError):
        raise err.InvalidInput(
            gettext("%(name)s must be an ISO 8601 date or date-time, such as 2026-01-05 or 2026-01-05T09:30:00+08:00.")
            % {"name": name},
            field=name,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=SHANGHAI)
    try:
        in_range = _FIRST <= moment.astimezone(dt.UTC) < _LAST
    except OverflowError:  # 0001-01-01T00:00+08:00 has no UTC
        in_range = False
    if not in_range:
        raise err.InvalidInput(
            gettext("%(name)s must be a date between 0001-01-02 and 9999-12-30.") % {"name": name}, field=name
        )
    return moment


def candle_range(interval: str | None, start: str | None, end: str | None) -> tuple[str, dt.datetime, dt.datetime]:
    """The checked ``interval``, ``from`` and ``to`` of a candles request (``invalid_input`` otherwise)."""
    if interval not in selectors.CANDLE_INTERVALS:
        raise err.InvalidInput(gettext('interval must be "1m" or "1d".'), field="interval")
    now = timezone.now()
    to = _moment(end, "to", end=True) if end else now
    if start:
        since = _moment(start, "from")
    else:
        # The day of the range's last instant (an end date's own day, not the next one's)
        last = (to - dt.timedelta(microseconds=1)).astimezone(SHANGHAI)
        midnight = last.replace(hour=0, minute=0, second=0, microsecond=0)
        # Days back, but not before the first moment a range may name (a 500 past it: found by a review)
        since = midnight - min(dt.timedelta(days=CANDLES_DEFAULT_DAYS[interval] - 1), midnight - _FIRST)
    # After an end date is at or after the day following it (the end of the range); after an end time, past it.
    if since > to or (end and since == to and _date_alone(end)):
        raise err.InvalidInput(gettext("from must not be after to."), field="from")
    if selectors.candle_buckets(interval, since, to) > selectors.CANDLES_MAX_BUCKETS:
        raise err.InvalidInput(
            gettext("The range is too long: at most %(n)s buckets per request.") % {"n": selectors.CANDLES_MAX_BUCKETS}
        )
    return interval, since, to


class CandleOutput(serializers.Serializer):
    time = serializers.DateTimeField(help_text="The bucket's start (minute or day, Asia/Shanghai).")
    open = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    high = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    low = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    close = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    volume = serializers.IntegerField(help_text="Shares traded in the bucket (0 when none).")
    turnover = serializers.DecimalField(max_digits=24, decimal_places=2, help_text="Value traded, CNY.")
    trades = serializers.IntegerField()


class CandlesOutput(serializers.Serializer):
    security = serializers.CharField()
    interval = serializers.ChoiceField(choices=list(selectors.CANDLE_INTERVALS))
    start = serializers.DateTimeField(help_text="from, inclusive")
    end = serializers.DateTimeField(help_text="to, exclusive")
    candles = CandleOutput(many=True)


class SecurityCandlesApi(APIView):
    """OHLC and volume per minute or day, from the security's trades (a refused trade is left out). Every
    bucket of the range is listed; one without trades has null prices and volume 0."""

    @extend_schema(
        parameters=[
            OpenApiParameter("interval", str, required=True, enum=["1m", "1d"]),
            OpenApiParameter("from", str, required=False, description="ISO 8601, inclusive; Asia/Shanghai if naive"),
            OpenApiParameter(
                "to",
                str,
                required=False,
                description="ISO 8601: a date is included (to its end), a time is not; default now",
            ),
        ],
        responses={200: CandlesOutput, **ERRORS},
    )
    def get(self, request, code):
        security = _security(code)
        interval, since, to = candle_range(
            request.query_params.get("interval"), request.query_params.get("from"), request.query_params.get("to")
        )
        rows = selectors.candles(security, interval=interval, start=since, end=to)
        data = {"security": security.code, "interval": interval, "start": since, "end": to, "candles": rows}
        return Response(CandlesOutput(data).data)


class TimeAndSalesOutput(serializers.Serializer):
    price = serializers.DecimalField(max_digits=14, decimal_places=2)
    quantity = serializers.IntegerField()
    matched_at = serializers.DateTimeField()


class SecurityTradesApi(APIView):
    """Time and sales: the security's trades, newest first, with price, quantity and time only (no parties)."""

    pagination_class = Pagination

    @extend_schema(responses={200: TimeAndSalesOutput(many=True), **ERRORS})
    def get(self, request, code):
        return paginated(request, self, selectors.time_and_sales(_security(code)), TimeAndSalesOutput)


class QuoteOutput(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    security = serializers.CharField(source="security.code")
    # enums, not "string": a typed client matches on the values there are (found by an outside integrator)
    side = serializers.ChoiceField(choices=Quote.Side.choices)
    price = serializers.DecimalField(max_digits=14, decimal_places=2)
    quantity = serializers.IntegerField()
    original_quantity = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Quote.Status.choices)
    created_at = serializers.DateTimeField()


class QuotesApi(APIView):
    """A market maker's own quotes: list active ones, publish (replace) a two-sided quote, pull them all."""

    throttle_scope = "trading"  # its writes count as trading messages (core.api.throttles)

    @extend_schema_serializer(component_name="QuotePublishRequest")
    class InputSerializer(StrictInput, serializers.Serializer):
        security = serializers.CharField(max_length=16)
        bid_price = DecimalString()
        bid_quantity = StrictInteger()
        ask_price = DecimalString()
        ask_quantity = StrictInteger()

    @extend_schema_serializer(component_name="QuotePublishResponse")
    class PublishOutput(serializers.Serializer):
        bid = QuoteOutput()
        ask = QuoteOutput()
        trades = serializers.ListField(child=serializers.IntegerField())

    @extend_schema(responses={200: QuoteOutput(many=True), 403: ErrorSerializer})
    def get(self, request):
        account = _require_account(request.user)
        return Response(QuoteOutput(selectors.quotes_active(account), many=True).data)

    @extend_schema(request=InputSerializer, responses={201: PublishOutput, **ERRORS})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.quote_publish(user=request.user, request=services.QuoteRequest(**data.validated_data))
        body = {"bid": result.bid, "ask": result.ask, "trades": [t.pk for t in result.trades]}
        return Response(self.PublishOutput(body).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[OpenApiParameter("security", str, required=False)],
        responses={200: inline_serializer("Pulled", {"pulled": serializers.IntegerField()}), **ERRORS},
    )
    @takes_no_body
    def delete(self, request):
        # What to pull is named exactly: a misspelt or empty filter pulled every quote everywhere.
        unknown = sorted(set(request.query_params) - {"security"})
        if unknown or request.query_params.get("security", None) == "":
            names = unknown or ["security"]
            raise serializers.ValidationError(
                {n: [gettext("Name a security's code, or nothing to pull every quote.")] for n in names}
            )
        pulled = services.quotes_pull(user=request.user, security_code=request.query_params.get("security"))
        return Response({"pulled": pulled})


# --------------------------------------------------------------------------
# Orders


class OrderOutput(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    client_order_id = serializers.CharField()
    security = serializers.CharField(source="security.code")
    # Choices, not plain text, so that the schema names their values (a typed client gets enums, found by an
    # outside integrator); an output field writes its value as it is.
    side = serializers.ChoiceField(choices=Order.Side.values)
    limit_price = serializers.DecimalField(max_digits=14, decimal_places=2)
    quantity = serializers.IntegerField()
    filled_quantity = serializers.IntegerField()
    remaining_quantity = serializers.IntegerField()
    time_in_force = serializers.ChoiceField(choices=Order.TimeInForce.values)
    status = serializers.ChoiceField(choices=Order.Status.choices)
    closed_by = serializers.ChoiceField(
        choices=Order.ClosedBy.choices,
        help_text="What closed the order when it was not its owner, a fill or the day's end: security_changed (a "
        "change to the security's lot, tick, band, reference price or trading modes that the order no longer "
        "fits), security_delisted, account_frozen (a legal order froze the account), trade_restricted (a regulator "
        "restricted the account's trading: a freeze of scope trading), or venue_rules (the venue's rule profile "
        "allows no orders in the security: cn-regional-2017); empty otherwise.",
    )
    closed_reason = serializers.CharField(
        source="closed_reason_text",
        help_text="Why, as a sentence in the request's language, with the particulars: the security's changed fields "
        "and values, the operator's reason for a delisting (as written), the freeze's number, or the venue's profile. "
        "Empty when "
        "closed_by is.",
    )
    reserved_cash = serializers.DecimalField(max_digits=20, decimal_places=2)
    filled_value = serializers.DecimalField(
        max_digits=20,
        decimal_places=2,
        help_text="What the order's fills cost (price × quantity), fees apart; a fill corrected while the order was "
        "open counts at its corrected terms (those of trades/{id}/'s notes), as does its fee in fees.",
    )
    fees = serializers.DecimalField(
        max_digits=20,
        decimal_places=2,
        help_text="The commission the order's fills paid: the broker's rate on filled_value, at least its minimum "
        "once an order (not once a fill).",
    )
    account = serializers.CharField(source="account.code")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


# A back office whose POST timed out asks whether the order was placed, without placing it (a retry of the POST
# places it if it was not): its key, exact; one that names no order answers an empty page (found by an integrator).
CLIENT_ORDER_ID_PARAMETER = OpenApiParameter(
    "client_order_id",
    str,
    required=False,
    description="only the order with this client_order_id (exact): whether an order whose answer was lost was placed",
)


ACCOUNT_FILTER_PARAMETER = OpenApiParameter(
    "account",
    str,
    required=False,
    description="an account's code, in any case: only that account's. An account the caller may not see is a 400, "
    "as one that does not exist is",
)


def account_param(request) -> Account | None:
    """The account the request's ``account`` names, if the user may see it; None when absent or empty; a 400
    naming the parameter otherwise (an account one may not see is not told apart from one that does not exist)."""
    code = request.query_params.get("account")
    if not code:
        return None
    account = selectors.account_visible(request.user, code)
    if account is None:
        raise serializers.ValidationError({"account": [gettext("No such account.")]})
    return account


class OrderListApi(APIView):
    throttle_scope = "trading"  # its writes count as trading messages (core.api.throttles)
    pagination_class = Pagination

    @extend_schema_serializer(component_name="OrderRequest")
    class InputSerializer(StrictInput, serializers.Serializer):
        security = serializers.CharField(max_length=16)
        side = serializers.ChoiceField(choices=Order.Side.values)
        quantity = StrictInteger()
        limit_price = DecimalString()
        time_in_force = serializers.ChoiceField(choices=Order.TimeInForce.values, default="DAY")
        client_order_id = IdempotencyKey()

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=Order.Status.values, required=False),
            CLIENT_ORDER_ID_PARAMETER,
            ACCOUNT_FILTER_PARAMETER,
            *period_parameters("created_at"),
        ],
        responses=OrderOutput(many=True),
    )
    def get(self, request):
        qs = selectors.orders_visible(request.user)
        if status_filter := choice_param(request, "status", Order.Status.values):
            qs = qs.filter(status=status_filter)
        if account := account_param(request):
            qs = qs.filter(account=account)
        if key := request.query_params.get("client_order_id"):
            qs = qs.filter(client_order_id=key)
        return paginated(request, self, selectors.orders_in_period(qs, *period_param(request)), OrderOutput)

    @extend_schema(request=InputSerializer, responses={201: OrderOutput, 200: OrderOutput, **ERRORS})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = _require_account(request.user)
        order, created = services.order_place(
            placed_by=request.user, account=account, request=services.OrderRequest(**data.validated_data)
        )
        order.account = account
        return Response(
            represent(OrderOutput, order), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


BATCH_MAX = 100


class BatchErrorOutput(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(required=False, help_text="Per field, what is wrong (invalid input only).")


class BatchResultOutput(serializers.Serializer):
    client_order_id = serializers.CharField(allow_null=True, help_text="As sent (null when it was missing).")
    status = serializers.IntegerField(
        help_text="What POST orders/ would have answered for this order alone: 201 placed, 200 placed before "
        "with this client_order_id, or the 4xx of the error."
    )
    order = OrderOutput(required=False, help_text="The order, when it was placed (201 or 200).")
    error = BatchErrorOutput(required=False, help_text="Why it was refused (4xx).")


class OrderBatchOutput(serializers.Serializer):
    results = BatchResultOutput(many=True, help_text="One result per order sent, in the same order.")


@extend_schema_field(OrderListApi.InputSerializer(many=True, min_length=1, max_length=BATCH_MAX))
class BatchOrders(serializers.ListField):
    """A batch's orders: each is checked as by ``POST orders/``, one by one (a refused one is its own 4xx in the
    results, not the batch's 400), so each is documented as that order. "Any object" left a generated client
    without a typed order, and let it send what the API refuses (found by an outside integrator)."""


class OrderBatchApi(APIView):
    """Up to 100 orders in one request, for a broker's or market maker's system: each is placed exactly as by
    ``POST orders/`` — checked by the same rules, in its own transaction, idempotent by its own
    ``client_order_id`` — one after the other, and one refused does not stop the rest. The answer is 200 with
    one result per order, in the order sent; a body that is not a list of 1 to 100 orders is refused whole
    (400) and places nothing."""

    throttle_scope = "trading"  # its writes count as trading messages (core.api.throttles)

    @staticmethod
    def throttle_weight(request) -> int:
        """A batch counts against the trading rate as the orders it carries (a body that is not a list of 1 to
        BATCH_MAX orders as one: the view refuses it)."""
        orders = request.data.get("orders") if isinstance(request.data, Mapping) else None
        return len(orders) if isinstance(orders, list) and len(orders) <= BATCH_MAX else 1

    @extend_schema_serializer(component_name="OrderBatchRequest")
    class InputSerializer(StrictInput, serializers.Serializer):
        orders = BatchOrders(
            child=serializers.DictField(), min_length=1, max_length=BATCH_MAX, help_text="Each as for POST orders/."
        )

    @extend_schema(request=InputSerializer, responses={200: OrderBatchOutput, **ERRORS})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = _require_account(request.user)
        results = [self._place(request.user, account, item) for item in data.validated_data["orders"]]
        return Response({"results": results})

    @staticmethod
    def _place(user, account, item: dict) -> dict:
        sent = item.get("client_order_id")
        one = OrderListApi.InputSerializer(data=item)
        valid = one.is_valid()
        # As the order is placed, or as sent (a client_order_id that is not text is refused, as by POST orders/).
        result: dict = {
            "client_order_id": one.validated_data["client_order_id"]
            if valid
            else (sent if isinstance(sent, str) else None)
        }
        if not valid:
            fields = one.errors
            first = next(iter(fields))
            return {
                **result,
                "status": 400,
                "error": {"code": "invalid_input", "message": f"{first}: {fields[first][0]}", "fields": fields},
            }
        try:
            order, created = services.order_place(
                placed_by=user, account=account, request=services.OrderRequest(**one.validated_data)
            )
        except err.DomainError as exc:
            return {**result, "status": exc.status, "error": {"code": exc.code, "message": exc.message}}
        order.account = account
        return {**result, "status": 201 if created else 200, "order": represent(OrderOutput, order)}


class ProblemOutput(serializers.Serializer):
    code = serializers.CharField(help_text="The error code the order would be refused with.")
    message = serializers.CharField()


# The largest price (under 10^12) times the largest quantity (10^12) is under 10^24: with cents and the fee on
# top, 27 digits. The check reports such an order's problems (cash, band), so its figures must fit.
VALUE_DIGITS = 28


class OrderCheckOutput(serializers.Serializer):
    ok = serializers.BooleanField(help_text="No pre-trade rule would refuse the order now.")
    problems = ProblemOutput(many=True, help_text="Every rule the order breaks, in the rules' order.")
    value = serializers.DecimalField(max_digits=VALUE_DIGITS, decimal_places=2, help_text="limit price × quantity")
    fee = serializers.DecimalField(
        max_digits=VALUE_DIGITS, decimal_places=2, help_text="the broker's estimated commission"
    )
    total = serializers.DecimalField(
        max_digits=VALUE_DIGITS,
        decimal_places=2,
        help_text="a buy: cash it reserves (value + fee); a sell: value − fee",
    )


class OrderCheckApi(APIView):
    """The pre-trade checks of an order without placing it (``exchange.precheck``): what would refuse it
    (suitability, qualified-only, holder cap, holding interval, cash or shares, tick, band, lots, the market)
    and its estimated fee and total. Nothing is written; the order is checked again when placed."""

    throttle_scope = "trading"  # its writes count as trading messages (core.api.throttles)

    @extend_schema_serializer(component_name="OrderCheckRequest")
    class InputSerializer(StrictInput, serializers.Serializer):
        security = serializers.CharField(max_length=16)
        side = serializers.ChoiceField(choices=Order.Side.values)
        quantity = StrictInteger()
        limit_price = DecimalString()
        # The body a client will POST to orders/ may be checked as it is: these two change no check.
        time_in_force = serializers.ChoiceField(choices=Order.TimeInForce.values, required=False)
        client_order_id = IdempotencyKey(required=False)

    @extend_schema(request=InputSerializer, responses={200: OrderCheckOutput, **ERRORS})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = _require_account(request.user)
        body = data.validated_data
        services.parse_quantity(body["quantity"])
        services.parse_price(body["limit_price"])
        check = precheck.order_precheck_of(actor=request.user, account=account, order=body)
        problems = [{"code": p.code, "message": str(p.message)} for p in check.problems]
        return Response(
            OrderCheckOutput(
                {"ok": check.ok, "problems": problems, "value": check.value, "fee": check.fee, "total": check.total}
            ).data
        )


class OrderDetailApi(APIView):
    throttle_scope = "trading"  # its writes count as trading messages (core.api.throttles)

    def _get(self, request, order_id) -> Order:
        order = selectors.orders_visible(request.user).filter(pk=order_id).first()
        if order is None:
            raise err.NotFound(gettext("No such order."))
        return order

    @extend_schema(responses={200: OrderOutput, 404: ErrorSerializer})
    def get(self, request, order_id):
        return Response(OrderOutput(self._get(request, order_id)).data)

    @extend_schema(responses={200: OrderOutput, **ERRORS})
    @takes_no_body
    def delete(self, request, order_id):
        order = services.order_cancel(actor=request.user, order_id=order_id)
        return Response(OrderOutput(order).data)


# --------------------------------------------------------------------------
# Trades and the account


class TradeOutput(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    security = serializers.CharField(source="security.code")
    side = serializers.SerializerMethodField()
    price = serializers.DecimalField(max_digits=14, decimal_places=2)
    quantity = serializers.IntegerField()
    value = serializers.DecimalField(max_digits=20, decimal_places=2)
    buyer = serializers.CharField(source="buyer.code")
    seller = serializers.CharField(source="seller.code")
    buyer_fee = serializers.DecimalField(
        max_digits=20,
        decimal_places=2,
        allow_null=True,
        help_text="The fee agreed when the trade matched, as its TRADE entry records it; not charged if the trade "
        "failed to settle (status failed). Null for the seller: a party reads its own fee, as its pages show it.",
    )
    seller_fee = serializers.DecimalField(
        max_digits=20, decimal_places=2, allow_null=True, help_text="As buyer_fee, for the seller."
    )
    buy_order_id = serializers.IntegerField(allow_null=True, help_text="Null for the seller (its own order only).")
    sell_order_id = serializers.IntegerField(allow_null=True, help_text="Null for the buyer (its own order only).")
    mode = serializers.ChoiceField(
        choices=Trade.Mode.choices, help_text="How the trade was agreed: market_making, negotiated or rfq."
    )
    status = serializers.SerializerMethodField()
    matched_at = serializers.DateTimeField()
    entry_id = serializers.IntegerField()
    leaf_index = serializers.IntegerField(allow_null=True, read_only=True)
    block_height = serializers.IntegerField(allow_null=True, read_only=True)

    @extend_schema_field(serializers.ChoiceField(choices=Order.Side.values))
    def get_side(self, obj) -> str:
        return selectors.trade_side_for(obj, self.context["request"].user)

    def to_representation(self, obj):
        data = super().to_representation(obj)
        # A party reads its own side's fee and order, not its counterparty's (the pages show a party its own fee
        # only); broker staff and supervisors read both. The TRADE entry a party may read to prove the trade
        # still records both: its bytes are what the leaf hash covers.
        user = self.context["request"].user
        for mine, theirs in (("buyer", "seller"), ("seller", "buyer")):
            if getattr(obj, mine).owner_id == user.pk:
                data[f"{theirs}_fee"] = None
                data["sell_order_id" if theirs == "seller" else "buy_order_id"] = None
        return data

    @extend_schema_field(serializers.ChoiceField(choices=Trade.Status.choices))
    def get_status(self, obj) -> str:
        return selectors.trade_status(obj)


# The filters of a list of trades, ``trades/`` and the counter's ``clients/{code}/trades/`` alike.
TRADE_FILTER_PARAMETERS = [
    OpenApiParameter("security", str, required=False, description="a security's code (one that exists; else a 400)"),
    OpenApiParameter(
        "status",
        str,
        enum=Trade.Status.values,
        required=False,
        description="as each trade's status reads: sealed is a matched trade whose entry is in a block",
    ),
]


def trades_filtered(request, qs: QuerySet[Trade]) -> QuerySet[Trade]:
    """``qs`` narrowed by the request's ``security`` and ``status``: a code no security has, or a status that is
    none of a trade's, is a 400 naming it (an unknown filter value answered every trade, as if it had matched)."""
    if code := request.query_params.get("security"):
        if not Security.objects.filter(code=code).exists():
            raise serializers.ValidationError({"security": [gettext("No such security.")]})
        qs = qs.filter(security__code=code)
    if status_filter := choice_param(request, "status", Trade.Status.values):
        qs = selectors.trades_of_status(qs, status_filter)
    return qs


class TradeListApi(APIView):
    """The trades the user may see, newest first. A filter's bad value is a 400 naming it (found by an outside
    tester: ?security= and ?status= were not read, and answered every trade as if they had matched); a query
    parameter this list does not take is ignored, as on the API's other lists."""

    pagination_class = Pagination

    @extend_schema(
        parameters=[*TRADE_FILTER_PARAMETERS, ACCOUNT_FILTER_PARAMETER, *period_parameters("matched_at")],
        responses=TradeOutput(many=True),
    )
    def get(self, request):
        qs = selectors.trades_in_period(selectors.trades_visible(request.user), *period_param(request))
        if account := account_param(request):
            qs = selectors.trades_of_account(qs, account)
        return paginated(request, self, trades_filtered(request, qs), TradeOutput)


class CashOutput(serializers.Serializer):
    currency = serializers.ChoiceField(choices=[CURRENCY])
    total = serializers.DecimalField(max_digits=20, decimal_places=2)
    available = serializers.DecimalField(max_digits=20, decimal_places=2)
    reserved = serializers.DecimalField(max_digits=20, decimal_places=2)
    frozen = serializers.DecimalField(max_digits=20, decimal_places=2)


class PositionOutput(serializers.Serializer):
    security = serializers.CharField()
    name = serializers.CharField()
    total = serializers.IntegerField()
    available = serializers.IntegerField()
    reserved = serializers.IntegerField()
    frozen = serializers.IntegerField()
    locked = serializers.IntegerField()
    locked_until = serializers.DateField(allow_null=True, help_text="when the earliest running lock-up ends")


class AccountOutput(serializers.Serializer):
    account = serializers.CharField()
    cash = CashOutput()
    positions = PositionOutput(many=True)


class AccountApi(APIView):
    @extend_schema(responses={200: AccountOutput, 403: ErrorSerializer})
    def get(self, request):
        account = _require_account(request.user)
        return Response(AccountOutput(selectors.account_balances(account)).data)


class TradeProofApi(APIView):
    """The inclusion proof of one of the user's trades, as a file for the offline verifier."""

    @extend_schema(
        parameters=[
            OpenApiParameter("download", bool, required=False, description="as an attachment"),
            whole_parameter("tree_size", 0, BIGINT_MAX, "prove against this checkpoint (default: the newest)"),
        ],
        responses={200: ledger_api.InclusionOutput, **ledger_api.PROOF_ERRORS},
    )
    def get(self, request, trade_id):
        tree_size = ledger_api.size_param(request, "tree_size")
        trade = selectors.trades_visible(request.user).filter(pk=trade_id).first()
        if trade is None:
            raise err.NotFound(gettext("No such trade."))
        leaf = ledger_selectors.leaf_of_entry(trade.entry_id)
        if leaf is None:
            raise ledger_api.NotSealed()
        leaf.entry = trade.entry
        block = ledger_api.checkpoint_block(tree_size)
        bundle = ledger_api.inclusion_bundle(leaf, block, with_bytes=True)
        response = Response(bundle)
        if request.query_params.get("download"):
            response["Content-Disposition"] = f'attachment; filename="trade-{trade.pk}-proof.json"'
        return response
