"""The market switch's gate: a market halt or resume and the transactions that trade or settle are serialized.

The switch (``MarketState``) is read by every order, quote, RFQ answer, negotiated confirmation and settlement, in
the statement that locks what it works on, without a lock on the switch itself. Without more, one that read the
market open just before a halt committed would trade or settle after it: its ledger entry after the HALT entry.

So each of them first takes this gate *shared* (a transaction-level advisory lock, in a statement of its own and
so before the snapshot of the statement that reads the switch), and a halt or resume takes it *exclusively*
before it reads and writes the switch. The halt waits for every transaction that read the market open; one that
comes while the halt is being made waits for it, then reads the market halted and is refused. Holders of the
shared gate never wait for each other, and PostgreSQL queues a new shared request behind a waiting exclusive
one, so a halt is never starved by a stream of orders.
"""

from __future__ import annotations

from django.db import connection

from core.prepared import Statement

from .models import MarketState

# pg_advisory_xact_lock key of the market switch ("MKTG").
MARKET_GATE = 0x4D4B5447

SHARED = Statement("market_gate_shared", f"SELECT pg_advisory_xact_lock_shared({MARKET_GATE})", [])
_HALTED = Statement(
    "market_halted", f"SELECT EXISTS (SELECT 1 FROM {MarketState._meta.db_table} WHERE id = 1 AND halted)", []
)


def close() -> None:
    """Take the gate exclusively until the transaction ends: every transaction that trades or settles and has
    read the switch has ended, and those that come wait. Call before reading and writing the switch."""
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", [MARKET_GATE])


def share() -> None:
    """Take the gate shared until the transaction ends. For a transaction that locks securities and balance rows
    itself and then reaches a path that takes the gate (``exchange.services.book.lock_security``): taken first, as
    every order takes it, it is never asked for while holding rows that an order holding it waits for, behind a
    halt waiting for that order (PostgreSQL would untangle the three only after ``deadlock_timeout``)."""
    with connection.cursor() as cur:
        SHARED.execute(cur)


def halted() -> bool:
    """Whether the whole market is halted, read after taking the gate shared (``SHARED``) in the same round trip:
    a halt or resume in flight is waited for, and a later one waits for this transaction."""
    with connection.cursor() as cur:
        _HALTED.execute(cur, first=[SHARED])
        return cur.fetchone()[0]
