"""Settlements of trades: gross (one per trade), net batches, and the depository's holds and refusals.

``Settlement`` is unique per trade (a trade settles exactly once); every row
points at the ledger entry written in the same transaction.
"""

from __future__ import annotations

from django.db import models

from core.models import User
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
