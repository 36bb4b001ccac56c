"""The entry kinds balances write: DEPOSIT, WITHDRAWAL and ISSUE, and how each moves balances.

Each payload is built and read only through these classes (``ledger.payloads``).
``movements`` is each kind's effect on balances, which the replay check
(``balances.replay``) and the client statement read.
"""

from __future__ import annotations

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
class Issue(Payload):
    """Shares of ``security`` registered to their initial holders."""

    kind = EntryKind.ISSUE
    security: str
    quantity: int
    allocations: list[ShareAmount]
    reference: str

    def movements(self) -> Iterator[Movement]:
        for a in self.allocations:
            yield Movement(a.account, self.security, a.quantity)


KINDS: tuple[type[Deposit] | type[Issue], ...] = (Deposit, Withdrawal, Issue)
