"""Full verification of the ledger held in this database.

Recomputes every leaf hash from the stored bytes, the whole tree block by
block, every block header, hash, link and signature (keys as the ledger's own
KEY_ROTATION entries introduce and retire them), compares with the signed
checkpoints kept outside the database, and checks that the business rows
agree with their entries. Reports the first bad block and entry.
"""

from __future__ import annotations

import base64
import io
import json
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.db import connection
from django.utils.translation import gettext
from django.utils.translation import gettext_noop as _

from core.snapshot import read_only_snapshot

from . import checkpoint, hooks, merkle
from .models import Block, Leaf, PendingEntry

CHUNK = 5000
_json = json.JSONDecoder().decode


@dataclass
class Problem:
    """One thing found wrong. ``text`` is English, marked for translation, with ``%(name)s`` for ``params``:
    ``str()`` (the command, the audit trail) is English; ``localized()`` (the explorer page) is in the active
    language."""

    text: str
    block: int | None = None
    leaf_index: int | None = None
    entry_id: int | None = None
    params: dict = field(default_factory=dict)

    @property
    def message(self) -> str:
        return self.text % self.params if self.params else self.text

    def __str__(self) -> str:
        return self._say(lambda text: text)

    def localized(self) -> str:
        return self._say(gettext)

    def _say(self, say: Callable[[str], str]) -> str:
        where = [
            say(label) % {"n": n}
            for label, n in (
                (_("block %(n)s"), self.block),
                (_("leaf %(n)s"), self.leaf_index),
                (_("entry %(n)s"), self.entry_id),
            )
            if n is not None
        ]
        text = say(self.text) % self.params if self.params else say(self.text)
        place = ", ".join(where) if where else say(_("ledger"))
        return f"{place}: {text}"


@dataclass
class Report:
    blocks: int = 0
    leaves: int = 0
    signatures: int = 0
    trades: int = 0
    external_checkpoints: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        """The problem in the lowest block, an entry-level one before the block-level ones it causes."""
        ranked = [((p.block, p.leaf_index is None, n), p) for n, p in enumerate(self.problems) if p.block is not None]
        if ranked:
            return min(ranked, key=lambda r: r[0])[1]
        return self.problems[0] if self.problems else None


@dataclass
class _Key:
    name: str
    public: bytes
    from_height: int
    until_height: int | None = None  # the last height it may sign (its rotation block)


_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00"
_ROW_HEAD = struct.Struct(">hiqiqi")  # 6 fields; leaf index (8 bytes); entry id (8 bytes); canonical's length
_LENGTH = struct.Struct(">i")


# What reading a payload rewritten into a shape its kind cannot have raises (a finding, never a crash): a missing
# key, a wrong type, a number or date that does not parse (orjson's and binascii's errors are ValueErrors).
UNREADABLE = (ArithmeticError, AttributeError, KeyError, TypeError, ValueError)


def _leaves(start: int, end: int) -> Iterator[tuple[int, int, bytes, bytes, str, bytes | None]]:
    """(leaf_index, entry_id, canonical, stored leaf hash, kind, sealed leaf node or None) in leaf order.

    Read with ``COPY … TO STDOUT (FORMAT binary)``: the bytes arrive as they are stored, with no hex
    text to decode and no Python objects built per column (half the time of a cursor's rows).
    """
    query = (
        "COPY (SELECT l.leaf_index::int8, e.id::int8, e.canonical, e.leaf_hash, e.kind, n.hash FROM ledger_leaf l "
        "JOIN ledger_entry e ON e.id = l.entry_id "
        "LEFT JOIN ledger_node n ON n.level = 0 AND n.index = l.leaf_index AND n.index >= {lo} AND n.index < {hi} "
        "WHERE l.leaf_index >= {lo} AND l.leaf_index < {hi} ORDER BY l.leaf_index) TO STDOUT (FORMAT binary)"
    )
    with connection.cursor() as cur:
        for lo in range(start, end, CHUNK):
            yield from _copy_rows(*copy_binary(cur, query.format(lo=int(lo), hi=int(min(lo + CHUNK, end)))))


def copy_binary(cur, query: str) -> tuple[memoryview, int]:
    """The bytes of ``COPY (query) TO STDOUT (FORMAT binary)`` and the position of its first row (after the
    signature and the header extension); ``ValueError`` if it is not such a stream."""
    buffer = io.BytesIO()
    cur.cursor.copy_expert(query, buffer)
    data = buffer.getbuffer()
    if bytes(data[:11]) != _COPY_HEADER:
        raise ValueError("not a binary COPY stream")
    (extension,) = _LENGTH.unpack_from(data, 15)
    return data, 19 + extension


def _copy_rows(data: memoryview, pos: int) -> Iterator[tuple[int, int, bytes, bytes, str, bytes | None]]:
    """Rows of a binary COPY of (int8, int8, bytea, bytea, text, bytea) columns; only the last may be NULL."""
    row_head, length = _ROW_HEAD.unpack_from, _LENGTH.unpack_from
    end = len(data) - 2  # the trailer: a field count of -1
    while pos < end:
        fields, _, index, _, eid, size = row_head(data, pos)
        if fields != 6:
            raise ValueError(f"a row of {fields} fields in a COPY of 6 columns")
        pos += _ROW_HEAD.size
        canonical = bytes(data[pos : pos + size])
        pos += size
        (size,) = length(data, pos)
        stored = bytes(data[pos + 4 : pos + 4 + size])
        pos += 4 + size
        (size,) = length(data, pos)
        kind = str(data[pos + 4 : pos + 4 + size], "utf-8")
        pos += 4 + size
        (size,) = length(data, pos)
        node = bytes(data[pos + 4 : pos + 4 + size]) if size >= 0 else None
        pos += 4 + max(size, 0)
        yield index, eid, canonical, stored, kind, node
    if bytes(data[pos:]) != b"\xff\xff":
        raise ValueError("a binary COPY stream ends with its trailer")


def verify_chain(report: Report, progress: Callable[[int, int], None] | None = None) -> dict[str, dict[int, Any]]:
    """Leaves, tree, headers, links, signatures.

    Returns, for each registered business check (``ledger.hooks.business_checks``), what it extracts of
    the payloads of its kinds, by entry id: the chain walk reads every entry once, for all of them.
    """
    total = Block.objects.order_by("-tree_size").values_list("tree_size", flat=True).first() or 0
    keys: dict[str, _Key] = {}
    checks = list(hooks.business_checks)
    wanted = {"KEY_ROTATION"}.union(*(c.kinds for c in checks))
    collected: dict[str, dict[int, Any]] = {c.name: {} for c in checks}
    frontier = merkle.Frontier()
    prev_hash, expected_height = checkpoint.ZERO_HASH, 0
    blocks = Block.objects.order_by("height").defer("frontier")
    for block in blocks.iterator(chunk_size=500):
        h = block.height
        report.blocks += 1
        if h != expected_height:
            report.problems.append(
                Problem(
                    _("block %(height)s is missing (next is %(next)s)"),
                    block=expected_height,
                    params={"height": expected_height, "next": h},
                )
            )
        expected_height = h + 1
        if block.first_leaf_index != frontier.size:
            report.problems.append(
                Problem(
                    _("starts at leaf %(first)s, the tree has %(size)s leaves"),
                    block=h,
                    params={"first": block.first_leaf_index, "size": frontier.size},
                )
            )
        expected_index = block.first_leaf_index
        for index, eid, data, stored, kind, node in _leaves(block.first_leaf_index, block.tree_size):
            while expected_index < index:
                report.problems.append(Problem(_("leaf is missing"), block=h, leaf_index=expected_index))
                expected_index += 1
            expected_index = index + 1
            leaf = merkle.leaf_hash(data)
            if leaf != stored:
                report.problems.append(
                    Problem(
                        _("stored bytes do not hash to the stored leaf hash"), block=h, leaf_index=index, entry_id=eid
                    )
                )
            elif node is not None and node != leaf:
                report.problems.append(
                    Problem(
                        _("entry differs from the leaf sealed at this index"), block=h, leaf_index=index, entry_id=eid
                    )
                )
            if kind in wanted:
                try:
                    doc = _json(data.decode("utf-8"))
                except ValueError:  # UnicodeDecodeError too
                    report.problems.append(Problem(_("bytes are not JSON"), block=h, leaf_index=index, entry_id=eid))
                    doc = {"kind": kind, "payload": {}}
                if not isinstance(doc, dict):
                    doc = {"payload": {}}
                if doc.get("kind") != kind:
                    report.problems.append(
                        Problem(_("kind differs from its bytes"), block=h, leaf_index=index, entry_id=eid)
                    )
                payload = doc.get("payload")
                if not isinstance(payload, dict):
                    report.problems.append(_wrong_shape(h, index, eid))
                    payload = {}
                if kind == "KEY_ROTATION":
                    try:
                        _key_event(keys, payload, h)
                    except (AttributeError, TypeError, ValueError):  # binascii.Error is a ValueError
                        report.problems.append(_wrong_shape(h, index, eid))
                for c in checks:
                    if kind in c.kinds:
                        try:
                            collected[c.name][eid] = c.extract(kind, payload)
                        except UNREADABLE:
                            # Bytes rewritten into a payload its kind cannot have: a finding, never a crash.
                            report.problems.append(_wrong_shape(h, index, eid))
            frontier.append(leaf)
            report.leaves += 1
        while expected_index < block.tree_size:
            report.problems.append(Problem(_("leaf is missing"), block=h, leaf_index=expected_index))
            expected_index += 1
        root = frontier.root()
        _check_block(report, block, frontier.size, root, prev_hash, keys)
        if root != bytes(block.root):
            # Named at this block. The later blocks are checked against the tree as this one sealed it, when its
            # stored frontier is that tree: each is then reported for what differs in it, not for inheriting this
            # difference (found by a probe: one changed entry listed the root, header and checkpoint of every
            # later block as well).
            frontier = _sealed_frontier(block) or frontier
        prev_hash = bytes(block.block_hash)
        if progress:
            progress(frontier.size, total)
    return collected


def _wrong_shape(height: int, index: int, entry_id: int) -> Problem:
    return Problem(
        _("the payload does not have the shape of its kind"), block=height, leaf_index=index, entry_id=entry_id
    )


def _key_event(keys: dict[str, _Key], payload: dict, height: int) -> None:
    kid = payload.get("key_id")
    if kid:
        keys[kid] = _Key(payload.get("name", ""), base64.b64decode(payload.get("public_key", "")), height)
    retired = payload.get("retire_key_id")
    if retired and retired in keys:
        keys[retired].until_height = height


def _sealed_frontier(block: Block) -> merkle.Frontier | None:
    """The tree of ``block`` as its sealer stored it (``Block.frontier``), or None when the stored frontier does not
    hash to the block's stored root (then it says nothing about the sealed tree)."""
    raw = bytes(Block.objects.filter(pk=block.pk).values_list("frontier", flat=True).get())
    try:
        sealed = merkle.Frontier(block.tree_size, [raw[i : i + 32] for i in range(0, len(raw), 32)])
    except ValueError:
        return None
    return sealed if len(raw) % 32 == 0 and sealed.root() == bytes(block.root) else None


def _check_block(report: Report, block: Block, size: int, root: bytes, prev_hash: bytes, keys) -> None:
    """The block's header, hash, link, checkpoint and signatures, against the tree of ``size`` leaves and
    ``root`` recomputed from the entries."""
    h = block.height
    problems = report.problems
    if size != block.tree_size:
        problems.append(
            Problem(
                _("tree size %(size)s, but %(leaves)s leaves"),
                block=h,
                params={"size": block.tree_size, "leaves": size},
            )
        )
    if root != bytes(block.root):
        problems.append(Problem(_("the root does not match the recomputed tree"), block=h))
    if bytes(block.prev_hash) != prev_hash:
        problems.append(Problem(_("does not link to the previous block's hash"), block=h))
    signatures = list(block.signatures.all())
    header = checkpoint.header_bytes(
        height=h,
        first_leaf_index=block.first_leaf_index,
        tree_size=block.tree_size,
        root=root,
        prev_hash=prev_hash,
        sealed_at=block.sealed_at,
        signers=json.loads(bytes(block.header)).get("signers", []),
    )
    if header != bytes(block.header):
        problems.append(Problem(_("the header does not match the block's recomputed contents"), block=h))
    if checkpoint.block_hash(bytes(block.header)) != bytes(block.block_hash):
        problems.append(Problem(_("the block hash is not the hash of its header"), block=h))
    body = checkpoint.body(
        origin=settings.LEDGER_ORIGIN,
        tree_size=block.tree_size,
        root=root,
        height=h,
        block_hash=bytes(block.block_hash),
    )
    if body != block.checkpoint:
        problems.append(Problem(_("the checkpoint text does not match the block"), block=h))
    valid = vouched = 0
    for sig in signatures:
        key = keys.get(sig.key_id)
        if key is None:
            continue  # a co-signer this ledger does not introduce: not ours to judge
        report.signatures += 1
        if h < key.from_height or (key.until_height is not None and h > key.until_height):
            problems.append(
                Problem(
                    _("signed by key %(key)s, which is not valid at this height"), block=h, params={"key": sig.key_id}
                )
            )
            continue
        try:
            Ed25519PublicKey.from_public_bytes(key.public).verify(bytes(sig.signature), block.checkpoint.encode())
            valid += 1
            vouched += key.from_height < h
        except InvalidSignature:
            problems.append(
                Problem(_("the signature of key %(key)s does not verify"), block=h, params={"key": sig.key_id})
            )
    required = set(json.loads(bytes(block.header)).get("signers", []))
    missing = required - {s.key_id for s in signatures}
    if missing:
        problems.append(
            Problem(
                _("the header names signers without signatures: %(keys)s"),
                block=h,
                params={"keys": ", ".join(sorted(missing))},
            )
        )
    if not valid:
        problems.append(Problem(_("no valid signature of a ledger key"), block=h))
    elif h > 0 and not vouched:
        # A key is introduced by a KEY_ROTATION entry in a block that a key of before signs too (the rotation
        # block is signed by both): otherwise anyone who can write the tables could append a block that
        # introduces their own key and signs with it. Only the genesis block is signed by its own key alone.
        problems.append(Problem(_("no valid signature of a key from before this block"), block=h))


def verify_unsealed(report: Report) -> None:
    """Every entry is either sealed in a leaf or waiting in the queue, never both, never neither."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT e.id FROM ledger_entry e LEFT JOIN ledger_leaf l ON l.entry_id = e.id "
            "LEFT JOIN ledger_pendingentry p ON p.entry_id = e.id "
            "WHERE (l.entry_id IS NULL) = (p.entry_id IS NULL) ORDER BY e.id LIMIT 20"
        )
        for (eid,) in cur.fetchall():
            report.problems.append(Problem(_("is neither sealed nor waiting (or both)"), entry_id=eid))


def external_checkpoints(path: Path | None = None) -> list[str]:
    """The lines of the signed-checkpoint log kept outside the database (appended once a block commits)."""
    path = Path(path or settings.LEDGER_CHECKPOINT_LOG)
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def verify_external_checkpoints(report: Report, lines: list[str]) -> None:
    """The signed checkpoints written outside the database must all still be in it, unchanged.

    ``lines`` must be read before the database snapshot is taken: each was written after its block
    committed, so the snapshot holds every block they name, and one it lacks was deleted.
    """
    blocks = {b.height: b for b in Block.objects.only("height", "tree_size", "root", "block_hash")}
    for line in lines:
        if not line.strip():
            continue
        try:
            cp = checkpoint.parse(json.loads(line)["checkpoint"])
        except (ValueError, KeyError, checkpoint.CheckpointError) as exc:
            report.problems.append(Problem(_("unreadable external checkpoint: %(error)s"), params={"error": str(exc)}))
            continue
        report.external_checkpoints += 1
        block = blocks.get(cp.height)
        if block is None:
            report.problems.append(
                Problem(_("is in the external checkpoint log but not in the database"), block=cp.height)
            )
        elif (block.tree_size, bytes(block.root), bytes(block.block_hash)) != (cp.tree_size, cp.root, cp.block_hash):
            report.problems.append(Problem(_("differs from its external signed checkpoint"), block=cp.height))


def rows_against_entries(
    report: Report,
    rows: Iterable[tuple[int, int, tuple]],
    entries: Mapping[int, tuple],
    waiting: Callable[[], set[int]],
    *,
    fields: tuple[str, ...],
    name: str,
    no_entry: str,
    differs: str,
    no_row: str,
) -> int:
    """The shape of a business check whose rows each record one entry's fields (trades, disclosures).

    ``rows`` gives ``(the row's number, its entry id, its values in the order of fields)``; ``entries`` what
    the check's ``extract`` kept of each sealed entry, in the same order. A row whose entry is neither sealed
    nor waiting is ``no_entry``, one that differs ``differs`` (naming the fields), a sealed entry without its row
    ``no_row`` (the first 20); each text marked for translation, with ``%(<name>)s`` for the row's number and
    ``%(fields)s``. Returns the number of rows."""
    seen = set()
    count = 0
    for number, entry_id, values in rows:
        count += 1
        seen.add(entry_id)
        recorded = entries.get(entry_id)
        if recorded is None:
            if entry_id not in waiting():
                report.problems.append(Problem(no_entry, entry_id=entry_id, params={name: number}))
        elif values != recorded:
            diff = sorted(k for k, mine, theirs in zip(fields, values, recorded, strict=True) if mine != theirs)
            report.problems.append(
                Problem(differs, entry_id=entry_id, params={name: number, "fields": ", ".join(diff)})
            )
    for eid in sorted(set(entries) - seen)[:20]:
        report.problems.append(Problem(no_row, entry_id=eid))
    return count


def rows_agree(rows: list[tuple], entries: Mapping[int, tuple]) -> int | None:
    """The chunk form of ``rows_against_entries``, for ``BusinessCheck.agrees``: ``rows`` are ``(entry id,
    *values)``, the rows of one chunk's entries; their number when every entry of ``entries`` has exactly one row
    and its values, ``None`` otherwise (two rows of one entry are a doubt)."""
    by_entry = {row[0]: row[1:] for row in rows}
    return len(rows) if len(by_entry) == len(rows) and by_entry == entries else None


def rows_tally(table: str, column: str = "entry_id") -> tuple[int, int]:
    """``table``'s rows, and how many of them belong to an entry still waiting to be sealed (for
    ``BusinessCheck.tally``: the chunks must account for all the others)."""
    quote = connection.ops.quote_name
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT count(*), count(p.entry_id) FROM {quote(table)} t "
            f"LEFT JOIN {quote(PendingEntry._meta.db_table)} p ON p.entry_id = t.{quote(column)}"
        )
        total, waiting = cur.fetchone()
    return total, waiting


def verify_business(report: Report, collected: dict[str, dict[int, Any]]) -> None:
    """The business rows agree with their entries: each check registered by the app that owns the rows."""
    waiting: set[int] | None = None

    def pending() -> set[int]:
        nonlocal waiting
        if waiting is None:  # read once, only if a check asks (a row whose entry is not sealed yet)
            waiting = set(PendingEntry.objects.values_list("entry_id", flat=True))
        return waiting

    for check in hooks.business_checks:
        check.check(report, collected.get(check.name, {}), pending)
    # A check names the entry; where it is sealed, its block and leaf are named too (the first bad block).
    unplaced = {p.entry_id for p in report.problems if p.entry_id is not None and p.block is None}
    if unplaced:
        placed = {
            entry_id: (block, index)
            for entry_id, block, index in Leaf.objects.filter(entry_id__in=unplaced).values_list(
                "entry_id", "block_id", "leaf_index"
            )
        }
        for p in report.problems:
            if p.block is None and p.entry_id in placed:
                p.block, p.leaf_index = placed[p.entry_id]


def ledger_verify(
    *,
    progress: Callable[[int, int], None] | None = None,
    checkpoint_log: Path | None = None,
    parallel: bool = False,
    workers: int | None = None,
) -> Report:
    """Verify the ledger as of one moment of a live exchange.

    Every part reads one REPEATABLE READ snapshot: otherwise a deposit, a seal
    or a trade committed between two of the queries (cash held and deposits
    summed apart, a trade's entry sealed after the chain was read) would look
    like a broken ledger. The external checkpoint log is read first, so every
    block it names is in the snapshot. Inside a caller's transaction that
    transaction's reads are used as they are.

    A fast pass (``ledger.fast_verification``) proves a sound ledger sound; at its first doubt the full walk
    below runs and names the first bad block and entry. ``parallel``: the fast pass reads the chunks in
    ``workers`` processes in all (default one a core), this one and forked ones on the same snapshot, each
    claiming the next chunk and comparing its business rows too; this one first counts those rows (the command
    runs in parallel; a web request does not fork its server).
    """
    from .fast_verification import ledger_sound

    logged = external_checkpoints(checkpoint_log)
    owned = not connection.in_atomic_block
    with read_only_snapshot():
        report = Report()
        if ledger_sound(report, progress, parallel=parallel and owned, workers=workers):
            verify_external_checkpoints(report, logged)
            if report.ok:
                return report
        # Something differs: the full walk, in the same snapshot, says what and where.
        report = Report()
        collected = verify_chain(report, progress)
        verify_unsealed(report)
        verify_external_checkpoints(report, logged)
        verify_business(report, collected)
    return report
