"""Celery interface to settlement: thin, idempotent, driven by the state in PostgreSQL.

Losing a message (Redis flushed, a worker killed) delays settlement, never
loses it: ``sweep`` finds sealed trades that are still pending and settles them.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.db import DataError, IntegrityError

from core import errors as err
from core.task_options import DATABASE_TASK_OPTIONS
from ledger import witnessing
from registry.models import Security

from . import net_windows, sweeping
from .services import net_settle, trades_ready, trades_settle

log = logging.getLogger(__name__)

SWEEP_BATCH = 2000


# Sealing shares a block's gross trades out in chunks of this many, so that the worker's
# processes settle a busy block together; each chunk settles in one transaction when it can
# (services.trades_settle), each trade alone when one of them cannot.
SETTLE_CHUNK = 64


def block_sealed(height: int) -> None:
    """What a new block starts (a ``ledger.hooks.after_seal`` hook run last by ``ledger.tasks.seal``, after the
    sealing commit): its gross trades settle here and now, the first chunk in this task and the rest shared
    out as ``settle_trades`` tasks; and every ``SETTLEMENT_NET_EVERY_BLOCKS`` blocks the net window is queued.

    Queuing the block's ``settle_block`` instead put it behind every seal and settle task queued meanwhile:
    under sustained load (a block every 0.1 s) a trade waited 0.5–0.8 s from its seal to its settlement
    (``make bench``). If settling here fails, the block's task is queued as before; the sweep remains the
    safety net. With ``SETTLEMENT_AWAITS_COSIGNATURE`` this waits instead for ``block_final``."""
    if witnessing.awaits_cosignature():
        return
    try:
        settle_block(height, share_out=True)
    except Exception:
        log.warning("could not settle block %s where it was sealed; queuing its settlement", height, exc_info=True)
        settle_block.delay(height, share_out=True)
    _net_window(height)


def block_final(height: int) -> None:
    """A ``ledger.hooks.after_final`` hook, with ``SETTLEMENT_AWAITS_COSIGNATURE``: the witnesses co-signed a
    checkpoint covering the block. The co-signing task may make many blocks final at once, so each block's
    settlement is queued (``settle_block``), not run there."""
    settle_block.delay(height, share_out=True)
    _net_window(height)


def _net_window(height: int) -> None:
    if height % settings.SETTLEMENT_NET_EVERY_BLOCKS == 0:
        settle_net.delay()


@shared_task(**DATABASE_TASK_OPTIONS)
def settle_block(height: int, *, share_out: bool = False) -> int:
    """Settle the gross-mode trades sealed in block ``height``.

    With ``share_out`` (as the seal task runs it, and as co-signing queues it), the first
    chunk is settled here and the rest queued as ``settle_trades`` tasks; otherwise all of them here.
    """
    ids = list(trades_ready(block_height=height).values_list("id", flat=True))
    if share_out:
        for i in range(SETTLE_CHUNK, len(ids), SETTLE_CHUNK):
            settle_trades.delay(ids[i : i + SETTLE_CHUNK])
        ids = ids[:SETTLE_CHUNK]
    return settle_trades(ids)


@shared_task(**DATABASE_TASK_OPTIONS)
def settle_trades(trade_ids: list[int]) -> int:
    """Settle these gross trades (a batch, or one by one when one cannot); those already settled are skipped."""
    return trades_settle(trade_ids=trade_ids)


@shared_task(**DATABASE_TASK_OPTIONS)
def settle_net() -> int:
    """Close the net settlement window of every net-mode security that has sealed pending trades.

    Each security's window settles or fails alone: one that cannot settle (a participant that cannot pay or
    deliver, a broker without a fee account) is logged and its trades stay pending for the next window, as a gross
    trade that cannot settle does (``services.trades_settle``). Raising there stopped every later security's
    window, at every run, until the one was mended (found by a review). A lost connection still retries the task."""
    codes = (
        trades_ready(mode=Security.SettlementMode.NET).order_by().values_list("security__code", flat=True).distinct()
    )
    settled = 0
    for code in sorted(codes):
        try:
            result = net_settle(security_code=code)
        except (err.DomainError, IntegrityError, DataError) as exc:
            log.warning("the net window of %s cannot settle; its trades stay pending", code, exc_info=True)
            net_windows.window_failed(code, exc)  # why, for the depository's monitor
            continue
        if not result.paused:
            net_windows.window_settled(code)
        settled += result.trades
    return settled


@shared_task(**DATABASE_TASK_OPTIONS)
def sweep(after: int = 0) -> int:
    """Settle gross trades whose block's settle task never ran (lost message, crashed worker), in id order from
    after trade ``after``: a full page queues the next one, from its last trade. Queuing the first page again
    (found by a review) made trades that cannot settle (a broker without a fee account) or wait (a halted market),
    once a page of them was at the head, hide every later trade from the sweep and queue it over them forever.
    One walk at a time, and trades that failed are tried again after a back-off (``sweeping``)."""
    if not sweeping.walk_take(after):
        return 0  # a walk is under way (its next page queued): this run of beat leaves it to finish
    # Whatever fails after the key is taken frees it: the reading of the page too, and the queuing of the next (found
    # by a review: a lost connection as the first page was read kept the key, so the task's retry found it held and
    # did nothing, and no sweep ran for a minute).
    try:
        ids = list(trades_ready().filter(id__gt=after).values_list("id", flat=True)[:SWEEP_BATCH])
        sweeping.walk_going_on()  # the page read: a minute more, as after each chunk
        due, failed = sweeping.due(ids), []
        settled = 0
        for i in range(0, len(due), SETTLE_CHUNK):
            settled += trades_settle(trade_ids=due[i : i + SETTLE_CHUNK], failed=failed)
            sweeping.walk_going_on()
        sweeping.failed(failed)
        if len(ids) == SWEEP_BATCH:
            sweep.delay(ids[-1])
            return settled  # the walk goes on, its key kept
    except BaseException:
        sweeping.walk_end()
        raise
    sweeping.walk_end()
    return settled
