"""The append-only ledger table.

An entry is one legal state change (ISSUE, DEPOSIT, WITHDRAWAL, TRADE, …),
written in the same transaction as the change. ``canonical`` holds the exact
bytes that were hashed (see ``ledger.canonical``); ``leaf_hash`` is
SHA-256(0x00 ‖ canonical), the RFC 6962 leaf hash.

Triggers installed by migration 0002_append_only reject UPDATE, DELETE and
TRUNCATE (the table owner may TRUNCATE with ``exchange.allow_reset = on``, as
core's ``flush`` sets it), and are enabled ALWAYS, so replication roles do not
skip them either; 0004_sealing_guards puts the same guards on blocks, their
signatures, leaves and nodes, and queues each new entry for sealing. The id is a
database sequence: it has gaps and commits out of order, so it is *not* the
leaf index; the sealer assigns contiguous leaf indexes when it seals.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Length
from django.db.models.lookups import Exact


class EntryKind(models.TextChoices):
    ISSUE = "ISSUE"
    DEPOSIT = "DEPOSIT"
    WITHDRAWAL = "WITHDRAWAL"
    TRADE = "TRADE"
    SETTLEMENT = "SETTLEMENT"
    SETTLEMENT_FAILED = "SETTLEMENT_FAILED"
    SETTLEMENT_HOLD = "SETTLEMENT_HOLD"
    SETTLEMENT_RELEASE = "SETTLEMENT_RELEASE"
    FREEZE = "FREEZE"
    UNFREEZE = "UNFREEZE"
    FORCED_TRANSFER = "FORCED_TRANSFER"
    HALT = "HALT"
    RESUME = "RESUME"
    CORRECTION = "CORRECTION"
    DISCLOSURE = "DISCLOSURE"
    KEY_ROTATION = "KEY_ROTATION"
    LISTING = "LISTING"
    SECURITY_CHANGE = "SECURITY_CHANGE"
    DELISTING = "DELISTING"
    UNLOCK = "UNLOCK"
    CLOSE = "CLOSE"
    IDENTITY_REVEAL = "IDENTITY_REVEAL"


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


class PendingEntry(models.Model):
    """The queue of entries waiting to be sealed, filled by an INSERT trigger on ``ledger_entry``.

    A work queue, not evidence: the sealer deletes the rows it seals, in the
    sealing transaction. (Scanning ``ledger_entry`` for unsealed rows would be
    O(ledger); this is O(waiting).)
    """

    entry = models.OneToOneField(Entry, primary_key=True, on_delete=models.PROTECT, related_name="+")


class SigningKey(models.Model):
    """An Ed25519 key that signs checkpoints. Its introduction and retirement are KEY_ROTATION entries.

    ``local`` keys are this node's (private part in the key folder); other
    institutions' co-signing keys are registered with their public part only.
    """

    class Status(models.TextChoices):
        ACTIVE = "active"
        RETIRING = "retiring"  # signs the block that retires it, then never again
        RETIRED = "retired"

    key_id = models.CharField(max_length=16, primary_key=True)
    name = models.CharField(max_length=100)
    public_key = models.BinaryField()
    local = models.BooleanField(default=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField()
    retired_at = models.DateTimeField(null=True, blank=True)
    retired_in_block = models.BigIntegerField(null=True, blank=True)
    # The KEY_ROTATION entry that retires this key: the key signs the block that seals it, then stops.
    retire_entry_id = models.BigIntegerField(null=True, blank=True)


class Block(models.Model):
    """A sealed block: a signed checkpoint of the tree after its leaves. Append-only."""

    height = models.BigIntegerField(primary_key=True)
    first_leaf_index = models.BigIntegerField()
    tree_size = models.BigIntegerField(unique=True)
    root = models.BinaryField()
    prev_hash = models.BinaryField()
    block_hash = models.BinaryField()
    header = models.BinaryField()
    sealed_at = models.DateTimeField()
    # The checkpoint body that is signed; the signed note is this plus one line per BlockSignature.
    checkpoint = models.TextField()
    # The perfect subtrees covering [0, tree_size), largest first: where the next seal continues.
    frontier = models.BinaryField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(height__gte=0), name="block_height_nonneg"),
            models.CheckConstraint(condition=Q(tree_size__gt=F("first_leaf_index")), name="block_has_leaves"),
            models.CheckConstraint(condition=Exact(Length("root"), 32), name="block_root_32"),
            models.CheckConstraint(condition=Exact(Length("block_hash"), 32), name="block_hash_32"),
        ]


class BlockSignature(models.Model):
    block = models.ForeignKey(Block, on_delete=models.PROTECT, related_name="signatures")
    key = models.ForeignKey(SigningKey, on_delete=models.PROTECT, related_name="+")
    signature = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["block", "key"], name="block_signature_once_per_key")]


class Leaf(models.Model):
    """Leaf ``leaf_index`` of the tree is ``entry``, sealed in block ``block``. Append-only."""

    leaf_index = models.BigIntegerField(primary_key=True)
    entry = models.OneToOneField(Entry, on_delete=models.PROTECT, related_name="leaf")
    block = models.ForeignKey(Block, on_delete=models.PROTECT, related_name="leaves")

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(leaf_index__gte=0), name="leaf_index_nonneg")]


class Node(models.Model):
    """A perfect subtree: MTH of leaves [index·2^level, (index+1)·2^level). Proofs read these."""

    level = models.PositiveSmallIntegerField()
    index = models.BigIntegerField()
    hash = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["level", "index"], name="node_unique_position")]


class ReplicaCheckpoint(models.Model):
    """A checkpoint of another node that this node has verified and copied (``ledger_replicate``)."""

    source = models.CharField(max_length=200)
    height = models.BigIntegerField()
    tree_size = models.BigIntegerField()
    root = models.BinaryField()
    block_hash = models.BinaryField()
    checkpoint = models.TextField(help_text="The signed note as the source served it.")
    frontier = models.BinaryField()
    fetched_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "height"], name="replica_checkpoint_once"),
            models.UniqueConstraint(fields=["source", "tree_size"], name="replica_checkpoint_size_once"),
        ]


class ReplicaEntry(models.Model):
    """An entry copied from another node, verified against its signed checkpoints."""

    source = models.CharField(max_length=200)
    leaf_index = models.BigIntegerField()
    canonical = models.BinaryField()
    leaf_hash = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "leaf_index"], name="replica_entry_once")]


class ReplicaKey(models.Model):
    """A key this replica trusts for a source: given on the command line, or introduced by a verified entry."""

    source = models.CharField(max_length=200)
    key_id = models.CharField(max_length=16)
    name = models.CharField(max_length=100)
    public_key = models.BinaryField()
    from_height = models.BigIntegerField(default=0)
    until_height = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "key_id"], name="replica_key_once")]
