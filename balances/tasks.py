"""Beat tasks of balances: thin, idempotent wrappers of services."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(ignore_result=True)
def release_lockups() -> int:
    """Release the lock-ups whose date has come (UNLOCK entries). Safe to run at any time, twice."""
    return services.lockups_release()
