"""Celery interface to core: thin and idempotent."""

from celery import shared_task

from . import events


@shared_task(ignore_result=True, expires=30)
def publish_built(name: str) -> int:
    """Publish a fresh payload of a coalesced live channel (``core.events.publish_coalesced``)."""
    if name not in events.builders:
        return 0
    return events.publish_now(name)
