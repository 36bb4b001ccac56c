"""django-axes' login records older than ``LOGIN_LOG_RETENTION_DAYS``: their rows deleted.

axes writes a row to ``axes_accesslog`` at every web login (and, with ``AXES_ENABLE_ACCESS_FAILURE_LOG``, off
here, one to ``axes_accessfailurelog`` at every failed one) and deletes none: that is left to its
``axes_reset_logs`` and ``axes_reset_failure_logs`` commands, run by hand or by cron. Nothing here ran them, so
``axes_accesslog`` only grew, a row a login for ever (found by a soak of a live exchange).
``core.tasks.login_logs_old_delete`` deletes, every hour, what those commands delete with ``--age`` the
retention (a record whose ``attempt_time`` is that old), ``BATCH`` rows a transaction, where the commands
delete all of it in one statement.

Neither table decides a lockout: axes counts the failures in ``axes_accessattempt``, whose rows older than the
cool-off it deletes itself at every login, logout and failed login, so that table is left to it and a locked
out user name stays locked. The audit trail (``core.audit``) keeps every login, failed login and lockout.
"""

from __future__ import annotations

import datetime as dt

from axes.models import AccessFailureLog, AccessLog
from django.conf import settings
from django.utils import timezone

from .batches import BATCH, delete_in_batches


def old_delete(*, now: dt.datetime | None = None, batch: int = BATCH) -> int:
    """Delete axes' access and access failure logs older than ``LOGIN_LOG_RETENTION_DAYS`` (0: none),
    ``batch`` rows a transaction; the number deleted."""
    days = settings.LOGIN_LOG_RETENTION_DAYS
    if days <= 0:
        return 0
    # As axes' own reset_logs(age_days=…): attempt_time at or before the limit.
    limit = (now or timezone.now()) - dt.timedelta(days=days)
    return sum(
        delete_in_batches(model.objects.filter(attempt_time__lte=limit), batch=batch)
        for model in (AccessLog, AccessFailureLog)
    )
