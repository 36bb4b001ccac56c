"""The sweep's pacing, kept in Redis (the cache): one walk over the pending trades at a time, and a back-off for
the trades that cannot settle.

The sweep (``tasks.sweep``, every 5 s from beat) settles sealed gross trades whose block's settle task never ran.
A trade that cannot settle (a client of a member firm whose fee account is not yet opened, a balance the database
refuses) stays pending and is tried again later: no longer at every run, each time with its warning, but after
5 s, then 10 s, 20 s, … up to 5 minutes (its count of failures kept for a day). A trade that waits for a reason of
the market's (a halt, the kill switch) did not fail and is not backed off. A page of 2,000 trades walks on from
its last trade (``tasks.sweep`` queues the next page); a sweep that beat starts while a walk is under way finds
the walk's key and leaves it alone. A walk whose worker died frees the key after a minute.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.cache import cache

WALK_KEY = "settlement:sweep:walk"
WALK_SECONDS = 60
BACKOFF_FIRST, BACKOFF_MOST = 5, 300
FAILURES_KEPT = 24 * 3600


def _gate(trade_id: int) -> str:
    return f"settlement:sweep:wait:{trade_id}"


def _failures(trade_id: int) -> str:
    return f"settlement:sweep:failed:{trade_id}"


def walk_take(after: int) -> bool:
    """The walk's key, taken at its first page (``after`` 0: False if another walk holds it), kept by the next."""
    if not after:
        return cache.add(WALK_KEY, 1, WALK_SECONDS)
    cache.set(WALK_KEY, 1, WALK_SECONDS)
    return True


def walk_end() -> None:
    cache.delete(WALK_KEY)


def due(trade_ids: list[int]) -> list[int]:
    """Those of ``trade_ids`` not waiting out a back-off."""
    waiting = cache.get_many([_gate(t) for t in trade_ids])
    return [t for t in trade_ids if _gate(t) not in waiting]


def failed(trade_ids: Iterable[int]) -> None:
    """These trades could not settle: each waits twice as long as last time before the sweep tries it again."""
    trade_ids = list(trade_ids)
    if not trade_ids:
        return
    counts = cache.get_many([_failures(t) for t in trade_ids])
    failures = {_failures(t): int(counts.get(_failures(t), 0)) + 1 for t in trade_ids}
    cache.set_many(failures, FAILURES_KEPT)
    gates: dict[int, dict[str, int]] = {}  # by how long each waits: one write per wait, not two per trade
    for trade_id in trade_ids:
        wait = min(BACKOFF_FIRST * 2 ** min(failures[_failures(trade_id)] - 1, 10), BACKOFF_MOST)
        gates.setdefault(wait, {})[_gate(trade_id)] = 1
    for wait, keys in gates.items():
        cache.set_many(keys, wait)
