"""The entry kinds supervision writes: FREEZE, UNFREEZE, FORCED_TRANSFER and CORRECTION, and how each moves
balances (``balances.replay``: the frozen part, and totals for transfers and corrections)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext_lazy

from balances.entries import CashAmount, ShareAmount
from balances.replay import Movement
from ledger.models import EntryKind
from ledger.payloads import Payload
from settlement.statements import Adjustment


@dataclass(frozen=True)
class SecurityQuantity(Payload):
    security: str
    quantity: int


@dataclass(frozen=True)
class FreezeEntry(Payload):
    """A judicial freeze took effect on ``account``: ``cash`` CNY and ``shares`` now frozen (what was free of
    what was asked; ``shortfall`` says what was not). ``scope``: cash, shares or account (a whole account), or
    trading (a trading restriction: nothing frozen, ``cash`` 0 and no ``shares``; the account may not trade until
    its UNFREEZE)."""

    kind = EntryKind.FREEZE
    freeze: int
    account: str
    scope: str
    cash: Decimal
    shares: list[SecurityQuantity]
    shortfall: str
    legal_reference: str
    legal_authority: str
    legal_document: str
    legal_date: dt.date | None
    reason: str
    expires_at: dt.datetime | None
    proposed_by: str
    approved_by: str
    at: dt.datetime

    def movements(self) -> Iterator[Movement]:
        if self.cash:
            yield Movement(self.account, None, self.cash, part="frozen")
        for s in self.shares:
            yield Movement(self.account, s.security, s.quantity, part="frozen")


@dataclass(frozen=True)
class UnfreezeEntry(Payload):
    """A freeze ended (``cause``: released or expired): what it still held is free again."""

    kind = EntryKind.UNFREEZE
    freeze: int
    account: str
    cash: Decimal
    shares: list[SecurityQuantity]
    cause: str
    reason: str
    by: str | None
    at: dt.datetime

    def movements(self) -> Iterator[Movement]:
        if self.cash:
            yield Movement(self.account, None, -self.cash, part="frozen")
        for s in self.shares:
            yield Movement(self.account, s.security, -s.quantity, part="frozen")


@dataclass(frozen=True)
class ForcedTransferEntry(Payload):
    """Frozen cash (``security`` None, ``amount``) or shares (``quantity``) moved by court order from the
    account of ``freeze`` to ``receiver``, where they are free."""

    kind = EntryKind.FORCED_TRANSFER
    transfer: int
    freeze: int
    sender: str
    receiver: str
    security: str | None
    amount: Decimal | None
    quantity: int | None
    legal_reference: str
    legal_authority: str
    legal_document: str
    legal_date: dt.date | None
    reason: str
    proposed_by: str
    approved_by: str
    at: dt.datetime

    def movements(self) -> Iterator[Movement]:
        q = self.amount if self.security is None else self.quantity
        yield Movement(self.sender, self.security, -q)
        yield Movement(self.sender, self.security, -q, part="frozen")
        yield Movement(self.receiver, self.security, q)


@dataclass(frozen=True)
class FrozenUse(Payload):
    """What a correction drew from a freeze of the account it debits."""

    freeze: int
    account: str
    amount: Decimal | None
    quantity: int | None


@dataclass(frozen=True)
class CorrectionEntry(Payload):
    """A settled trade corrected: its terms went from ``before`` to ``after`` (quantity 0 reverses it) and
    each account's cash and shares moved by the difference (fees included); ``frozen_used`` the frozen
    assets the debits drew on. Links the trade's TRADE entry by leaf and block."""

    kind = EntryKind.CORRECTION
    correction: int
    trade_id: int
    trade_leaf: int | None
    trade_block: int | None
    security: str
    before_price: Decimal
    before_quantity: int
    after_price: Decimal
    after_quantity: int
    cash: list[CashAmount]
    shares: list[ShareAmount]
    frozen_used: list[FrozenUse]
    reason: str
    proposed_by: str
    approved_by: str
    at: dt.datetime

    def movements(self) -> Iterator[Movement]:
        for c in self.cash:
            yield Movement(c.account, None, c.amount)
        for s in self.shares:
            yield Movement(s.account, self.security, s.quantity)
        for f in self.frozen_used:
            if f.amount is not None:
                yield Movement(f.account, None, -f.amount, part="frozen")
            else:
                yield Movement(f.account, self.security, -f.quantity, part="frozen")


KINDS = (FreezeEntry, UnfreezeEntry, ForcedTransferEntry, CorrectionEntry)


def _transfer_refs(p: dict) -> tuple[tuple[int, ...], str]:
    return (), f"#{ForcedTransferEntry.read(p).transfer}"


def _correction_refs(p: dict) -> tuple[tuple[int, ...], str]:
    return (CorrectionEntry.read(p).trade_id,), ""


# How a forced transfer and a correction show on the account statements of the accounts they move.
STATEMENT_LINES = {
    EntryKind.FORCED_TRANSFER: Adjustment("forced_transfer", gettext_lazy("Forced transfer"), _transfer_refs),
    EntryKind.CORRECTION: Adjustment("correction", gettext_lazy("Trade correction"), _correction_refs),
}
