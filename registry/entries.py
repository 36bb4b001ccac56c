"""The entry kinds the registry writes: HALT and RESUME, of one security or of the whole market; DISCLOSURE."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ledger.models import EntryKind
from ledger.payloads import Payload


@dataclass(frozen=True)
class Halt(Payload):
    """Trading stops: in ``security``, or everywhere (``scope`` "market", ``security`` None) with settlement."""

    kind = EntryKind.HALT
    scope: str  # "security" or "market"
    security: str | None
    reason: str
    at: dt.datetime


@dataclass(frozen=True)
class Resume(Halt):
    kind = EntryKind.RESUME


@dataclass(frozen=True)
class Change(Payload):
    """One parameter of a security, before and after (as text; ``before`` is None in a listing)."""

    field: str
    before: str | None
    after: str


@dataclass(frozen=True)
class Listing(Payload):
    """A security is listed, with every parameter it starts with."""

    kind = EntryKind.LISTING
    security: str
    parameters: list[Change]
    at: dt.datetime


@dataclass(frozen=True)
class SecurityChange(Payload):
    """An operator changed parameters of ``security``; ``cancelled_orders`` ids of the resting orders the
    change left out of the rules (cancelled, their reservations released)."""

    kind = EntryKind.SECURITY_CHANGE
    security: str
    changes: list[Change]
    reason: str
    cancelled_orders: list[int]
    at: dt.datetime


@dataclass(frozen=True)
class Delisting(Payload):
    """Trading in ``security`` ends; its resting orders (``cancelled_orders``) are cancelled."""

    kind = EntryKind.DELISTING
    security: str
    reason: str
    cancelled_orders: list[int]
    at: dt.datetime


@dataclass(frozen=True)
class DisclosureEntry(Payload):
    """An issuer's document published for ``security``: its metadata and the SHA-256 of its bytes.

    ``document`` is the id of the ``registry.Disclosure`` row; ``document_kind`` one of its kinds
    (prospectus, annual_report, interim_report, announcement, other). Whoever holds the file checks it
    against ``sha256`` (the offline verifier: ``ledger/verifier.py disclosure``).
    """

    kind = EntryKind.DISCLOSURE
    security: str
    document: int
    document_kind: str
    title: str
    filename: str
    size: int
    sha256: str
    published_at: dt.datetime
