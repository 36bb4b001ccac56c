"""What the ledger's checks need to know of the registry, registered from ``RegistryConfig.ready``.

* ``ledger_verify``: every disclosure row agrees with its DISCLOSURE entry (security, kind, title, file
  name, size, SHA-256), and every DISCLOSURE entry has its row.
* Who reads what: a DISCLOSURE entry is public to anyone signed in (it is what investors check their
  copy of a document against); every other entry kind keeps the ledger's rules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from django.utils.translation import gettext_noop as _

from ledger.hooks import BusinessCheck
from ledger.verification import CHUNK, Report, rows_against_entries, rows_agree, rows_tally

from .entries import DisclosureEntry
from .models import Disclosure

# What a disclosure row must agree on with its DISCLOSURE entry (payload keys, in this order).
FIELDS = ("document", "security", "document_kind", "title", "filename", "size", "sha256")
assert set(FIELDS) <= set(DisclosureEntry.__dataclass_fields__), "FIELDS names DisclosureEntry's fields"


def _fields(kind: str, payload: dict) -> tuple:
    return tuple(payload.get(k) for k in FIELDS)


def _check(report: Report, entries: Mapping[int, tuple], waiting: Callable[[], set[int]]) -> None:
    rows = Disclosure.objects.order_by("id").values_list(
        "id", "entry_id", "security__code", "kind", "title", "filename", "size", "sha256"
    )
    rows_against_entries(
        report,
        ((document, entry_id, (document, *rest)) for document, entry_id, *rest in rows.iterator(chunk_size=CHUNK)),
        entries,
        waiting,
        fields=FIELDS,
        name="document",
        no_entry=_("disclosure %(document)s has no sealed DISCLOSURE entry"),
        differs=_("disclosure %(document)s differs from its entry in %(fields)s"),
        no_row=_("DISCLOSURE entry without its document row"),
    )


def _rows(lo: int, hi: int) -> list[tuple]:
    return list(
        Disclosure.objects.filter(entry_id__gte=lo, entry_id__lte=hi).values_list(
            "entry_id", "id", "security__code", "kind", "title", "filename", "size", "sha256"
        )
    )


def _tally(report: Report) -> int:
    total, waiting = rows_tally(Disclosure._meta.db_table)
    return total - waiting


DISCLOSURES_CHECK = BusinessCheck(
    name="disclosures",
    kinds=frozenset({"DISCLOSURE"}),
    extract=_fields,
    check=_check,
    rows_of=_rows,
    agrees=rows_agree,
    tally=_tally,
)


def disclosure_entry_readable(user, entry_id: int) -> bool:
    """Anyone signed in reads a document's DISCLOSURE entry (``ledger.hooks.entry_readers``)."""
    return bool(user.is_authenticated) and Disclosure.objects.filter(entry_id=entry_id).exists()
