"""Celery interface to trading: thin, idempotent."""

from celery import shared_task
from django.db import OperationalError

from .services import day_close, orders_expire, quotes_pull_forbidden
from .services.rfq import rfqs_expire


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5, ignore_result=True)
def end_of_day() -> int:
    """At each trading day's close: DAY orders expire, prices close (beat runs this every minute; a run that
    finds nothing to do changes nothing). Returns how many days it closed."""
    return len(day_close())


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5, ignore_result=True)
def expire_day_orders() -> int:
    """Kept for messages queued before ``end_of_day`` replaced it in the beat schedule."""
    return orders_expire()


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5, ignore_result=True)
def expire_rfqs() -> int:
    """Close the requests for quote and the answers past their expiry, releasing what they hold (beat, every
    few seconds; a run that finds nothing changes nothing). Returns how many requests and answers it closed."""
    return sum(rfqs_expire())


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5, ignore_result=True)
def expire_negotiated() -> int:
    """Negotiated-transfer proposals past their expiry close and release their reservation (beat, every 30 s)."""
    from .services.negotiated import negotiated_expire

    return negotiated_expire()


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5, ignore_result=True)
def close_unfit() -> int:
    """Negotiated proposals and requests for quote that their security's state no longer allows (delisted, the
    mode off by it or by the venue's profile, a price off the tick or band) close and release what they hold
    (beat, every 30 s: a security's change closes them at once; this catches a change of the venue's profile).
    Returns how many proposals, requests and answers it closed."""
    from .services.negotiated import negotiated_withdraw_unfit
    from .services.rfq import rfqs_close_unfit

    return negotiated_withdraw_unfit() + sum(rfqs_close_unfit())


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5, ignore_result=True)
def pull_forbidden_quotes() -> int:
    """Pull the quotes the venue's rules forbid, releasing their reservations (beat, every minute: the first run
    after a start under a profile without market making pulls what an earlier run left; a run that finds none
    changes nothing). Returns how many it pulled."""
    return sum(len(ids) for ids in quotes_pull_forbidden().values())
