"""The entry kinds balances write: DEPOSIT, WITHDRAWAL, ISSUE and UNLOCK, and how each moves balances.

Each payload is built and read only through these classes (``ledger.payloads``).
``movements`` is each kind's effect on balances, which the replay check
(``balances.replay``) and the client statement read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from ledger.models import EntryKind
from ledger.payloads import Payload

from .replay import Movement


@dataclass(frozen=True)
class Deposit(Payload):
    """Cash received at the counter and credited to ``account``."""

    kind = EntryKind.DEPOSIT
    account: str
    amount: Decimal
    currency: str
    reference: str

    def movements(self) -> Iterator[Movement]:
        yield Movement(self.account, None, self.amount)


@dataclass(frozen=True)
class Withdrawal(Deposit):
    """Cash paid out of ``account``."""

    kind = EntryKind.WITHDRAWAL

    def movements(self) -> Iterator[Movement]:
        yield Movement(self.account, None, -self.amount)


@dataclass(frozen=True)
class CashAmount(Payload):
    """An amount of cash for one account: a fee, a net cash leg."""

    account: str
    amount: Decimal


@dataclass(frozen=True)
class ShareAmount(Payload):
    """A quantity of shares for one account: an allocation, a net share leg."""

    account: str
    quantity: int


@dataclass(frozen=True)
class Allocation(Payload):
    """An issuance's shares for one holder; ``locked_quantity`` of them under lock-up until ``locked_until``.

    ISSUE entries written before lock-ups existed carry only ``account`` and ``quantity`` (read as no lock-up).
    """

    account: str
    quantity: int
    locked_quantity: int | None = None
    locked_until: dt.date | None = None

    def payload(self) -> dict:
        data = super().payload()
        if not self.locked_quantity:
            # The first form (no lock-up keys), so that an issue without lock-ups keeps its earlier bytes.
            data.pop("locked_quantity")
            data.pop("locked_until")
        return data


@dataclass(frozen=True)
class Issue(Payload):
    """Shares of ``security`` registered to their holders: the initial issue, a placement or bonus shares.

    An issuance decided by two people (``balances.issuances``) names its proposal (``issuance``, the
    ``balances_issuanceproposal`` id) and the user names of the depository operator who proposed it and of the one
    who approved it, as supervision's FREEZE, FORCED_TRANSFER and CORRECTION name theirs. ISSUE entries written
    before that, and an issue by code that sets a market up (no proposal), carry none of the three keys (read as
    None): their bytes are those of the first form.
    """

    kind = EntryKind.ISSUE
    security: str
    quantity: int
    allocations: list[Allocation]
    reference: str
    issuance: int | None = None
    proposed_by: str | None = None
    approved_by: str | None = None

    def payload(self) -> dict:
        data = super().payload()
        if self.issuance is None:
            # The first form (no proposal keys), so that an issue with no proposal keeps its earlier bytes.
            for key in ("issuance", "proposed_by", "approved_by"):
                data.pop(key)
        return data

    def movements(self) -> Iterator[Movement]:
        for a in self.allocations:
            yield Movement(a.account, self.security, a.quantity)
            if a.locked_quantity:
                yield Movement(a.account, self.security, a.locked_quantity, part="locked")


@dataclass(frozen=True)
class FrozenAtUnlock(Payload):
    """What a judicial freeze of the account took of the shares a lock-up released (``freeze``: its id)."""

    freeze: int
    quantity: int


@dataclass(frozen=True)
class Unlock(Payload):
    """A lock-up ends on its date: ``quantity`` shares of ``account`` in ``security`` leave ``locked``. They become
    free, but for what freezes of the account took of them at once (``frozen``: a freeze of these shares that
    held less than it was ordered to, the locked shares having been out of its reach, or a whole-account freeze);
    those go from ``locked`` straight to ``frozen``."""

    kind = EntryKind.UNLOCK
    security: str
    account: str
    quantity: int
    until: dt.date
    lockup: int
    frozen: list[FrozenAtUnlock] | None = None

    def payload(self) -> dict:
        data = super().payload()
        if not self.frozen:
            data.pop("frozen")  # the first form, so that an unlock no freeze took from keeps its earlier bytes
        return data

    def movements(self) -> Iterator[Movement]:
        yield Movement(self.account, self.security, -self.quantity, part="locked")
        if taken := sum(f.quantity for f in self.frozen or ()):
            yield Movement(self.account, self.security, taken, part="frozen")


KINDS: tuple[type[Deposit] | type[Issue] | type[Unlock], ...] = (Deposit, Withdrawal, Issue, Unlock)
