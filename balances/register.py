"""The shareholder register of a security as of the end of a date, rebuilt from the ledger alone.

Every entry kind that moves shares declares its movements (``balances.replay``):
ISSUE (with lock-ups), SETTLEMENT, UNLOCK, and later freezes and forced
transfers. Replaying those recorded before midnight (Asia/Shanghai) after the
date gives each holder's quantity and its locked and frozen parts. For today
it equals the balance tables (the replay check compares them continuously).

A holder is named by account code; an investor's real name is masked (``core.names``): the register is read by
the depository, the auditor and the regulator, and a full identity comes only through the regulator's
recorded reveal.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from core.models import Account
from core.names import account_name_for
from core.snapshot import read_only_snapshot
from registry.calendar import SHANGHAI
from registry.models import Security

from .replay import ledger_balances


@dataclass(frozen=True)
class RegisterLine:
    account: str
    name: str
    broker: str
    quantity: int
    locked: int
    frozen: int
    percent: str


def register_as_of(security: Security, as_of: dt.date) -> list[RegisterLine]:
    """Holders of ``security`` at the end of ``as_of`` (Asia/Shanghai), largest first."""
    until = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), tzinfo=SHANGHAI)
    with read_only_snapshot():
        _cash, shares, parts = ledger_balances(until=until, security=security.code)
        codes = {a for (a, _s), q in shares.items() if q} | {a for (a, _s, _p), q in parts.items() if q}
        accounts = {a.code: a for a in Account.objects.filter(code__in=codes).select_related("broker")}
    issued = sum(shares.values())
    lines = [
        RegisterLine(
            account=code,
            name=account_name_for(accounts[code], None) if code in accounts else "",
            broker=accounts[code].broker.code if code in accounts and accounts[code].broker else "",
            quantity=shares.get((code, security.code), 0),
            locked=parts.get((code, security.code, "locked"), 0),
            frozen=parts.get((code, security.code, "frozen"), 0),
            percent=f"{100 * shares.get((code, security.code), 0) / issued:.4f}" if issued else "0.0000",
        )
        for code in codes
    ]
    return sorted(lines, key=lambda line: (-line.quantity, line.account))


# Who holds shares, for counting holders as the holder cap counts them (one real person however many accounts):
# the KYC app registers a reader of the identity behind each account (``kyc.selectors.identities_of``). An account
# without one (a market maker's) is a holder of its own.
identity_readers: list[Callable[[list[str]], dict[str, str]]] = []


def register_identity_reader(fn: Callable[[list[str]], dict[str, str]]) -> None:
    if fn not in identity_readers:
        identity_readers.append(fn)


def persons_holding(lines: list[RegisterLine]) -> int:
    """How many real persons the register's lines with shares name (their accounts' identities, counted once)."""
    codes = [line.account for line in lines if line.quantity]
    identities: dict[str, str] = {}
    for read in identity_readers:
        identities.update(read(codes))
    return len({identities.get(code, "account:" + code) for code in codes})
