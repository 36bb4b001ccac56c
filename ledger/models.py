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
from django.utils.translation import gettext_lazy as _


class EntryKind(models.TextChoices):
    ISSUE = "ISSUE"
    DEPOSIT = "DEPOSIT"
    WITHDRAWAL = "WITHDRAWAL"
    TRADE = "TRADE"
    SETTLEMENT = "SETTLEMENT"
    SETTLEMENT_FAILED = "SETTLEMENT_FAILED"
    SETTLEMENT_HOLD = "SETTLEMENT_HOLD"
    SETTLEMENT_RELEASE = "SETTLEMENT_RELEASE"
    SETTLEMENT_INSTRUCTION = "SETTLEMENT_INSTRUCTION"
    SETTLEMENT_INSTRUCTION_END = "SETTLEMENT_INSTRUCTION_END"
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
        indexes = [
            # The rare kinds, found without reading the whole ledger: key rotations (each seal and each
            # verification looks for them), cash flows and issues (the conservation check), supervision. Trades
            # and their settlements, nearly every entry, are left out: inserting one only tests the condition.
            models.Index(
                fields=["kind", "id"], name="entry_rare_kinds", condition=~Q(kind__in=["TRADE", "SETTLEMENT"])
            ),
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


class ReplicaRecheck(models.Model):
    """Where a following replica's round-robin re-check of the entries it holds goes on (``ledger_replicate
    --follow``), one row a source. Kept in the replica's database, not in memory, so that a restarted replica
    resumes at the leaf the last round reached instead of leaf 0, and on a large ledger still reaches the end.
    Unlike the copy itself it changes: each round that finds the entries as held moves it on."""

    source = models.CharField(max_length=200, unique=True)
    next_leaf = models.BigIntegerField(default=0, help_text="The leaf the next round compares first.")
    checked_at = models.DateTimeField(help_text="When the last round that moved it on ended.")

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(next_leaf__gte=0), name="replica_recheck_leaf_nonneg")]


# --- Witnessing (C2SP tlog-witness) -------------------------------------------------------------
# The exchange's side: what the configured witnesses co-signed, and what they refused.


class Cosignature(models.Model):
    """A witness's ``cosignature/v1`` on a block's checkpoint (C2SP tlog-cosignature), checked on receipt."""

    block = models.ForeignKey(Block, on_delete=models.PROTECT, related_name="cosignatures")
    witness = models.CharField(max_length=200, help_text="The witness's key name.")
    key_hash = models.BinaryField(help_text="SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)[:4], as on the note line.")
    timestamp = models.BigIntegerField(help_text="Seconds since the epoch, as the witness signed it.")
    signature = models.BinaryField()
    received_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["block", "witness", "key_hash"], name="cosignature_once_per_witness"),
            models.CheckConstraint(condition=Exact(Length("key_hash"), 4), name="cosignature_key_hash_4"),
            models.CheckConstraint(condition=Exact(Length("signature"), 64), name="cosignature_ed25519_64"),
            models.CheckConstraint(condition=Q(timestamp__gte=0), name="cosignature_timestamp_nonneg"),
        ]


class WitnessState(models.Model):
    """What the exchange knows of one witness: the tree size it last co-signed (the next request's ``old``)."""

    witness = models.CharField(max_length=200, primary_key=True)
    cosigned_size = models.BigIntegerField(default=0)
    last_error = models.TextField(blank=True)
    updated_at = models.DateTimeField()


class WitnessRefusal(models.Model):
    """A witness refused a checkpoint the exchange signed: a fork or split view, or a broken request.

    The operations page shows these; nothing deletes them.
    """

    witness = models.CharField(max_length=200)
    block = models.ForeignKey(Block, on_delete=models.PROTECT, related_name="+")
    status = models.PositiveSmallIntegerField(help_text="The witness's HTTP status.")
    old_size = models.BigIntegerField()
    answer = models.TextField(help_text="The witness's answer, as it came (cut to 2,000 characters).")
    split_view = models.BooleanField(help_text="A conflicting checkpoint of one size, or an inconsistent proof.")
    recorded_at = models.DateTimeField()


# The witness's side: a witness node (manage.py ledger_witness serve) keeps these in its own database.


class WitnessedLog(models.Model):
    """A log this witness co-signs for, and the latest checkpoint it co-signed (tlog-witness)."""

    origin = models.CharField(max_length=200, primary_key=True)
    verifier_keys = models.TextField(help_text="The log's verifier keys, one per line (note format).")
    tree_size = models.BigIntegerField(default=0)
    root = models.BinaryField(null=True, blank=True)
    checkpoint = models.TextField(blank=True, help_text="The latest co-signed checkpoint, as the log sent it.")
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(tree_size__gte=0), name="witnessed_log_size_nonneg")]


class WitnessedCheckpoint(models.Model):
    """Every checkpoint this witness co-signed, so that a second root for any size it saw is caught."""

    origin = models.CharField(max_length=200)
    tree_size = models.BigIntegerField()
    root = models.BinaryField()
    checkpoint = models.TextField()
    cosigned_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["origin", "tree_size"], name="witnessed_checkpoint_once")]


class SplitViewEvidence(models.Model):
    """Two checkpoints, both validly signed by the log, that cannot both be true. Append-only.

    ``held`` is the one this witness co-signed; ``offered`` the one it refused, with the proof that came
    with it.
    """

    class Kind(models.TextChoices):
        SAME_SIZE = "same_size", _("Same size, different root")
        # The same root under another body (another ``block`` line: another block header), ``ledger.witness``.
        SAME_ROOT = "same_root", _("Same size and root, different checkpoint")
        # Kept by earlier versions when a consistency proof did not verify; no longer recorded, since whoever
        # sends a proof need not be the log (``ledger.witness``).
        INCONSISTENT = "inconsistent", _("Consistency proof does not verify")

    origin = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    held = models.TextField()
    offered = models.TextField()
    old_size = models.BigIntegerField()
    proof = models.TextField(blank=True, help_text="The consistency proof lines as received.")
    recorded_at = models.DateTimeField()
