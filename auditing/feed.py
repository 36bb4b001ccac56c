"""The regulatory data feed: sealed ledger entries as records in the groups of JR/T 0315-2024 (DESIGN.md §4).

The regional-market cross-chain data standard groups what a market's business chain reports to the
regulator's chain as entity, account, product (security), transfer report, registration, fund settlement,
disclosure, financial statements and supervisory. Each record here is derived from one sealed ledger
entry and names its leaf index, so the regulator proves it against a signed checkpoint
(``/api/v1/ledger/entries/<leaf>/proof/``, ``ledger/verifier.py``): the record's ``canonical`` bytes hash
to ``leaf_hash``, whose inclusion proof leads to the checkpoint's root.

A SETTLEMENT gives two records of one leaf: its cash legs (fund settlement) and its share legs
(registration). Account openings and KYC are not ledger entries, so the account group stays empty here
(the entries name accounts by code only); financial statements reach the ledger only as disclosed
documents (DISCLOSURE of kind annual_report or interim_report, in the disclosure group). No record
carries personal data: entries hold account codes, never names or ID numbers, and the real identity is
only behind a recorded IDENTITY_REVEAL (which names the account and the regulator, not the identity).

The table of kinds and groups is in docs/ledger.md ("Regulatory data feed").
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from ledger.models import Entry, Leaf

ENTITY = "entity"
ACCOUNT = "account"
PRODUCT = "product"
TRANSFER = "transfer_report"
REGISTRATION = "registration"
FUND_SETTLEMENT = "fund_settlement"
DISCLOSURE = "disclosure"
FINANCIAL_STATEMENTS = "financial_statements"
SUPERVISORY = "supervisory"
GROUPS = (
    ENTITY,
    ACCOUNT,
    PRODUCT,
    TRANSFER,
    REGISTRATION,
    FUND_SETTLEMENT,
    DISCLOSURE,
    FINANCIAL_STATEMENTS,
    SUPERVISORY,
)

# Entry kind → group (SETTLEMENT also gives a registration record for its share legs).
KIND_GROUPS: dict[str, str] = {
    "ISSUE": REGISTRATION,
    "UNLOCK": REGISTRATION,
    "DEPOSIT": FUND_SETTLEMENT,
    "WITHDRAWAL": FUND_SETTLEMENT,
    "TRADE": TRANSFER,
    "SETTLEMENT": FUND_SETTLEMENT,
    "SETTLEMENT_FAILED": FUND_SETTLEMENT,
    "SETTLEMENT_HOLD": FUND_SETTLEMENT,
    "SETTLEMENT_RELEASE": FUND_SETTLEMENT,
    "LISTING": PRODUCT,
    "SECURITY_CHANGE": PRODUCT,
    "DELISTING": PRODUCT,
    "CLOSE": PRODUCT,
    "HALT": SUPERVISORY,
    "RESUME": SUPERVISORY,
    "FREEZE": SUPERVISORY,
    "UNFREEZE": SUPERVISORY,
    "FORCED_TRANSFER": SUPERVISORY,
    "CORRECTION": SUPERVISORY,
    "IDENTITY_REVEAL": SUPERVISORY,
    "SETTLEMENT_INSTRUCTION": SUPERVISORY,
    "SETTLEMENT_INSTRUCTION_END": SUPERVISORY,
    "DISCLOSURE": DISCLOSURE,
    "KEY_ROTATION": ENTITY,
}

# Payload field → feed field: the standard's records name what a code is.
_RENAMED = {
    "security": "security_code",
    "account": "account_code",
    "buyer": "buyer_account",
    "seller": "seller_account",
    "sender": "sender_account",
    "receiver": "receiver_account",
    "document": "document_id",
}


def _renamed(payload: dict[str, Any]) -> dict[str, Any]:
    return {_RENAMED.get(k, k): v for k, v in payload.items()}


def records_of(kind: str, payload: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The (group, record) pairs of one entry's payload (decoded canonical JSON: amounts stay strings)."""
    group = KIND_GROUPS.get(kind)
    if group is None:
        return []
    if kind == "SETTLEMENT":
        return _settlement(payload)
    return [(group, {"event": kind.lower(), **_renamed(payload)})]


def _settlement(p: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """A settlement's cash legs (fund settlement) and share legs (registration), gross or net."""
    common = {"mode": p.get("mode"), "security_code": p.get("security"), "settled_at": p.get("settled_at")}
    if p.get("mode") == "net":
        common["trade_ids"] = p.get("trade_ids", [])
        cash = [{"account_code": c["account"], "amount": c["amount"]} for c in p.get("cash", [])]
        shares = [{"account_code": s["account"], "quantity": s["quantity"]} for s in p.get("shares", [])]
    else:
        common["trade_ids"] = [p.get("trade_id")]
        quantity = int(p.get("quantity") or 0)
        cash = [
            {"account_code": p.get("buyer"), "amount": str(-Decimal(p.get("buyer_pays") or "0"))},
            {"account_code": p.get("seller"), "amount": p.get("seller_receives")},
            *({"account_code": f["account"], "amount": f["amount"], "fee": True} for f in p.get("fees", [])),
        ]
        shares = [
            {"account_code": p.get("seller"), "quantity": -quantity},
            {"account_code": p.get("buyer"), "quantity": quantity},
        ]
        common["price"] = p.get("price")
    return [
        (FUND_SETTLEMENT, {"event": "settlement", **common, "currency": "CNY", "legs": cash}),
        (REGISTRATION, {"event": "settlement_delivery", **common, "legs": shares}),
    ]


def feed_records(leaves: Iterable[Leaf]) -> Iterator[dict[str, Any]]:
    """The records of sealed leaves (with ``entry`` loaded), in leaf order."""
    for leaf in leaves:
        entry = leaf.entry
        canonical = bytes(entry.canonical)
        decoded = json.loads(canonical)
        for group, record in records_of(entry.kind, decoded.get("payload", {})):
            yield {
                "leaf_index": leaf.leaf_index,
                "block_height": leaf.block_id,
                "group": group,
                "kind": entry.kind,
                "recorded_at": decoded.get("recorded_at"),
                "leaf_hash": bytes(entry.leaf_hash).hex(),
                "canonical": base64.b64encode(canonical).decode(),
                "record": record,
            }


def sealed_after(after: int | None, limit: int, *, using: str = "default") -> list[Leaf]:
    """Up to ``limit`` sealed leaves after leaf ``after`` (from the first when None), in leaf order, read on
    ``using`` (a replica holds a prefix of the primary's leaves: its page may be shorter, never different)."""
    leaves = Leaf.objects.using(using).select_related("entry").order_by("leaf_index")
    if after is not None:
        leaves = leaves.filter(leaf_index__gt=after)
    return list(leaves[:limit])


def sealed_between(start: dt.datetime, end: dt.datetime, *, using: str = "default") -> Iterator[Leaf]:
    """The sealed leaves of the entries recorded in [start, end), in leaf order, read on ``using``."""
    return (
        Leaf.objects.using(using)
        .select_related("entry")
        .filter(entry__recorded_at__gte=start, entry__recorded_at__lt=end)
        .order_by("leaf_index")
        .iterator(chunk_size=2000)
    )


def sealed_count_between(start: dt.datetime, end: dt.datetime) -> int:
    """How many entries recorded in [start, end) are sealed, on the primary."""
    return Leaf.objects.filter(entry__recorded_at__gte=start, entry__recorded_at__lt=end).count()


def unsealed_between(start: dt.datetime, end: dt.datetime) -> int:
    """How many entries recorded in [start, end) still wait for the sealer."""
    return Entry.objects.filter(recorded_at__gte=start, recorded_at__lt=end, leaf__isnull=True).count()
