"""Celery interface to the ledger: thin, idempotent, safe to run twice or at once."""

from celery import shared_task
from django.db import OperationalError

from .services import block_seal


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5, ignore_result=True)
def seal() -> int | None:
    """Seal what waits. Concurrent runs skip (advisory lock); a full block queues the next one."""
    result = block_seal()
    if result is None:
        return None
    if result.more_waiting:
        seal.delay()
    return result.block.height
