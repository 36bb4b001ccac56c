"""Celery interface to the ledger: thin, idempotent, safe to run twice or at once."""

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from .services import block_seal


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5, ignore_result=True)
def seal() -> int | None:
    """Seal what waits, then queue the settlement of the new block (after commit: block_seal has returned).

    Concurrent runs skip (advisory lock); a full block queues the next seal.
    """
    from settlement import tasks as settlement_tasks

    result = block_seal()
    if result is None:
        return None
    height = result.block.height
    settlement_tasks.settle_block.delay(height, share_out=True)
    if height % settings.SETTLEMENT_NET_EVERY_BLOCKS == 0:
        settlement_tasks.settle_net.delay()
    if result.more_waiting:
        seal.delay()
    return height
