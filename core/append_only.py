"""SQL of the append-only guard, shared by the migrations of every app with an append-only table
(ledger entries, blocks, leaves and replicas, the audit trail, identity reveals).

The trigger function ``exchange_append_only()`` comes from ledger migration 0002; these helpers attach it
to a table. The text must never change: old migrations run it as it is.
"""


def guard(table: str) -> str:
    """Reject UPDATE, DELETE and TRUNCATE on ``table`` (function from migration 0002)."""
    return f"""
CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION exchange_append_only();
CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION exchange_append_only();
ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_update_delete;
ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_truncate;
"""


def unguard(table: str) -> str:
    return f"""
DROP TRIGGER IF EXISTS {table}_no_update_delete ON {table};
DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};
"""
