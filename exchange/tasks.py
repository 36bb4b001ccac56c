"""Celery interface to trading: thin, idempotent."""

from celery import shared_task
from django.db import OperationalError

from .services import orders_expire


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5, ignore_result=True)
def expire_day_orders() -> int:
    """DAY orders end with their trading day (beat runs this every minute; a run finds nothing twice)."""
    return orders_expire()
