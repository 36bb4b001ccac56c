"""What this node already published, kept outside its database, and the guard that refuses to seal behind it.

Every signed checkpoint is appended to ``LEDGER_CHECKPOINT_LOG`` once its block commits
(``services._checkpoint_log_append``). A database restored from an older backup has lost the blocks sealed
after the backup was taken, but not that file: sealing the waiting entries would sign a checkpoint of a
size (or a height) already published with other contents, a split view (DESIGN §4: the exchange can never
show two histories). ``block_seal`` therefore asks ``held()`` first and seals nothing while the database's
ledger lacks the newest checkpoint the file holds, or holds another one of its height; ``manage.py
ledger_verify`` (exit status 1) and the operations page say so too. The recovery is in docs/operations.md,
"Backups and restore".

The file is only appended to, after each commit, by whichever worker sealed: two workers' lines may land out
of order, so the newest checkpoint is the largest of the file's last lines, not simply its last line. A file
that does not exist (a new node, or a host that never sealed) holds nothing back.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from django.conf import settings

from . import checkpoint
from .models import Block

log = logging.getLogger(__name__)

# The last lines read: far more than the few checkpoints that can be appended out of order (each is one
# block's, ~400 bytes), and cheap enough to read before every seal.
TAIL_BYTES = 16 * 1024


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


_last_logged = float("-inf")
LOG_EVERY = 60.0


def refuse_if_held() -> None:
    """Raise ``LedgerHeld`` (logged at ERROR, at most once a minute per process: beat asks every second)."""
    global _last_logged
    reason = held()
    if reason is None:
        return
    now = time.monotonic()
    if now - _last_logged >= LOG_EVERY:
        _last_logged = now
        log.error("ledger sealing held: %s", reason)
    raise LedgerHeld(reason)
