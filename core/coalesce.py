"""Coalesced tasks: the first change of a quiet moment queues a task to run one window later; the changes after
it queue nothing until that task starts, since it will see them too. The sealer's wake-up
(``ledger.wakeup``) and the market's live publication (``core.events``) work this way.

A Redis key says "a task is queued and has not started". The first change sets it (``SET NX``, with an
expiry) to the moment the task may start, its due time, and queues the task with a countdown of the window.
The task deletes the key when it starts (``started``), before it reads what changed, so a change after that
queues the next task. A change that finds the key reads the due time in the same round trip, and its process
asks Redis nothing more until then: whatever commits before the due time, the task (which starts no earlier)
sees. So under load a process asks Redis about once a window, not on every commit (``make bench``).

The key expires on its own after ``ttl`` seconds, so a lost task delays the next one no longer than that.
Clocks: the due time is wall-clock time; a process whose clock runs behind would keep quiet past it, so no
process keeps quiet longer than one window.
"""

from __future__ import annotations

import time
from collections.abc import Callable

# key → until when (time.monotonic) this process keeps quiet: a queued task will see its changes.
_quiet_until: dict[str, float] = {}


def ask(client, key: str, *, window: float, ttl: float, queue: Callable[[], None]) -> bool:
    """After a change: make sure a task runs within about ``window`` seconds. ``queue()`` queues it (with a
    countdown of ``window``) when none waits. True if this call queued it."""
    now = time.monotonic()
    if now < _quiet_until.get(key, 0.0):
        return False
    wall = time.time()
    pipe = client.pipeline(transaction=False)
    pipe.set(key, repr(wall + window), nx=True, px=max(1, int(ttl * 1000)))
    pipe.get(key)
    created, due = pipe.execute()
    if created:
        queue()
        _quiet_until[key] = now + window
        return True
    try:
        left = float(due) - wall
    except (TypeError, ValueError):  # expired meanwhile, or a value of another version
        left = 0.0
    if left > 0:
        _quiet_until[key] = now + min(left, window)
    return False


def started(client, key: str) -> None:
    """The task started, before it reads what changed: the next change queues the next one."""
    client.delete(key)


def forget() -> None:
    """Keep quiet for nothing (tests: a fresh process)."""
    _quiet_until.clear()
