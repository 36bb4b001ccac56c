"""What this node already published, kept outside its database, and the guard that refuses to seal behind it.

Every signed checkpoint is appended to ``LEDGER_CHECKPOINT_LOG`` once its block commits
(``services._checkpoint_log_append``). A database restored from an older backup has lost the blocks sealed
after the backup was taken, but not that file: sealing the waiting entries would sign a checkpoint of a
size (or a height) already published with other contents, a split view (DESIGN §4: the exchange can never
show two histories). ``block_seal`` therefore asks ``held()`` first and seals nothing while the database's
ledger lacks the newest checkpoint the file holds, or holds another one of its height; ``manage.py
ledger_verify`` (exit status 1) and the operations page say so too. The recovery is in docs/operations.md,
"Backups and restore".

The checkpoint log can be restored too (a whole machine brought back from an older snapshot) or lost. So each
process that seals also asks its witnesses, at its first seal (and again a minute later while one cannot be
reached), whether they co-signed more than this database holds: the head's checkpoint is sent as a co-signing
request would send it (``witness_held``), and a witness that answers with a larger size, or refuses the head as
another history, holds sealing for the life of that process. The operations page reads the reason a seal was
last refused for (the log's or a witness's) from the cache: a web host has no checkpoint log of its own. A
witness that cannot be reached (or whose server fails, 5xx), or refuses for another reason (a key it does not
trust yet), holds nothing: an unreachable witness delays finality, never trading. The other witnesses are asked
all the same, and all of them again a minute later until every one has co-signed the head.

The file is only appended to, after each commit, by whichever worker sealed: two workers' lines may land out
of order, so the newest checkpoint is the largest of the file's last lines, not simply its last line. A file
that does not exist (a new node, or a host that never sealed) holds nothing back.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
from pathlib import Path

from django.conf import settings
from django.core.cache import cache

from . import checkpoint, selectors, witnessing
from .models import Block, WitnessState

log = logging.getLogger(__name__)

# The last lines read (about twenty): far more than the few checkpoints two sealing processes can append out
# of order (each is one block's, ~400 bytes), and few enough to parse before every seal (a few milliseconds).
TAIL_BYTES = 8 * 1024


class LedgerHeld(RuntimeError):
    """The database's ledger is behind, or forked from, a checkpoint this node already published."""


def newest_published(path: Path | None = None) -> checkpoint.Checkpoint | None:
    """The checkpoint of the largest tree size among the last lines of the checkpoint log; None without one.

    Lines that do not parse (a line cut by a crash while it was written) are skipped."""
    path = Path(path or settings.LEDGER_CHECKPOINT_LOG)
    try:
        with path.open("rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - TAIL_BYTES))
            tail = fh.read()
    except FileNotFoundError:
        return None
    lines = tail.split(b"\n")
    if size > TAIL_BYTES:
        lines = lines[1:]  # the first may be the end of a line cut by the seek
    newest = None
    for raw in lines:
        if not raw.strip():
            continue
        try:
            cp = checkpoint.parse(json.loads(raw)["checkpoint"])
        except (ValueError, KeyError, TypeError, checkpoint.CheckpointError):
            continue
        if cp.height is not None and (newest is None or cp.tree_size > newest.tree_size):
            newest = cp
    return newest


def held_at_last_seal() -> str | None:
    """Why a sealing process last refused to seal (the checkpoint log's or a witness's reason), for the operations
    page: the log is on the worker hosts, and a web host, which has none, would not find it there."""
    return cache.get(CACHE_KEY)


def held(path: Path | None = None) -> str | None:
    """Why this database's ledger may not be sealed on, or None when it holds the newest published checkpoint.

    Behind: it has no block of that height (a restored older backup). Forked: its block of that height has
    another size, root or header than the one published."""
    path = Path(path or settings.LEDGER_CHECKPOINT_LOG)
    published = newest_published(path)
    if published is None:
        return None
    block = Block.objects.filter(height=published.height).only("height", "tree_size", "root", "block_hash").first()
    if block is None:
        head = Block.objects.order_by("-height").only("height", "tree_size").first()
        ends = f"block {head.height}, size {head.tree_size}" if head else "no block"
        return (
            f"the database's ledger ends at {ends}, behind the checkpoint of block {published.height}, "
            f"size {published.tree_size} that this node already published ({path}): a restored older backup? "
            "Nothing is sealed until the missing blocks are restored (docs/operations.md, Backups and restore)"
        )
    if (block.tree_size, bytes(block.root), bytes(block.block_hash)) != (
        published.tree_size,
        published.root,
        published.block_hash,
    ):
        return (
            f"the database's block {block.height} (size {block.tree_size}) differs from the checkpoint of that "
            f"height this node already published ({path}): a forked ledger. Nothing is sealed "
            "(docs/operations.md, Backups and restore)"
        )
    return None


# This process's asking of its witnesses: None until every witness answered (or was found holding more);
# then the reason to hold, or "" for none. ``_asked_at`` paces the asking while one cannot be reached.
_witness_reason: str | None = None
_asked_at = float("-inf")
ASK_EVERY = 60.0
CACHE_KEY = "ledger:held"


class _NoAnswer(Exception):
    """The witness could not be reached, its server failed (5xx: a proxy whose witness is down), or it would not
    judge the head: 400, 403 (it does not trust this log's key yet), 404 (it does not know this log) say nothing
    about which history it holds."""


def _ask(w: witnessing.Witness, head: Block, post: witnessing.Post) -> str:
    """Why ``w`` says this database is behind or forked ("" when it agrees); raises ``_NoAnswer`` without one."""
    state = WitnessState.objects.filter(witness=w.vkey).first()
    old = state.cosigned_size if state and state.cosigned_size <= head.tree_size else 0
    note = witnessing.checkpoint_note(head)
    for _ in range(2):
        try:
            reply = post(w.url + "/add-checkpoint", witnessing.request_body(head, old, note))
        except (OSError, http.client.HTTPException, UnicodeDecodeError) as exc:  # URLError, timeouts, a cut reply
            raise _NoAnswer(str(exc)) from exc
        if reply.status == 409 and reply.content_type.startswith("text/x.tlog.size"):
            try:
                theirs = int(reply.body.strip())
            except ValueError:
                return ""
            if theirs > head.tree_size:
                return (
                    f"the witness {w.name} co-signed size {theirs}; the database's ledger ends at block "
                    f"{head.height}, size {head.tree_size}: a restored older backup? Nothing is sealed until the "
                    "missing blocks are restored (docs/operations.md, Backups and restore)"
                )
            if theirs == old or (theirs and selectors.block_at_size(theirs) is None):
                return (
                    f"the witness {w.name} co-signed another checkpoint of size {theirs} than this database's "
                    "ledger holds: a forked ledger. Nothing is sealed (docs/operations.md, Backups and restore)"
                )
            old = theirs  # a lost state: once more from the witness's size
            continue
        if reply.status == 422:
            return (
                f"the witness {w.name} refused the database's head (block {head.height}) as inconsistent with what "
                "it co-signed: a forked ledger. Nothing is sealed (docs/operations.md, Backups and restore)"
            )
        if reply.status != 200:  # 400, 403, 404 (C2SP tlog-witness) judge nothing about this head; 5xx: no witness
            raise _NoAnswer(f"HTTP {reply.status}: {reply.body.strip()[:200]}")
        return ""  # co-signed: the head extends what it holds
    return ""


def witness_held(*, post: witnessing.Post | None = None) -> str | None:
    """Why a witness says this database's ledger may not be sealed on, asked once a process; None otherwise."""
    global _witness_reason, _asked_at
    if _witness_reason is not None:
        return _witness_reason or None
    configured = witnessing.witnesses()
    if not configured:
        return None
    now = time.monotonic()
    if now - _asked_at < ASK_EVERY:
        return None
    head = Block.objects.order_by("-height").first()
    if head is None:
        return None
    _asked_at = now
    unanswered = False
    for w in configured:
        try:
            reason = _ask(w, head, post or witnessing.http_post)
        except _NoAnswer as exc:  # asked again a minute later; the next witness is asked all the same
            log.warning("witness %s unreachable before sealing: %s", w.name, exc)
            unanswered = True
            continue
        if reason:
            _witness_reason = reason
            return reason
    if not unanswered:
        _witness_reason = ""  # every witness agreed: not asked again by this process
    return None


_last_logged = float("-inf")
LOG_EVERY = 60.0
_page_told = False  # this process left a reason for the operations page, dropped once it seals again


def _tell_the_page(reason: str | None) -> None:
    global _page_told
    if reason is None and not _page_told:
        return  # no Redis round trip on every healthy seal
    try:
        if reason is None:
            cache.delete(CACHE_KEY)
        else:
            cache.set(CACHE_KEY, reason, timeout=int(LOG_EVERY * 5))
        _page_told = reason is not None
    except Exception:  # the page's copy only: the seal is refused (or goes on) all the same
        log.warning("could not keep the reason sealing is held for the operations page", exc_info=True)


def refuse_if_held() -> None:
    """Raise ``LedgerHeld`` (logged at ERROR, at most once a minute per process: beat asks every second). The
    reason is kept in the cache for the operations page (``held_at_last_seal``), whichever host shows it."""
    global _last_logged
    reason = held()
    if reason is None:
        reason = witness_held()
    _tell_the_page(reason)
    if reason is None:
        return
    now = time.monotonic()
    if now - _last_logged >= LOG_EVERY:
        _last_logged = now
        log.error("ledger sealing held: %s", reason)
    raise LedgerHeld(reason)
