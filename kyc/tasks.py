"""Celery interface to KYC: thin and idempotent. A second run changes nothing."""

from __future__ import annotations

from celery import shared_task

from core.task_options import DATABASE_TASK_OPTIONS

from .services import kyc_expire_due


@shared_task(**DATABASE_TASK_OPTIONS)
def expire_due() -> int:
    """Mark approved investors whose risk assessment ran out as expired (order entry refuses them already)."""
    return kyc_expire_due()
