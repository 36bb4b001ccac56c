"""Celery interface to the ledger: thin, idempotent, safe to run twice or at once."""

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from . import hooks, published, witnessing
from .services import block_seal


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5, ignore_result=True)
def seal() -> int | None:
    """Seal what waits, then run what the apps above registered for a new block (``ledger.hooks.after_seal``:
    notifications, surveillance and the live pages queue their work), queue the co-signing and, after a full
    block, the next seal; last the hooks registered to run last (settlement settles the block's trades here).
    block_seal has committed by then.

    Concurrent runs skip (advisory lock). A ledger held behind what this node already published
    (``ledger.published``: a restored older backup) seals nothing; the reason is logged at ERROR.
    """
    try:
        result = block_seal()
    except published.LedgerHeld:
        return None
    if result is None:
        return None
    height = result.block.height
    for hook in hooks.after_seal:
        hook(height)
    if settings.LEDGER_WITNESSES:
        cosign.delay()
    if result.more_waiting:
        seal.delay()
    for hook in hooks.after_seal_last:
        hook(height)
    return height


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5, ignore_result=True)
def cosign() -> int:
    """Ask the witnesses to co-sign the newest checkpoint (``ledger.witnessing``). Queued after each seal and
    by beat; concurrent runs skip, a co-signed head is not sent again."""
    return witnessing.cosign_head()
