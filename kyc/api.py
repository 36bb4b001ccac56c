"""The KYC API under /api/v1/kyc/ (DESIGN.md §7, §8).

Investors register (no login), read and correct their own profile, answer the
questionnaire, upload documents, attest qualification and apply. Broker staff
list and act on their own broker's applications only (a profile of another
broker is "not found"). The regulator finds an investor and reveals an
identity with a reason; the answer is never cached.

Views validate input with nested serializers, call one ``kyc.services``
function and shape the output; profiles are always masked. Errors use the
shared ``{"code", "message"}`` shape; identity field errors add ``"fields"``.
"""

from __future__ import annotations

import io

from django.db.models import Prefetch
from django.http import FileResponse
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.cache import never_cache
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core import errors as err
from core import tokens
from core.api.fields import NewPassword, StrictInput, Upload, takes_no_body
from core.api.pagination import Pagination
from core.api.parsers import FormParser, MultiPartParser
from core.api.schema import ERRORS, LIST_ERRORS, ErrorSerializer, choice_param, paginated
from core.audit import client_ip
from core.models import Broker, Role
from core.permissions import require_role

from . import questionnaire, selectors, services
from .models import KycDocument, KycProfile
from .throttles import RegistrationThrottle

MAX_TEXT = 300
MAX_REASON = 2000
DOCUMENT_TYPES = sorted(set(services.ALLOWED_DOCUMENTS.values()))
# A KYC document's kinds, one enum in the schema for the upload's and the answer's.
DOCUMENT_KINDS = KycDocument.Kind.values


def _ip(request) -> str | None:
    return client_ip(request._request)


def _identity_errors_as_fields(exc: err.InvalidInput) -> serializers.ValidationError | err.InvalidInput:
    """A service's per-field identity errors in the same shape as the serializers' own field errors."""
    fields = getattr(exc, "fields", None)
    return serializers.ValidationError({k: [v] for k, v in fields.items()}) if fields else exc


# --------------------------------------------------------------------------
# Output


class PersonOutput(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.ChoiceField(choices=Role.choices)


class DocumentOutput(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    kind = serializers.ChoiceField(choices=DOCUMENT_KINDS)
    original_name = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    uploaded_by = serializers.CharField(source="uploaded_by.username")
    uploaded_at = serializers.DateTimeField()
    url = serializers.SerializerMethodField()

    def get_url(self, obj) -> str:
        return reverse("api-kyc-document", args=[obj.pk])


class RiskOutput(serializers.Serializer):
    level = serializers.ChoiceField(choices=questionnaire.LEVEL_NAMES, allow_null=True)
    score = serializers.IntegerField(allow_null=True)
    answers = serializers.DictField(child=serializers.CharField())
    assessed_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)


class ProfileOutput(serializers.Serializer):
    """A KYC profile, masked. ``real_name`` is masked too for the regulator until a reveal."""

    id = serializers.IntegerField(source="pk")
    username = serializers.CharField(source="user.username")
    account = serializers.SerializerMethodField()
    broker = serializers.CharField(source="broker.code")
    state = serializers.ChoiceField(choices=KycProfile.State.choices)
    real_name = serializers.SerializerMethodField()
    id_type = serializers.ChoiceField(choices=KycProfile.IdType.values)
    id_number = serializers.CharField(source="id_number_masked")
    phone = serializers.CharField(source="phone_masked")
    address = serializers.CharField(source="address_masked")
    risk = serializers.SerializerMethodField()
    qualified_investor = serializers.BooleanField()
    qualified_evidence = serializers.CharField()
    rejection_reason = serializers.CharField()
    applied_at = serializers.DateTimeField(allow_null=True)
    entered_by = PersonOutput()
    last_edited_by = PersonOutput()
    submitted_by = PersonOutput(allow_null=True)
    submitted_at = serializers.DateTimeField(allow_null=True)
    reviewed_by = PersonOutput(allow_null=True)
    reviewed_at = serializers.DateTimeField(allow_null=True)
    documents = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_account(self, obj) -> str | None:
        account = getattr(obj.user, "account", None)
        return account.code if account else None

    def get_real_name(self, obj) -> str:
        request = self.context.get("request")
        viewer = self.context.get("viewer") or (request.user if request is not None else None)
        return obj.real_name_masked if viewer and viewer.role == Role.REGULATOR else obj.real_name

    @extend_schema_field(RiskOutput)
    def get_risk(self, obj) -> dict:
        return RiskOutput(
            {
                "level": questionnaire.level_name(obj.risk_level),
                "score": obj.risk_score,
                "answers": obj.risk_answers or {},
                "assessed_at": obj.assessed_at,
                "expires_at": obj.expires_at,
            }
        ).data

    @extend_schema_field(DocumentOutput(many=True))
    def get_documents(self, obj) -> list:
        # A list prefetches every profile's documents in one query (``DOCUMENTS``); a single profile reads its own.
        docs = obj.documents.all() if "documents" in getattr(obj, "_prefetched_objects_cache", {}) else None
        if docs is None:
            docs = DOCUMENTS.queryset.filter(profile=obj)
        return DocumentOutput(docs, many=True).data


# The documents a profile's output lists, with their uploaders, in upload order (never their bytes: the default
# manager defers them). A list of profiles prefetches them (found by a probe: a query per profile).
DOCUMENTS = Prefetch(
    "documents", queryset=KycDocument.objects.select_related("uploaded_by").order_by("uploaded_at", "pk")
)


def _out(profile: KycProfile, request) -> dict:
    fresh = selectors.profiles_visible(request.user).filter(pk=profile.pk).first() or profile
    return ProfileOutput(fresh, context={"viewer": request.user}).data


# The identity's name and address are judged by the service (``kyc.services._validate_identity``: trimmed, then
# within NAME_LENGTH and ADDRESS_LENGTH, with messages of its own that the pages share); these fields only say
# so in the schema, which stated no minimum (found by an outside integrator: "上海" passed a generated client's
# checks and came back a 400).
@extend_schema_field({"type": "string", "minLength": services.NAME_LENGTH[0], "maxLength": services.NAME_LENGTH[1]})
class IdentityName(serializers.CharField):
    def __init__(self, **kwargs) -> None:
        super().__init__(max_length=services.NAME_LENGTH[1], **kwargs)


@extend_schema_field(
    {"type": "string", "minLength": services.ADDRESS_LENGTH[0], "maxLength": services.ADDRESS_LENGTH[1]}
)
class IdentityAddress(serializers.CharField):
    def __init__(self, **kwargs) -> None:
        super().__init__(max_length=services.ADDRESS_LENGTH[1], **kwargs)


class IdentityInput(StrictInput, serializers.Serializer):
    real_name = IdentityName()
    id_type = serializers.ChoiceField(choices=KycProfile.IdType.values)
    id_number = serializers.CharField(max_length=40)
    phone = serializers.CharField(max_length=20)
    address = IdentityAddress()

    def identity(self) -> services.Identity:
        return services.Identity.of(self.validated_data)


def _strict_dict(value) -> dict:
    if not isinstance(value, dict):
        raise serializers.ValidationError(gettext("Send an object of question key → option key."))
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise serializers.ValidationError(gettext("Question and option keys are strings."))
    return value


class AnswersInput(StrictInput, serializers.Serializer):
    answers = serializers.JSONField(validators=[_strict_dict])


class QualificationInput(StrictInput, serializers.Serializer):
    qualified = serializers.BooleanField()
    evidence = serializers.CharField(max_length=MAX_REASON, allow_blank=True, required=False, default="")


class DocumentInput(StrictInput, serializers.Serializer):
    kind = serializers.ChoiceField(choices=DOCUMENT_KINDS)
    file = Upload(allow_empty_file=False)


@extend_schema_serializer(component_name="KycReasonInput")
class ReasonInput(StrictInput, serializers.Serializer):
    reason = serializers.CharField(max_length=MAX_REASON)


# --------------------------------------------------------------------------
# Registration


class RegisterApi(APIView):
    """Open an investor online with a chosen broker; returns the profile (masked) and an API token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [RegistrationThrottle]

    @extend_schema_serializer(component_name="RegisterRequest")
    class InputSerializer(IdentityInput):
        broker = serializers.CharField(max_length=16)
        username = serializers.CharField(max_length=150)
        password = NewPassword()

    @extend_schema_serializer(component_name="RegisterResponse")
    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()
        expires_at = serializers.DateTimeField()
        profile = ProfileOutput()

    # No login is asked, and a broker or user name it cannot take is a field's 400: no 401, 403 or 404 can come.
    @extend_schema(
        request=InputSerializer,
        responses={201: OutputSerializer, 400: ErrorSerializer, 409: ErrorSerializer, 429: ErrorSerializer},
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        broker = Broker.objects.filter(code=data.validated_data["broker"]).first()
        if broker is None:
            raise serializers.ValidationError({"broker": [gettext("No such broker.")]})
        try:
            profile = services.kyc_register(
                username=data.validated_data["username"],
                password=data.validated_data["password"],
                broker=broker,
                identity=data.identity(),
                entered_by=None,
                ip=_ip(request),
            )
        except err.InvalidInput as exc:
            raise _identity_errors_as_fields(exc) from exc
        issued = tokens.token_issue(user=profile.user, ip=_ip(request))
        body = {
            "token": issued.key,
            "expires_at": tokens.token_expires_at(issued.token),
            "profile": ProfileOutput(profile, context={"viewer": profile.user}).data,
        }
        return Response(body, status=status.HTTP_201_CREATED)


# --------------------------------------------------------------------------
# The investor's own profile


def _own_profile(request) -> KycProfile:
    if request.user.role != Role.INVESTOR:
        raise err.PermissionDenied(gettext("Only investors have an account-opening profile."))
    profile = selectors.profile_of(request.user)
    if profile is None:
        raise NoProfile()
    return profile


class NoProfile(err.DomainError):
    code = "no_kyc_profile"
    status = 404
    default_message = gettext_lazy("There is no account-opening (KYC) record for this user; see your broker.")


class MeApi(APIView):
    @extend_schema(responses={200: ProfileOutput, **ERRORS})
    def get(self, request):
        return Response(_out(_own_profile(request), request))

    @extend_schema(request=IdentityInput, responses={200: ProfileOutput, **ERRORS})
    def put(self, request):
        profile = _own_profile(request)
        data = IdentityInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            services.kyc_update_identity(
                actor=request.user, profile_id=profile.pk, identity=data.identity(), ip=_ip(request)
            )
        except err.InvalidInput as exc:
            raise _identity_errors_as_fields(exc) from exc
        return Response(_out(profile, request))


class QuestionOutput(serializers.Serializer):
    key = serializers.ChoiceField(choices=questionnaire.QUESTION_KEYS)
    text = serializers.CharField()
    options = serializers.ListField(child=serializers.DictField())


def _questions() -> list[dict]:
    return [
        {
            "key": q["key"],
            "text": str(q["text"]),
            "options": [{"key": key, "text": str(text)} for key, text, _p in q["options"]],
        }
        for q in questionnaire.QUESTIONS
    ]


def _assess(request, profile: KycProfile):
    data = AnswersInput(data=request.data)
    data.is_valid(raise_exception=True)
    services.kyc_assess(
        actor=request.user, profile_id=profile.pk, answers=data.validated_data["answers"], ip=_ip(request)
    )
    return Response(_out(profile, request))


def _add_document(request, profile: KycProfile):
    data = DocumentInput(data=request.data)
    data.is_valid(raise_exception=True)
    document = services.kyc_document_add(
        actor=request.user,
        profile_id=profile.pk,
        kind=data.validated_data["kind"],
        upload=data.validated_data["file"],
        ip=_ip(request),
    )
    return Response(DocumentOutput(document).data, status=status.HTTP_201_CREATED)


def _qualify(request, profile: KycProfile):
    data = QualificationInput(data=request.data)
    data.is_valid(raise_exception=True)
    services.kyc_qualify(
        actor=request.user,
        profile_id=profile.pk,
        qualified=data.validated_data["qualified"],
        evidence=data.validated_data["evidence"],
        ip=_ip(request),
    )
    return Response(_out(profile, request))


class QuestionnaireApi(APIView):
    """The risk questionnaire: GET its questions, POST ``{"answers": {question: option}}`` for the level C1–C5."""

    @extend_schema(responses={200: QuestionOutput(many=True)})
    def get(self, request):
        return Response(_questions())

    @extend_schema(request=AnswersInput, responses={200: ProfileOutput, **ERRORS})
    def post(self, request):
        return _assess(request, _own_profile(request))


class MeDocumentsApi(APIView):
    """Upload an ID document (multipart: ``kind``, ``file``; JPEG, PNG or PDF up to 5 MB)."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request={"multipart/form-data": DocumentInput}, responses={201: DocumentOutput, **ERRORS})
    def post(self, request):
        return _add_document(request, _own_profile(request))


class MeQualificationApi(APIView):
    @extend_schema(request=QualificationInput, responses={200: ProfileOutput, **ERRORS})
    def post(self, request):
        return _qualify(request, _own_profile(request))


class MeApplyApi(APIView):
    @extend_schema(request=None, responses={200: ProfileOutput, **ERRORS})
    @takes_no_body
    def post(self, request):
        profile = _own_profile(request)
        services.kyc_apply(actor=request.user, profile_id=profile.pk, ip=_ip(request))
        return Response(_out(profile, request))


# --------------------------------------------------------------------------
# Broker staff (own broker only) and the regulator


def _require_staff(request) -> None:
    require_role(request.user, {Role.BROKER_STAFF}, gettext("Only broker staff review applications."))


def _visible_profile(request, profile_id: int) -> KycProfile:
    require_role(request.user, {Role.BROKER_STAFF, Role.REGULATOR})
    profile = selectors.profiles_visible(request.user).filter(pk=profile_id).first()
    if profile is None:
        raise err.NotFound(gettext("No such application."))
    return profile


def _staff_profile(request, profile_id: int) -> KycProfile:
    _require_staff(request)
    return _visible_profile(request, profile_id)


QUEUE_VALUES = ["1", "0", "true", "false"]


class ApplicationListApi(APIView):
    """Staff: their own broker's applications (``?queue=1`` only those awaiting them, ``?state=``, ``?q=``).

    The regulator: every investor's profile, masked, newest first; ``?q=`` finds one by exact account code or
    user name (never by name: the name is what a reveal discloses).
    """

    pagination_class = Pagination

    @extend_schema(
        parameters=[
            OpenApiParameter("queue", str, required=False, enum=QUEUE_VALUES, description="staff: awaiting them"),
            OpenApiParameter("state", str, required=False, enum=KycProfile.State.values),
            OpenApiParameter("q", str, required=False),
        ],
        responses={200: ProfileOutput(many=True), **LIST_ERRORS},
    )
    def get(self, request):
        params = request.query_params
        if request.user.role != Role.REGULATOR:
            _require_staff(request)
        state = choice_param(request, "state", KycProfile.State.values)
        queue = choice_param(request, "queue", QUEUE_VALUES) in {"1", "true"}
        if request.user.role == Role.REGULATOR:
            # Reviews are the staff's: the regulator has no queue, and filters its list by state alone.
            qs = selectors.profile_find(query=params.get("q", "")[:100])
            qs = qs.filter(state=state) if state else qs
        else:
            qs = selectors.applications_for(request.user, queue=queue, state=state, search=params.get("q", "")[:100])
        return paginated(request, self, qs.prefetch_related(DOCUMENTS), ProfileOutput)


class ApplicationDetailApi(APIView):
    @extend_schema(responses={200: ProfileOutput, **ERRORS})
    def get(self, request, profile_id: int):
        return Response(_out(_visible_profile(request, profile_id), request))


class ApplicationQuestionnaireApi(APIView):
    """Staff at the counter answer the questionnaire with the client."""

    @extend_schema(request=AnswersInput, responses={200: ProfileOutput, **ERRORS})
    def post(self, request, profile_id: int):
        return _assess(request, _staff_profile(request, profile_id))


class ApplicationDocumentsApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request={"multipart/form-data": DocumentInput}, responses={201: DocumentOutput, **ERRORS})
    def post(self, request, profile_id: int):
        return _add_document(request, _staff_profile(request, profile_id))


class ApplicationQualificationApi(APIView):
    @extend_schema(request=QualificationInput, responses={200: ProfileOutput, **ERRORS})
    def post(self, request, profile_id: int):
        return _qualify(request, _staff_profile(request, profile_id))


class ApplicationSubmitApi(APIView):
    @extend_schema(request=None, responses={200: ProfileOutput, **ERRORS})
    @takes_no_body
    def post(self, request, profile_id: int):
        profile = _staff_profile(request, profile_id)
        services.kyc_submit(staff=request.user, profile_id=profile.pk, ip=_ip(request))
        return Response(_out(profile, request))


class ApplicationApproveApi(APIView):
    """The checker approves; the maker (who entered, edited or submitted it) gets 403 ``maker_checker``."""

    @extend_schema(request=None, responses={200: ProfileOutput, **ERRORS})
    @takes_no_body
    def post(self, request, profile_id: int):
        profile = _staff_profile(request, profile_id)
        services.kyc_approve(staff=request.user, profile_id=profile.pk, ip=_ip(request))
        return Response(_out(profile, request))


class ApplicationRejectApi(APIView):
    @extend_schema(request=ReasonInput, responses={200: ProfileOutput, **ERRORS})
    def post(self, request, profile_id: int):
        profile = _staff_profile(request, profile_id)
        data = ReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.kyc_reject(
            staff=request.user, profile_id=profile.pk, reason=data.validated_data["reason"], ip=_ip(request)
        )
        return Response(_out(profile, request))


class RevealOutput(serializers.Serializer):
    account = serializers.CharField()
    real_name = serializers.CharField()
    id_type = serializers.CharField()
    id_number = serializers.CharField()
    phone = serializers.CharField()
    address = serializers.CharField()


@method_decorator(never_cache, name="dispatch")
class ApplicationRevealApi(APIView):
    """The regulator reveals the full identity behind an account, with a reason; recorded, never cached."""

    @extend_schema(request=ReasonInput, responses={200: RevealOutput, **ERRORS})
    def post(self, request, profile_id: int):
        if request.user.role != Role.REGULATOR:
            raise err.PermissionDenied(gettext("Only the regulator may reveal an identity."))
        data = ReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        shown = services.identity_reveal(
            regulator=request.user, profile_id=profile_id, reason=data.validated_data["reason"], ip=_ip(request)
        )
        return Response(RevealOutput(shown).data)


class DocumentApi(APIView):
    """The file of an ID document, for its investor, their broker's staff and a regulator who revealed the
    investor's identity within the hour (403 ``reveal_required`` before); 404 for anyone else."""

    @extend_schema(
        responses={
            # The types kyc_document_add accepts (services.ALLOWED_DOCUMENTS, sniffed from the bytes).
            **{(200, content_type): OpenApiResponse(OpenApiTypes.BINARY) for content_type in DOCUMENT_TYPES},
            403: ErrorSerializer,
            404: ErrorSerializer,
            409: ErrorSerializer,  # document_unreadable: its stored bytes fail their check, nothing is served
        }
    )
    def get(self, request, document_id: int):
        document, data = services.kyc_document_open(actor=request.user, document_id=document_id, ip=_ip(request))
        response = FileResponse(
            io.BytesIO(data), content_type=document.content_type, as_attachment=True, filename=document.original_name
        )
        response.headers["Cache-Control"] = "private, no-store"
        return response
