"""Seal soon after entries commit, instead of on beat's next tick alone (issue 15).

``entries_append`` calls ``wake_on_commit`` inside the transaction that writes
entries; once that transaction commits, it asks for a seal (in the transaction's
one round trip to Redis, ``core.redis_on_commit``), coalesced:
the first commit of a quiet moment sets a Redis key (``SET NX``) and queues
``ledger.tasks.seal`` with a countdown of ``LEDGER_SEAL_WAKE_DELAY`` seconds;
the commits after it queue nothing while the key lives (``core.coalesce``: each
process asks Redis about once a window, not on every commit). ``block_seal`` deletes
the key once it holds the sealing lock, before it reads what waits: a commit
that found the key committed before that read, so the queued seal takes its
entries; a commit after it queues the next seal.

So a block holds what committed from the first commit of a window until the
seal runs: one window (0.1 s by default) when the worker is free, more when
it lags (a busy worker gets fewer, larger blocks instead of a queue of
seals), up to ``LEDGER_MAX_BLOCK_LEAVES``; a full block queues the next seal
at once. A burst of trades makes one block, not one block per trade, and a
lone trade waits one window plus a worker's pick-up, not beat's next tick.

Beat still asks for a seal every ``LEDGER_SEAL_EVERY`` seconds: the safety
net when Redis or the broker loses a wake-up, or a woken seal met another
sealer holding the lock; the key expires on its own after
``WAKE_KEY_TTL_BEATS`` beats, so a lost seal message delays the next wake-up
no longer than that. Sealing itself is unchanged (one transaction under the
advisory lock). A failed wake-up is logged and never reaches the caller,
whose transaction has committed.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache as django_cache

from core import coalesce, redis_on_commit

log = logging.getLogger(__name__)

WAKE_KEY = "ledger:seal-wake"
WAKE_KEY_TTL_BEATS = 2


def wake_on_commit() -> None:
    """Inside a transaction that wrote entries: ask for a seal once it commits (once per transaction), in the
    transaction's one round trip to Redis (``core.redis_on_commit``)."""
    if not settings.LEDGER_SEAL_ON_COMMIT:
        return
    delay = settings.LEDGER_SEAL_WAKE_DELAY
    # A seal queued and not yet reading the waiting entries takes these; else queue one (core.coalesce).
    coalesce.ask_on_commit(
        _key(),
        window=delay,
        ttl=max(delay, WAKE_KEY_TTL_BEATS * settings.LEDGER_SEAL_EVERY),
        queue=_queue_seal,
        what="the seal's wake-up (beat's next seal takes the entries)",
    )


def _key() -> str:
    return django_cache.make_key(WAKE_KEY)


def _queue_seal() -> None:
    from .tasks import seal

    seal.apply_async(countdown=settings.LEDGER_SEAL_WAKE_DELAY, queue=settings.CELERY_TASK_DEFAULT_QUEUE)


def sealing() -> None:
    """A sealer holds the lock and is about to read the waiting entries: the next commit queues the next seal."""
    if not settings.LEDGER_SEAL_ON_COMMIT:
        return
    try:
        coalesce.started(redis_on_commit.client(), _key())
    except Exception:  # the key expires by itself; meanwhile beat seals
        log.warning("could not clear the seal wake-up key", exc_info=True)
