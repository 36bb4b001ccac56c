"""The append-only ledger table.

An entry is one legal state change (ISSUE, DEPOSIT, WITHDRAWAL, TRADE, …),
written in the same transaction as the change. ``canonical`` holds the exact
bytes that were hashed (see ``ledger.canonical``); ``leaf_hash`` is
SHA-256(0x00 ‖ canonical), the RFC 6962 leaf hash.

Triggers installed by migration 0001 reject UPDATE, DELETE and TRUNCATE, and
are enabled ALWAYS, so replication roles do not skip them either. The id is a
database sequence: it has gaps and commits out of order, so it is *not* the
leaf index; the sealer assigns contiguous leaf indexes when it seals.
"""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import Exact


class EntryKind(models.TextChoices):
    ISSUE = "ISSUE"
    DEPOSIT = "DEPOSIT"
    WITHDRAWAL = "WITHDRAWAL"
    TRADE = "TRADE"
    SETTLEMENT = "SETTLEMENT"
    SETTLEMENT_FAILED = "SETTLEMENT_FAILED"
    FREEZE = "FREEZE"
    UNFREEZE = "UNFREEZE"
    FORCED_TRANSFER = "FORCED_TRANSFER"
    HALT = "HALT"
    RESUME = "RESUME"
    CORRECTION = "CORRECTION"
    DISCLOSURE = "DISCLOSURE"
    KEY_ROTATION = "KEY_ROTATION"
    LISTING = "LISTING"


class Entry(models.Model):
    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=32, choices=EntryKind.choices)
    canonical = models.BinaryField()
    leaf_hash = models.BinaryField()
    recorded_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "entries"
        constraints = [
            models.CheckConstraint(condition=Exact(Length("leaf_hash"), 32), name="entry_leaf_hash_32_bytes"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"
