"""Beat tasks of supervision: thin, idempotent wrappers of services."""

from __future__ import annotations

from celery import shared_task

from exchange.services import negotiated_withdraw_to_frozen, rfqs_close_frozen

from . import services


@shared_task(ignore_result=True)
def expire_freezes() -> int:
    """Release the freezes whose expiry has passed (UNFREEZE entries). Safe to run at any time, twice."""
    return services.freezes_expire()


@shared_task(ignore_result=True)
def cancel_frozen_orders() -> int:
    """Close what a frozen account still has open (an order or a proposal made in the last instant of its freeze's
    approval, its requests for quote and firm answers) and the proposals made to it, which it can no longer
    confirm. Returns how many. Safe to run at any time, twice."""
    cancelled, released = rfqs_close_frozen()
    return services.frozen_orders_cancel() + negotiated_withdraw_to_frozen() + cancelled + released
