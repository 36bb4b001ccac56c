"""The sweep's pacing, kept in Redis (the cache): one walk over the pending trades at a time, and a back-off for
the trades that cannot settle.

The sweep (``tasks.sweep``, every 5 s from beat) settles sealed gross trades whose block's settle task never ran.
A trade that cannot settle (a client of a member firm whose fee account is not yet opened, a balance the database
refuses) stays pending and is tried again later: no longer at every run, each time with its warning, but after
5 s, then 10 s, 20 s, … up to 5 minutes (its count of failures kept for a day). A trade that waits for a reason of
the market's (a halt, the kill switch) did not fail and is not backed off. A page of 2,000 trades walks on from
its last trade (``tasks.sweep`` queues the next page); a sweep that beat starts while a walk is under way finds
the walk's key and leaves it alone; each chunk settled keeps the key a minute more. A walk whose worker died
frees the key a minute after its last chunk.

A mend that lets the waiting trades settle (a member firm's fee account opened: ``balances.hooks``) forgives every
back-off at once: the back-offs' keys are of a round, and a mend starts the next (``forgive``), so the next sweep
(within 5 s) tries them all again instead of leaving some for up to 5 minutes. The keys of the round before expire
on their own.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.cache import cache

WALK_KEY = "settlement:sweep:walk"
WALK_SECONDS = 60
BACKOFF_FIRST, BACKOFF_MOST = 5, 300
FAILURES_KEPT = 24 * 3600
ROUND_KEY = "settlement:sweep:round"


def _round() -> int:
    return int(cache.get(ROUND_KEY, 0))


def _gate(trade_id: int, round_: int | None = None) -> str:
    return f"settlement:sweep:wait:{_round() if round_ is None else round_}:{trade_id}"


def _failures(trade_id: int, round_: int | None = None) -> str:
    return f"settlement:sweep:failed:{_round() if round_ is None else round_}:{trade_id}"


def forgive() -> None:
    """Every trade backed off is tried again at the next sweep, its count of failures started afresh."""
    try:
        cache.incr(ROUND_KEY)
    except ValueError:  # no round yet (or Redis lost it): the first; two mends at once both make it, one is enough
        cache.add(ROUND_KEY, 1, None)


def walk_take(after: int) -> bool:
    """The walk's key, taken at its first page (``after`` 0: False if another walk holds it), kept by the next."""
    if not after:
        return cache.add(WALK_KEY, 1, WALK_SECONDS)
    cache.set(WALK_KEY, 1, WALK_SECONDS)
    return True


def walk_going_on() -> None:
    """The walk's key kept another ``WALK_SECONDS`` as each chunk of its page is settled: a page the database takes
    more than a minute over is still one walk (found by a review: a second sweep started beside it); the key of a
    walk whose worker died still expires a minute after its last chunk."""
    cache.touch(WALK_KEY, WALK_SECONDS)


def walk_end() -> None:
    cache.delete(WALK_KEY)


def due(trade_ids: list[int]) -> list[int]:
    """Those of ``trade_ids`` not waiting out a back-off."""
    round_ = _round()
    waiting = cache.get_many([_gate(t, round_) for t in trade_ids])
    return [t for t in trade_ids if _gate(t, round_) not in waiting]


def failed(trade_ids: Iterable[int]) -> None:
    """These trades could not settle: each waits twice as long as last time before the sweep tries it again."""
    trade_ids = list(trade_ids)
    if not trade_ids:
        return
    round_ = _round()
    keys = {t: _failures(t, round_) for t in trade_ids}
    counts = cache.get_many(list(keys.values()))
    failures = {key: int(counts.get(key, 0)) + 1 for key in keys.values()}
    cache.set_many(failures, FAILURES_KEPT)
    gates: dict[int, dict[str, int]] = {}  # by how long each waits: one write per wait, not two per trade
    for trade_id in trade_ids:
        wait = min(BACKOFF_FIRST * 2 ** min(failures[keys[trade_id]] - 1, 10), BACKOFF_MOST)
        gates.setdefault(wait, {})[_gate(trade_id, round_)] = 1
    for wait, keys in gates.items():
        cache.set_many(keys, wait)
