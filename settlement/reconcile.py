"""Settlements reconciled with their entries, checked by ``ledger_verify`` (registered from
``SettlementConfig.ready``).

* every ``Settlement`` row points at a SETTLEMENT entry that names its trade
  (a gross entry its ``trade_id``, a net entry among its ``trade_ids``);
* every sealed SETTLEMENT entry names exactly the trades whose rows point at it;
* what each SETTLEMENT entry moved agrees with the trades it settles, as their rows stand (and those agree with
  their TRADE entries: ``exchange.reconcile``): a gross entry its trade's security, quantity, price, parties, what
  the buyer paid and the seller received (the value with their fees) and each fee with the fee account of the
  payer's broker; a net entry its trades' security, each account's net shares, each party's net cash, and what
  each fee account received (found by probes: an entry re-sealed with another quantity passed, where only the
  replay of balances noticed; so did an entry whose fees were moved between two brokers' fee accounts, the
  total kept);
* a trade is ``settled`` exactly when it has a settlement row;
* every standing settlement instruction agrees with its SETTLEMENT_INSTRUCTION entry (its id, account, security,
  minimum amount, end, the role that set it, when), and with its SETTLEMENT_INSTRUCTION_END entry exactly when it
  was ended early (the role that ended it, when); every such entry has its row. The instructions are few: no
  chunked fast form, the fast pass runs this check on what it read (``INSTRUCTIONS_CHECK``). The reason is not on
  the ledger (``settlement.instructions``), so a rewritten reason is for the audit trail to show, not this check.
"""

from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import fields
from decimal import Decimal
from typing import NamedTuple

from django.db import connection
from django.utils.translation import gettext_noop as _

from exchange.models import Trade
from ledger.hooks import BusinessCheck
from ledger.models import EntryKind
from ledger.verification import CHUNK, Problem, Report, rows_against_entries, rows_tally

from .entries import InstructionEnd, InstructionSet
from .models import Settlement, SettlementInstruction

ZERO = Decimal(0)
CENT = Decimal("0.01")
NO_FEE = "0.00"  # PostgreSQL's text of a fee of nothing (numeric of two places)
GROSS_FIELDS = ("security", "quantity", "price", "buyer", "seller", "buyer_pays", "seller_receives", "fees")
NET_FIELDS = ("security", "shares", "cash", "fees")


class Settles(NamedTuple):
    """What a SETTLEMENT entry says, as stored: the trades it settles, its mode, and what it moved (``None`` when
    the payload cannot be read as a settlement). A named tuple: one is made for every net SETTLEMENT entry
    verified (a gross one is read as a plain tuple, ``_gross``, and made one only by the full walk)."""

    trade_ids: frozenset[int]
    mode: str
    says: tuple | None


def _trade_ids(payload: dict) -> frozenset[int]:
    if payload.get("mode") == "net":
        return frozenset(int(t) for t in payload.get("trade_ids", []))
    return frozenset([int(payload["trade_id"])]) if "trade_id" in payload else frozenset()


def _says(payload: dict) -> tuple:
    if payload.get("mode") == "net":
        cash: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for c in payload["cash"]:
            cash[c["account"]] += Decimal(c["amount"])
        shares = frozenset((s["account"], int(s["quantity"])) for s in payload["shares"])
        return (payload["security"], shares, {a: amount for a, amount in cash.items() if amount})
    # A gross entry's figures as the text it stores: compared with PostgreSQL's text of the trade's (both write a
    # numeric of two places the same way), no Decimal made on the way (verification's pace: make bench).
    return (
        payload["security"],
        int(payload["quantity"]),
        payload["price"],
        payload["buyer"],
        payload["seller"],
        payload["buyer_pays"],
        payload["seller_receives"],
        tuple((f["account"], f["amount"]) for f in payload["fees"]),
    )


def _gross(payload: dict) -> tuple:
    """A gross SETTLEMENT entry as the plain tuple its settlement row reads in the fast form (``GROSS_ROW``: the
    trade's id, security, price, quantity, parties, what the buyer paid and the seller received, then how many
    fees it lists and each fee's account and amount, ``None`` for a fee not listed). Raises where the payload is
    not one our settlement writes (not two fees at most, an id or quantity not a number): ``_settles`` then reads
    it the full walk's way."""
    fees = payload["fees"]
    if type(fees) is not list or type(payload["trade_id"]) is not int or type(payload["quantity"]) is not int:
        raise TypeError
    n = len(fees)
    if n == 2:
        first, second = fees
        listed = (2, first["account"], first["amount"], second["account"], second["amount"])
    elif n == 1:
        listed = (1, fees[0]["account"], fees[0]["amount"], None, None)
    elif n == 0:
        listed = (0, None, None, None, None)
    else:
        raise ValueError
    return (
        payload["trade_id"],
        payload["security"],
        payload["price"],
        payload["quantity"],
        payload["buyer"],
        payload["seller"],
        payload["buyer_pays"],
        payload["seller_receives"],
        *listed,
    )


def _settles(kind: str, payload: dict) -> tuple | Settles:
    """A SETTLEMENT entry read as it is stored (gross: one trade, net: the window's): a gross one that our
    settlement could have written as a plain tuple (``_gross``), any other as ``Settles``."""
    if payload.get("mode") != "net":
        try:
            return _gross(payload)
        except (KeyError, TypeError, ValueError, AttributeError):
            pass
    ids = _trade_ids(payload)
    mode = "net" if payload.get("mode") == "net" else "gross"
    try:
        says = _says(payload)
    except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError):
        says = None
    return Settles(ids, mode, says)


def _as_settles(said: tuple | Settles) -> Settles:
    """What ``_settles`` read, as ``Settles`` (a gross entry's plain tuple made one)."""
    if type(said) is not tuple:
        return said
    trade_id, security, price, quantity, buyer, seller, pays, receives, n, *listed = said
    fees = ((listed[0], listed[1]), (listed[2], listed[3]))[:n]
    return Settles(frozenset([trade_id]), "gross", (security, quantity, price, buyer, seller, pays, receives, fees))


def differs(settles: Settles, trades: list[tuple]) -> str | None:
    """The first thing a SETTLEMENT entry says that its trades do not, ``None`` when they agree. ``trades``: each
    (trade id, security, price, quantity, buyer, seller, buyer's fee, seller's fee, what the buyer pays, what the
    seller receives, the fee account of the buyer's broker, that of the seller's broker, …), the amounts as
    PostgreSQL's text (``_settlement_query``); their ids are checked apart."""
    if settles.says is None:
        return "payload"
    if not trades:
        return None  # no rows: the ids' check says so
    if settles.mode == "gross":
        if len(trades) != 1:
            return "trade_id"
        _tid, security, price, quantity, buyer, seller, buyer_fee, seller_fee, pays, receives = trades[0][:10]
        # The fees each side paid, in that order, each to the fee account of its broker, as the settlement lists
        # them (none for a side that paid none).
        fees_to = trades[0][10:12]
        fees = tuple((to, fee) for to, fee in zip(fees_to, (buyer_fee, seller_fee), strict=True) if fee != NO_FEE)
        expected = (security, quantity, price, buyer, seller, pays, receives, fees)
        return next((f for f, a, b in zip(GROSS_FIELDS, settles.says, expected, strict=True) if a != b), None)
    said_security, said_shares, said_cash = settles.says
    shares: dict[str, int] = defaultdict(int)
    cash: dict[str, Decimal] = defaultdict(lambda: ZERO)
    fees: dict[str | None, Decimal] = defaultdict(lambda: ZERO)  # by fee account (``None``: none, no entry names it)
    for trade in trades:
        _tid, security, price, quantity, buyer, seller, buyer_fee, seller_fee, _pays, _receives = trade[:10]
        fees_to = trade[10:12]
        if security != said_security:
            return "security"
        value = (Decimal(price) * quantity).quantize(CENT)
        shares[buyer] += quantity
        shares[seller] -= quantity
        cash[buyer] -= value
        cash[seller] += value
        # Each fee from its payer to the fee account of the payer's broker.
        if buyer_fee != NO_FEE:
            fee = Decimal(buyer_fee)
            cash[buyer] -= fee
            fees[fees_to[0]] += fee
        if seller_fee != NO_FEE:
            fee = Decimal(seller_fee)
            cash[seller] -= fee
            fees[fees_to[1]] += fee
    if said_shares != frozenset((a, q) for a, q in shares.items() if q):
        return "shares"
    if any(said_cash.get(a, ZERO) != amount for a, amount in cash.items()):
        return "cash"
    # The rest is the fees: each fee account credited what the parties of its broker paid (no party is one).
    if {a: amount for a, amount in said_cash.items() if a not in cash} != fees:
        return "fees"
    return None


def _settlement_query(where: str = "") -> str:
    """Settlement rows as (entry id, trade id, *the trade as ``differs`` takes it): the trade's figures, what its
    buyer pays and its seller receives, as PostgreSQL's text, and the fee account of each party's broker (null
    for none: one a broker at most, so the joins add no row; settlement credits each fee there)."""
    table = connection.ops.quote_name(Settlement._meta.db_table)
    account_model = Trade._meta.get_field("buyer").related_model
    account = account_model._meta.db_table
    fee = account_model.Kind.FEE.value
    security = Trade._meta.get_field("security").related_model._meta.db_table
    # Then the fees as a gross entry lists them (``_gross``): how many, and each one's account and amount.
    paid_both = "t.buyer_fee <> 0 AND t.seller_fee <> 0"
    return (
        "SELECT x.entry_id, t.id, s.code, t.price::text, t.quantity, b.code, se.code, t.buyer_fee::text,"
        " t.seller_fee::text, (t.price * t.quantity + t.buyer_fee)::text, (t.price * t.quantity - t.seller_fee)::text,"
        " bf.code, sf.code, (t.buyer_fee <> 0)::int + (t.seller_fee <> 0)::int,"
        " CASE WHEN t.buyer_fee <> 0 THEN bf.code WHEN t.seller_fee <> 0 THEN sf.code END,"
        " CASE WHEN t.buyer_fee <> 0 THEN t.buyer_fee::text WHEN t.seller_fee <> 0 THEN t.seller_fee::text END,"
        f" CASE WHEN {paid_both} THEN sf.code END, CASE WHEN {paid_both} THEN t.seller_fee::text END"
        f" FROM {table} x JOIN {Trade._meta.db_table} t ON t.id = x.trade_id"
        f" JOIN {security} s ON s.id = t.security_id JOIN {account} b ON b.id = t.buyer_id"
        f" JOIN {account} se ON se.id = t.seller_id"
        f" LEFT JOIN {account} bf ON bf.broker_id = b.broker_id AND bf.kind = '{fee}'"
        f" LEFT JOIN {account} sf ON sf.broker_id = se.broker_id AND sf.kind = '{fee}' {where}"
    )


def _check_settlements(report: Report, read: Mapping[int, tuple | Settles], waiting: Callable[[], set[int]]) -> None:
    entries = {entry_id: _as_settles(said) for entry_id, said in read.items()}
    rows: dict[int, set[int]] = defaultdict(set)

    def agrees(entry_id: int, trades: list[tuple]) -> None:
        # One entry's rows, read together: does the entry say what its trades moved?
        settles = entries.get(entry_id)
        if settles is None or settles.trade_ids != rows[entry_id]:
            return  # the ids' checks say so
        field = differs(settles, trades)
        if field is not None:
            report.problems.append(
                Problem(
                    _("SETTLEMENT entry disagrees with the trades it settles in %(field)s"),
                    entry_id=entry_id,
                    params={"field": field},
                )
            )

    with connection.chunked_cursor() as cur:
        cur.itersize = CHUNK
        cur.execute(_settlement_query("ORDER BY x.entry_id, x.id"))  # an entry's rows together, kept no longer
        current, trades = None, []
        for entry_id, *trade in cur:
            trade_id = trade[0]
            if entry_id != current:
                if current is not None:
                    agrees(current, trades)
                current, trades = entry_id, []
            trades.append(tuple(trade))
            rows[entry_id].add(trade_id)
            named = entries.get(entry_id)
            if named is None:
                if entry_id not in waiting():
                    report.problems.append(
                        Problem(
                            _("the settlement of trade %(trade)s has no sealed SETTLEMENT entry"),
                            entry_id=entry_id,
                            params={"trade": trade_id},
                        )
                    )
            elif trade_id not in named.trade_ids:
                report.problems.append(
                    Problem(
                        _("the settlement of trade %(trade)s points at an entry that does not settle it"),
                        entry_id=entry_id,
                        params={"trade": trade_id},
                    )
                )
        if current is not None:
            agrees(current, trades)
    for entry_id, settles in sorted(entries.items()):
        missing = sorted(settles.trade_ids - rows.get(entry_id, set()))
        if missing:
            report.problems.append(
                Problem(
                    _("SETTLEMENT entry without the settlement rows of trades %(trades)s"),
                    entry_id=entry_id,
                    params={"trades": ", ".join(map(str, missing))},
                )
            )
    settled_without_row = Trade.objects.filter(status=Trade.Status.SETTLED, settlement__isnull=True).values_list(
        "id", flat=True
    )[:20]
    rows_of_unsettled = Settlement.objects.exclude(trade__status=Trade.Status.SETTLED).values_list(
        "trade_id", flat=True
    )[:20]
    for trade_id in settled_without_row:
        report.problems.append(
            Problem(_("trade %(trade)s is settled without a settlement"), params={"trade": trade_id})
        )
    for trade_id in rows_of_unsettled:
        report.problems.append(
            Problem(_("trade %(trade)s has a settlement but is not settled"), params={"trade": trade_id})
        )


def _settlement_rows(lo: int, hi: int) -> list[tuple]:
    """The settlement rows of the entries lo..hi as (entry id, trade id, *the trade as ``differs`` takes it), for
    the fast pass."""
    with connection.cursor() as cur:
        cur.execute(_settlement_query("WHERE x.entry_id BETWEEN %s AND %s"), [lo, hi])
        return cur.fetchall()


# A settlement row as a gross entry reads (``_gross``), for the fast form's comparison: the trade's id, security,
# price, quantity, parties, what the buyer pays and the seller receives, the fees as listed.
GROSS_ROW = operator.itemgetter(1, 2, 3, 4, 5, 6, 9, 10, 13, 14, 15, 16, 17)


def _settlements_agree(rows: list[tuple], entries: Mapping[int, tuple | Settles]) -> int | None:
    """``_check_settlements``' meaning, for one chunk's entries: each names exactly the trades whose rows point at
    it (one row a trade: two alike are a doubt), and says what they moved. Where every entry is gross, one row an
    entry, in the form our settlement writes, the rows read as the entries do are compared whole (one dictionary
    with another: verification's pace, `make bench`); else entry by entry."""
    as_read = {row[0]: GROSS_ROW(row) for row in rows}
    if len(as_read) == len(rows) and as_read == entries:
        return len(rows)
    settled = {entry_id: _as_settles(said) for entry_id, said in entries.items()}
    named = {(eid, tid) for eid, settles in settled.items() for tid in settles.trade_ids}
    pairs = {(row[0], row[1]) for row in rows}
    if len(pairs) != len(rows) or pairs != named:
        return None
    trades: dict[int, list[tuple]] = defaultdict(list)
    for row in rows:
        trades[row[0]].append(row[1:])
    if any(differs(settles, trades[eid]) is not None for eid, settles in settled.items()):
        return None
    return len(rows)


def _settlements_tally(report: Report) -> int | None:
    """The rows the chunks must account for; ``None`` when a trade's status disagrees with whether it has a
    settlement row."""
    if (
        Trade.objects.filter(status=Trade.Status.SETTLED, settlement__isnull=True).exists()
        or Settlement.objects.exclude(trade__status=Trade.Status.SETTLED).exists()
    ):
        return None
    total, waiting = rows_tally(Settlement._meta.db_table)
    return total - waiting


SETTLEMENTS_CHECK = BusinessCheck(
    name="settlements",
    kinds=frozenset({"SETTLEMENT"}),
    extract=_settles,
    check=_check_settlements,
    rows_of=_settlement_rows,
    agrees=_settlements_agree,
    tally=_settlements_tally,
)


# --------------------------------------------------------------------------
# Standing settlement instructions

SET, END = EntryKind.SETTLEMENT_INSTRUCTION.value, EntryKind.SETTLEMENT_INSTRUCTION_END.value
_INSTRUCTION_PAYLOADS: dict[str, type[InstructionSet] | type[InstructionEnd]] = {
    SET: InstructionSet,
    END: InstructionEnd,
}
# What an instruction row must agree on with each entry, in the order of the payloads' fields (the rows are read
# in that order by ``_check_instructions``).
SET_FIELDS = ("instruction", "account", "security", "min_amount", "until", "set_by_role", "at")
END_FIELDS = ("instruction", "ended_by_role", "at")
assert SET_FIELDS == tuple(f.name for f in fields(InstructionSet)), "SET_FIELDS are InstructionSet's fields"
assert END_FIELDS == tuple(f.name for f in fields(InstructionEnd)), "END_FIELDS are InstructionEnd's fields"


def _instruction_fields(kind: str, payload: dict) -> tuple[str, tuple]:
    """An instruction entry's kind and its fields, typed (ids, decimals and times compare as values, as the row's
    do); a payload its kind cannot have raises, and the walk names the entry."""
    read = _INSTRUCTION_PAYLOADS[kind].read(payload)
    return kind, tuple(getattr(read, name) for name in (SET_FIELDS if kind == SET else END_FIELDS))


def _check_instructions(report: Report, entries: Mapping[int, tuple], waiting: Callable[[], set[int]]) -> None:
    rows = list(
        SettlementInstruction.objects.order_by("id").values_list(
            "id",
            "entry_id",
            "account__code",
            "security__code",
            "min_amount",
            "ends_at",
            "set_by_role",
            "created_at",
            "end_entry_id",
            "ended_by_role",
            "ended_at",
        )
    )
    rows_against_entries(
        report,
        ((row[0], row[1], (row[0], *row[2:8])) for row in rows),
        {eid: values for eid, (kind, values) in entries.items() if kind == SET},
        waiting,
        fields=SET_FIELDS,
        name="instruction",
        no_entry=_("settlement instruction %(instruction)s has no sealed SETTLEMENT_INSTRUCTION entry"),
        differs=_("settlement instruction %(instruction)s differs from its entry in %(fields)s"),
        no_row=_("SETTLEMENT_INSTRUCTION entry without its instruction row"),
    )
    # An instruction ended early has its end entry, and only such a one (the database refuses either without the
    # other; a superuser who dropped that constraint is named here).
    rows_against_entries(
        report,
        ((row[0], row[8], (row[0], *row[9:])) for row in rows if row[8] is not None or row[10] is not None),
        {eid: values for eid, (kind, values) in entries.items() if kind == END},
        waiting,
        fields=END_FIELDS,
        name="instruction",
        no_entry=_("settlement instruction %(instruction)s ended without a sealed SETTLEMENT_INSTRUCTION_END entry"),
        differs=_("the end of settlement instruction %(instruction)s differs from its entry in %(fields)s"),
        no_row=_("SETTLEMENT_INSTRUCTION_END entry without its ended instruction row"),
    )


INSTRUCTIONS_CHECK = BusinessCheck(
    name="settlement_instructions",
    kinds=frozenset({SET, END}),
    extract=_instruction_fields,
    check=_check_instructions,
)
