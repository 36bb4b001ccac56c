"""Celery interface to trading: thin, idempotent."""

from celery import shared_task

from core.task_options import DATABASE_TASK_OPTIONS

from .services import day_close, market_making_close_forbidden, orders_expire, retention
from .services.rfq import rfqs_expire


@shared_task(**DATABASE_TASK_OPTIONS)
def end_of_day() -> int:
    """At each trading day's close: DAY orders expire, prices close (beat runs this every minute; a run that
    finds nothing to do changes nothing). Returns how many days it closed."""
    return len(day_close())


@shared_task(**DATABASE_TASK_OPTIONS)
def expire_day_orders() -> int:
    """Kept for messages queued before ``end_of_day`` replaced it in the beat schedule."""
    return orders_expire()


@shared_task(**DATABASE_TASK_OPTIONS)
def expire_rfqs() -> int:
    """Close the requests for quote and the answers past their expiry, releasing what they hold (beat, every
    few seconds; a run that finds nothing changes nothing). Returns how many requests and answers it closed."""
    return sum(rfqs_expire())


@shared_task(**DATABASE_TASK_OPTIONS)
def expire_negotiated() -> int:
    """Negotiated-transfer proposals past their expiry close and release their reservation (beat, every 30 s)."""
    from .services.negotiated import negotiated_expire

    return negotiated_expire()


@shared_task(**DATABASE_TASK_OPTIONS)
def close_unfit() -> int:
    """Close what a security's state or the venue's rules no longer allow, releasing what it holds: the quotes and
    resting orders of a security without market making (``market_making_close_forbidden``), and the negotiated
    proposals and requests for quote (with their firm answers) that can no longer trade (delisted, the mode off by
    the security or by the venue's profile, a price off the tick or band). Beat, every 30 s: a security's change
    closes them at once; this catches a change of the venue's profile, which comes with a restart (the first run
    after a start under ``cn-regional-2017`` closes what a run under ``open`` left). Each part idempotent: a run
    that finds nothing changes nothing. Returns how many quotes, orders, proposals, requests and answers it
    closed."""
    from .services.negotiated import negotiated_withdraw_unfit
    from .services.rfq import rfqs_close_unfit

    return len(market_making_close_forbidden()) + negotiated_withdraw_unfit() + sum(rfqs_close_unfit())


@shared_task(**DATABASE_TASK_OPTIONS)
def pull_forbidden_quotes() -> int:
    """Kept for messages queued before ``close_unfit`` took its place in the beat schedule (a deploy mid-queue):
    the same run, which pulls the quotes as this did, and closes the rest that no longer fits."""
    return close_unfit()


@shared_task(ignore_result=True, expires=3600)
def quotes_ended_delete() -> int:
    """Delete the quotes ended more than ``QUOTE_RETENTION_DAYS`` ago that no trade, CLOSE entry or audit record
    names (``exchange.services.retention``); idempotent, run every hour by beat."""
    return retention.quotes_ended_delete()
