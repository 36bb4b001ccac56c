"""The entry kinds settlement writes, and how a SETTLEMENT moves balances.

* SETTLEMENT, gross (one trade) or net (a window's trades in one security);
* SETTLEMENT_HOLD and SETTLEMENT_RELEASE: a depository operator holds or
  releases a pending trade (nothing moves); a standing settlement instruction
  holds a trade at settlement (SETTLEMENT_HOLD with its ``instruction`` id);
* SETTLEMENT_FAILED: a refusal, which releases both sides' reservations;
* SETTLEMENT_INSTRUCTION and SETTLEMENT_INSTRUCTION_END: a standing settlement
  instruction set, and ended early (nothing moves). Ids, codes and roles only:
  never a person, nor the instruction's reason (a regulator's must not reach
  whoever reads entries but not instructions; it is on the audit trail).

Every writer and reader (the replay check, client statements) goes through
these classes (``ledger.payloads``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from balances.entries import CashAmount, ShareAmount
from balances.replay import Movement
from ledger.models import EntryKind
from ledger.payloads import Payload


@dataclass(frozen=True)
class GrossSettlement(Payload):
    """One trade settled alone (BIS DvP model 1): ``buyer_pays`` and ``seller_receives`` include fees."""

    kind = EntryKind.SETTLEMENT
    mode: str  # "gross"
    trade_id: int
    security: str
    quantity: int
    price: Decimal
    buyer: str
    seller: str
    buyer_pays: Decimal
    seller_receives: Decimal
    fees: list[CashAmount]
    settled_at: dt.datetime

    def movements(self) -> Iterator[Movement]:
        yield Movement(self.buyer, None, -self.buyer_pays)
        yield Movement(self.seller, None, self.seller_receives)
        for f in self.fees:
            yield Movement(f.account, None, f.amount)
        yield Movement(self.seller, self.security, -self.quantity)
        yield Movement(self.buyer, self.security, self.quantity)


@dataclass(frozen=True)
class NetSettlement(Payload):
    """A window's trades in one security settled together (BIS DvP model 3): each account's signed net."""

    kind = EntryKind.SETTLEMENT
    mode: str  # "net"
    security: str
    trade_ids: list[int]
    cash: list[CashAmount]
    shares: list[ShareAmount]
    settled_at: dt.datetime

    def movements(self) -> Iterator[Movement]:
        for c in self.cash:
            yield Movement(c.account, None, c.amount)
        for s in self.shares:
            yield Movement(s.account, self.security, s.quantity)


def settlement_read(payload: dict) -> GrossSettlement | NetSettlement:
    """A SETTLEMENT entry's payload, gross or net by its ``mode``."""
    return (NetSettlement if payload.get("mode") == "net" else GrossSettlement).read(payload)


@dataclass(frozen=True)
class Hold(Payload):
    """A depository operator holds a pending trade's settlement, with a reason."""

    kind = EntryKind.SETTLEMENT_HOLD
    trade_id: int
    security: str
    reason: str
    at: dt.datetime


@dataclass(frozen=True)
class InstructionHold(Hold):
    """A trade held at settlement by a standing settlement instruction: its id, and as ``reason`` the reason of a
    depository's instruction; a regulator's is empty here (no tipping-off: ``settlement.services``). (A hold by
    hand has no ``instruction`` key, so its bytes are what they were.)"""

    instruction: int


@dataclass(frozen=True)
class Release(Hold):
    kind = EntryKind.SETTLEMENT_RELEASE


@dataclass(frozen=True)
class Refusal(Hold):
    """A refused trade: nothing moves; both sides' reservations are released."""

    kind = EntryKind.SETTLEMENT_FAILED
    buyer: str
    seller: str
    released_cash: Decimal
    released_shares: int


@dataclass(frozen=True)
class InstructionSet(Payload):
    """A standing settlement instruction set (``settlement.instructions``): from ``at`` until ``until`` (or an
    early end), hold the trades of ``account`` (as buyer or seller), of ``security``, and worth at least
    ``min_amount`` (the criteria it has: null for those it has not), before they settle. ``set_by_role``: the
    role that set it (``depository_operator`` or ``regulator``)."""

    kind = EntryKind.SETTLEMENT_INSTRUCTION
    instruction: int
    account: str | None
    security: str | None
    min_amount: Decimal | None
    until: dt.datetime
    set_by_role: str
    at: dt.datetime


@dataclass(frozen=True)
class InstructionEnd(Payload):
    """A standing settlement instruction ended early, at ``at``, by a user of ``ended_by_role``; the trades it
    held stay held. (One that reaches its ``until`` has no such entry: its first entry says when it ends.)"""

    kind = EntryKind.SETTLEMENT_INSTRUCTION_END
    instruction: int
    ended_by_role: str
    at: dt.datetime
