"""One consistent, read-only view of the whole database for checks that read many tables."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def read_only_snapshot() -> Iterator[None]:
    """Run the block's queries in one REPEATABLE READ, READ ONLY transaction.

    Checks that compare several tables (balances against the ledger, trades
    against their entries) must not see a change committed between two of
    their queries, or a live exchange would look inconsistent. Inside a
    caller's transaction the caller's isolation is kept (PostgreSQL fixes it
    at the transaction's first statement).
    """
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:
            with connection.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield
