"""Deleting many rows without one long transaction: the retention tasks' shared loop (expired sessions, old login
records, ended quotes)."""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet

# Rows deleted a transaction: a first run on a table years of use filled holds no long lock or transaction.
BATCH = 5_000


def delete_in_batches(rows: QuerySet, *, batch: int = BATCH) -> int:
    """Delete ``rows``, ``batch`` of them a transaction, each batch going on from the last primary key (the rows a
    filter keeps are not read again); the number deleted. Each batch's delete applies ``rows``' filter again, so a
    row that stopped matching between the read and the delete (a session renewed meanwhile) is kept."""
    deleted, last = 0, None
    while True:
        with transaction.atomic():
            page = rows if last is None else rows.filter(pk__gt=last)
            keys = list(page.order_by("pk").values_list("pk", flat=True)[:batch])
            if not keys:
                return deleted
            last = keys[-1]
            deleted += rows.filter(pk__in=keys).delete()[0]
