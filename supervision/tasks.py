"""Beat tasks of supervision: thin, idempotent wrappers of services."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(ignore_result=True)
def expire_freezes() -> int:
    """Release the freezes whose expiry has passed (UNFREEZE entries). Safe to run at any time, twice."""
    return services.freezes_expire()
