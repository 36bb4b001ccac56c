"""Celery interface to the ledger: thin, idempotent, safe to run twice or at once."""

import logging

from celery import shared_task
from django.conf import settings

from core.task_options import DATABASE_TASK_OPTIONS

from . import hooks, published, witnessing
from .services import block_seal

log = logging.getLogger(__name__)


@shared_task(**DATABASE_TASK_OPTIONS)
def seal() -> int | None:
    """Seal what waits, then run what the apps above registered for a new block (``ledger.hooks.after_seal``:
    notifications, surveillance and the live pages queue their work), queue the co-signing and, after a full
    block, the next seal; last the hooks registered to run last (settlement settles the block's trades here).
    block_seal has committed by then.

    Concurrent runs skip (advisory lock). A ledger held behind what this node already published
    (``ledger.published``: a restored older backup) seals nothing; the reason is logged at ERROR, and the hooks
    ``ledger.hooks.when_held`` run (the market is halted).
    """
    try:
        result = block_seal()
    except published.LedgerHeld as held:
        for hook in hooks.when_held:  # the registry halts the market
            try:
                hook(str(held))
            except Exception:  # asked again at the next seal, a second later
                log.exception("could not act on held sealing")
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


@shared_task(**DATABASE_TASK_OPTIONS)
def cosign() -> int:
    """Ask the witnesses to co-sign the newest checkpoint (``ledger.witnessing``). Queued after each seal and
    by beat; concurrent runs skip, a co-signed head is not sent again."""
    return witnessing.cosign_head()
