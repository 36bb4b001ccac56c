"""Supervision API: freezes, forced transfers and corrections, each proposed, then approved or rejected by a
second person (or withdrawn by its proposer); freezes are also released."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core import errors as err
from core.api.fields import DecimalString, IdempotencyKey, Moment, StrictInput, StrictInteger, require_no_body
from core.api.pagination import BIGINT_MAX, Pagination, whole_param, whole_parameter
from core.api.schema import ERRORS, LIST_ERRORS, choice_param, paginated
from core.audit import client_ip
from core.crypto import mask_reference
from core.models import Account, Role, User
from exchange import selectors as exchange_selectors
from exchange.api.views import ACCOUNT_FILTER_PARAMETER, CashOutput, PositionOutput, account_param
from exchange.models import Order
from kyc import questionnaire
from kyc.models import KycProfile

from . import selectors, services
from .models import Correction, ForcedTransfer, Freeze

SUPERVISORY_READERS = {Role.REGULATOR, Role.AUDITOR}


class FreezeOutput(serializers.ModelSerializer):
    account = serializers.CharField(source="account.code")
    security = serializers.CharField(source="security.code", allow_null=True, default=None)
    proposed_by = serializers.CharField(
        source="proposed_by.username", allow_null=True, help_text="null in the holder's own view"
    )
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True, default=None)
    whole_account = serializers.SerializerMethodField()
    shortfall = serializers.SerializerMethodField()

    class Meta:
        model = Freeze
        fields = [
            "id", "status", "kind", "account", "security", "amount", "quantity", "whole_account", "held_amount",
            "held_quantity", "unmet_quantity", "parts", "shortfall", "legal_reference", "legal_authority",
            "legal_document", "legal_date", "reason", "expires_at", "proposed_by", "proposed_at", "decided_by",
            "decided_at", "decision_reason", "entry", "ended_at", "end_reason", "end_entry",
        ]  # fmt: skip
        extra_kwargs = {
            "unmet_quantity": {
                "help_text": "A freeze of shares: how many of those it was ordered to hold it does not hold yet, "
                "being under lock-up; it takes them as the lock-up ends (0 otherwise)"
            }
        }

    def get_whole_account(self, obj) -> bool:
        return obj.kind == Freeze.Kind.ACCOUNT

    def get_shortfall(self, obj) -> str:
        return getattr(obj, "shortfall", "")

    def to_representation(self, obj):
        data = super().to_representation(obj)
        viewer = self.context.get("viewer")
        if viewer is not None and viewer.role in ACCOUNT_HOLDERS:
            # The account holder sees that a legal order froze assets, and its reference masked as their
            # notification shows it, not the court or the document number.
            data["legal_reference"] = mask_reference(data["legal_reference"])
            for key in ("legal_authority", "legal_document"):
                data[key] = "***" if data[key] else ""
            data["proposed_by"] = data["decided_by"] = None
        return data


@extend_schema_serializer(component_name="FreezeRequest")
class FreezeInput(StrictInput, serializers.Serializer):
    account = serializers.CharField(max_length=32)
    security = serializers.CharField(max_length=16, required=False, allow_null=True, default=None)
    quantity = StrictInteger(required=False, allow_null=True, default=None)
    amount = DecimalString(required=False, allow_null=True, default=None, max_digits=20)
    whole_account = serializers.BooleanField(required=False, default=False)
    trading = serializers.BooleanField(
        required=False,
        default=False,
        help_text="A trading restriction (kind trading): once approved the account may not place orders, publish "
        "quotes, ask or answer requests for quote or propose or confirm negotiated trades, and its open ones are "
        "closed; nothing of its own is frozen (deposits, withdrawals and settlement go on). Give no amount, "
        "security, quantity or whole_account with it.",
    )
    legal_reference = serializers.CharField(
        max_length=300,
        required=False,
        allow_blank=True,
        default="",
        help_text="The legal order's reference. Required unless legal_authority, legal_document or legal_date "
        "make it up.",
    )
    legal_authority = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    legal_document = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    legal_date = serializers.DateField(required=False, allow_null=True, default=None)
    reason = serializers.CharField(max_length=500)
    expires_at = Moment(required=False, allow_null=True, default=None)
    client_request_id = IdempotencyKey(
        required=False,
        help_text="Your own key for this proposal: a retry with it answers the proposal made first (200, not 201) "
        "instead of a second one, whatever became of it since; the key used for another proposal is a 409 "
        "client_request_id_reused.",
    )


@extend_schema_serializer(component_name="SupervisionDecisionReason")
class ReasonInput(StrictInput, serializers.Serializer):
    reason = serializers.CharField(max_length=500)


NOT_IN_FORCE = ("proposed", "rejected", "withdrawn")
# The roles that hold an account of their own: each sees its own account's freezes, the legal reference masked
# (found by a probe: a frozen market maker was never told, and its freezes page was a 403).
ACCOUNT_HOLDERS = frozenset({Role.INVESTOR, Role.MARKET_MAKER})


def _freezes_for(user: User) -> QuerySet[Freeze]:
    qs = Freeze.objects.select_related("account", "security", "proposed_by", "decided_by", "ended_by")
    if user.role in SUPERVISORY_READERS:
        return qs
    # A freeze that has not taken effect (proposed, then rejected or withdrawn) is the supervisors' alone: a
    # broker who saw it proposed could warn the client, who could move the assets before it is approved.
    if user.role == Role.BROKER_STAFF and user.broker_id:
        return qs.filter(account__broker_id=user.broker_id).exclude(status__in=NOT_IN_FORCE)
    if user.role in ACCOUNT_HOLDERS:
        return qs.filter(account__owner=user).exclude(status__in=NOT_IN_FORCE)
    raise err.PermissionDenied()


class FreezeListApi(APIView):
    """Freezes: regulators and auditors see all; broker staff their clients'; an investor or a market maker the
    active and past freezes of their own account (legal reference masked). Regulators propose one."""

    pagination_class = Pagination

    @extend_schema(
        parameters=[
            ACCOUNT_FILTER_PARAMETER,
            OpenApiParameter("status", str, enum=Freeze.Status.values, required=False),
        ],
        responses={200: FreezeOutput(many=True), **LIST_ERRORS},
    )
    def get(self, request):
        qs = _freezes_for(request.user)
        if account := account_param(request):
            qs = qs.filter(account=account)
        if status := choice_param(request, "status", Freeze.Status.values):
            qs = qs.filter(status=status)
        return paginated(request, self, qs.order_by("-id"), FreezeOutput, {"viewer": request.user})

    @extend_schema(request=FreezeInput, responses={201: FreezeOutput, 200: FreezeOutput, **ERRORS})
    def post(self, request):
        if request.user.role != Role.REGULATOR:
            raise err.PermissionDenied()
        data = FreezeInput(data=request.data)
        data.is_valid(raise_exception=True)
        freeze, made = services.freeze_propose_once(actor=request.user, ip=client_ip(request), **data.validated_data)
        return Response(FreezeOutput(freeze).data, status=201 if made else 200)


def _freeze_action(action: str):
    class FreezeActionApi(APIView):
        @extend_schema(
            request=ReasonInput if action != "approve" else None,
            responses={200: FreezeOutput, **ERRORS},
            operation_id=f"freezes_{action}",
        )
        def post(self, request, pk: int):
            ip = client_ip(request)
            if action == "approve":
                require_no_body(request)
                freeze = services.freeze_approve(actor=request.user, freeze_id=pk, ip=ip)
            else:
                data = ReasonInput(data=request.data)
                data.is_valid(raise_exception=True)
                fn = {
                    "reject": services.freeze_reject,
                    "withdraw": services.freeze_withdraw,
                    "release": services.freeze_release,
                }[action]
                freeze = fn(actor=request.user, freeze_id=pk, reason=data.validated_data["reason"], ip=ip)
            return Response(FreezeOutput(freeze).data)

    FreezeActionApi.__name__ = f"Freeze{action.title()}Api"
    return FreezeActionApi


class ForcedTransferOutput(serializers.ModelSerializer):
    sender = serializers.CharField(source="freeze.account.code")
    receiver = serializers.CharField(source="receiver.code")
    security = serializers.CharField(source="security.code", allow_null=True, default=None)
    proposed_by = serializers.CharField(source="proposed_by.username")
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True, default=None)

    class Meta:
        model = ForcedTransfer
        fields = [
            "id", "status", "freeze", "sender", "receiver", "security", "amount", "quantity", "legal_reference",
            "reason", "proposed_by", "proposed_at", "decided_by", "decided_at", "decision_reason", "entry",
        ]  # fmt: skip


@extend_schema_serializer(component_name="ForcedTransferRequest")
class ForcedTransferInput(StrictInput, serializers.Serializer):
    freeze = serializers.IntegerField(min_value=1)
    receiver = serializers.CharField(max_length=32)
    security = serializers.CharField(max_length=16, required=False, allow_null=True, default=None)
    quantity = StrictInteger(required=False, allow_null=True, default=None)
    amount = DecimalString(required=False, allow_null=True, default=None, max_digits=20)
    legal_reference = serializers.CharField(max_length=300)
    reason = serializers.CharField(max_length=500)
    client_request_id = IdempotencyKey(
        required=False,
        help_text="Your own key for this proposal: a retry with it answers the proposal made first (200, not 201) "
        "instead of a second one, whatever became of it since; the key used for another proposal is a 409 "
        "client_request_id_reused.",
    )


class ForcedTransferListApi(APIView):
    pagination_class = Pagination

    @extend_schema(responses={200: ForcedTransferOutput(many=True), **LIST_ERRORS})
    def get(self, request):
        if request.user.role not in SUPERVISORY_READERS:
            raise err.PermissionDenied()
        qs = ForcedTransfer.objects.select_related("freeze__account", "receiver", "security", "proposed_by")
        return paginated(request, self, qs.order_by("-id"), ForcedTransferOutput)

    @extend_schema(
        request=ForcedTransferInput, responses={201: ForcedTransferOutput, 200: ForcedTransferOutput, **ERRORS}
    )
    def post(self, request):
        if request.user.role != Role.REGULATOR:
            raise err.PermissionDenied()
        data = ForcedTransferInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = dict(data.validated_data)
        transfer, made = services.forced_transfer_propose_once(
            actor=request.user, freeze_id=v.pop("freeze"), ip=client_ip(request), **v
        )
        return Response(ForcedTransferOutput(transfer).data, status=201 if made else 200)


class CorrectionOutput(serializers.ModelSerializer):
    trade = serializers.IntegerField(source="trade_id")
    proposed_by = serializers.CharField(source="proposed_by.username")
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True, default=None)

    class Meta:
        model = Correction
        fields = [
            "id", "status", "trade", "new_price", "new_quantity", "legs", "reason", "proposed_by", "proposed_at",
            "decided_by", "decided_at", "decision_reason", "entry",
        ]  # fmt: skip


@extend_schema_serializer(component_name="CorrectionRequest")
class CorrectionInput(StrictInput, serializers.Serializer):
    trade = serializers.IntegerField(min_value=1)
    new_price = DecimalString(required=False, help_text="Required but for a reversal (new_quantity 0)")
    new_quantity = serializers.IntegerField(min_value=0, max_value=10**12)
    reason = serializers.CharField(max_length=500)


CORRECTION_READERS = {Role.REGULATOR, Role.AUDITOR, Role.DEPOSITORY_OPERATOR, Role.EXCHANGE_OPERATOR}


class CorrectionListApi(APIView):
    pagination_class = Pagination

    @extend_schema(
        parameters=[whole_parameter("trade", 1, BIGINT_MAX, "the corrected trade's id")],
        responses={200: CorrectionOutput(many=True), **LIST_ERRORS},
    )
    def get(self, request):
        if request.user.role not in CORRECTION_READERS:
            raise err.PermissionDenied()
        qs = Correction.objects.select_related("proposed_by", "decided_by")
        if (trade := whole_param(request, "trade", 1, BIGINT_MAX)) is not None:
            qs = qs.filter(trade_id=trade)
        return paginated(request, self, qs.order_by("-id"), CorrectionOutput)

    @extend_schema(request=CorrectionInput, responses={201: CorrectionOutput, **ERRORS})
    def post(self, request):
        if request.user.role not in services.CORRECTION_PROPOSERS:
            raise err.PermissionDenied()
        data = CorrectionInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        correction = services.correction_propose(
            actor=request.user,
            trade_id=v["trade"],
            new_price=v.get("new_price"),
            new_quantity=v["new_quantity"],
            reason=v["reason"],
            ip=client_ip(request),
        )
        return Response(CorrectionOutput(correction).data, status=201)


def _decision(kind: str, action: str):
    output = {"forced_transfers": ForcedTransferOutput, "corrections": CorrectionOutput}[kind]
    fns = {
        ("forced_transfers", "approve"): lambda u, pk, ip, r: services.forced_transfer_approve(
            actor=u, transfer_id=pk, ip=ip
        ),
        ("forced_transfers", "reject"): lambda u, pk, ip, r: services.forced_transfer_reject(
            actor=u, transfer_id=pk, reason=r, ip=ip
        ),
        ("forced_transfers", "withdraw"): lambda u, pk, ip, r: services.forced_transfer_withdraw(
            actor=u, transfer_id=pk, reason=r, ip=ip
        ),
        ("corrections", "approve"): lambda u, pk, ip, r: services.correction_approve(actor=u, correction_id=pk, ip=ip),
        ("corrections", "reject"): lambda u, pk, ip, r: services.correction_reject(
            actor=u, correction_id=pk, reason=r, ip=ip
        ),
        ("corrections", "withdraw"): lambda u, pk, ip, r: services.correction_withdraw(
            actor=u, correction_id=pk, reason=r, ip=ip
        ),
    }

    class DecisionApi(APIView):
        @extend_schema(
            request=ReasonInput if action != "approve" else None,
            responses={200: output, **ERRORS},
            operation_id=f"{kind}_{action}",
        )
        def post(self, request, pk: int):
            reason = ""
            if action == "approve":
                require_no_body(request)
            else:
                data = ReasonInput(data=request.data)
                data.is_valid(raise_exception=True)
                reason = data.validated_data["reason"]
            row = fns[(kind, action)](request.user, pk, client_ip(request), reason)
            return Response(output(row).data)

    DecisionApi.__name__ = f"{kind.title().replace('_', '')}{action.title()}Api"
    return DecisionApi


class SupervisedKycOutput(serializers.Serializer):
    state = serializers.ChoiceField(choices=KycProfile.State.choices)
    risk_level = serializers.SerializerMethodField(help_text="C1 (most cautious) to C5; null before assessment")
    qualified_investor = serializers.BooleanField()
    expires_at = serializers.DateTimeField(allow_null=True, help_text="when the assessment must be renewed")

    @extend_schema_field(serializers.ChoiceField(choices=questionnaire.LEVEL_NAMES, allow_null=True))
    def get_risk_level(self, obj) -> str | None:
        return questionnaire.level_name(obj.risk_level)


class WaitingOutput(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=["negotiated", "rfq_answer"], help_text="a negotiated proposal the account made, or a firm answer"
    )
    number = serializers.IntegerField(help_text="the negotiated proposal's id, or the request for quote's")
    security = serializers.CharField()
    side = serializers.ChoiceField(choices=Order.Side.values, help_text="the account's side")
    price = serializers.DecimalField(max_digits=20, decimal_places=2)
    quantity = serializers.IntegerField()
    holds_cash = serializers.DecimalField(
        max_digits=20,
        decimal_places=2,
        source="cash",
        allow_null=True,
        help_text="the cash it holds reserved; null when it holds the shares (quantity)",
    )
    until = serializers.DateTimeField()


class SupervisedAccountOutput(serializers.Serializer):
    account = serializers.CharField(source="account.code")
    kind = serializers.ChoiceField(choices=Account.Kind.values, source="account.kind")
    name = serializers.CharField(help_text="an investor's masked to its first character")
    broker = serializers.CharField(source="account.broker.code", allow_null=True, default=None)
    opened_at = serializers.DateTimeField(source="account.created_at")
    frozen = serializers.BooleanField(source="account.frozen", help_text="a whole-account freeze is in force")
    trading_restricted = serializers.BooleanField(
        source="account.trading_restricted", help_text="a trading restriction (a freeze of kind trading) is in force"
    )
    part_frozen = serializers.BooleanField(help_text="a legal order holds some of its cash or shares")
    kyc = SupervisedKycOutput(
        allow_null=True, help_text="an investor's account opening, without personal data; null for a firm's account"
    )
    cash = CashOutput(source="balances.cash")
    positions = PositionOutput(many=True, source="balances.positions")
    waiting = WaitingOutput(
        many=True,
        help_text="what else holds part of its cash or shares while it waits, soonest to end first (at most "
        f"{selectors.WAITING_MAX}): its negotiated proposals, a market maker's firm answers to requests for quote",
    )


class AccountDetailApi(APIView):
    """One account as a regulator or an auditor sees it: who holds it (an investor's name masked: the identity
    itself only through a recorded reveal), its flags, its cash and shares with what is reserved, frozen and locked.
    Its freezes, orders and trades are the lists ``freezes/``, ``orders/`` and ``trades/`` with ``?account=``."""

    @extend_schema(responses={200: SupervisedAccountOutput, **ERRORS})
    def get(self, request, code: str):
        if request.user.role not in SUPERVISORY_READERS:
            raise err.PermissionDenied()
        account = exchange_selectors.account_visible(request.user, code)
        if account is None:
            raise err.NotFound(gettext("No such account."))
        overview = selectors.account_overview(account, request.user)
        overview.waiting = selectors.account_other_holdings(account, selectors.WAITING_MAX)
        return Response(SupervisedAccountOutput(overview).data)
