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

from . import redis_on_commit

# key → until when (time.monotonic) this process keeps quiet: a queued task will see its changes.
_quiet_until: dict[str, float] = {}


def ask(client, key: str, *, window: float, ttl: float, queue: Callable[[], None]) -> bool:
    """After a change: make sure a task runs within about ``window`` seconds. ``queue()`` queues it (with a
    countdown of ``window``) when none waits. True if this call queued it."""
    question = _Question(key, window, ttl, queue)
    pipe = client.pipeline(transaction=False)  # no round trip of its own: nothing is sent while it is empty
    if not question.commands(pipe):
        return False
    return question.replies(pipe.execute())


def ask_on_commit(key: str, *, window: float, ttl: float, queue: Callable[[], None], what: str) -> None:
    """``ask`` once this transaction commits, in the transaction's one round trip to Redis
    (``core.redis_on_commit``); once per transaction. ``what``: what a failure loses, for the log."""
    question = _Question(key, window, ttl, queue)
    redis_on_commit.add(what, question.commands, question.replies, once=f"coalesce:{key}")


class _Question:
    """One ``ask``: the commands (none while this process keeps quiet), then what their replies say."""

    def __init__(self, key: str, window: float, ttl: float, queue: Callable[[], None]) -> None:
        self.key, self.window, self.ttl, self.queue = key, window, ttl, queue
        self.now = self.wall = 0.0

    def commands(self, pipe) -> int:
        self.now = time.monotonic()
        if self.now < _quiet_until.get(self.key, 0.0):
            return 0
        self.wall = time.time()
        pipe.set(self.key, repr(self.wall + self.window), nx=True, px=max(1, int(self.ttl * 1000)))
        pipe.get(self.key)
        return 2

    def replies(self, replies: list) -> bool:
        created, due = replies
        if isinstance(created, Exception):
            raise created
        if created:
            self.queue()
            _quiet_until[self.key] = self.now + self.window
            return True
        try:
            left = float(due) - self.wall
        except (TypeError, ValueError):  # expired meanwhile, or a value of another version
            left = 0.0
        if left > 0:
            _quiet_until[self.key] = self.now + min(left, self.window)
        return False


def started(client, key: str) -> None:
    """The task started, before it reads what changed: the next change queues the next one."""
    client.delete(key)


def forget() -> None:
    """Keep quiet for nothing (tests: a fresh process)."""
    _quiet_until.clear()
