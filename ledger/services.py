"""Writing ledger entries. Callers are inside the transaction of the change."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from .canonical import entry_bytes, leaf_hash
from .models import Entry


def _build(kind: str, payload: dict, recorded_at: dt.datetime) -> Entry:
    data = entry_bytes(kind=kind, recorded_at=recorded_at, payload=payload)
    return Entry(kind=kind, canonical=data, leaf_hash=leaf_hash(data), recorded_at=recorded_at)


def entry_append(*, kind: str, payload: dict, recorded_at: dt.datetime | None = None) -> Entry:
    """Append one entry. Must run inside the transaction that makes the change it records."""
    return entries_append(kind=kind, payloads=[payload], recorded_at=recorded_at)[0]


def entries_append(*, kind: str, payloads: list[dict], recorded_at: dt.datetime | None = None) -> list[Entry]:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("ledger entries are written inside the transaction of the change they record")
    at = recorded_at or timezone.now()
    return Entry.objects.bulk_create([_build(kind, p, at) for p in payloads])
