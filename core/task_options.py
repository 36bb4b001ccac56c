"""How the tasks that need the database retry when it cannot be reached.

A task whose database connection fails (PostgreSQL restarting, a failover, its backend terminated) raises
``OperationalError`` (``InterfaceError`` on a connection already closed) and is sent again later. Celery's
default back-off for ``retry_backoff=True`` is random ("full jitter": between 0 and 1, 2, 4, 8, 16 s), so five
retries could all be spent within a couple of seconds: a fault walk that stopped PostgreSQL for ten seconds under
load lost the tasks that had run meanwhile (their investors' "settled" and "filled" notifications, a block's
co-signing, a block's surveillance scan), each logged as "raised unexpected: OperationalError". Now the delays
are fixed, 1, 2, 4, 8, 16, then 30 s, ten retries: a task outlives about three minutes of outage
(``DATABASE_OUTAGE_COVERED``). Every such task is idempotent (a redelivery writes nothing twice), so a retry is
always safe.
"""

from __future__ import annotations

from django.db import InterfaceError, OperationalError

DATABASE_TASK_OPTIONS = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 1,
    "retry_backoff_max": 30,
    "retry_jitter": False,
    "max_retries": 10,
    "ignore_result": True,
}

# Seconds of outage a task's retries span at least: 1 + 2 + 4 + 8 + 16 + 5 × 30.
DATABASE_OUTAGE_COVERED = 181
