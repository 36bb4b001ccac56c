"""The worker's tasks that need the database outlive a short database outage (``core.task_options``).

Found by a fault walk: PostgreSQL stopped for ten seconds under load, and the tasks that ran meanwhile spent their
five retries within a few seconds (Celery's default back-off is random, between 0 and 2ⁿ s) and were given up:
investors' "settled" notifications, a block's co-signing and its surveillance scan were lost.
"""

from __future__ import annotations

import pytest
from celery.utils.time import get_exponential_backoff_interval
from django.db import InterfaceError, OperationalError

from config.celery import app
from core.task_options import DATABASE_OUTAGE_COVERED

# The tasks that retried on a lost database before the fix; each must still, and for long enough.
RETRYING = {
    "exchange.tasks.end_of_day",
    "exchange.tasks.expire_day_orders",
    "exchange.tasks.expire_rfqs",
    "exchange.tasks.expire_negotiated",
    "exchange.tasks.close_unfit",
    "exchange.tasks.pull_forbidden_quotes",
    "kyc.tasks.expire_due",
    "ledger.tasks.seal",
    "ledger.tasks.cosign",
    "notifications.tasks.notify",
    "settlement.tasks.settle_block",
    "settlement.tasks.settle_trades",
    "settlement.tasks.settle_net",
    "settlement.tasks.sweep",
    "surveillance.tasks.scan_block",
    "surveillance.tasks.scan_missed",
}


def _shortest_retries(task) -> float:
    """The least time a task's retries can span: Celery's own back-off, with nothing added by chance (a jittered
    delay can be 0)."""
    if not task.retry_backoff:
        return task.max_retries * (task.default_retry_delay or 0)
    if task.retry_jitter:
        return 0.0
    factor = int(task.retry_backoff)
    return sum(
        get_exponential_backoff_interval(factor, n, task.retry_backoff_max, full_jitter=False)
        for n in range(task.max_retries)
    )


def _database_tasks():
    app.loader.import_default_modules()
    tasks = app.tasks.items()
    return {name: task for name, task in tasks if OperationalError in (getattr(task, "autoretry_for", None) or ())}


def test_the_tasks_that_retried_on_a_lost_database_still_do():
    # given the worker's tasks, when those retrying on OperationalError are listed, then none was dropped
    assert RETRYING <= set(_database_tasks()), sorted(RETRYING - set(_database_tasks()))


@pytest.mark.parametrize("name", sorted(RETRYING))
def test_a_database_task_outlives_three_minutes_of_outage(name):
    # given a task that needs the database
    task = _database_tasks()[name]
    # then its retries span at least three minutes, whatever chance gives (not a few seconds)
    assert _shortest_retries(task) >= DATABASE_OUTAGE_COVERED >= 180
    # and a connection already closed is retried too, not only one that fails to open
    assert InterfaceError in task.autoretry_for
    # and nothing else changed: no result kept
    assert task.ignore_result is True
