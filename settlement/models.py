"""Settlements of trades: gross (one per trade), net batches, and the depository's holds and refusals.

``Settlement`` is unique per trade (a trade settles exactly once); every row
points at the ledger entry written in the same transaction.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from core.models import Role, User
from registry.models import Security


class SettlementBatch(models.Model):
    """A net settlement (BIS DvP model 3): a window's trades in one security, settled together."""

    security = models.ForeignKey(Security, on_delete=models.PROTECT, related_name="+")
    entry = models.OneToOneField("ledger.Entry", on_delete=models.PROTECT, related_name="+")
    trade_count = models.PositiveIntegerField()
    settled_at = models.DateTimeField()


class Settlement(models.Model):
    """The settlement of one trade. Unique per trade: a trade settles exactly once."""

    class Mode(models.TextChoices):
        GROSS = "gross"
        NET = "net"

    trade = models.OneToOneField("exchange.Trade", on_delete=models.PROTECT, related_name="settlement")
    mode = models.CharField(max_length=8, choices=Mode.choices)
    batch = models.ForeignKey(
        SettlementBatch, null=True, blank=True, on_delete=models.PROTECT, related_name="settlements"
    )
    entry = models.ForeignKey("ledger.Entry", on_delete=models.PROTECT, related_name="+")
    settled_at = models.DateTimeField()


class SettlementAction(models.Model):
    """A depository operator's hold, release or refusal of a pending trade's settlement."""

    class Action(models.TextChoices):
        HOLD = "hold"
        RELEASE = "release"
        REFUSE = "refuse"

    trade = models.ForeignKey("exchange.Trade", on_delete=models.PROTECT, related_name="settlement_actions")
    action = models.CharField(max_length=8, choices=Action.choices)
    reason = models.TextField()
    actor = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    entry = models.OneToOneField("ledger.Entry", on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()
    # A hold made by a standing instruction (its creator is the actor); null for a hold by hand.
    instruction = models.ForeignKey(
        "SettlementInstruction", null=True, blank=True, on_delete=models.PROTECT, related_name="holds"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(instruction__isnull=True) | Q(action="hold"), name="settlementaction_instruction_holds"
            ),
            # An instruction holds a trade at most once, whatever the retries (and never again once released).
            models.UniqueConstraint(
                fields=["trade"], condition=Q(instruction__isnull=False), name="settlementaction_one_instruction_hold"
            ),
        ]


class SettlementInstruction(models.Model):
    """A standing instruction of the depository or a regulator: hold, before they settle, the trades of an
    account (as buyer or seller), of a security, or of a value of at least ``min_amount`` — several criteria
    combine with AND — from its creation until ``ends_at`` or an early end.

    The instruction itself moves nothing; still, setting it and ending it early are supervisory acts, each on
    the ledger (``entry``: SETTLEMENT_INSTRUCTION; ``end_entry``: SETTLEMENT_INSTRUCTION_END, there exactly when
    it was ended early) as well as on the audit trail; ``ledger_verify`` compares the row with both
    (``settlement.reconcile``). Each trade it holds gets a SETTLEMENT_HOLD entry naming it
    (``settlement.services``).
    """

    account = models.ForeignKey("core.Account", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    security = models.ForeignKey(Security, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    min_amount = models.DecimalField(max_digits=20, decimal_places=2, null=True, blank=True)
    reason = models.CharField(max_length=500)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    # The role of who set it, and of who ended it, when they did: as their entries record it. A user's role may
    # change later; whose instruction this is (and so who may end it, and who reads its reason) does not.
    set_by_role = models.CharField(max_length=32, choices=Role.choices)
    created_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    ended_by_role = models.CharField(max_length=32, choices=Role.choices, blank=True, default="")
    end_reason = models.CharField(max_length=500, blank=True, default="")
    entry = models.OneToOneField("ledger.Entry", on_delete=models.PROTECT, related_name="+")
    end_entry = models.OneToOneField("ledger.Entry", null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(account__isnull=False) | Q(security__isnull=False) | Q(min_amount__isnull=False),
                name="instruction_has_a_criterion",
            ),
            models.CheckConstraint(
                condition=Q(min_amount__isnull=True) | Q(min_amount__gt=0), name="instruction_min_amount_positive"
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="instruction_reason_given"),
            models.CheckConstraint(condition=Q(ends_at__gt=F("created_at")), name="instruction_ends_after_start"),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True, ended_by__isnull=True, end_reason="")
                | Q(ended_at__isnull=False, ended_by__isnull=False, ended_at__gte=F("created_at")) & ~Q(end_reason=""),
                name="instruction_ended_completely",
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True, end_entry__isnull=True)
                | Q(ended_at__isnull=False, end_entry__isnull=False),
                name="instruction_end_on_the_ledger",
            ),
            models.CheckConstraint(
                condition=Q(set_by_role__in=[Role.DEPOSITORY_OPERATOR, Role.REGULATOR]),
                name="instruction_set_by_a_setter",
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True, ended_by_role="")
                | Q(ended_at__isnull=False, ended_by_role__in=[Role.DEPOSITORY_OPERATOR, Role.REGULATOR]),
                name="instruction_ended_by_a_setter",
            ),
        ]
        indexes = [
            # Settlement looks up the active instructions for every trade: the unended ones, by their end.
            models.Index(fields=["ends_at"], condition=Q(ended_at__isnull=True), name="instruction_active"),
        ]
