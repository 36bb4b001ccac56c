"""The fast pass of ``ledger_verify``: proves a sound ledger sound, or says that something is wrong.

It checks what the full walk (``ledger.verification.verify_chain`` and the
business checks) checks, in bulk:

* **the chain**: the entries' bytes, stored leaf hashes and sealed leaf nodes
  of 65,536 leaves at a time arrive as three concatenated byte strings (and
  the leaf indexes and lengths as packed integers) from one binary ``COPY``;
  leaf hashes are recomputed in one pass, compared with what is stored by two
  byte-string comparisons (every stored hash counted 32 bytes long, so that
  no two rewritten rows concatenate alike), and each chunk's perfect subtrees are hashed level
  by level, so a block's root is its frontier plus O(log n) of those nodes.
  Blocks, headers, links, checkpoints and signatures are checked as the full
  walk does (the same function);
* **the business rows** (trades, settlements, disclosures, conservation, the
  unsealed queue): by the checks each app registered, over the entries of
  their kinds. When the caller asks (the command does) and the snapshot's
  transaction is ours, they run in a forked process on the same snapshot
  (``pg_export_snapshot``), beside the chain, so the two halves use two cores.

It names nothing: at the first doubt it answers ``False`` and ``ledger_verify``
runs the full walk in the same snapshot, which names the first bad block and
entry. So a tampered ledger costs both passes; a sound one only this one.
"""

from __future__ import annotations

import array
import bisect
import gc
import hashlib
import itertools
import multiprocessing
import struct
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from django.db import DatabaseError, connection, connections, transaction

from . import checkpoint, hooks, merkle
from .models import Block, PendingEntry
from .verification import Report, _check_block, _Key, _key_event, copy_binary, verify_unsealed

LEVEL = 16
CHUNK = 1 << LEVEL  # leaves per read: a perfect subtree, so a whole chunk joins the frontier as one node
WORK_MEM = "128MB"

# The chunk's columns, each aggregated in leaf order into one value. The sorted subquery feeds every
# aggregate in the same order, and the leaf indexes come back too, so that order is checked, not assumed.
# The last value counts the hashes that are not 32 bytes: the concatenations are compared whole, and two
# rows rewritten to a short and a long hash would concatenate to the same bytes.
_CHAIN_COPY = (
    "COPY (SELECT string_agg(int8send(i), ''::bytea), string_agg(int4send(length(c)), ''::bytea), "
    "string_agg(c, ''::bytea), string_agg(h, ''::bytea), int8send(count(*) FILTER (WHERE length(h) <> 32)) "
    "FROM (SELECT l.leaf_index AS i, e.canonical AS c, e.leaf_hash AS h FROM ledger_leaf l "
    "JOIN ledger_entry e ON e.id = l.entry_id WHERE l.leaf_index >= {lo} AND l.leaf_index < {hi} "
    "ORDER BY l.leaf_index) s) TO STDOUT (FORMAT binary)"
)
_NODES_COPY = (
    "COPY (SELECT string_agg(int8send(i), ''::bytea), string_agg(h, ''::bytea), "
    "int8send(count(*) FILTER (WHERE length(h) <> 32)) FROM (SELECT index AS i, hash AS h FROM ledger_node "
    "WHERE level = 0 AND index >= {lo} AND index < {hi} ORDER BY index) s) TO STDOUT (FORMAT binary)"
)
_NONE = (0).to_bytes(8, "big")


class _Doubt(Exception):
    """Something differs: leave it to the full walk to say what and where."""


def _copy_one_row(cur, query: str, columns: int) -> list[bytes]:
    """The one row of ``columns`` bytea values of a binary COPY (an empty value for NULL)."""
    try:
        data, pos = copy_binary(cur, query)
    except ValueError as exc:
        raise _Doubt(str(exc)) from exc
    (fields,) = struct.unpack_from(">h", data, pos)
    if fields != columns:
        raise _Doubt("unexpected COPY row")
    pos += 2
    out = []
    for _ in range(columns):
        (size,) = struct.unpack_from(">i", data, pos)
        pos += 4
        if size < 0:
            out.append(b"")
            continue
        out.append(bytes(data[pos : pos + size]))
        pos += size
    return out


def _ints(packed: bytes, code: str) -> array.array:
    values = array.array(code, packed)
    if sys.byteorder == "little":
        values.byteswap()
    return values


def _chunk_leaves(cur, lo: int, hi: int) -> list[bytes]:
    """The recomputed leaf hashes of leaves [lo, hi), after checking that every one is there, in order, and
    hashes to its stored leaf hash and to the leaf node sealed at its index."""
    indexes, lengths, canonical, stored, odd = _copy_one_row(cur, _CHAIN_COPY.format(lo=int(lo), hi=int(hi)), 5)
    expected = array.array("q", range(lo, hi))
    if _ints(indexes, "q") != expected:
        raise _Doubt("a leaf is missing")
    if odd != _NONE:
        raise _Doubt("a stored leaf hash is not 32 bytes")
    ends = list(itertools.accumulate(_ints(lengths, "i")))
    if (ends[-1] if ends else 0) != len(canonical):
        raise _Doubt("lengths do not add up")
    prefix = hashlib.sha256(b"\x00")
    view = memoryview(canonical)

    def leaf(start: int, end: int) -> bytes:
        h = prefix.copy()
        h.update(view[start:end])
        return h.digest()

    leaves = list(map(leaf, itertools.chain((0,), ends), ends))
    joined = b"".join(leaves)
    if joined != stored:
        raise _Doubt("a leaf hash differs")
    node_indexes, nodes, odd = _copy_one_row(cur, _NODES_COPY.format(lo=int(lo), hi=int(hi)), 3)
    if _ints(node_indexes, "q") != expected or odd != _NONE or nodes != joined:
        raise _Doubt("a sealed leaf node differs (or is missing)")
    return leaves


def _prefix_root(frontier: merkle.Frontier, levels: list[list[bytes]], count: int) -> bytes:
    """The root of the first ``frontier.size + count`` leaves: the frontier of the chunks before, then the
    perfect subtrees of this chunk covering its first ``count`` leaves, largest first."""
    tree = frontier.copy()
    offset = 0
    for level in range(min(count.bit_length(), len(levels)) - 1, -1, -1):
        if count & (1 << level):
            tree.append_subtree(level, levels[level][offset >> level])
            offset += 1 << level
    return tree.root()


def chain_ok(report: Report, progress: Callable[[int, int], None] | None = None) -> None:
    """Leaves, tree, blocks, headers, links, checkpoints and signatures, counted into ``report``; raises
    ``_Doubt`` at the first difference."""
    blocks = list(Block.objects.order_by("height").defer("frontier").prefetch_related("signatures"))
    total = blocks[-1].tree_size if blocks else 0
    keys: dict[str, _Key] = {}
    rotations = _key_rotations(blocks, total)
    frontier = merkle.Frontier()
    prev_hash = checkpoint.ZERO_HASH
    b = 0
    with connection.cursor() as cur:
        # A chunk's rows are sorted in memory (about 30 MB at 400 bytes an entry), not spilled to disk.
        cur.execute("SELECT set_config('work_mem', %s, true)", [WORK_MEM])
        for lo in range(0, total, CHUNK):
            hi = min(lo + CHUNK, total)
            try:
                with transaction.atomic():  # a savepoint: the full walk still reads this snapshot after an error
                    leaves = _chunk_leaves(cur, lo, hi)
            except DatabaseError as exc:  # a chunk PostgreSQL cannot aggregate (over 1 GB of entries)
                raise _Doubt("the chunk could not be read in bulk") from exc
            levels = merkle.perfect_levels(leaves)
            while b < len(blocks) and blocks[b].tree_size <= hi:
                block = blocks[b]
                if (
                    block.height != b
                    or block.first_leaf_index != (blocks[b - 1].tree_size if b else 0)
                    or block.tree_size <= block.first_leaf_index
                ):
                    raise _Doubt("blocks do not follow each other")
                for height, payload in rotations.get(block.height, ()):
                    try:
                        _key_event(keys, payload, height)
                    except (AttributeError, TypeError, ValueError) as exc:
                        raise _Doubt("a KEY_ROTATION entry has the wrong shape") from exc
                before = len(report.problems)
                root = _prefix_root(frontier, levels, block.tree_size - lo)
                _check_block(report, block, block.tree_size, root, prev_hash, keys)
                if len(report.problems) != before:
                    raise _Doubt("a block differs")
                prev_hash = bytes(block.block_hash)
                report.blocks += 1
                b += 1
            if hi - lo == CHUNK:
                frontier.append_subtree(LEVEL, levels[LEVEL][0])
            report.leaves = hi
            if progress:
                progress(hi, total)
    if b != len(blocks):
        raise _Doubt("a block's leaves are missing")


def _key_rotations(blocks: list[Block], total: int) -> dict[int, list[tuple[int, dict]]]:
    """The KEY_ROTATION payloads, by the height of the block that seals them."""
    by_height: dict[int, list[tuple[int, dict]]] = {}
    sizes = [block.tree_size for block in blocks]
    with connection.cursor() as cur:
        cur.execute(
            "SELECT l.leaf_index, e.canonical FROM ledger_leaf l JOIN ledger_entry e ON e.id = l.entry_id "
            "WHERE e.kind = 'KEY_ROTATION' AND l.leaf_index < %s ORDER BY l.leaf_index",
            [total],
        )
        for index, data in cur.fetchall():
            try:
                doc = orjson.loads(bytes(data))
                payload = doc["payload"]
                if doc.get("kind") != "KEY_ROTATION" or not isinstance(payload, dict):
                    raise ValueError
            except (ValueError, KeyError, TypeError) as exc:
                raise _Doubt("a KEY_ROTATION entry is not what it says") from exc
            at = bisect.bisect_right(sizes, index)
            if at == len(blocks):  # tree sizes out of order: the block checks will say so
                raise _Doubt("a KEY_ROTATION entry outside every block")
            height = blocks[at].height
            by_height.setdefault(height, []).append((height, payload))
    return by_height


def business_ok(report: Report) -> bool:
    """The business checks over the payloads of the sealed entries of their kinds, and the unsealed queue."""
    total = Block.objects.order_by("-height").values_list("tree_size", flat=True).first() or 0
    checks = list(hooks.business_checks)
    kinds = sorted(set().union(*(c.kinds for c in checks)))
    collected: dict[str, dict[int, Any]] = {c.name: {} for c in checks}
    readers = {k: [(c.extract, collected[c.name]) for c in checks if k in c.kinds] for k in kinds}
    if kinds:
        with connection.cursor() as cur:
            query = cur.mogrify(_PAYLOADS_COPY, [tuple(kinds), total]).decode()
            for eid, kind, data in _payload_rows(cur, query):
                try:
                    doc = orjson.loads(data)
                    payload = doc["payload"]
                    if doc["kind"] != kind or not isinstance(payload, dict):
                        return False
                    for extract, into in readers[kind]:
                        into[eid] = extract(kind, payload)
                except (ArithmeticError, AttributeError, KeyError, TypeError, ValueError):  # orjson's error too
                    return False
    _checks_run(report, checks, collected)
    verify_unsealed(report)
    return not report.problems


_PAYLOADS_COPY = (
    "COPY (SELECT e.id::int8, e.kind, e.canonical FROM ledger_leaf l JOIN ledger_entry e ON e.id = l.entry_id "
    "WHERE e.kind IN %s AND l.leaf_index < %s) TO STDOUT (FORMAT binary)"
)
_ROW = struct.Struct(">hiqi")  # 3 fields; the id (8 bytes); the kind's length


def _payload_rows(cur, query: str):
    """(entry id, kind, canonical bytes) of a binary COPY of (int8, text, bytea) columns."""
    data, pos = copy_binary(cur, query)
    end = len(data) - 2
    row, length = _ROW.unpack_from, struct.Struct(">i").unpack_from
    while pos < end:
        fields, _, eid, size = row(data, pos)
        if fields != 3:
            raise ValueError("a row of another shape")
        pos += _ROW.size
        kind = str(data[pos : pos + size], "utf-8")
        pos += size
        (size,) = length(data, pos)
        pos += 4
        yield eid, kind, bytes(data[pos : pos + size])
        pos += size


def _checks_run(report: Report, checks: list, collected: dict[str, dict[int, Any]]) -> None:
    waiting: set[int] | None = None

    def pending() -> set[int]:
        nonlocal waiting
        if waiting is None:
            waiting = set(PendingEntry.objects.values_list("entry_id", flat=True))
        return waiting

    for check in checks:
        check.check(report, collected.get(check.name, {}), pending)


# What the forked business process keeps of its parent: the parent's connection, never used nor closed here.
_inherited: list[Any] = []


def _business_in_child(snapshot: str, send) -> None:
    _inherited.append(connections["default"])  # the parent's: closing it would end the parent's session
    try:
        connections["default"] = connections.create_connection("default")
        with transaction.atomic():
            with connection.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cur.execute("SET TRANSACTION SNAPSHOT %s", [snapshot])
            report = Report()
            with _collector_paused():
                ok = business_ok(report)
        send.send((ok, report.trades))
    except BaseException as exc:  # the parent then runs the checks itself
        send.send((None, repr(exc)))
    finally:
        if connections["default"] is not _inherited[-1]:
            connections["default"].close()
        send.close()


class _BusinessProcess:
    """The business half in a forked process reading the caller's snapshot."""

    def __init__(self) -> None:
        with connection.cursor() as cur:
            cur.execute("SELECT pg_export_snapshot()")
            snapshot = cur.fetchone()[0]
        context = multiprocessing.get_context("fork")
        self.receive, send = context.Pipe(duplex=False)
        self.process = context.Process(target=_business_in_child, args=(snapshot, send), daemon=True)
        self.process.start()
        send.close()

    def result(self) -> tuple[bool | None, Any]:
        try:
            while not self.receive.poll(1.0):
                if not self.process.is_alive() and not self.receive.poll(0):
                    return None, "the business process ended without an answer"
            return self.receive.recv()
        except EOFError:
            return None, "the business process ended without an answer"
        finally:
            self.stop()

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join()


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off for a pass that makes hundreds of thousands of acyclic objects (bytes,
    tuples, the payloads' dicts), which reference counting frees anyway: its full collections were up to a
    third of the business half's time (measured with `make bench`)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def ledger_sound(report: Report, progress: Callable[[int, int], None] | None, *, parallel: bool) -> bool:
    with _collector_paused():
        return _ledger_sound(report, progress, parallel=parallel)


def _ledger_sound(report: Report, progress: Callable[[int, int], None] | None, *, parallel: bool) -> bool:
    """Whether the whole ledger verifies (counts in ``report``); ``False`` at the first doubt.

    ``parallel``: the caller owns the snapshot's transaction, so a forked process can import it (a
    caller's uncommitted rows would be invisible to it).
    """
    helper = None
    if parallel and "fork" in multiprocessing.get_all_start_methods():
        try:
            helper = _BusinessProcess()
        except Exception:  # no fork here: the checks run in this process
            helper = None
    try:
        chain_ok(report, progress)
    except BaseException as exc:  # a doubt, or an error the caller sees: the business process stops either way
        if helper is not None:
            helper.stop()
        if isinstance(exc, _Doubt):
            return False
        raise
    if helper is None:
        return business_ok(report)
    ok, detail = helper.result()
    helper = None
    if ok is None:
        return business_ok(report)
    report.trades = detail
    return bool(ok)
