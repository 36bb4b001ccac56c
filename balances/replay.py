"""Rebuild every balance from the ledger alone and compare it with the balance tables.

Balances are a projection of the ledger. Each app that writes an entry kind
which moves balances declares that kind's movements here (``register_effect``,
from its ``AppConfig.ready``): balances itself for ISSUE, DEPOSIT, WITHDRAWAL
and UNLOCK, settlement for SETTLEMENT. A TRADE moves nothing until it settles;
SETTLEMENT_FAILED moves nothing. The locked and frozen parts of shares are
ledger facts too (an ISSUE's lock-ups, UNLOCK; freezes when they exist) and
are checked the same way. The reserved parts are not ledger facts (open
orders and quotes are not legal state changes), so they are checked against
what the apps that hold reservations declare (``register_reservations``:
trading's open orders, active quotes and unsettled trades).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection

from core.money import ZERO
from core.snapshot import read_only_snapshot

from .models import CashBalance, Position


@dataclass(frozen=True)
class Movement:
    """An entry's effect on one balance: cash (``security`` None, ``amount`` CNY) or shares of ``security``;
    on its ``total``, or on the part of it that is ``locked`` or ``frozen``."""

    account: str
    security: str | None
    amount: Decimal | int
    part: str = "total"


@dataclass(frozen=True)
class Reservation:
    """What one balance must hold reserved for something still open: cash (``security_id`` None) or shares."""

    account_id: int
    security_id: int | None
    amount: Decimal | int


effects: dict[str, Callable[[dict], Iterable[Movement]]] = {}
reservation_sources: list[Callable[[], Iterable[Reservation]]] = []


def register_effect(kind: str, effect: Callable[[dict], Iterable[Movement]]) -> None:
    effects[kind] = effect


def register_reservations(source: Callable[[], Iterable[Reservation]]) -> None:
    if source not in reservation_sources:
        reservation_sources.append(source)


@dataclass
class Difference:
    account: str
    asset: str
    what: str
    ledger: object
    table: object

    def __str__(self) -> str:
        return f"{self.account} {self.asset} {self.what}: ledger {self.ledger}, table {self.table}"


def ledger_balances(
    *, until: dt.datetime | None = None, security: str | None = None
) -> tuple[dict[str, Decimal], dict[tuple[str, str], int], dict[tuple[str, str, str], int]]:
    """Balances rebuilt from the entries alone (those recorded before ``until``, if given): cash totals by
    account, share totals by (account, security), and parts (shares locked or frozen, cash "CNY" frozen) by
    (account, security or "CNY", part).
    ``security`` keeps only that security's shares (and skips cash)."""
    cash: dict[str, Decimal] = defaultdict(lambda: ZERO)
    shares: dict[tuple[str, str], int] = defaultdict(int)
    parts: dict[tuple[str, str, str], int] = defaultdict(int)
    sql = "SELECT kind, canonical FROM ledger_entry WHERE kind = ANY(%s)"
    params: list = [sorted(effects)]
    if until is not None:
        sql += " AND recorded_at < %s"
        params.append(until)
    with connection.cursor() as cur:
        cur.execute(sql + " ORDER BY id", params)
        while rows := cur.fetchmany(5000):
            for kind, data in rows:
                for m in effects[kind](json.loads(bytes(data))["payload"]):
                    if m.security is None:
                        if security is None and m.part == "total":
                            cash[m.account] += m.amount
                        elif security is None:
                            parts[(m.account, "CNY", m.part)] += m.amount
                    elif security is None or m.security == security:
                        if m.part == "total":
                            shares[(m.account, m.security)] += m.amount
                        else:
                            parts[(m.account, m.security, m.part)] += m.amount
    return cash, shares, parts


def reserved_expected() -> tuple[dict[int, Decimal], dict[tuple[int, int], int]]:
    """What each balance must hold reserved, as the apps holding reservations declare it."""
    cash: dict[int, Decimal] = defaultdict(lambda: ZERO)
    shares: dict[tuple[int, int], int] = defaultdict(int)
    for source in reservation_sources:
        for r in source():
            if r.security_id is None:
                cash[r.account_id] += r.amount
            else:
                shares[(r.account_id, r.security_id)] += r.amount
    return cash, shares


def replay_check() -> list[Difference]:
    """Every difference between the balance tables and the ledger, as of one snapshot of a live exchange."""
    with read_only_snapshot():
        return _differences()


def _differences() -> list[Difference]:
    cash_ledger, shares_ledger, parts_ledger = ledger_balances()
    cash_reserved, shares_reserved = reserved_expected()
    diffs: list[Difference] = []
    seen_cash = set()
    for row in CashBalance.objects.select_related("account").order_by("account_id"):
        code = row.account.code
        seen_cash.add(code)
        if cash_ledger.get(code, ZERO) != row.total:
            diffs.append(Difference(code, "CNY", "total", cash_ledger.get(code, ZERO), row.total))
        if cash_reserved.get(row.account_id, ZERO) != row.reserved:
            diffs.append(Difference(code, "CNY", "reserved", cash_reserved.get(row.account_id, ZERO), row.reserved))
        if parts_ledger.get((code, "CNY", "frozen"), 0) != row.frozen:
            diffs.append(Difference(code, "CNY", "frozen", parts_ledger.get((code, "CNY", "frozen"), 0), row.frozen))
    for code in sorted(set(cash_ledger) - seen_cash):
        if cash_ledger[code]:
            diffs.append(Difference(code, "CNY", "total", cash_ledger[code], "no row"))
    seen_pos = set()
    for row in Position.objects.select_related("account", "security").order_by("account_id", "security_id"):
        key = (row.account.code, row.security.code)
        seen_pos.add(key)
        if shares_ledger.get(key, 0) != row.total:
            diffs.append(Difference(key[0], key[1], "total", shares_ledger.get(key, 0), row.total))
        expected = shares_reserved.get((row.account_id, row.security_id), 0)
        if expected != row.reserved:
            diffs.append(Difference(key[0], key[1], "reserved", expected, row.reserved))
        for part in ("locked", "frozen"):
            expected = parts_ledger.get((*key, part), 0)
            if expected != getattr(row, part):
                diffs.append(Difference(key[0], key[1], part, expected, getattr(row, part)))
    for key in sorted(set(shares_ledger) - seen_pos):
        if shares_ledger[key]:
            diffs.append(Difference(key[0], key[1], "total", shares_ledger[key], "no row"))
    return diffs
