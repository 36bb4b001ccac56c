"""The Celery application. Tasks are another interface to the services."""

import os

from celery import Celery
from celery.signals import task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("exchange")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
def _connection_checked(task=None, **kwargs) -> None:
    """Before a task, what Django does before a request: the kept connection (``CELERY_DB_REUSE_MAX``) is closed
    if it broke (an error, a restarted server) or is older than ``CONN_MAX_AGE``, and its first query is
    preceded by a health check (``CONN_HEALTH_CHECKS``). Not for a task run eagerly inside a caller's
    transaction, whose connection is the caller's."""
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()
