"""The fast pass of ``ledger_verify``: proves a sound ledger sound, or says that something is wrong.

It checks what the full walk (``ledger.verification.verify_chain`` and the
business checks) checks, in bulk, reading every entry once:

* **the chain**: a chunk of leaves at a time (a perfect subtree, ``_plan``), three binary ``COPY``s of a few
  concatenated byte strings each (the leaves and their entry ids; those
  entries, by ranges of ids, with their lengths, stored leaf hashes and kinds;
  the sealed leaf nodes); leaf hashes are recomputed in one pass, compared
  with what is stored by byte-string comparisons (every stored hash counted 32
  bytes long, so that no two rewritten rows concatenate alike), and each
  chunk's perfect subtrees are hashed level by level, so a block's root is the
  frontier of the chunks before it plus O(log n) nodes of its last chunk.
  Blocks, headers, links, checkpoints and signatures are checked as the full
  walk does (the same function);
* **the payloads** the business checks need are parsed from the same bytes,
  in the same pass;
* **the business rows** (trades, settlements, disclosures, conservation, the
  unsealed queue): each check registered by its app, in its fast form where
  it has one (``BusinessCheck.rows_of``, ``agrees`` and ``tally``): each
  chunk's entries compared with their rows where the chunk is read, then
  forgotten, so that memory stays that of a chunk however long the ledger;
  the rows counted once, to show that no row is left over. Stricter than the
  full check, never laxer.

When the caller owns the snapshot's transaction (the command), forked worker
processes (one a core, less this one) read the same snapshot
(``pg_export_snapshot``); this process counts the business rows meanwhile,
then reads chunks beside them, each process claiming the next chunk from a
shared counter until none is left. Each worker answers with its chunks' roots
and the few nodes each block root needs, and how many business rows agreed.

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
import os
import struct
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any

import orjson
from django.db import DatabaseError, connection, connections, transaction

from . import checkpoint, hooks, merkle
from .models import Block, PendingEntry
from .verification import UNREADABLE, Report, _check_block, _Key, _key_event, copy_binary

# A chunk is a perfect subtree of 2^level leaves, so that a whole chunk joins the frontier as one node; each pass
# plans its chunks (``_plan``) between these levels.
MIN_LEVEL, MAX_LEVEL = 10, 14
WORK_MEM = "64MB"

# A chunk is read in three queries, each a binary COPY of a few aggregated values (concatenated byte strings,
# not a row an entry, which Python would parse field by field): the leaves, in order, with their entry ids;
# those entries, by ranges of ids; the sealed leaf nodes. The entries are not joined to the leaves in SQL: a
# join probes the entries' primary key once a leaf, which took over half of PostgreSQL's time per chunk; a
# range of ids is one index scan, and Python puts the entries in leaf order by their ids. The entries come in
# rows of at most 64, by ``id >> GROUP_SHIFT`` (each carries its ids): a whole chunk as one
# value took PostgreSQL's COPY about three times as long as the same bytes in rows of 64 (measured, 4,096
# entries of 400 bytes). Each row's aggregates see its entries in one order, so its ids, lengths, bytes,
# hashes and kinds line up; hashed by group from an index scan, that order is the ids' (no sort of the entries,
# and Python maps nothing when the leaves are in id order, as they usually are), but it is not relied on. The
# leaf indexes come back with the leaves, so that order is checked, not assumed.
GROUP_SHIFT = 6
_LEAVES_COPY = (
    "COPY (SELECT string_agg(int8send(i), ''::bytea), string_agg(int8send(e), ''::bytea) FROM "
    "(SELECT leaf_index AS i, entry_id AS e FROM ledger_leaf WHERE leaf_index >= {lo} AND leaf_index < {hi} "
    "ORDER BY leaf_index) s) TO STDOUT (FORMAT binary)"
)
# The last value counts the hashes that are not 32 bytes: the concatenations are compared whole, and two rows
# rewritten to a short and a long hash would concatenate to the same bytes.
_ENTRIES_COPY = (
    "COPY (SELECT string_agg(int8send(id), ''::bytea), string_agg(int4send(length(canonical)), ''::bytea), "
    "string_agg(canonical, ''::bytea), string_agg(leaf_hash, ''::bytea), string_agg(kind, ' '), "
    "int8send(count(*) FILTER (WHERE length(leaf_hash) <> 32)) FROM (SELECT id, kind, canonical, leaf_hash, "
    f"id >> {GROUP_SHIFT} AS g FROM ledger_entry WHERE {{ranges}} ORDER BY id) s GROUP BY g ORDER BY g) "
    "TO STDOUT (FORMAT binary)"
)
# The sealed leaf nodes as they lie in the table (sealed in index order, so nearly always in it): sorting them
# in SQL was half the query's time; the rare chunk out of order is sorted in Python.
_NODES_COPY = (
    "COPY (SELECT string_agg(int8send(index), ''::bytea), string_agg(hash, ''::bytea), "
    "int8send(count(*) FILTER (WHERE length(hash) <> 32)) FROM ledger_node "
    "WHERE level = 0 AND index >= {lo} AND index < {hi}) TO STDOUT (FORMAT binary)"
)
_NONE = (0).to_bytes(8, "big")


class _Doubt(Exception):
    """Something differs: leave it to the full walk to say what and where."""


def _copy_columns(cur, query: str, columns: int) -> list[list[bytes]]:
    """Each column's values, row by row, of a binary COPY of ``columns`` bytea values a row (an empty value for
    NULL)."""
    try:
        data, pos = copy_binary(cur, query)
    except (ValueError, struct.error) as exc:  # not a binary COPY stream, or one cut inside its header
        raise _Doubt(str(exc)) from exc
    out: list[list[bytes]] = [[] for _ in range(columns)]
    field_count, length = struct.Struct(">h").unpack_from, struct.Struct(">i").unpack_from
    end = len(data) - 2  # the trailer: a field count of -1
    try:
        while pos < end:
            (fields,) = field_count(data, pos)
            if fields != columns:
                raise _Doubt("unexpected COPY row")
            pos += 2
            for values in out:
                (size,) = length(data, pos)
                pos += 4
                if size < 0:
                    values.append(b"")
                    continue
                values.append(bytes(data[pos : pos + size]))
                pos += size
        if pos != end or field_count(data, pos) != (-1,):
            raise _Doubt("a COPY stream cut short")
    except struct.error as exc:  # a stream cut inside a row's header (a value cut short leaves pos past end)
        raise _Doubt("a COPY stream cut short") from exc
    return out


def _copy_one_row(cur, query: str, columns: int) -> list[bytes]:
    """The one row of ``columns`` bytea values of a binary COPY (an empty value for NULL)."""
    values = _copy_columns(cur, query, columns)
    if len(values[0]) != 1:
        raise _Doubt("unexpected COPY rows")
    return [column[0] for column in values]


def _ints(packed: bytes, code: str) -> array.array:
    values = array.array(code, packed)
    if sys.byteorder == "little":
        values.byteswap()
    return values


class _Reading:
    """The payloads of the business checks' kinds, read chunk by chunk: a check with a chunked fast form
    (``BusinessCheck.chunked``) compares each chunk's entries with their rows there and then, keeping only how
    many rows agreed (``matched``); the others keep every extract for the end (``collected``)."""

    def __init__(self, checks: list[hooks.BusinessCheck]) -> None:
        self.chunked = [c for c in checks if c.chunked]
        self.collected: dict[str, dict[int, Any]] = {c.name: {} for c in checks}
        self.matched: dict[str, int] = {c.name: 0 for c in self.chunked}
        kinds = sorted(set().union(*(c.kinds for c in checks)))
        self.readers = {k: [(c.extract, self.collected[c.name]) for c in checks if k in c.kinds] for k in kinds}

    def read(self, ids, kinds: list[str], view: memoryview, starts: list[int], stops: list[int], order) -> None:
        """The payloads of a chunk's entries of the checks' kinds, taken from ``view`` (``starts`` and ``stops``
        by position in the chunk as read, ``order`` those positions in leaf order), each parsed, checked to be of
        its kind, and handed to the checks that read that kind. One entry at a time, each document dropped as the
        next is parsed: a chunk's documents parsed in bulk and kept alive cost more (allocation) than the loop
        saves (`make bench`)."""
        wanted, loads = self.readers, orjson.loads
        try:
            for k in order:
                readers = wanted.get(kind := kinds[k])
                if readers is None:
                    continue
                doc = loads(view[starts[k] : stops[k]])
                payload = doc["payload"]
                if doc["kind"] != kind or type(payload) is not dict:
                    raise _Doubt("an entry's kind or payload is not what it says")
                for extract, into in readers:
                    into[ids[k]] = extract(kind, payload)
        except UNREADABLE as exc:
            raise _Doubt("a payload its checks cannot read") from exc

    def chunk_done(self) -> None:
        """Each chunked check's entries of the chunk just read against their rows, then forgotten."""
        for check in self.chunked:
            entries = self.collected[check.name]
            if not entries:
                continue
            rows = [row for lo, hi in _id_runs(entries) for row in check.rows_of(lo, hi) if row[0] in entries]
            agreed = check.agrees(rows, entries)
            if agreed is None:
                raise _Doubt(f"the {check.name} of a chunk differ from their entries")
            self.matched[check.name] += agreed
            entries.clear()


RUN_GAP = 256


def _id_runs(ids) -> list[tuple[int, int]]:
    """Sorted ``ids`` as ranges [lo, hi], a new one wherever two ids are more than ``RUN_GAP`` apart: a chunk's
    entries are nearly consecutive (sealed as they were written), and one sealed far from its neighbours costs a
    range of its own, not a read of every row between. An index reads a range in one pass; ``= ANY(ids)``, one
    probe an id, took 4.1 s of 1,000,000 entries' 16 s against 2.2 s for ranges (serial, cProfile)."""
    ordered = sorted(ids)
    if ordered[-1] - ordered[0] - (len(ordered) - 1) < RUN_GAP:  # the gaps add up to less than one: one range
        return [(ordered[0], ordered[-1])]
    runs, lo = [], ordered[0]
    for before, after in itertools.pairwise(ordered):
        if after - before > RUN_GAP:
            runs.append((lo, before))
            lo = after
    runs.append((lo, ordered[-1]))
    return runs


@dataclass
class _Chunk:
    """A verified chunk [lo, hi): its root when it is whole, and for each block ending inside it the
    perfect subtrees (level, node) covering the chunk's leaves up to that block's end, largest first."""

    lo: int
    hi: int
    level: int
    root: bytes | None
    prefixes: dict[int, list[tuple[int, bytes]]]


def _chunk(cur, lo: int, hi: int, level: int, ends: list[int], reading: _Reading | None) -> _Chunk:
    """Leaves [lo, hi) checked (every one there, in order, its entry hashing to the entry's stored leaf hash
    and to the leaf node sealed at its index), the payloads of ``reading``'s kinds read, and the nodes block
    roots need."""
    indexes, leaf_ids = _copy_one_row(cur, _LEAVES_COPY.format(lo=int(lo), hi=int(hi)), 2)
    expected = array.array("q", range(lo, hi))
    if _ints(indexes, "q") != expected:
        raise _Doubt("a leaf is missing")
    leaf_ids = _ints(leaf_ids, "q")
    if len(set(leaf_ids)) != len(leaf_ids):
        raise _Doubt("two leaves of one entry")
    ranges = " OR ".join(f"id BETWEEN {int(a)} AND {int(b)}" for a, b in _id_runs(leaf_ids)) if leaf_ids else "false"
    groups = _copy_columns(cur, _ENTRIES_COPY.format(ranges=ranges), 6)
    if any(odd != _NONE for odd in groups[5]):
        raise _Doubt("a stored leaf hash is not 32 bytes")
    # The entries as they came (every row's values joined): ids, byte ranges, stored hashes and kinds line up.
    ids = _ints(b"".join(groups[0]), "q")
    stops = list(itertools.accumulate(_ints(b"".join(groups[1]), "i")))
    canonical, stored = b"".join(groups[2]), b"".join(groups[3])
    kinds = b" ".join(groups[4]).decode("utf-8").split(" ") if ids else []
    if (stops[-1] if stops else 0) != len(canonical) or len(stops) != len(ids) or len(kinds) != len(ids):
        raise _Doubt("lengths do not add up (or an entry kind with a space in it)")
    starts = [0, *stops[:-1]]
    prefix = hashlib.sha256(b"\x00")
    view = memoryview(canonical)

    def leaf(start: int, end: int) -> bytes:
        h = prefix.copy()
        h.update(view[start:end])
        return h.digest()

    hashed = list(map(leaf, starts, stops))
    if b"".join(hashed) != stored:
        raise _Doubt("a leaf hash differs")
    # In leaf order: the entries as they came when they came so (sealed as written, the usual case), else by id.
    # A range may hold entries of no leaf of this chunk (waiting, or sealed elsewhere): they are left out.
    if ids == leaf_ids:
        order: Iterable[int] = range(len(ids))
    else:
        at = {eid: k for k, eid in enumerate(ids)}
        if len(at) != len(ids):
            raise _Doubt("two entries with one id")
        try:
            order = [at[eid] for eid in leaf_ids]
        except KeyError as exc:
            raise _Doubt("a leaf's entry is missing") from exc
    leaves = hashed if isinstance(order, range) else [hashed[k] for k in order]
    node_indexes, nodes, odd = _copy_one_row(cur, _NODES_COPY.format(lo=int(lo), hi=int(hi)), 3)
    node_indexes = _ints(node_indexes, "q")
    if odd != _NONE or len(nodes) != 32 * len(node_indexes):
        raise _Doubt("a sealed leaf node is not 32 bytes")
    if node_indexes != expected:  # stored out of index order (a row rewritten, a table reorganised): sorted here
        if sorted(node_indexes) != expected.tolist():
            raise _Doubt("a sealed leaf node is missing (or there twice)")
        by_index = sorted(zip(node_indexes, (nodes[k : k + 32] for k in range(0, len(nodes), 32)), strict=True))
        nodes = b"".join(node for _, node in by_index)
    if nodes != b"".join(leaves):
        raise _Doubt("a sealed leaf node differs")
    if reading is not None:
        reading.read(ids, kinds, view, starts, stops, order)
        reading.chunk_done()
    levels = merkle.perfect_levels(leaves)
    prefixes = {}
    for end in ends:
        count, offset, covering = end - lo, 0, []
        for height in range(min(count.bit_length(), len(levels)) - 1, -1, -1):
            if count & (1 << height):
                covering.append((height, levels[height][offset >> height]))
                offset += 1 << height
        prefixes[end] = covering
    return _Chunk(lo, hi, level, levels[level][0] if hi - lo == 1 << level else None, prefixes)


def _chunks(parts: Iterable[_Part], sizes: list[int], reading: _Reading | None, done=None) -> list[_Chunk]:
    """The chunks ``parts`` (of a pass's ``_plan``), read with this process's connection; ``done(leaves)`` after
    each."""
    out = []
    with connection.cursor() as cur:
        # A chunk's entries are grouped into their rows (``GROUP_SHIFT``) in memory (about 1 MB a chunk). The setting
        # is the transaction's: it is put back afterwards, for the full walk that may follow.
        cur.execute("SELECT current_setting('work_mem'), set_config('work_mem', %s, true)", [WORK_MEM])
        before = cur.fetchone()[0]
        try:
            for start, stop, level in parts:
                ends = sizes[bisect.bisect_right(sizes, start) : bisect.bisect_right(sizes, stop)]
                try:
                    with transaction.atomic():  # a savepoint: the full walk still reads this snapshot after an error
                        out.append(_chunk(cur, start, stop, level, ends, reading))
                except DatabaseError as exc:  # a chunk PostgreSQL cannot aggregate (a row of entries over 1 GB)
                    raise _Doubt("the chunk could not be read in bulk") from exc
                if done:
                    done(stop - start)
        finally:
            cur.execute("SELECT set_config('work_mem', %s, true)", [before])
    return out


def _blocks_ok(report: Report, blocks: list[Block], chunks: list[_Chunk], total: int) -> None:
    """Blocks, headers, links, checkpoints and signatures against the roots the chunks give; ``_Doubt`` at
    the first difference."""
    keys: dict[str, _Key] = {}
    rotations = _key_rotations(blocks, total)
    frontier = merkle.Frontier()
    prev_hash = checkpoint.ZERO_HASH
    b = 0
    for chunk in chunks:
        while b < len(blocks) and blocks[b].tree_size <= chunk.hi:
            block = blocks[b]
            if (
                block.height != b
                or block.first_leaf_index != (blocks[b - 1].tree_size if b else 0)
                or block.tree_size <= block.first_leaf_index
                or block.tree_size not in chunk.prefixes
            ):
                raise _Doubt("blocks do not follow each other")
            for height, payload in rotations.get(block.height, ()):
                try:
                    _key_event(keys, payload, height)
                except (AttributeError, TypeError, ValueError) as exc:
                    raise _Doubt("a KEY_ROTATION entry has the wrong shape") from exc
            tree = frontier.copy()
            for level, node in chunk.prefixes[block.tree_size]:
                tree.append_subtree(level, node)
            before = len(report.problems)
            _check_block(report, block, block.tree_size, tree.root(), prev_hash, keys)
            if len(report.problems) != before:
                raise _Doubt("a block differs")
            prev_hash = bytes(block.block_hash)
            report.blocks += 1
            b += 1
        if chunk.root is not None:
            frontier.append_subtree(chunk.level, chunk.root)
        report.leaves = chunk.hi
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


def _blocks() -> list[Block]:
    return list(Block.objects.order_by("height").defer("frontier").prefetch_related("signatures"))


def chain_ok(report: Report, progress: Callable[[int, int], None] | None = None) -> None:
    """Leaves, tree, blocks, headers, links, checkpoints and signatures alone (no payloads, in this process),
    counted into ``report``; raises ``_Doubt`` at the first difference."""
    blocks = _blocks()
    total = blocks[-1].tree_size if blocks else 0
    sizes = sorted({block.tree_size for block in blocks})
    chunks = _chunks(_plan(total, 1), sizes, None, _progress(progress, total))
    _blocks_ok(report, blocks, chunks, total)


def _progress(progress: Callable[[int, int], None] | None, total: int) -> Callable[[int], None] | None:
    """``progress(leaves read so far, total)`` from counts of leaves read."""
    if progress is None:
        return None
    done = 0

    def forward(leaves: int) -> None:
        nonlocal done
        done = min(total, done + leaves)  # a failed worker's chunks are read again
        progress(done, total)

    return forward


def _sealed_or_waiting(total: int) -> bool:
    """``verify_unsealed``'s meaning (every entry sealed in a leaf or waiting, never both, never neither) by
    counting, where the full form joins every entry to both tables: the waiting entries exist and none is also a
    leaf's, no leaf lies outside [0, total), and there are as many entries as leaves and waiting ones together.
    The chunks show the rest: every leaf of [0, total) there, and its entry. No entry is two leaves' because
    ``ledger_leaf.entry_id`` is a unique index (triggers and foreign keys can be switched off, an index only by
    dropping it; a chunk also doubts two leaves of one entry). So the leaves' entries and the waiting ones are as
    many distinct entries as there are entries."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT (SELECT count(*) FROM ledger_entry) - (SELECT count(*) FROM ledger_pendingentry), "
            "EXISTS (SELECT FROM ledger_leaf WHERE leaf_index >= %s), "
            "EXISTS (SELECT FROM ledger_leaf WHERE leaf_index < 0), "
            "EXISTS (SELECT FROM ledger_pendingentry p JOIN ledger_leaf l ON l.entry_id = p.entry_id), "
            "EXISTS (SELECT FROM ledger_pendingentry p WHERE NOT EXISTS "
            "(SELECT FROM ledger_entry e WHERE e.id = p.entry_id))",
            [total],
        )
        sealed, beyond, negative, both, missing = cur.fetchone()
    return sealed == total and not (beyond or negative or both or missing)


class _Waiting:
    """The ids of the entries still waiting to be sealed, read once and only if a check asks."""

    def __init__(self) -> None:
        self.ids: set[int] | None = None

    def __call__(self) -> set[int]:
        if self.ids is None:
            self.ids = set(PendingEntry.objects.values_list("entry_id", flat=True))
        return self.ids


CLAIM_TIMEOUT = 30.0  # seconds: the counter's lock is held for two reads of memory


def _claimed(counter, plan: list[_Part]) -> Iterator[_Part]:
    """The chunks of ``plan`` claimed one at a time, in order, from ``counter`` (a ``multiprocessing.Value`` the
    processes share), until none is left: between them they read every chunk once, each as many as its pace
    allows (runs fixed in advance left one process idle while another still had a third of the ledger)."""
    lock = counter.get_lock()
    while True:
        # A process killed while holding the lock would hold it for ever: the others give up rather than wait.
        if not lock.acquire(timeout=CLAIM_TIMEOUT):
            raise _Doubt("a reader died holding the chunk counter")
        try:
            n = counter.value
            counter.value = n + 1
        finally:
            lock.release()
        if n >= len(plan):
            return
        yield plan[n]


# What a forked worker keeps of its parent: the parent's connection, never used nor closed here.
_inherited: list[Any] = []


def _work_in_child(snapshot: str, counter, plan: list[_Part], sizes: list[int], reading: _Reading, send) -> None:
    _inherited.append(connections["default"])  # the parent's: closing it would end the parent's session
    try:
        connections["default"] = connections.create_connection("default")
        with transaction.atomic():
            with connection.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cur.execute("SET TRANSACTION SNAPSHOT %s", [snapshot])
            chunks = _chunks(_claimed(counter, plan), sizes, reading, lambda n: send.send(("progress", n)))
        send.send(("done", (chunks, reading.collected, reading.matched)))
    except _Doubt as exc:
        send.send(("doubt", str(exc)))
    except BaseException as exc:  # the parent then runs the pass itself
        send.send(("failed", repr(exc)))
    finally:
        if connections["default"] is not _inherited[-1]:
            connections["default"].close()
        send.close()


class _Workers:
    """Forked processes claiming chunks of the caller's snapshot from ``counter``, beside the caller."""

    def __init__(self, processes: int, counter, plan: list[_Part], sizes: list[int], reading: _Reading) -> None:
        with connection.cursor() as cur:
            cur.execute("SELECT pg_export_snapshot()")
            snapshot = cur.fetchone()[0]
        context = multiprocessing.get_context("fork")
        self.receivers, self.processes = [], []
        self.answers: list[Any] = []
        self.failed = False
        try:
            for _ in range(processes):
                receive, send = context.Pipe(duplex=False)
                process = context.Process(
                    target=_work_in_child, args=(snapshot, counter, plan, sizes, reading, send), daemon=True
                )
                process.start()
                send.close()
                self.receivers.append(receive)
                self.processes.append(process)
        except BaseException:
            self.stop()
            raise
        self.waiting = dict(enumerate(self.receivers))

    def poll(self, progress: Callable[[int], None], timeout: float = 0.0) -> None:
        """What the workers have sent so far (waiting up to ``timeout`` for something): their progress passed on,
        their answers kept; ``_Doubt`` if one doubted."""
        for receive in wait(list(self.waiting.values()), timeout=timeout):
            n = next(k for k, r in self.waiting.items() if r is receive)
            try:
                while receive.poll():
                    what, detail = receive.recv()
                    if what == "progress":
                        progress(detail)
                        continue
                    del self.waiting[n]
                    if what == "doubt":
                        raise _Doubt(detail)
                    if what == "done":
                        self.answers.append(detail)
                    else:
                        self.failed = True
                    break
            except EOFError:
                del self.waiting[n]
                self.failed = True

    def results(self, progress: Callable[[int], None]) -> list:
        """The (chunks, collected, matched) of every worker that answered, once none is still reading (a worker
        that died or failed answers nothing: the chunks it claimed are missing from the answers). ``_Doubt`` if
        one doubted."""
        try:
            while self.waiting:
                self.poll(progress, timeout=1.0)
                for n, receive in list(self.waiting.items()):
                    if not self.processes[n].is_alive() and not receive.poll(0):
                        del self.waiting[n]
                        self.failed = True
            return self.answers
        finally:
            self.stop()

    def stop(self) -> None:
        for process in self.processes:
            if process.is_alive():
                process.kill()
            process.join()
        for receive in self.receivers:
            receive.close()


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


def ledger_sound(
    report: Report, progress: Callable[[int, int], None] | None, *, parallel: bool, workers: int | None = None
) -> bool:
    with _collector_paused():
        try:
            return _ledger_sound(report, progress, workers=(workers or _cores()) if parallel else 1)
        except _Doubt:
            return False


_Part = tuple[int, int, int]  # a chunk to read: leaves [lo, hi), a perfect subtree of 2^level leaves when whole


def _plan(total: int, processes: int) -> list[_Part]:
    """The chunks of a pass over ``total`` leaves: big while there is much left, halving towards the end, so that
    ``processes`` readers claiming them in order finish together (the last chunks are small) having run few
    queries (the first are big: each chunk is five queries and their plans). A chunk is 2^level leaves with
    MIN_LEVEL <= level <= MAX_LEVEL, at most a ``2 × processes``-th of what is left; levels never grow, so every
    chunk starts at a multiple of its size and is a perfect subtree (the last one may be cut short by the end).

    Measured on `make bench`'s databases (2 cores, alternating): a million entries in chunks of 2^13–2^14 leaves
    took 6–7 s where chunks of 2^11 took 7–9 s; 20,000 entries in 2^12 took 0.19–0.21 s against 0.23–0.27 s in
    2^11, but one process then waited for the other's last chunk. A chunk of 2^14 entries is about 7 MB of
    canonical bytes in memory."""
    plan, lo, level = [], 0, MAX_LEVEL
    while lo < total:
        while level > MIN_LEVEL and (2 * max(1, processes)) << level > total - lo:
            level -= 1
        hi = min(lo + (1 << level), total)
        plan.append((lo, hi, level))
        lo = hi
    return plan


def _cores() -> int:
    """The cores this process may run on: one worker each."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _ledger_sound(report: Report, progress: Callable[[int, int], None] | None, *, workers: int) -> bool:
    """Whether the whole ledger verifies (counts in ``report``); ``False`` or ``_Doubt`` at the first doubt.

    ``workers`` above one: the caller owns the snapshot's transaction, so forked processes can import it (a
    caller's uncommitted rows would be invisible to them); this process reads chunks beside them.
    """
    blocks = _blocks()
    total = blocks[-1].tree_size if blocks else 0
    sizes = sorted({block.tree_size for block in blocks})
    checks = list(hooks.business_checks)
    reading = _Reading(checks)
    waiting = _Waiting()
    plan = _plan(total, max(1, workers))
    processes = min(max(1, workers), len(plan))
    forked, parts = None, iter(plan)
    if processes > 1 and "fork" in multiprocessing.get_all_start_methods():
        try:
            counter = multiprocessing.get_context("fork").Value("q", 0)  # a semaphore: some sandboxes have none
            forked = _Workers(processes - 1, counter, plan, sizes, reading)
        except Exception:  # no fork or no shared counter here (OSError, ImportError): this process reads every chunk
            forked = None
        else:
            # Once a worker has failed this process stops claiming: what the failed one claimed is read below.
            parts = itertools.takewhile(lambda part: not forked.failed, _claimed(counter, plan))
    done = _progress(progress, total) or (lambda leaves: None)
    try:
        # While the workers start, this process counts the rows they must account for between them; then it
        # reads chunks too, passing on the workers' progress between its own chunks.
        tallies = {c.name: c.tally(report) for c in reading.chunked}
        if not _sealed_or_waiting(total) or None in tallies.values():
            return False
        # A check that reads no entries' payloads (conservation) runs now too, rather than after every chunk
        # while the other cores wait.
        for check in checks:
            if not check.chunked and not check.kinds:
                check.check(report, {}, waiting)
        if report.problems:
            return False
        if forked is None:
            chunks = _chunks(parts, sizes, reading, done)
        else:

            def own(leaves: int) -> None:
                done(leaves)
                forked.poll(done)

            chunks = _chunks(parts, sizes, reading, own)
            answers = forked.results(done)
            forked = None
            for run, collected, matched in answers:
                chunks.extend(run)
                for name, extracted in collected.items():
                    reading.collected[name].update(extracted)
                for name, agreed in matched.items():
                    reading.matched[name] += agreed
            # The chunks a failed worker claimed (nothing of them was counted): this process reads them now.
            read = {chunk.lo for chunk in chunks}
            missing = [part for part in plan if part[0] not in read]
            if missing:
                chunks.extend(_chunks(missing, sizes, reading, done))
            chunks.sort(key=lambda chunk: chunk.lo)
            if [(chunk.lo, chunk.hi, chunk.level) for chunk in chunks] != plan:
                raise _Doubt("a chunk read twice, or not at all")
        _blocks_ok(report, blocks, chunks, total)
    finally:
        if forked is not None:
            forked.stop()
    # Every row of a chunked check agreed in its chunk or belongs to an entry still waiting: a row of no sealed
    # entry of its kinds (or of one in no chunk) would leave the count short.
    if reading.matched != tallies:
        return False
    for check in checks:
        if not check.chunked and check.kinds:
            check.check(report, reading.collected[check.name], waiting)
    return not report.problems
