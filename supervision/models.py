"""Judicial freezes, forced transfers and corrections.

Each is proposed by one person and approved by a different person with a role
allowed to approve (maker-checker); PostgreSQL itself refuses a row approved by
its proposer. The approval applies the effect and writes its ledger entry
(FREEZE, FORCED_TRANSFER, CORRECTION) in one transaction; release and expiry
write UNFREEZE. Every step is an audit record.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from core.idempotency import KEY_MAX_LENGTH
from core.models import MONEY, Account, User
from exchange.models import Trade
from registry.models import Security

# An API client's own key for a proposal (a freeze, a forced transfer): a retry with it returns the first proposal,
# not a second one (``core.idempotency``); one proposer's keys are unique, blank when none is given.


def _request_once(prefix: str) -> models.UniqueConstraint:
    return models.UniqueConstraint(
        fields=["proposed_by", "client_request_id"], condition=~Q(client_request_id=""), name=f"{prefix}_request_once"
    )


def _maker_checker(prefix: str) -> list[models.BaseConstraint]:
    return [
        # The database refuses a proposal decided (approved or rejected) by its proposer.
        models.CheckConstraint(
            condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("proposed_by")),
            name=f"{prefix}_decided_by_another",
        ),
        models.CheckConstraint(
            condition=Q(decided_by__isnull=True, decided_at__isnull=True)
            | Q(decided_by__isnull=False, decided_at__isnull=False),
            name=f"{prefix}_decision_has_who_and_when",
        ),
    ]


class Proposal(models.Model):
    """What every maker-checker action has: who proposed it, who decided, when and why."""

    proposed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField()
    reason = models.CharField(max_length=500)
    decided_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.CharField(max_length=500, blank=True)
    entry = models.BigIntegerField(null=True, blank=True, help_text="id of the ledger entry of the approved action")

    class Meta:
        abstract = True


class Freeze(Proposal):
    """A judicial freeze of a cash amount, a share quantity of one security, or a whole account.

    ``held`` is what the freeze holds now (in CNY or shares): set at approval to what was free of what
    was asked (a freeze of more than is available freezes what is free and says so: ``shortfall``),
    lowered by forced transfers and corrections that consume it, zero once released or expired. A freeze of
    shares that held less than it was ordered to (``unmet``: shares under lock-up are out of its reach) takes
    them as their lock-up ends (emptied by a transfer meanwhile, it is not used up while it waits for them; released
    or expired, it waits for nothing); a whole-account freeze takes every share a lock-up of the account releases.
    A whole-account freeze sets ``Account.frozen`` (no orders, quotes, withdrawals or transfers out) and
    holds every available asset of the account at approval (``parts``).
    A trading restriction (``trading``) holds nothing: it sets ``Account.trading_restricted`` (no orders, quotes,
    requests for quote or negotiated trades), and the account's cash and shares stay its own.
    """

    class Kind(models.TextChoices):
        CASH = "cash", _("Cash")
        SHARES = "shares", _("Shares")
        ACCOUNT = "account", _("Whole account")
        TRADING = "trading", _("Trading restriction")

    class Status(models.TextChoices):
        PROPOSED = "proposed", _("Proposed")
        ACTIVE = "active", _("Active")
        RELEASED = "released", _("Released")
        EXPIRED = "expired", _("Expired")
        CONSUMED = "consumed", _("Consumed")
        REJECTED = "rejected", _("Rejected")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    kind = models.CharField(max_length=8, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PROPOSED)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="freezes")
    security = models.ForeignKey(Security, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    amount = models.DecimalField(**MONEY, null=True, blank=True)
    quantity = models.BigIntegerField(null=True, blank=True)
    held_amount = models.DecimalField(**MONEY, default=0)
    held_quantity = models.BigIntegerField(default=0)
    # A freeze of shares: what it was ordered to hold and has not yet held (shares under lock-up at approval are
    # out of its reach); it takes them as their lock-up ends (``balances.services.lockups_release``).
    unmet_quantity = models.BigIntegerField(default=0)
    # A whole-account freeze: what it held of each asset at approval, {"CNY": "…", "<code>": n}.
    parts = models.JSONField(default=dict, blank=True)
    # The legal order: its reference as given (court or authority, document number, date), and its parts.
    legal_reference = models.CharField(max_length=300)
    legal_authority = models.CharField(max_length=200, blank=True)
    legal_document = models.CharField(max_length=100, blank=True)
    legal_date = models.DateField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=500, blank=True)
    end_entry = models.BigIntegerField(null=True, blank=True)
    client_request_id = models.CharField(max_length=KEY_MAX_LENGTH, blank=True, default="")

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["expires_at"], condition=Q(status="active"), name="freeze_active_expiry")]
        constraints = [
            *_maker_checker("freeze"),
            _request_once("freeze"),
            models.CheckConstraint(
                condition=(Q(kind="cash", amount__gt=0, quantity__isnull=True, security__isnull=True))
                | Q(kind="shares", quantity__gt=0, amount__isnull=True, security__isnull=False)
                | Q(kind__in=["account", "trading"], amount__isnull=True, quantity__isnull=True, security__isnull=True),
                name="freeze_kind_matches_its_asset",
            ),
            models.CheckConstraint(condition=Q(held_amount__gte=0, held_quantity__gte=0), name="freeze_held_nonneg"),
            models.CheckConstraint(
                condition=Q(unmet_quantity=0)
                | Q(kind="shares", unmet_quantity__gt=0, unmet_quantity__lte=F("quantity")),
                name="freeze_unmet_of_its_shares",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["proposed", "rejected", "withdrawn"]) | Q(decided_by__isnull=False),
                name="freeze_active_was_approved",
            ),
            # DESIGN §6: a freeze is made on a legal order; the database refuses one without its reference.
            models.CheckConstraint(condition=~Q(legal_reference__regex=r"^\s*$"), name="freeze_has_legal_order"),
        ]


class ForcedTransfer(Proposal):
    """Frozen shares or cash moved by court order from the account of ``freeze`` to ``receiver`` (free there)."""

    class Status(models.TextChoices):
        PROPOSED = "proposed", _("Proposed")
        EXECUTED = "executed", _("Executed")
        REJECTED = "rejected", _("Rejected")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PROPOSED)
    freeze = models.ForeignKey(Freeze, on_delete=models.PROTECT, related_name="transfers")
    receiver = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    security = models.ForeignKey(Security, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    amount = models.DecimalField(**MONEY, null=True, blank=True)
    quantity = models.BigIntegerField(null=True, blank=True)
    # The legal order: its reference as given (court or authority, document number, date), and its parts.
    legal_reference = models.CharField(max_length=300)
    legal_authority = models.CharField(max_length=200, blank=True)
    legal_document = models.CharField(max_length=100, blank=True)
    legal_date = models.DateField(null=True, blank=True)
    client_request_id = models.CharField(max_length=KEY_MAX_LENGTH, blank=True, default="")

    class Meta:
        ordering = ["-id"]
        constraints = [
            *_maker_checker("forced_transfer"),
            _request_once("forced_transfer"),
            models.CheckConstraint(
                condition=Q(amount__gt=0, quantity__isnull=True, security__isnull=True)
                | Q(quantity__gt=0, amount__isnull=True, security__isnull=False),
                name="forced_transfer_cash_or_shares",
            ),
            models.CheckConstraint(
                condition=~Q(legal_reference__regex=r"^\s*$"), name="forced_transfer_has_legal_order"
            ),
        ]


class Correction(Proposal):
    """A settled trade corrected by a compensating CORRECTION entry: reversed (quantity 0), or re-priced or
    re-sized; both legs and the fees move by the difference."""

    class Status(models.TextChoices):
        PROPOSED = "proposed", _("Proposed")
        EXECUTED = "executed", _("Executed")
        REJECTED = "rejected", _("Rejected")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PROPOSED)
    trade = models.ForeignKey(Trade, on_delete=models.PROTECT, related_name="corrections")
    new_price = models.DecimalField(max_digits=14, decimal_places=2)
    new_quantity = models.BigIntegerField()
    # What the approval moved, per account: {"cash": {code: "±amount"}, "shares": {code: ±n}}.
    legs = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            *_maker_checker("correction"),
            models.CheckConstraint(condition=Q(new_price__gt=0, new_quantity__gte=0), name="correction_terms_valid"),
            # One executed correction at a time per trade: a later one corrects the corrected terms.
            models.UniqueConstraint(
                fields=["trade"], condition=Q(status="proposed"), name="correction_one_open_per_trade"
            ),
        ]
