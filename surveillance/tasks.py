"""Celery interface to surveillance: one idempotent scan per sealed block."""

from __future__ import annotations

from celery import shared_task

from core.task_options import DATABASE_TASK_OPTIONS

from .services import block_scan, missed_scan


def block_sealed(height: int) -> None:
    """A ``ledger.hooks.after_seal`` hook (run by ``ledger.tasks.seal`` after the sealing commit): queue the scan."""
    scan_block.delay(height)


@shared_task(**DATABASE_TASK_OPTIONS)
def scan_block(height: int) -> int:
    """Run the surveillance rules over block ``height``; a second run writes nothing new."""
    return block_scan(height=height)


@shared_task(**DATABASE_TASK_OPTIONS)
def scan_missed() -> int:
    """Beat's safety net: scan the sealed blocks whose scan task was lost (``services.missed_scan``)."""
    return missed_scan()
