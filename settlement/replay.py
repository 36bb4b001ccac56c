"""Rebuild every balance from the ledger alone and compare it with the balance tables.

Totals come from the entries: ISSUE credits holders, DEPOSIT / WITHDRAWAL
move cash, SETTLEMENT moves cash and shares (gross: one trade; net: signed net
positions). A TRADE moves nothing until it settles; SETTLEMENT_FAILED moves
nothing. The reserved parts are not ledger facts (open orders and quotes
are not legal state changes), so they are checked against what the open
orders, active quotes and unsettled trades hold.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection

from exchange.models import Order, Quote, Trade
from exchange.snapshot import read_only_snapshot

from .models import CashBalance, Position

ZERO = Decimal("0.00")


@dataclass
class Difference:
    account: str
    asset: str
    what: str
    ledger: object
    table: object

    def __str__(self) -> str:
        return f"{self.account} {self.asset} {self.what}: ledger {self.ledger}, table {self.table}"


def ledger_balances() -> tuple[dict[str, Decimal], dict[tuple[str, str], int]]:
    cash: dict[str, Decimal] = defaultdict(lambda: ZERO)
    shares: dict[tuple[str, str], int] = defaultdict(int)
    with connection.cursor() as cur:
        cur.execute(
            "SELECT kind, canonical FROM ledger_entry WHERE kind IN ('ISSUE', 'DEPOSIT', 'WITHDRAWAL', 'SETTLEMENT') "
            "ORDER BY id"
        )
        while rows := cur.fetchmany(5000):
            for kind, data in rows:
                p = json.loads(bytes(data))["payload"]
                if kind == "ISSUE":
                    for a in p["allocations"]:
                        shares[(a["account"], p["security"])] += int(a["quantity"])
                elif kind == "DEPOSIT":
                    cash[p["account"]] += Decimal(p["amount"])
                elif kind == "WITHDRAWAL":
                    cash[p["account"]] -= Decimal(p["amount"])
                elif p.get("mode") == "net":
                    for c in p["cash"]:
                        cash[c["account"]] += Decimal(c["amount"])
                    for s in p["shares"]:
                        shares[(s["account"], p["security"])] += int(s["quantity"])
                else:
                    cash[p["buyer"]] -= Decimal(p["buyer_pays"])
                    cash[p["seller"]] += Decimal(p["seller_receives"])
                    for f in p["fees"]:
                        cash[f["account"]] += Decimal(f["amount"])
                    shares[(p["seller"], p["security"])] -= int(p["quantity"])
                    shares[(p["buyer"], p["security"])] += int(p["quantity"])
    return cash, shares


def reserved_expected() -> tuple[dict[int, Decimal], dict[tuple[int, int], int]]:
    """What each balance must hold reserved: open orders, active quotes, unsettled trades."""
    cash: dict[int, Decimal] = defaultdict(lambda: ZERO)
    shares: dict[tuple[int, int], int] = defaultdict(int)
    for o in Order.objects.filter(status__in=Order.OPEN_STATUSES).only(
        "account_id", "security_id", "side", "reserved_cash", "quantity", "filled_quantity"
    ):
        if o.side == Order.Side.BUY:
            cash[o.account_id] += o.reserved_cash
        else:
            shares[(o.account_id, o.security_id)] += o.remaining_quantity
    for q in Quote.objects.filter(status=Quote.Status.ACTIVE).only(
        "account_id", "security_id", "side", "price", "quantity"
    ):
        if q.side == Quote.Side.BID:
            cash[q.account_id] += q.price * q.quantity
        else:
            shares[(q.account_id, q.security_id)] += q.quantity
    pending = Trade.objects.filter(status__in=[Trade.Status.MATCHED, Trade.Status.HELD]).only(
        "buyer_id", "seller_id", "security_id", "price", "quantity", "buyer_fee"
    )
    for t in pending:
        cash[t.buyer_id] += t.value + t.buyer_fee
        shares[(t.seller_id, t.security_id)] += t.quantity
    return cash, shares


def replay_check() -> list[Difference]:
    """Every difference between the balance tables and the ledger, as of one snapshot of a live exchange."""
    with read_only_snapshot():
        return _differences()


def _differences() -> list[Difference]:
    cash_ledger, shares_ledger = ledger_balances()
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
    for key in sorted(set(shares_ledger) - seen_pos):
        if shares_ledger[key]:
            diffs.append(Difference(key[0], key[1], "total", shares_ledger[key], "no row"))
    return diffs
