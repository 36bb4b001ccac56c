"""Reads that may go to a streaming replica of the primary (``DATABASE_REPLICA_URL``, the ``replica`` alias).

Nothing is routed by itself: no database router sends a model or a query to the replica. A read goes there only
where its code asks, with ``QuerySet.using(read_alias())`` or ``replica_read(lambda alias: …)``, and only reads
that may lag: the audit trail's list and CSV, the ledger explorer's block pages, the regulatory feed and its
export (docs/architecture.md, "Reads on a replica", says which and why the others do not).

``read_alias()`` answers ``"replica"`` only when the alias is configured, no transaction is open on the primary
(a read inside a write transaction stays in it), and the replica was usable when last checked: it answered, and
lagged at most ``DATABASE_REPLICA_MAX_LAG`` seconds behind the primary. The check runs at most every
``DATABASE_REPLICA_CHECK_EVERY`` seconds in a process, by one thread at a time; the others use what it found
last. When the replica turns unusable (or usable again), that is logged once, not on every read. A read that
fails on the replica anyway (it went away between two checks, a query cancelled by a recovery conflict) is run
again on the primary by ``replica_read``, and the replica is not used until the next check finds it usable:
a replica that is down never makes a page or an answer fail.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

from .base import ServerBusy

REPLICA = "replica"
PRIMARY = DEFAULT_DB_ALIAS

logger = logging.getLogger(__name__)
T = TypeVar("T")

# How far the replica is behind, in seconds; None when it has replayed nothing (just started from a backup).
# Not in recovery (a test mirror of the primary): 0. Caught up with a live stream of WAL: 0, although the last
# replayed commit may be old (an idle primary); else the age of the last replayed commit. The replica's own view: WAL
# still on its way over a slow link is not counted (the primary's pg_stat_replication.replay_lag would; found by a
# review, documented in docs/operations.md).
LAG_SQL = """
SELECT CASE
    WHEN NOT pg_is_in_recovery() THEN 0
    WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()
         AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming') THEN 0
    ELSE EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())
END
"""

_lock = threading.Lock()
# Per process (a forked child checks for itself): when the replica was last checked (time.monotonic()) and
# whether it was usable then.
_checked: dict[int, tuple[float, bool]] = {}


def configured() -> bool:
    return bool(getattr(settings, "DATABASE_REPLICA_URL", "")) and REPLICA in settings.DATABASES


def read_alias() -> str:
    """``"replica"`` when a lag-tolerant read may go to the replica now, else ``"default"`` (the primary)."""
    if not configured():
        return PRIMARY
    if connections[PRIMARY].in_atomic_block:
        # A read in a transaction on the primary belongs to it (what it reads may be what it is about to write).
        return PRIMARY
    return REPLICA if _usable() else PRIMARY


def replica_read(read: Callable[[str], T]) -> T:
    """``read(alias)`` on the replica when ``read_alias()`` allows it, and again on the primary if it fails
    there for want of the replica. ``read`` must evaluate its querysets (a list, a page), not return them lazy."""
    alias = read_alias()
    if alias == PRIMARY:
        return read(PRIMARY)
    try:
        return read(alias)
    except (DatabaseError, ServerBusy) as exc:
        _record(False, f"a read on it failed ({_one_line(exc)})")
        _close_quietly()
        return read(PRIMARY)


def replica_lag(alias: str = REPLICA) -> float | None:
    """Seconds the replica is behind (``LAG_SQL``); the seam tests replace."""
    with connections[alias].cursor() as cur:
        cur.execute(LAG_SQL)
        (lag,) = cur.fetchone()
    return None if lag is None else float(lag)


def _usable() -> bool:
    pid = os.getpid()
    last = _checked.get(pid)
    every = float(getattr(settings, "DATABASE_REPLICA_CHECK_EVERY", 5))
    if last is not None and time.monotonic() - last[0] < every:
        return last[1]
    # One thread checks; the others go on with what was found last (the primary, before the first check ends).
    if not _lock.acquire(blocking=False):
        return last[1] if last is not None else False
    try:
        usable, why = _check()
    finally:
        _lock.release()
    _record(usable, why)
    return usable


def _check() -> tuple[bool, str]:
    try:
        lag = replica_lag()
    except (DatabaseError, ServerBusy) as exc:
        _close_quietly()
        return False, f"it cannot be read ({_one_line(exc)})"
    limit = float(getattr(settings, "DATABASE_REPLICA_MAX_LAG", 30))
    if lag is None:
        return False, "it has replayed no transaction yet"
    if lag > limit:
        return False, f"it lags {lag:.1f} s behind the primary, more than DATABASE_REPLICA_MAX_LAG ({limit:g} s)"
    return True, ""


def _record(usable: bool, why: str) -> None:
    """Remember what a check found (one assignment: no lock needed); log a change once, and a first finding
    when it is "unusable"."""
    pid = os.getpid()
    before = _checked.get(pid)
    _checked[pid] = (time.monotonic(), usable)
    if not usable and (before is None or before[1]):
        logger.warning("The database replica is not used, reads go to the primary: %s", why)
    elif usable and before is not None and not before[1]:
        logger.warning("The database replica is used again for the reads that may lag")


def _one_line(exc: BaseException) -> str:
    return f"{exc.__class__.__name__}: {' '.join(str(exc).split())[:200]}"


def _close_quietly() -> None:
    try:
        connections[REPLICA].close()
    except DatabaseError:
        pass


def forget() -> None:
    """Forget the last check in this process (tests; the next read checks again)."""
    _checked.pop(os.getpid(), None)
