"""A transaction's after-commit Redis work, in one round trip.

Once a transaction commits, several services tell Redis about it: the sealer's coalesced wake-up
(``ledger.wakeup``), the market's coalesced publication and each party's live events (``core.events``).
Each used to be an ``on_commit`` callback of its own with a round trip of its own (a filled order: two).
Now each adds a step to the transaction's batch (``add``); once the transaction commits the batch sends every
step's commands in one pipeline (a filled order: one), and each step reads its own replies.

A step added inside a savepoint goes to a batch registered while that savepoint was active, so that Django
drops it with the savepoint's other ``on_commit`` callbacks if it rolls back. Outside a transaction the step
runs at once. Redis unreachable: the batch logs what was lost and returns; the caller's transaction has
committed either way, and each service has its fallback (beat's seal, the pages' polling).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import redis
from django.conf import settings
from django.db import transaction

log = logging.getLogger(__name__)

# Adds its commands to the pipeline and says how many (0: nothing to ask this time).
Commands = Callable[[redis.client.Pipeline], int]
# Gets those commands' replies, in order (an exception object for a command that failed).
Replies = Callable[[list], None]


@cache
def _client(url: str) -> redis.Redis:
    # Each open event stream holds one connection of this pool (its subscription) for its whole life: the pool
    # must not stop at redis-py's default size, or the hundredth open page of a process would fail.
    return redis.Redis.from_url(url, max_connections=4096)


def client() -> redis.Redis:
    """This process's Redis client (``REDIS_URL``)."""
    return _client(settings.REDIS_URL)


@dataclass(frozen=True)
class _Step:
    what: str  # what is lost if Redis cannot be reached, for the log
    commands: Commands
    replies: Replies | None
    once: str | None


class _Batch:
    """The steps of one transaction (or savepoint); called by Django once the transaction commits."""

    def __init__(self) -> None:
        self.steps: list[_Step] = []

    def __call__(self) -> None:
        counts: list[int] = []
        try:
            pipe = client().pipeline(transaction=False)
            for step in self.steps:
                counts.append(step.commands(pipe))
            replies = pipe.execute(raise_on_error=False) if any(counts) else []
        except Exception:
            lost = ", ".join(step.what for step in self.steps)
            log.warning("after a commit, could not reach Redis: %s lost", lost, exc_info=True)
            return
        at = 0
        for step, count in zip(self.steps, counts, strict=True):
            mine, at = replies[at : at + count], at + count
            if step.replies is None or not count:
                continue
            try:
                step.replies(mine)
            except Exception:  # one step's failure (a task it could not queue) leaves the others alone
                log.warning("after a commit: %s failed", step.what, exc_info=True)


def add(what: str, commands: Commands, replies: Replies | None = None, *, once: str | None = None) -> None:
    """Once this transaction commits (at once outside one), send ``commands`` with the transaction's other
    steps in one pipeline and give ``replies`` their replies. ``once``: a step of this name already waiting in
    the transaction makes this one redundant (it is dropped)."""
    step = _Step(what, commands, replies, once)
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        batch = _Batch()
        batch.steps.append(step)
        batch()
        return
    active = set(connection.savepoint_ids)
    batch = None
    for registered, func, _robust in connection.run_on_commit:
        if not isinstance(func, _Batch):
            continue
        # A waiting step of the same name is dropped only with a savepoint whose rollback drops this
        # transaction's writes too (one active when it was added, or one released since, which can no longer
        # roll back alone).
        if once is not None and any(s.once == once for s in func.steps):
            return
        # A batch registered while every savepoint active now was active: dropped if any of them rolls back.
        if active <= registered:
            batch = func
    if batch is None:
        batch = _Batch()
        transaction.on_commit(batch)
    batch.steps.append(step)
