"""KYC profiles, identity documents and identity reveals.

Personal data (real name, ID number, phone, address) is stored encrypted
(``core.crypto``) with a masked copy for display; the ID number also has a blind
index, the *identity* that the holder cap counts once however many accounts it
has, and the name blind indexes of its words, by which staff find it.

An ID document's bytes are in the database too (``KycDocument.content_enc``), encrypted with the same key ring
and bound to their document (``kyc.services.document_context``): every web host serves every document, and no
scan the exchange accepts lies in the clear on a disk, even while its upload is read (``FILE_UPLOAD_MAX_MEMORY_SIZE``
keeps it in memory; only a file past the limit, refused, may be staged in the temporary folder for its request).
The column is left out of every query unless asked for (``DocumentManager``):
a list of documents loads no scans.

Maker-checker is a database rule: an approved profile's reviewer is not the
person who entered it, last edited it, or submitted it for approval (the
maker, always a staff member of the investor's broker).
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Length, Substr
from django.db.models.lookups import Exact, GreaterThanOrEqual
from django.utils.translation import gettext_lazy as _

from core import crypto
from core.models import Broker, User


class KycProfile(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SUBMITTED = "submitted", _("Submitted")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        EXPIRED = "expired", _("Expired")

    class IdType(models.TextChoices):
        RESIDENT_ID = "resident_id", _("PRC resident identity card")
        PASSPORT = "passport", _("Passport")
        HK_MACAO_PERMIT = "hk_macao_permit", _("Mainland travel permit for HK/Macao residents")

    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="kyc")
    broker = models.ForeignKey(Broker, on_delete=models.PROTECT, related_name="kyc_profiles")
    state = models.CharField(max_length=16, choices=State.choices, default=State.DRAFT)
    real_name_enc = models.BinaryField()
    real_name_masked = models.CharField(max_length=4)
    name_index = ArrayField(
        models.CharField(max_length=64), default=list, help_text="Blind indexes of the words of the name"
    )
    id_type = models.CharField(max_length=20, choices=IdType.choices)
    id_number_enc = models.BinaryField()
    id_number_masked = models.CharField(max_length=40)
    identity = models.CharField(max_length=64, db_index=True, help_text="Blind index of the ID number")
    phone_enc = models.BinaryField()
    phone_masked = models.CharField(max_length=20)
    address_enc = models.BinaryField()
    address_masked = models.CharField(max_length=20)
    risk_answers = models.JSONField(default=dict)
    risk_score = models.PositiveSmallIntegerField(null=True, blank=True)
    risk_level = models.PositiveSmallIntegerField(null=True, blank=True, help_text="C1 … C5")
    assessed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    qualified_investor = models.BooleanField(default=False)
    qualified_evidence = models.TextField(blank=True)
    entered_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    last_edited_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    # Who entered, edited or submitted the application since it was last approved (user ids, the investor's too):
    # none of them may decide it (maker-checker). ``last_edited_by`` names only the last of them: a staff member
    # who edited the identity before another's later edit could approve their own change.
    makers = ArrayField(models.BigIntegerField(), default=list, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True, help_text="The investor sent an online application")
    submitted_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    submitted_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [GinIndex(fields=["name_index"], name="kyc_name_index_gin")]
        constraints = [
            models.CheckConstraint(
                condition=Q(risk_level__isnull=True) | Q(risk_level__gte=1, risk_level__lte=5), name="kyc_level_c1_c5"
            ),
            models.CheckConstraint(
                condition=~Q(state="approved")
                | (
                    Q(reviewed_by__isnull=False, risk_level__isnull=False, expires_at__isnull=False)
                    & ~Q(reviewed_by=F("entered_by"))
                    & ~Q(reviewed_by=F("last_edited_by"))
                    & ~Q(reviewed_by=F("submitted_by"))
                    & ~Q(makers__contains=[F("reviewed_by")])
                ),
                name="kyc_approved_by_a_second_person",
            ),
            models.CheckConstraint(
                condition=~Q(state="rejected") | ~Q(rejection_reason=""), name="kyc_rejection_has_reason"
            ),
            # DESIGN.md §7: the name's plain copy is its mask (the name itself is in real_name_enc only).
            models.CheckConstraint(condition=Q(real_name_masked__regex=r"^.\*{1,3}$"), name="kyc_name_masked"),
        ]

    @property
    def real_name(self) -> str:
        """The real name in full, decrypted: for the investor, their broker's staff, and a recorded reveal."""
        return crypto.ring().decrypt(self.real_name_enc)


class DocumentManager(models.Manager):
    """Documents without their encrypted bytes (up to ``KYC_DOCUMENT_MAX_BYTES`` each): only opening one reads
    them (``kyc.services.kyc_document_open``)."""

    def get_queryset(self):
        return super().get_queryset().defer("content_enc")


class KycDocument(models.Model):
    class Kind(models.TextChoices):
        ID_FRONT = "id_front", _("ID document, front")
        ID_BACK = "id_back", _("ID document, back")
        QUALIFICATION = "qualification", _("Qualified-investor evidence")

    profile = models.ForeignKey(KycProfile, on_delete=models.PROTECT, related_name="documents")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # The document's own name, random: the file's name in KYC_DOCUMENT_DIR before kyc 0006, now part of what
    # its encrypted bytes are bound to.
    stored_name = models.CharField(max_length=100, unique=True)
    original_name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=50)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)
    # The file, encrypted (``core.crypto.KeyRing.encrypt_bytes``): key id in its header, bound to this document.
    content_enc = models.BinaryField()

    objects = DocumentManager()

    class Meta:
        constraints = [
            # Never a file in the clear: the bytes carry the file header of crypto.encrypt_bytes, a key id, a
            # nonce and a tag at least (a PNG or a PDF put here by any path is refused).
            models.CheckConstraint(
                condition=Q(
                    Exact(Substr("content_enc", 1, 2), Value(b"d1", output_field=models.BinaryField())),
                    GreaterThanOrEqual(Length("content_enc"), 38),
                ),
                name="kyc_document_encrypted",
            ),
        ]


class IdentityReveal(models.Model):
    """A regulator saw an account's real identity, for a recorded reason. Append-only."""

    profile = models.ForeignKey(KycProfile, on_delete=models.PROTECT, related_name="reveals")
    regulator = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    at = models.DateTimeField(auto_now_add=True)
