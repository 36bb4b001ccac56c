"""Web sessions past their expiry date: their rows deleted.

Django's database sessions keep a row after it expires (a browser that never comes back, a staff session left
idle, every login's session two weeks on) until something deletes it: Django leaves that to ``manage.py
clearsessions``, run by hand or by cron. Nothing here ran it, so ``django_session`` only grew, one row a login
for ever (found by a soak of a live exchange). ``core.tasks.sessions_expired_delete`` runs this every hour
(``CELERY_BEAT_SCHEDULE``).
"""

from __future__ import annotations

from importlib import import_module

from django.conf import settings
from django.utils import timezone

from .batches import BATCH, delete_in_batches


def expired_delete(*, batch: int = BATCH) -> int:
    """Delete the sessions whose expiry date has passed, ``batch`` rows a transaction; the number deleted.

    A session store without rows of its own (a cache's, a signed cookie's) expires its sessions by itself:
    its ``clear_expired`` is called and 0 returned."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    if not hasattr(store, "get_model_class"):
        store.clear_expired()
        return 0
    model = store.get_model_class()
    return delete_in_batches(model.objects.filter(expire_date__lt=timezone.now()), batch=batch)
