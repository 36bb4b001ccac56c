"""Celery interface to KYC: thin and idempotent. A second run changes nothing."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from .services import kyc_expire_due


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5, ignore_result=True)
def expire_due() -> int:
    """Mark approved investors whose risk assessment ran out as expired (order entry refuses them already)."""
    return kyc_expire_due()
