"""KYC writes: onboarding, assessment, documents, maker-checker review, expiry, identity reveal.

Every step writes an audit event in its transaction. Personal data is
encrypted before it reaches the database (``core.crypto``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import logging
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy, ngettext

from balances.services import account_open
from core import crypto, documents
from core import errors as err
from core.audit import audit_record
from core.models import Account, Broker, Role, User
from core.names import mask_name
from ledger.services import entry_write
from registry import profile as venue_profile

from . import entries, hooks, questionnaire
from .idcard import validate_resident_id
from .models import IdentityReveal, KycDocument, KycProfile

log = logging.getLogger(__name__)

EDITABLE = (KycProfile.State.DRAFT, KycProfile.State.REJECTED, KycProfile.State.EXPIRED)


class KycStateError(err.DomainError):
    code = "kyc_wrong_state"
    status = 409
    default_message = gettext_lazy("The application is not in a state that allows this.")


class MakerChecker(err.DomainError):
    code = "maker_checker"
    status = 403
    default_message = gettext_lazy(
        "A second staff member must approve: you entered, edited or submitted this application."
    )


@dataclass(frozen=True)
class Identity:
    real_name: str
    id_type: str
    id_number: str
    phone: str
    address: str

    @classmethod
    def of(cls, data: Mapping[str, str]) -> Identity:
        """The identity fields of validated form or serializer data."""
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


# Explicit ASCII classes: ``str.isdigit``/``isalnum`` and ``\d`` also accept Arabic-Indic and other digits.
_DOCUMENT_NUMBER = re.compile(r"[A-Z0-9]{5,30}")
# International (E.164: a country code never starts with 0) or national, 7 to 15 digits.
_PHONE = re.compile(r"\+[1-9][0-9]{6,14}|[0-9]{7,15}")
_PHONE_SEPARATORS = re.compile(r"[-().]")
# A residential address, as written (spaces at its ends aside): "上海" names no home.
ADDRESS_LENGTH = (5, 300)
# A name as on the ID document (spaces at its ends aside).
NAME_LENGTH = (2, 100)


def _invalid(errors: dict[str, str]) -> err.InvalidInput:
    exc = err.InvalidInput(next(iter(errors.values())))
    exc.fields = errors
    return exc


def _validate_identity(identity: Identity) -> Identity:
    """The identity as it is stored, or InvalidInput naming every bad field.

    The ID number and the phone number are normalized (``crypto.normalize_identifier``:
    NFKC, no whitespace, upper-case) before any check, so that what is checked is
    exactly what is encrypted and blind-indexed, and one number has one index
    however it was typed. What is not plain ASCII after that is refused.
    """
    errors = {}
    name = identity.real_name.strip()
    if not NAME_LENGTH[0] <= len(name) <= NAME_LENGTH[1]:
        errors["real_name"] = gettext("Enter the name as on the ID document.")
    if identity.id_type not in KycProfile.IdType.values:
        errors["id_type"] = gettext("Choose an ID type.")
    number = crypto.normalize_identifier(identity.id_number)
    if not number.isascii():
        errors["id_number"] = gettext("Write the ID number with the digits 0-9 and the letters A-Z only.")
    elif identity.id_type == KycProfile.IdType.RESIDENT_ID:
        problem = validate_resident_id(number)
        if problem:
            errors["id_number"] = gettext(problem)
    elif not _DOCUMENT_NUMBER.fullmatch(number):
        errors["id_number"] = gettext("Enter the document number (5 to 30 letters and digits).")
    # As people write it: "+86 138-0013-8000", "(010) 6512.3456": the separators go, the digits stay.
    phone = _PHONE_SEPARATORS.sub("", crypto.normalize_identifier(identity.phone))
    if phone.startswith("00"):  # the international call prefix, as in "0086 138…": kept as its +
        phone = "+" + phone[2:]
    if not phone.isascii():
        errors["phone"] = gettext("Write the phone number with the digits 0-9 only (and + in front).")
    elif not _PHONE.fullmatch(phone):
        errors["phone"] = gettext("Enter a phone number of 7 to 15 digits.")
    address = identity.address.strip()
    shortest, longest = ADDRESS_LENGTH
    if not address:
        errors["address"] = gettext("Enter the residential address.")
    elif len(address) < shortest:
        # Say what is wrong with it (found by a tester: "上海" was told to enter the address).
        errors["address"] = ngettext(
            "The residential address needs at least %(n)s character.",
            "The residential address needs at least %(n)s characters.",
            shortest,
        ) % {"n": shortest}
    elif len(address) > longest:
        errors["address"] = ngettext(
            "The residential address may have at most %(n)s character.",
            "The residential address may have at most %(n)s characters.",
            longest,
        ) % {"n": longest}
    if errors:
        raise _invalid(errors)
    return Identity(name, identity.id_type, number, phone, address)


def _store_identity(profile: KycProfile, identity: Identity) -> None:
    """Encrypt and index an identity that ``_validate_identity`` returned (so already normalized)."""
    ring = crypto.ring()
    profile.real_name_enc = ring.encrypt(identity.real_name)
    profile.real_name_masked = mask_name(identity.real_name)
    profile.name_index = ring.name_index(identity.real_name)
    profile.id_type = identity.id_type
    profile.id_number_enc = ring.encrypt(identity.id_number)
    profile.id_number_masked = crypto.mask_id_number(identity.id_number)
    profile.identity = ring.index(identity.id_number)
    profile.phone_enc = ring.encrypt(identity.phone)
    profile.phone_masked = crypto.mask_phone(identity.phone)
    profile.address_enc = ring.encrypt(identity.address)
    profile.address_masked = crypto.mask_address(identity.address)


def _staff_of(actor: User, broker_id: int) -> bool:
    return actor.role == Role.BROKER_STAFF and actor.broker_id == broker_id


def _may_edit(actor: User, profile: KycProfile) -> bool:
    return actor.pk == profile.user_id or _staff_of(actor, profile.broker_id)


def _made_by(profile: KycProfile, actor: User) -> None:
    """``actor`` entered, edited or submitted ``profile``: one of its makers, who may not decide it. A
    re-assessment of an approved profile starts a new application, whose makers are counted afresh (so does the
    expiry of one: ``kyc_expire_due``)."""
    if profile.state == KycProfile.State.APPROVED:
        profile.makers = [actor.pk]
    elif actor.pk not in profile.makers:
        profile.makers = [*profile.makers, actor.pk]


def is_maker(staff: User, profile: KycProfile) -> bool:
    return staff.pk in profile.makers or staff.pk in (
        profile.entered_by_id,
        profile.last_edited_by_id,
        profile.submitted_by_id,
    )


def _new_user_errors(*, username: str, password: str | None, real_name: str) -> dict[str, str]:
    """What is wrong with a new investor's user name and password, by field (empty when nothing)."""
    errors = {}
    if not username or len(username) > 150:
        errors["username"] = gettext("Choose a user name.")
    else:
        try:
            User.username_validator(username)
        except ValidationError:
            errors["username"] = gettext("Use only letters, digits and @ . + - _ in the user name.")
        else:
            if User.objects.filter(username__iexact=username).exists():
                errors["username"] = gettext("That user name is taken.")
    if password:
        try:
            validate_password(password, User(username=username, first_name=real_name[:150]))
        except ValidationError as exc:
            errors["password"] = " ".join(exc.messages)
    return errors


def _new_investor(*, username: str, password: str | None, broker: Broker, real_name: str) -> User:
    user = User(username=username, role=Role.INVESTOR, broker=broker, first_name=mask_name(real_name))
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:  # the same name registered at the same moment
        raise _invalid({"username": gettext("That user name is taken.")}) from exc
    account_open(kind=Account.Kind.INVESTOR, name=real_name, owner=user, broker=broker)
    return user


@transaction.atomic
def kyc_register(
    *,
    username: str,
    password: str | None,
    broker: Broker,
    identity: Identity,
    entered_by: User | None = None,
    ip: str | None = None,
) -> KycProfile:
    """Open an investor with a draft KYC profile: online (entered_by None) or at a broker's counter."""
    if entered_by is not None and not _staff_of(entered_by, broker.pk):
        raise err.PermissionDenied(gettext("Only staff of this broker open its accounts."))
    errors: dict[str, str] = {}
    try:
        identity = _validate_identity(identity)
    except err.InvalidInput as exc:
        errors.update(exc.fields)
    errors.update(_new_user_errors(username=username, password=password, real_name=identity.real_name))
    if errors:
        raise _invalid(errors)
    user = _new_investor(username=username, password=password, broker=broker, real_name=identity.real_name)
    maker = entered_by or user
    profile = KycProfile(user=user, broker=broker, entered_by=maker, last_edited_by=maker, makers=[maker.pk])
    _store_identity(profile, identity)
    profile.save()
    audit_record(
        actor=maker,
        action="kyc_register" if entered_by is None else "kyc_open_at_counter",
        target=user.username,
        ip=ip,
        detail={"broker": broker.code},
    )
    return profile


def _locked(profile_id: int) -> KycProfile:
    profile = KycProfile.objects.select_for_update().filter(pk=profile_id).first()
    if profile is None:
        raise err.NotFound(gettext("No such application."))
    return profile


@transaction.atomic
def kyc_update_identity(*, actor: User, profile_id: int, identity: Identity, ip: str | None = None) -> KycProfile:
    profile = _locked(profile_id)
    if not _may_edit(actor, profile):
        raise err.NotFound(gettext("No such application."))
    if profile.state not in EDITABLE:
        raise KycStateError()
    stored = _validate_identity(identity)
    _store_identity(profile, stored)
    if profile.state == KycProfile.State.EXPIRED:
        # An expired profile stays on file under its number: a new name or number must not make one number two
        # people (found by a review; drafts and rejected applications are checked when they are sent).
        _one_name_per_identity(profile)
    _made_by(profile, actor)
    profile.last_edited_by = actor
    profile.save()
    # The name is copied onto the user (masked) and the account (masked, and encrypted in full: what the
    # counter and statements show): kept in step.
    User.objects.filter(pk=profile.user_id).update(first_name=profile.real_name_masked)
    Account.objects.filter(owner_id=profile.user_id, kind=Account.Kind.INVESTOR).update(
        name=profile.real_name_masked, holder_name_enc=crypto.ring().encrypt(stored.real_name)
    )
    audit_record(actor=actor, action="kyc_update", target=profile.user.username, ip=ip)
    return profile


@transaction.atomic
def kyc_assess(*, actor: User, profile_id: int, answers: dict[str, str], ip: str | None = None) -> KycProfile:
    """Score the risk questionnaire; the assessment holds for KYC_ASSESSMENT_DAYS."""
    profile = _locked(profile_id)
    if not _may_edit(actor, profile):
        raise err.NotFound(gettext("No such application."))
    if profile.state not in EDITABLE and profile.state != KycProfile.State.APPROVED:
        raise KycStateError()
    try:
        total, level = questionnaire.score(answers)
    except questionnaire.InvalidAnswers as exc:
        raise err.InvalidInput(str(exc)) from exc
    now = timezone.now()
    profile.risk_answers, profile.risk_score, profile.risk_level = answers, total, level
    profile.assessed_at, profile.expires_at = now, now + dt.timedelta(days=settings.KYC_ASSESSMENT_DAYS)
    _made_by(profile, actor)
    profile.last_edited_by = actor
    if profile.state == KycProfile.State.APPROVED:
        # A re-assessment of an approved investor goes back through review.
        profile.state = KycProfile.State.DRAFT
        profile.reviewed_by = None
    profile.save()
    audit_record(actor=actor, action="kyc_assess", target=profile.user.username, ip=ip, detail={"level": f"C{level}"})
    return profile


@transaction.atomic
def kyc_qualify(*, actor: User, profile_id: int, qualified: bool, evidence: str, ip: str | None = None) -> KycProfile:
    profile = _locked(profile_id)
    if not _may_edit(actor, profile):
        raise err.NotFound(gettext("No such application."))
    # An approved investor who is not qualified may attest, as one may take the questionnaire again: the
    # application then goes back through review (found by a walk-through: an approved investor refused as not
    # qualified had no way to attest, the form being shown only before approval).
    attesting_anew = profile.state == KycProfile.State.APPROVED and qualified and not profile.qualified_investor
    if profile.state not in EDITABLE and not attesting_anew:
        raise KycStateError()
    if qualified and len(evidence.strip()) < 5:
        # Named on the evidence field, where the page ties it to the box (found by a walk-through: it stood above
        # the form, tied to nothing a screen reader would read with the field).
        raise _invalid({"evidence": gettext("Describe the evidence of qualified-investor status.")})
    profile.qualified_investor, profile.qualified_evidence = qualified, evidence.strip() if qualified else ""
    _made_by(profile, actor)
    profile.last_edited_by = actor
    if attesting_anew:
        profile.state = KycProfile.State.DRAFT
        profile.reviewed_by = None
    detail = {"qualified": qualified}
    if not qualified and awaiting_review(profile) and venue_profile.current().individuals_qualified_only:
        # Withdrawn from the broker's queue, which it was sent to attested: under rules that admit qualified
        # individuals only, an online application is not with the broker without the attestation (found by a
        # review: attested, sent, then un-attested while it waited, it was approved unattested).
        profile.applied_at = None
        detail["withdrawn"] = True
    profile.save()
    audit_record(actor=actor, action="kyc_qualify", target=profile.user.username, ip=ip, detail=detail)
    return profile


def sent_since_review(applied_at, reviewed_at) -> bool:
    """Whether an online application waits in the broker's queue: the investor sent it (or sent it again) and no
    staff member has reviewed it since (``selectors.awaiting_staff_q`` asks the database the same)."""
    return applied_at is not None and (reviewed_at is None or applied_at > reviewed_at)


def awaiting_review(profile: KycProfile) -> bool:
    return sent_since_review(profile.applied_at, profile.reviewed_at)


ALLOWED_DOCUMENTS = documents.SIGNATURES


def _sniff(head: bytes) -> str | None:
    return documents.sniff(head)


def document_type(data: bytes) -> str | None:
    """The content type of an uploaded document that is a whole JPEG, PNG or PDF; None otherwise."""
    content_type = documents.sniff(data[:16])
    if content_type is None:
        return None
    return content_type if documents.whole(io.BytesIO(data), content_type) else None


@transaction.atomic
def kyc_document_add(*, actor: User, profile_id: int, kind: str, upload, ip: str | None = None) -> KycDocument:
    """Store an ID document (JPEG, PNG or PDF, checked by content, at most KYC_DOCUMENT_MAX_BYTES) in the database,
    encrypted (``core.crypto``), with its SHA-256."""
    profile = _locked(profile_id)
    if not _may_edit(actor, profile):
        raise err.NotFound(gettext("No such application."))
    if profile.state not in EDITABLE:
        raise KycStateError()
    if kind not in KycDocument.Kind.values:
        raise err.InvalidInput(gettext("Choose the kind of document."))
    if upload.size > settings.KYC_DOCUMENT_MAX_BYTES:
        raise err.InvalidInput(
            gettext("The file is larger than %(mb)s MB.") % {"mb": settings.KYC_DOCUMENT_MAX_BYTES // (1024 * 1024)}
        )
    data = b"".join(upload.chunks())
    if not data or _sniff(data[:16]) is None:
        raise err.InvalidInput(gettext("Upload a JPEG, PNG or PDF file."))
    # Its first bytes are not enough (found by a tester: PNG's signature followed by random bytes was stored).
    content_type = document_type(data)
    if content_type is None:
        raise err.InvalidInput(
            gettext("The file is not a readable JPEG, PNG or PDF: it is damaged or cut short. Upload it again.")
        )
    stored = uuid.uuid4().hex
    sha256 = hashlib.sha256(data).hexdigest()
    # The bytes go in the row itself, encrypted: the row and its file are one write, on no host's disk.
    document = KycDocument.objects.create(
        profile=profile,
        kind=kind,
        stored_name=stored,
        # Named for what it is (a PDF sent as "id.html" is saved as "id.html.pdf"), at most 200 characters.
        original_name=documents.filename_typed(str(upload.name), content_type, limit=200),
        content_type=content_type,
        size=len(data),
        sha256=sha256,
        uploaded_by=actor,
        content_enc=crypto.ring().encrypt_bytes(
            data, context=document_context(stored_name=stored, profile_id=profile.pk, sha256=sha256)
        ),
    )
    _made_by(profile, actor)
    profile.last_edited_by = actor
    profile.save(update_fields=["last_edited_by", "makers", "updated_at"])
    audit_record(actor=actor, action="kyc_document_add", target=profile.user.username, ip=ip, detail={"kind": kind})
    return document


def document_context(*, stored_name: str, profile_id: int, sha256: str) -> bytes:
    """What a document's encrypted bytes are bound to (AES-GCM associated data): its own name, its profile and
    its SHA-256. Bytes copied to another document's row, or a row moved to another profile, do not decrypt.
    (Migration kyc 0006 holds a frozen copy: change both, and re-encrypt, or neither.)"""
    return f"kyc_document\x00{stored_name}\x00{profile_id}\x00{sha256}".encode()


DocumentUnreadable = err.error_class(
    "DocumentUnreadable",
    "document_unreadable",
    gettext_lazy(
        "This document cannot be shown: its stored copy failed its integrity check. It must be uploaded again."
    ),
    409,
)


def document_content(document: KycDocument) -> bytes:
    """A document's bytes, decrypted and checked against its SHA-256 and size. ``DocumentUnreadable`` (logged as an
    error, nothing returned) when they do not decrypt (altered, copied from another row, a key missing from the
    ring) or do not match: a damaged scan is never served as if it were the investor's."""
    blob = KycDocument.objects.filter(pk=document.pk).values_list("content_enc", flat=True).first()
    return _decrypted(document, blob)


def _decrypted(document: KycDocument, blob: bytes | None) -> bytes:
    context = document_context(stored_name=document.stored_name, profile_id=document.profile_id, sha256=document.sha256)
    try:
        if blob is None:
            raise crypto.DecryptionFailed("no stored bytes")
        data = crypto.ring().decrypt_bytes(blob, context=context)
    except crypto.DecryptionFailed as exc:
        log.error("kyc document %s refused: it does not decrypt (%s)", document.pk, exc)
        raise DocumentUnreadable() from exc
    if len(data) != document.size or not hmac.compare_digest(hashlib.sha256(data).hexdigest(), document.sha256):
        log.error("kyc document %s refused: its bytes do not match its SHA-256 and size", document.pk)
        raise DocumentUnreadable()
    return data


RevealRequired = err.error_class(
    "RevealRequired",
    "reveal_required",
    gettext_lazy(
        "An ID document shows the investor's full identity: reveal the identity first, with its legal reason "
        "(Identity reveal), then open the document within the hour."
    ),
    403,
)


def kyc_document_open(*, actor: User, document_id: int, ip: str | None = None) -> tuple[KycDocument, bytes]:
    """An ID document and its bytes (decrypted and checked, ``document_content``), for the investor it belongs to,
    staff of their broker, or a regulator who revealed that investor's identity (``identity_reveal``: a reason, on
    the ledger) within ``KYC_REVEAL_DOCUMENT_SECONDS``: a scan shows the full identity, which otherwise comes only
    through a reveal.

    Anyone else gets ``NotFound``, as if it did not exist; a regulator without a recent reveal,
    ``RevealRequired``; a document whose stored bytes fail their check, ``DocumentUnreadable`` (once the reader
    may open it: no one else learns it exists), recorded in the audit trail with outcome ``failed`` whoever read
    it. Someone other than the investor opening it is recorded in the audit trail (with the reveal it rests on):
    it is personal data.
    """
    document = KycDocument.objects.select_related("profile__user").filter(pk=document_id).first()
    if document is None:
        raise err.NotFound(gettext("No such document."))
    profile = document.profile
    own_or_broker = actor.pk == profile.user_id or _staff_of(actor, profile.broker_id)
    if not (own_or_broker or actor.role == Role.REGULATOR):
        raise err.NotFound(gettext("No such document."))
    reveal = None
    if not own_or_broker:
        since = timezone.now() - dt.timedelta(seconds=settings.KYC_REVEAL_DOCUMENT_SECONDS)
        reveal = IdentityReveal.objects.filter(profile=profile, regulator=actor, at__gte=since).order_by("-at").first()
        if reveal is None:
            raise RevealRequired()
    detail = {"document": document.pk, "kind": document.kind}
    if reveal is not None:
        detail["reveal"] = reveal.pk
    try:
        data = document_content(document)
    except DocumentUnreadable as exc:
        # Stored personal data that fails its check is an event for the trail, whoever tried to read it (the
        # investor included): the auditor learns when and by whom it was found (nothing was served).
        audit_record(
            actor=actor,
            action="kyc_document_view",
            target=profile.user.username,
            outcome="failed",
            ip=ip,
            detail={**detail, "code": exc.code},
        )
        raise
    if actor.pk != profile.user_id:
        audit_record(actor=actor, action="kyc_document_view", target=profile.user.username, ip=ip, detail=detail)
    return document, data


IdentityNameMismatch = err.error_class(
    "IdentityNameMismatch",
    "identity_name_mismatch",
    gettext_lazy(
        "This ID number is already on file under another name. One ID number belongs to one person: check the "
        "name and the number against the ID document."
    ),
    409,
)


def _complete(profile: KycProfile) -> None:
    if profile.risk_level is None:
        raise err.InvalidInput(gettext("Fill in the risk questionnaire first."))
    if not profile.documents.filter(kind=KycDocument.Kind.ID_FRONT).exists():
        raise err.InvalidInput(gettext("Upload the front of the ID document first."))
    _one_name_per_identity(profile)


def _qualification_attested(profile: KycProfile) -> None:
    """Under a venue whose rules admit qualified individuals only (cn-regional-2017), the investor's own online
    application needs the attestation: without it, it would be approved into an account that may buy nothing
    (found by a walk-through: the page called the attestation optional, and every request for quote was then
    refused). Staff opening an account at the counter are told on the application page instead."""
    venue = venue_profile.current()
    if venue.individuals_qualified_only and not profile.qualified_investor:
        raise err.InvalidInput(
            gettext(
                "Attest qualified-investor status first: under the venue's rules (%(profile)s) only qualified "
                "investors may trade."
            )
            % {"profile": venue.name}
        )


# pg_advisory_xact_lock class key of an ID number's applications ("KYCI"); the number's blind index is the other.
IDENTITY_LOCK = 0x4B594349


def _one_name_per_identity(profile: KycProfile) -> None:
    """An ID number on file under another name (a profile submitted, approved or expired, at any broker) refuses
    the application: the holder cap counts a person by the number, so one number must be one person. Names with
    no word in common differ (by their blind indexes: "张伟" and "张伟 Zhang Wei" are one name written two ways).
    The other profile is not named: it may be another broker's client. Called inside the transaction that puts
    the profile on file, whose lock on the number it holds until commit."""
    # One applicant per ID number at a time, to the end of the transaction: two applications under different
    # names submitted at once would each find the other not yet on file.
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [IDENTITY_LOCK, profile.identity])
    words = set(profile.name_index)
    others = (
        KycProfile.objects.filter(identity=profile.identity)
        .exclude(pk=profile.pk)
        .exclude(state__in=[KycProfile.State.DRAFT, KycProfile.State.REJECTED])
        .values_list("name_index", flat=True)
    )
    if any(not words & set(other) for other in others):
        raise IdentityNameMismatch()


@transaction.atomic
def kyc_apply(*, actor: User, profile_id: int, ip: str | None = None) -> KycProfile:
    """The investor sends a complete online application to the broker's queue. Idempotent while it waits there."""
    profile = _locked(profile_id)
    if actor.pk != profile.user_id:
        raise err.NotFound(gettext("No such application."))
    if profile.state not in EDITABLE:
        raise KycStateError()
    if awaiting_review(profile):
        # Already with the broker, who reads it as it stands, corrections included: sending it again changes
        # nothing (and keeps its place in the queue).
        return profile
    _complete(profile)
    _qualification_attested(profile)
    profile.applied_at = timezone.now()
    profile.save(update_fields=["applied_at", "updated_at"])
    audit_record(actor=actor, action="kyc_apply", target=profile.user.username, ip=ip)
    return profile


@transaction.atomic
def kyc_submit(*, staff: User, profile_id: int, ip: str | None = None) -> KycProfile:
    """A staff member (the maker) checks a complete application and submits it for approval."""
    profile = _locked(profile_id)
    if not _staff_of(staff, profile.broker_id):
        raise err.NotFound(gettext("No such application."))
    if profile.state not in EDITABLE:
        raise KycStateError()
    _complete(profile)
    _made_by(profile, staff)
    profile.state = KycProfile.State.SUBMITTED
    profile.submitted_by, profile.submitted_at = staff, timezone.now()
    profile.rejection_reason = ""
    profile.save()
    audit_record(actor=staff, action="kyc_submit", target=profile.user.username, ip=ip)
    return profile


def application_audit_name(profile_id) -> str | None:
    """How the audit trail names the KYC application ``profile_id``: its investor's user name, as every record of
    it done does (so a refused approval or reveal is found beside them); None if there is no such application."""
    if not isinstance(profile_id, int):
        return None
    return KycProfile.objects.filter(pk=profile_id).values_list("user__username", flat=True).first()


def kyc_approve(*, staff: User, profile_id: int, ip: str | None = None) -> KycProfile:
    """A second staff member (the checker) approves. The database refuses the maker as checker too."""

    def approve(profile: KycProfile) -> None:
        _one_name_per_identity(profile)  # another application may have been approved since this one's submission
        profile.state = KycProfile.State.APPROVED

    return _kyc_decide(staff=staff, profile_id=profile_id, ip=ip, action="kyc_approve", decide=approve)


def kyc_reject(*, staff: User, profile_id: int, reason: str, ip: str | None = None) -> KycProfile:
    """A second staff member (the checker) rejects, with the reason the investor will see. The maker may not
    decide either way: approving and rejecting are both the checker's (maker-checker, DESIGN §7)."""

    def reject(profile: KycProfile) -> None:
        if not reason.strip():
            raise err.InvalidInput(gettext("Give the reason the investor will see."))
        profile.state, profile.rejection_reason = KycProfile.State.REJECTED, reason.strip()

    return _kyc_decide(
        staff=staff,
        profile_id=profile_id,
        ip=ip,
        action="kyc_reject",
        decide=reject,
        maker_refusal=gettext(
            "A second staff member must reject it: you entered, edited or submitted this application."
        ),
        reason=reason,
    )


def _kyc_decide(
    *,
    staff: User,
    profile_id: int,
    ip: str | None,
    action: str,
    decide: Callable[[KycProfile], None],
    maker_refusal: str | None = None,
    reason: str | None = None,
) -> KycProfile:
    """The checker's decision on a submitted application of its broker: ``decide`` checks what is its own and sets
    the state; then who reviewed and when, the audit record ``action`` (with the rejection's ``reason`` as typed),
    and the investor told (``hooks.kyc_decided``). A maker deciding (``maker_refusal``, else the generic message)
    is refused, and the refusal recorded after its transaction rolled back."""
    try:
        with transaction.atomic():
            profile = _locked(profile_id)
            if not _staff_of(staff, profile.broker_id):
                raise err.NotFound(gettext("No such application."))
            if profile.state != KycProfile.State.SUBMITTED:
                raise KycStateError()
            if is_maker(staff, profile):
                raise MakerChecker(maker_refusal)
            decide(profile)
            profile.reviewed_by, profile.reviewed_at = staff, timezone.now()
            profile.save()
            audit_record(
                actor=staff,
                action=action,
                target=profile.user.username,
                ip=ip,
                detail=None if reason is None else {"reason": reason},
            )
            hooks.kyc_decided.fire(
                profile_id=profile.pk,
                state=profile.state,
                reason="" if reason is None else profile.rejection_reason,
                at=profile.reviewed_at.isoformat(),
            )
            return profile
    except MakerChecker:
        target = application_audit_name(profile_id) or f"kyc {profile_id}"
        audit_record(actor=staff, action=action, outcome="refused", target=target, ip=ip)
        raise


def kyc_expire_due(*, now: dt.datetime | None = None) -> int:
    """Mark approved profiles whose assessment ran out as expired (a periodic task)."""
    now = now or timezone.now()
    with transaction.atomic():
        due = list(KycProfile.objects.select_for_update().filter(state=KycProfile.State.APPROVED, expires_at__lte=now))
        for profile in due:
            profile.state, profile.makers = KycProfile.State.EXPIRED, []  # its next edit starts a new application
            profile.save(update_fields=["state", "makers", "updated_at"])
            audit_record(actor=None, username="system", action="kyc_expire", target=profile.user.username)
        return len(due)


@transaction.atomic
def identity_reveal(*, regulator: User, profile_id: int, reason: str, ip: str | None = None) -> dict:
    """Show the full identity behind an account: regulators only, with a reason, always recorded."""
    if regulator.role != Role.REGULATOR:
        raise err.PermissionDenied(gettext("Only the regulator may reveal an identity."))
    if len(reason.strip()) < 5:
        raise err.InvalidInput(
            gettext("Give the legal reason for the reveal in at least 5 characters: the court order or case number.")
        )
    profile = KycProfile.objects.select_related("user", "user__account").filter(pk=profile_id).first()
    if profile is None:
        raise err.NotFound(gettext("No such investor."))
    reason = reason.strip()
    reveal = IdentityReveal.objects.create(profile=profile, regulator=regulator, reason=reason)
    # The ledger holds the evidence too (replicas copy it): who, which account, why; no personal data.
    account = profile.user.account.code
    entry = entry_write(
        entries.IdentityReveal(revealed_by=regulator.username, account=account, reason=reason, at=reveal.at),
        recorded_at=reveal.at,
    )
    audit_record(
        actor=regulator,
        action="identity_reveal",
        target=profile.user.username,
        ip=ip,
        detail={"reason": reason, "account": account, "entry": entry.pk},
    )
    return {**_identity_shown(profile), "reveal": reveal.pk}


def _identity_shown(profile: KycProfile) -> dict:
    ring = crypto.ring()
    return {
        "account": profile.user.account.code,
        "real_name": profile.real_name,
        "id_type": profile.id_type,
        "id_number": ring.decrypt(profile.id_number_enc),
        "phone": ring.decrypt(profile.phone_enc),
        "address": ring.decrypt(profile.address_enc),
    }


def identity_reveal_again(*, regulator: User, reveal_id: int) -> tuple[IdentityReveal, dict]:
    """A reveal this regulator made, shown again (its page reloaded, its language switched) while its documents
    are open (``KYC_REVEAL_DOCUMENT_SECONDS``): the identity it recorded, and no new record. Another's reveal, or
    an older one, is ``NotFound``: a new reveal, with its reason, is the way to see the identity again."""
    since = timezone.now() - dt.timedelta(seconds=settings.KYC_REVEAL_DOCUMENT_SECONDS)
    reveal = (
        IdentityReveal.objects.select_related("profile__user__account", "profile__broker")
        .filter(pk=reveal_id, regulator=regulator, at__gte=since)
        .first()
    )
    if reveal is None or regulator.role != Role.REGULATOR:
        raise err.NotFound(gettext("No such reveal of yours in the last hour: reveal the identity again."))
    return reveal, _identity_shown(reveal.profile)


@dataclass(frozen=True)
class Reencrypted:
    profiles: int  # KYC profiles rewritten
    accounts: int  # investor accounts whose holder's name was rewritten
    documents: int  # ID documents whose bytes were rewritten
    unreadable: tuple[int, ...] = ()  # ID documents left as they were: their bytes fail their check


def kyc_reencrypt() -> Reencrypted:
    """Rewrite every encrypted value with the primary key (after ``crypto.rotate``): the KYC profiles' and the
    investor accounts' copies of their holders' names, then the ID documents' bytes. Running it again rewrites
    nothing.

    The profiles and accounts are one transaction; each document is its own (a document is up to
    ``KYC_DOCUMENT_MAX_BYTES``: thousands of them in one transaction would hold gigabytes and every lock
    at once). A run cut short leaves each document under its old key or its new one, both readable while the
    old key is in the ring; running it again finishes the rest. A document whose bytes fail their check
    (``document_content``, logged) is left as it is and listed in ``unreadable``: it must be dealt with, not
    carried to the new key.
    """
    ring = crypto.ring()
    fields = ("real_name_enc", "id_number_enc", "phone_enc", "address_enc")
    profiles = accounts = documents = 0
    with transaction.atomic():
        # In the global order (by pk, STYLE.md), and the accounts' rows only as an update of a column that is no
        # key locks them: an order's or a trade's insert, which takes a key share on its account, does not wait.
        for profile in KycProfile.objects.select_for_update(no_key=True).order_by("pk").iterator():
            if all(ring.key_of(getattr(profile, f)) == ring.primary for f in fields):
                continue
            for field in fields:
                setattr(profile, field, ring.encrypt(ring.decrypt(getattr(profile, field))))
            profile.save(update_fields=list(fields))
            profiles += 1
        accounts_named = Account.objects.filter(holder_name_enc__isnull=False).order_by("pk")
        for account in accounts_named.select_for_update(no_key=True).iterator():
            if ring.key_of(account.holder_name_enc) == ring.primary:
                continue
            account.holder_name_enc = ring.encrypt(ring.decrypt(account.holder_name_enc))
            account.save(update_fields=["holder_name_enc"])
            accounts += 1
    # The key id is bytes 3 to 10 of the ciphertext: read in SQL, so documents already rewritten are not loaded.
    stale = (
        KycDocument.objects.annotate(key_id=RawSQL("encode(substring(content_enc from 3 for 8), 'escape')", ()))
        .exclude(key_id=ring.primary)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    unreadable = []
    for document_id in list(stale):
        with transaction.atomic():
            document = KycDocument.objects.select_for_update().filter(pk=document_id).first()
            if document is None:
                continue
            blob = KycDocument.objects.filter(pk=document_id).values_list("content_enc", flat=True).get()
            if ring.key_of(blob) == ring.primary:
                continue
            try:
                data = _decrypted(document, blob)
            except DocumentUnreadable:
                unreadable.append(document_id)
                continue
            context = document_context(
                stored_name=document.stored_name, profile_id=document.profile_id, sha256=document.sha256
            )
            KycDocument.objects.filter(pk=document_id).update(content_enc=ring.encrypt_bytes(data, context=context))
            documents += 1
    return Reencrypted(profiles=profiles, accounts=accounts, documents=documents, unreadable=tuple(unreadable))


@dataclass(frozen=True)
class NormalizeResult:
    rewritten: list[int]  # profiles whose ID number or phone was stored in another form, now normalized
    refused: list[int]  # profiles whose stored identity is not valid even normalized: for staff to review


def kyc_identifiers_normalize() -> NormalizeResult:
    """Bring identities stored before normalization to their one form (``crypto.normalize_identifier``).

    A profile registered with fullwidth digits had its own blind index, so its holder could count twice
    toward a holder cap. Each profile's ID number and phone are decrypted, normalized and validated as a
    new registration would be; a changed one is re-encrypted, re-masked and re-indexed, with an audit
    event. One that is still invalid (Arabic-Indic digits, say) is left as it is and listed for review.
    Running it again changes nothing.
    """
    ring = crypto.ring()
    rewritten, refused = [], []
    with transaction.atomic():
        for profile in KycProfile.objects.select_for_update().order_by("pk").iterator():
            stored = Identity(
                real_name=profile.real_name,
                id_type=profile.id_type,
                id_number=ring.decrypt(profile.id_number_enc),
                phone=ring.decrypt(profile.phone_enc),
                address=ring.decrypt(profile.address_enc),
            )
            try:
                normal = _validate_identity(stored)
            except err.InvalidInput:
                refused.append(profile.pk)
                continue
            if (normal.id_number, normal.phone) == (stored.id_number, stored.phone) and profile.identity == ring.index(
                normal.id_number
            ):
                continue
            _store_identity(profile, normal)
            profile.save(
                update_fields=[
                    "id_number_enc",
                    "id_number_masked",
                    "identity",
                    "phone_enc",
                    "phone_masked",
                    "address_enc",
                    "address_masked",
                    "real_name_enc",
                    "real_name_masked",
                    "name_index",
                    "id_type",
                ]
            )
            audit_record(
                actor=None, action="kyc_normalize", target=f"kyc {profile.pk}", detail={"user": profile.user_id}
            )
            rewritten.append(profile.pk)
    return NormalizeResult(rewritten=rewritten, refused=refused)
