"""Quotes that ended long ago and that nothing names: their rows deleted.

Every publication of a market maker's two-sided quote replaces the two rows it had in force (status
``replaced``) with two new ones, so a desk that requotes every few seconds left tens of thousands of rows a day,
kept for ever (found by a soak of a live exchange). A quote that is no longer active never changes again, and
only an active one holds a reservation, can fill, or is read by the book, the pages, the API, ``ledger_replay``'s
reservations or surveillance (whose rules read trades and orders). Quotes are not ledger facts (DESIGN §4: no
entry records a publication, a replacement or a market maker's pull).

Kept, whatever their age, are the quotes something still names:

* a quote that filled, wholly or in part: its trades point at it (``Trade.quote``, and the TRADE entry's
  ``quote_id``);
* a quote a day's close pulled for being outside the new band: the CLOSE entry names it (``pulled_quote_ids``);
  such a quote was pulled at the close's instant, ``DayClose.closed_at``;
* a quote the venue's rules pulled: its audit record names it (``quotes_pull_venue_rules``, ``quotes``).

The rest (replaced or pulled, never filled) is deleted once it has been ended for ``QUOTE_RETENTION_DAYS``,
``BATCH`` rows a transaction; 0, the default, keeps every quote: a venue usually must keep its quote records for
years, so deleting them is its decision (docs/operations.md, "Quotes kept and deleted").
``exchange.tasks.quotes_ended_delete`` runs this every hour (``CELERY_BEAT_SCHEDULE``).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone

from core.batches import BATCH, delete_in_batches
from core.models import AuditEvent

from ..models import DayClose, Quote, Trade
from .quotes import VENUE_PULL_ACTION


def _named_by_audit() -> set[int]:
    """The quote ids the audit trail names: the venue's rules' pulls (rare: a change of the venue's profile)."""
    ids: set[int] = set()
    for detail in AuditEvent.objects.filter(action=VENUE_PULL_ACTION).values_list("detail", flat=True):
        ids.update(i for i in (detail or {}).get("quotes", []) if isinstance(i, int))
    return ids


def quotes_ended_delete(*, now: dt.datetime | None = None, batch: int = BATCH) -> int:
    """Delete the quotes ended more than ``QUOTE_RETENTION_DAYS`` ago that nothing names (see the module's
    docstring), ``batch`` rows a transaction; the number deleted. Idempotent: a second run finds none."""
    days = settings.QUOTE_RETENTION_DAYS
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - dt.timedelta(days=days)
    # An ended quote never changes again (only an active one fills or is pulled), nor gains a trade: what is read
    # here still holds when it is deleted.
    ended = (
        Quote.objects.exclude(status=Quote.Status.ACTIVE)
        .filter(updated_at__lt=cutoff)
        .exclude(Exists(Trade.objects.filter(quote=OuterRef("pk"))))
        .exclude(updated_at__in=DayClose.objects.values("closed_at"))
    )
    named = _named_by_audit()
    if named:
        ended = ended.exclude(pk__in=sorted(named))
    return delete_in_batches(ended, batch=batch)
