"""Typed entry payloads: each kind's bytes are exactly the shape written before the payloads were typed, and
reading the bytes back gives the same record (so every writer and reader agrees on one definition)."""

import datetime as dt
import json
from decimal import Decimal

import pytest

from balances.entries import Allocation, CashAmount, Deposit, Issue, ShareAmount, Withdrawal
from exchange.entries import TradeEntry
from ledger.canonical import entry_bytes
from settlement.entries import GrossSettlement, Hold, NetSettlement, Refusal, Release, settlement_read

D = Decimal
AT = dt.datetime(2026, 12, 2, 9, 31, 2, 123456, tzinfo=dt.UTC)
CASES = [
    (
        Deposit(account="INV000010", amount=D("1000.50"), currency="CNY", reference="slip 7"),
        {"account": "INV000010", "amount": D("1000.50"), "currency": "CNY", "reference": "slip 7"},
    ),
    (
        Withdrawal(account="INV000010", amount=D("20.00"), currency="CNY", reference=""),
        {"account": "INV000010", "amount": D("20.00"), "currency": "CNY", "reference": ""},
    ),
    (
        Issue(security="830001", quantity=3000, allocations=[Allocation("MM000002", 3000)], reference="IPO"),
        {
            "security": "830001",
            "quantity": 3000,
            "allocations": [{"account": "MM000002", "quantity": 3000}],
            "reference": "IPO",
        },
    ),
    (
        Issue(
            security="830001",
            quantity=500,
            allocations=[Allocation("INV000010", 500, 100, dt.date(2027, 1, 4))],
            reference="Placement",
            issuance=12,
            proposed_by="depository1",
            approved_by="depository2",
        ),
        {
            "security": "830001",
            "quantity": 500,
            "allocations": [
                {"account": "INV000010", "quantity": 500, "locked_quantity": 100, "locked_until": dt.date(2027, 1, 4)}
            ],
            "reference": "Placement",
            "issuance": 12,
            "proposed_by": "depository1",
            "approved_by": "depository2",
        },
    ),
    (
        TradeEntry(7, "830001", D("12.55"), 100, "INV000010", "MM000002", D("5.00"), D("0.00"), 3, None, 4, AT),
        {
            "trade_id": 7,
            "security": "830001",
            "price": D("12.55"),
            "quantity": 100,
            "buyer": "INV000010",
            "seller": "MM000002",
            "buyer_fee": D("5.00"),
            "seller_fee": D("0.00"),
            "buy_order_id": 3,
            "sell_order_id": None,
            "quote_id": 4,
            "matched_at": AT,
        },
    ),
    (
        GrossSettlement(
            "gross",
            7,
            "830001",
            100,
            D("12.55"),
            "INV000010",
            "MM000002",
            D("1260.00"),
            D("1255.00"),
            [CashAmount("FEE000001", D("5.00"))],
            AT,
        ),
        {
            "mode": "gross",
            "trade_id": 7,
            "security": "830001",
            "quantity": 100,
            "price": D("12.55"),
            "buyer": "INV000010",
            "seller": "MM000002",
            "buyer_pays": D("1260.00"),
            "seller_receives": D("1255.00"),
            "fees": [{"account": "FEE000001", "amount": D("5.00")}],
            "settled_at": AT,
        },
    ),
    (
        NetSettlement(
            "net",
            "830002",
            [7, 8],
            [CashAmount("INV000010", D("-10.00")), CashAmount("MM000002", D("10.00"))],
            [ShareAmount("INV000010", 100), ShareAmount("MM000002", -100)],
            AT,
        ),
        {
            "mode": "net",
            "security": "830002",
            "trade_ids": [7, 8],
            "cash": [{"account": "INV000010", "amount": D("-10.00")}, {"account": "MM000002", "amount": D("10.00")}],
            "shares": [{"account": "INV000010", "quantity": 100}, {"account": "MM000002", "quantity": -100}],
            "settled_at": AT,
        },
    ),
    (
        Hold(7, "830001", "court order pending", AT),
        {"trade_id": 7, "security": "830001", "reason": "court order pending", "at": AT},
    ),
    (Release(7, "830001", "cleared", AT), {"trade_id": 7, "security": "830001", "reason": "cleared", "at": AT}),
    (
        Refusal(7, "830001", "fraud", AT, "INV000010", "MM000002", D("1260.00"), 100),
        {
            "trade_id": 7,
            "security": "830001",
            "reason": "fraud",
            "at": AT,
            "buyer": "INV000010",
            "seller": "MM000002",
            "released_cash": D("1260.00"),
            "released_shares": 100,
        },
    ),
]


@pytest.mark.parametrize(("record", "shape"), CASES, ids=lambda c: type(c).__name__ if not isinstance(c, dict) else "")
def test_a_typed_payload_has_the_bytes_of_its_shape_and_reads_back(record, shape):
    # given a record and the dict its kind was written as before it was typed
    # when both are encoded as an entry, then the bytes are the same
    for salt in (None, "5a" * 16):  # version 1 (before salting) and version 2
        data = entry_bytes(kind=record.kind, recorded_at=AT, payload=record.payload(), salt=salt)
        assert data == entry_bytes(kind=record.kind, recorded_at=AT, payload=shape, salt=salt)
    # and the decoded bytes read back to the same record
    assert type(record).read(json.loads(data)["payload"]) == record


def test_a_settlement_reads_as_gross_or_net_by_its_mode():
    gross, net = CASES[5][0], CASES[6][0]
    assert settlement_read(json.loads(json.dumps(gross.payload(), default=str))) == gross
    assert settlement_read(json.loads(json.dumps(net.payload(), default=str))) == net
