"""Celery interface to notifications: thin and idempotent.

``notify_pending`` delivers the events recorded in the outbox (``models.Outbox``) by the changes' own
transactions; ``notify`` (an event and its facts, ids) is what earlier versions queued instead, still taken.
``services.event_notify`` writes at most one notification per event and recipient (a unique key), so a duplicate
delivery or a retry writes nothing more.
"""

from __future__ import annotations

from celery import shared_task

from core.task_options import DATABASE_TASK_OPTIONS
from core.tasks import MAIL_TASK_OPTIONS

from . import services


@shared_task(**DATABASE_TASK_OPTIONS)
def notify(event: str, facts: dict) -> int:
    if event not in services.EVENTS:
        return 0  # a message from another version of the code: nothing to do
    return len(services.event_notify(event=event, facts=facts))


@shared_task(**DATABASE_TASK_OPTIONS)
def notify_pending(ids: list[int] | None = None) -> int:
    """Deliver recorded events (``services.outbox_deliver``): a commit's own (``ids``), queued by that commit; or,
    without ``ids``, beat's sweep of those whose message was lost."""
    return services.outbox_deliver(ids=ids)


# A mail server's error retried as every mail's (``core.tasks.MAIL_TASK_OPTIONS``: 30 s, 1, 2, 4 and 8 minutes, then
# given up and logged as failed by the worker). The notification is in the app whatever becomes of its email.
@shared_task(**MAIL_TASK_OPTIONS)
def notification_email(notification_id: int) -> bool:
    """Email one notification to its recipient, once (``services.notification_email_send``)."""
    return services.notification_email_send(notification_id)
