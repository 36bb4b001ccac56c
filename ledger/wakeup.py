"""Seal soon after entries commit, instead of on beat's next tick alone (issue 15).

``entries_append`` calls ``wake_on_commit`` inside the transaction that writes
entries; once that transaction commits, ``_wake`` asks for a seal, coalesced:
the first commit of a quiet moment sets a Redis key (``SET NX``, expiring after
``LEDGER_SEAL_WAKE_DELAY`` seconds) and queues ``ledger.tasks.seal`` with that
same countdown; commits while the key lives queue nothing, since that seal
runs after they committed (its countdown starts after the key's expiry was set).

So a block holds what committed during one wake window (0.1 s by default),
up to ``LEDGER_MAX_BLOCK_LEAVES``; a full block queues the next seal at once.
A burst of trades makes one block, not one block per trade, and a lone trade
waits one window plus a worker's pick-up, not beat's next tick.

Beat still asks for a seal every ``LEDGER_SEAL_EVERY`` seconds: the safety
net when Redis or the broker loses a wake-up, or a wake-up's seal met another
sealer holding the lock. Sealing itself is unchanged (``block_seal``: one
transaction under the advisory lock). A failed wake-up is logged and never
reaches the caller, whose transaction has committed.
"""

from __future__ import annotations

import logging
import time
from functools import cache

import redis
from django.conf import settings
from django.core.cache import cache as django_cache
from django.db import transaction

log = logging.getLogger(__name__)

WAKE_KEY = "ledger:seal-wake"


def wake_on_commit() -> None:
    """Inside a transaction that wrote entries: ask for a seal once it commits (once per transaction)."""
    if not settings.LEDGER_SEAL_ON_COMMIT:
        return
    connection = transaction.get_connection()
    if any(callback[1] is _wake for callback in connection.run_on_commit):
        return
    transaction.on_commit(_wake)


@cache
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


# Until when (time.monotonic) a seal this process queued is sure to run after its commits: they need
# not ask Redis (one round trip less on most orders under load).
_armed_until = 0.0


def _wake() -> None:
    global _armed_until
    delay = settings.LEDGER_SEAL_WAKE_DELAY
    asked = time.monotonic()
    if asked < _armed_until:
        return
    try:
        key = django_cache.make_key(WAKE_KEY)
        if not _redis(settings.REDIS_URL).set(key, b"1", nx=True, px=max(1, int(delay * 1000))):
            return  # a seal is already queued for after this commit
        from .tasks import seal

        seal.apply_async(countdown=delay, queue=settings.CELERY_TASK_DEFAULT_QUEUE)
        # Its countdown started after ``asked``: it runs after every commit of this process before then.
        _armed_until = asked + delay
    except Exception:  # beat's seal is the safety net; the caller's transaction has committed
        log.warning("could not queue the seal after a commit; beat's next seal will take the entries", exc_info=True)
