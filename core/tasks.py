"""Celery interface to core: thin and idempotent."""

from celery import shared_task
from django.db import OperationalError

from . import account_settings, events, login_logs, sessions


@shared_task(ignore_result=True, expires=30)
def publish_built(name: str) -> int:
    """Publish a fresh payload of a coalesced live channel (``core.events.publish_coalesced``)."""
    if name not in events.builders:
        return 0
    return events.publish_now(name)


# A mail server that is down, refuses or times out raises an OSError (smtplib.SMTPException, ConnectionError,
# TimeoutError, socket.gaierror are all OSErrors): retried after 30 s, 1, 2, 4 and 8 minutes, then given up and
# logged as failed by the worker: about a quarter of an hour in all. A link is made when its mail goes
# (core.account_settings.account_mail_send), so one sent late still has its full lifetime. Every task that sends a
# mail retries so (``notifications.tasks.notification_email`` too).
MAIL_TASK_OPTIONS = {
    "autoretry_for": (OSError, OperationalError),
    "retry_backoff": 30,
    "retry_backoff_max": 480,
    "retry_jitter": False,
    "max_retries": 5,
    "ignore_result": True,
}


@shared_task(**MAIL_TASK_OPTIONS)
def account_mail(mail: dict) -> bool:
    """Send one account mail a request queued (``core.account_settings``: a password reset link, an email
    address's confirmation link, the notice of a changed password or address). A second delivery sends nothing."""
    return account_settings.account_mail_send(**mail)


@shared_task(ignore_result=True, expires=3600)
def sessions_expired_delete() -> int:
    """Delete the web sessions past their expiry date (``core.sessions``); idempotent, run every hour by beat."""
    return sessions.expired_delete()


@shared_task(ignore_result=True, expires=3600)
def login_logs_old_delete() -> int:
    """Delete django-axes' login records older than ``LOGIN_LOG_RETENTION_DAYS`` (``core.login_logs``); idempotent,
    run every hour by beat."""
    return login_logs.old_delete()
