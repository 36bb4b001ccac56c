"""Beat tasks of supervision: thin, idempotent wrappers of services."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(ignore_result=True)
def expire_freezes() -> int:
    """Release the freezes whose expiry has passed (UNFREEZE entries). Safe to run at any time, twice."""
    return services.freezes_expire()


@shared_task(ignore_result=True)
def cancel_frozen_orders() -> int:
    """Cancel any order a frozen account still has open (placed in the last instant of its freeze's approval).
    Safe to run at any time, twice."""
    return services.frozen_orders_cancel()
