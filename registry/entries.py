"""The entry kinds the registry writes: HALT and RESUME, of one security or of the whole market."""

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
