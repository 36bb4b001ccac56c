"""The entry kind the KYC app writes: IDENTITY_REVEAL, the evidence that a regulator saw an identity."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ledger.models import EntryKind
from ledger.payloads import Payload


@dataclass(frozen=True)
class IdentityReveal(Payload):
    """Regulator ``revealed_by`` (a user name) saw the real identity behind ``account`` for ``reason``.

    No personal data of the investor: the account code only, never a name or an ID number.
    """

    kind = EntryKind.IDENTITY_REVEAL
    revealed_by: str
    account: str
    reason: str
    at: dt.datetime
