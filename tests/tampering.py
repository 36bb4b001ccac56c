"""What a database superuser can do to the ledger's tables, for the tests that show it is caught.

The append-only triggers are ``ENABLE ALWAYS`` (so ``session_replication_role = replica`` cannot silence them).
``ALTER TABLE … ENABLE TRIGGER`` would bring them back in origin mode, and a transactional test commits that:
a later test in the same database would then find them silenced by the replica role. So each trigger is put
back in the mode it had.
"""

from __future__ import annotations

from django.db import connection

LEDGER_TABLES = ["ledger_entry", "ledger_leaf", "ledger_block", "ledger_blocksignature", "ledger_node"]
_ENABLE = {"O": "ENABLE TRIGGER", "A": "ENABLE ALWAYS TRIGGER", "R": "ENABLE REPLICA TRIGGER", "D": "DISABLE TRIGGER"}


def superuser_rewrite(sql: str, params=None, *, tables=LEDGER_TABLES, which: str = "ALL") -> None:
    """Switch the tables' triggers off (``which``: ``ALL``, foreign-key checks too, or ``USER``), run ``sql``,
    and switch every trigger back as it was."""
    with connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE refuses while FK checks are pending
        cur.execute(
            "SELECT c.relname, t.tgname, t.tgenabled FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE c.relname = ANY(%s) AND NOT t.tgisinternal",
            [list(tables)],
        )
        modes = cur.fetchall()
        for table in tables:
            cur.execute(f"ALTER TABLE {table} DISABLE TRIGGER {which}")
        cur.execute(sql, params)
        for table in tables:
            cur.execute(f"ALTER TABLE {table} ENABLE TRIGGER {which}")
        for table, name, mode in modes:
            cur.execute(f'ALTER TABLE {table} {_ENABLE[mode]} "{name}"')
