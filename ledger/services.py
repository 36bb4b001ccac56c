"""Writing ledger entries. Callers are inside the transaction of the change."""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.prepared import Batch, Insert

from . import checkpoint, hooks, keys, merkle, published, wakeup
from .canonical import entry_bytes, leaf_hash, new_salt
from .models import Block, BlockSignature, Entry, SigningKey
from .payloads import Payload

_ENTRIES = Insert(Entry)


def _build(kind: str, payload: dict, recorded_at: dt.datetime) -> Entry:
    data = entry_bytes(kind=kind, recorded_at=recorded_at, payload=payload, salt=new_salt())
    return Entry(kind=kind, canonical=data, leaf_hash=leaf_hash(data), recorded_at=recorded_at)


def entry_append(*, kind: str, payload: dict, recorded_at: dt.datetime | None = None) -> Entry:
    """Append one entry. Must run inside the transaction that makes the change it records."""
    return entries_append(kind=kind, payloads=[payload], recorded_at=recorded_at)[0]


def entry_write(record: Payload, *, recorded_at: dt.datetime | None = None) -> Entry:
    """Append the entry of one typed payload (its kind is the payload's). Inside the change's transaction."""
    return entries_append(kind=record.kind, payloads=[record.payload()], recorded_at=recorded_at)[0]


def entries_write(records: list[Payload], *, recorded_at: dt.datetime | None = None) -> list[Entry]:
    """Append the entries of typed payloads of one kind, in one INSERT. Inside the change's transaction."""
    if not records:
        return []
    kinds = {r.kind for r in records}
    if len(kinds) > 1:
        raise ValueError("entries_write writes payloads of one kind")
    return entries_append(kind=kinds.pop(), payloads=[r.payload() for r in records], recorded_at=recorded_at)


def entries_append(*, kind: str, payloads: list[dict], recorded_at: dt.datetime | None = None) -> list[Entry]:
    _in_change()
    at = recorded_at or timezone.now()
    return _ENTRIES.rows([_build(kind, p, at) for p in payloads])


# An entry id drawn ahead, in a statement of the caller's (``entries_queue``): the same sequence the insert
# would draw from. Entries are sealed in id order among those committed; drawing earlier in the same
# transaction changes nothing there.
ENTRY_ID_DRAWN = "nextval(pg_get_serial_sequence('ledger_entry', 'id'))"


def entries_queue(
    batch: Batch, records: list[Payload], ids: list[int], *, recorded_at: dt.datetime | None = None
) -> list[Entry]:
    """``entries_write`` as part of a ``Batch``: the entries of ``records`` with the ``ids`` drawn for them
    (``ENTRY_ID_DRAWN``), written when the batch runs, in the change's transaction."""
    if len(ids) != len(records):
        raise ValueError("one drawn id per entry")
    if not records:
        return []
    _in_change()
    at = recorded_at or timezone.now()
    entries = [_build(r.kind, r.payload(), at) for r in records]
    for entry, entry_id in zip(entries, ids, strict=True):
        entry.pk = entry_id
    _ENTRIES.add(batch, entries)
    return entries


def _in_change() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("ledger entries are written inside the transaction of the change they record")
    wakeup.wake_on_commit()


# --------------------------------------------------------------------------
# Sealing

# pg_advisory_xact_lock key of the sealer ("LEDG"): one sealer at a time, cluster-wide.
SEAL_LOCK_KEY = 0x4C454447


@dataclass(frozen=True)
class SealResult:
    block: Block
    leaves: int
    more_waiting: bool


def _frontier_of(block: Block | None) -> merkle.Frontier:
    if block is None:
        return merkle.Frontier()
    raw = bytes(block.frontier)
    return merkle.Frontier(block.tree_size, [raw[i : i + 32] for i in range(0, len(raw), 32)])


def block_seal(*, max_leaves: int | None = None) -> SealResult | None:
    """Seal the waiting entries into the next signed block. None when nothing waits or another sealer runs.

    One transaction under an advisory lock: leaf indexes continue the last
    block's tree without gap or repeat, and the unique keys on block height,
    tree size and leaf index make a fork impossible even if the lock were
    bypassed. A retry after a crash starts again from the last committed block. Raises
    ``published.LedgerHeld`` (and seals nothing) while the database lacks a checkpoint this node already
    published, as after the restore of an older backup.
    """
    limit = max_leaves or settings.LEDGER_MAX_BLOCK_LEAVES
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_xact_lock(%s)", [SEAL_LOCK_KEY])
            if not cur.fetchone()[0]:
                return None
        # A database restored from an older backup would sign a size or height it already published with other
        # contents (a split view): nothing is sealed while it lacks the newest checkpoint kept outside it.
        published.refuse_if_held()
        wakeup.sealing()  # before the read: a commit after it wakes the next seal
        signing = keys.signers_for_seal()
        with connection.cursor() as cur:
            cur.execute(
                "SELECT p.entry_id, e.leaf_hash FROM ledger_pendingentry p JOIN ledger_entry e ON e.id = p.entry_id "
                "ORDER BY p.entry_id LIMIT %s",
                [limit + 1],
            )
            rows = cur.fetchall()
        if not rows:
            return None
        more_waiting = len(rows) > limit
        rows = rows[:limit]
        if more_waiting:
            # A key signs only blocks that seal its introduction (or come after it): a waiting
            # KEY_ROTATION entry (the genesis key's, written just above, or a rotation) joins this
            # block even when older entries fill it; they wait for the next one.
            with connection.cursor() as cur:
                cur.execute(
                    "SELECT p.entry_id, e.leaf_hash FROM ledger_pendingentry p"
                    " JOIN ledger_entry e ON e.id = p.entry_id"
                    " WHERE e.kind = 'KEY_ROTATION' AND p.entry_id > %s ORDER BY p.entry_id",
                    [rows[-1][0]],
                )
                rows += cur.fetchall()
        waiting = [entry_id for entry_id, _ in rows]

        last = Block.objects.order_by("-height").first()
        frontier = _frontier_of(last)
        first_index = frontier.size
        height = last.height + 1 if last else 0
        nodes: list[tuple[int, int, bytes]] = []
        for _, leaf in rows:
            nodes += frontier.append(bytes(leaf))
        root = frontier.root()
        sealed_at = timezone.now()
        header = checkpoint.header_bytes(
            height=height,
            first_leaf_index=first_index,
            tree_size=frontier.size,
            root=root,
            prev_hash=bytes(last.block_hash) if last else checkpoint.ZERO_HASH,
            sealed_at=sealed_at,
            signers=[k.key_id for k, _ in signing],
        )
        bhash = checkpoint.block_hash(header)
        body = checkpoint.body(
            origin=settings.LEDGER_ORIGIN, tree_size=frontier.size, root=root, height=height, block_hash=bhash
        )
        block = Block.objects.create(
            height=height,
            first_leaf_index=first_index,
            tree_size=frontier.size,
            root=root,
            prev_hash=bytes(last.block_hash) if last else checkpoint.ZERO_HASH,
            block_hash=bhash,
            header=header,
            sealed_at=sealed_at,
            checkpoint=body,
            frontier=b"".join(frontier.hashes),
        )
        BlockSignature.objects.bulk_create(
            [BlockSignature(block=block, key=k, signature=s.private_key.sign(body.encode())) for k, s in signing]
        )
        _leaves_insert(block.height, first_index, waiting)
        _nodes_insert(nodes)
        with connection.cursor() as cur:
            cur.execute("DELETE FROM ledger_pendingentry WHERE entry_id = ANY(%s::bigint[])", [_int_array(waiting)])
        keys.retire_after_seal([k for k, _ in signing], height=height, sealed_entry_ids=set(waiting))
        for record in hooks.in_seal:
            record(height)
        note = signed_note(block)
        transaction.on_commit(lambda: _checkpoint_log_append(note))
    return SealResult(block=block, leaves=len(waiting), more_waiting=more_waiting)


# A block's leaf and node rows are written with one INSERT … SELECT FROM unnest(…) each, the
# arrays passed as single parameters: building the same rows with bulk_create cost about 0.3 ms
# per sealed entry in model instances and per-value SQL (measured with `make bench`), five times
# the rest of sealing. Same rows, same transaction, same constraints and triggers.


def _int_array(values: list[int]) -> str:
    """A PostgreSQL array literal of integers: one parameter instead of one per element."""
    return "{" + ",".join(map(str, values)) + "}"


def _leaves_insert(block_height: int, first_index: int, entry_ids: list[int]) -> None:
    """Leaves ``first_index, first_index + 1, …`` are ``entry_ids`` in that order, in block ``block_height``."""
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO ledger_leaf (leaf_index, entry_id, block_id) "
            "SELECT %s + t.n - 1, t.entry_id, %s FROM unnest(%s::bigint[]) WITH ORDINALITY AS t(entry_id, n)",
            [first_index, block_height, _int_array(entry_ids)],
        )


def _nodes_insert(nodes: list[tuple[int, int, bytes]]) -> None:
    """Store the perfect subtrees (level, index, hash) that sealing completed; the hashes go as one bytea."""
    if not nodes:
        return
    if any(len(h) != merkle.HASH_SIZE for _, _, h in nodes):
        raise ValueError("node hashes are 32 bytes")
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO ledger_node (level, index, hash) "
            "SELECT t.level, t.index, substring(%s::bytea FROM (t.n::int - 1) * 32 + 1 FOR 32) "
            "FROM unnest(%s::smallint[], %s::bigint[]) WITH ORDINALITY AS t(level, index, n)",
            [
                b"".join(h for _, _, h in nodes),
                _int_array([lv for lv, _, _ in nodes]),
                _int_array([ix for _, ix, _ in nodes]),
            ],
        )


def signed_note(block: Block, *, cosignatures: bool = True) -> str:
    """The block's checkpoint with every signature it carries: the node's and its co-signers' (type 0x01),
    then the witnesses' ``cosignature/v1`` lines (``ledger.witnessing``) unless ``cosignatures`` is False."""
    lines = []
    # Read here, or prefetched by ``selectors.blocks_signed`` for a list of blocks.
    signatures = getattr(block, "signatures_by_name", None)
    if signatures is None:
        signatures = block.signatures.select_related("key").order_by("key__name", "key_id")
    cosigned = getattr(block, "cosignatures_sorted", None)
    if cosigned is None and cosignatures:
        cosigned = block.cosignatures.order_by("witness", "key_hash")
    for sig in signatures:
        blob = checkpoint.note_key_hash(sig.key.name, bytes(sig.key.public_key)) + bytes(sig.signature)
        lines.append(f"— {sig.key.name} {base64.b64encode(blob).decode()}\n")
    if cosignatures:
        for c in cosigned:
            blob = bytes(c.key_hash) + c.timestamp.to_bytes(8, "big") + bytes(c.signature)
            lines.append(f"— {c.witness} {base64.b64encode(blob).decode()}\n")
    return block.checkpoint + "\n" + "".join(lines)


def _checkpoint_log_append(note: str) -> None:
    """Keep every signed checkpoint outside the database too: the evidence a DB superuser cannot rewrite.

    One JSON object per line, ``{"checkpoint": <signed note>}``.
    """
    path = Path(settings.LEDGER_CHECKPOINT_LOG)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"checkpoint": note}) + "\n")


def block_cosign(*, height: int, key_id: str, signature: bytes) -> BlockSignature:
    """Add a registered co-signer's signature to a sealed block's checkpoint, after checking it."""
    with transaction.atomic():
        block = Block.objects.filter(height=height).first()
        key = SigningKey.objects.filter(key_id=key_id, local=False).exclude(status=SigningKey.Status.RETIRED).first()
        if block is None or key is None:
            raise ValueError("unknown block or co-signer")
        try:
            Ed25519PublicKey.from_public_bytes(bytes(key.public_key)).verify(signature, block.checkpoint.encode())
        except InvalidSignature as exc:
            raise ValueError("the co-signature does not verify") from exc
        sig, _ = BlockSignature.objects.get_or_create(block=block, key=key, defaults={"signature": signature})
        return sig
