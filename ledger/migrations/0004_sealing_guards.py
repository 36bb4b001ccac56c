"""Sealed history is append-only too; new entries queue themselves for sealing.

* ``ledger_block``, ``ledger_blocksignature``, ``ledger_leaf``, ``ledger_node``
  get the same guards as ``ledger_entry`` (migration 0002).
* An AFTER INSERT trigger on ``ledger_entry`` adds each entry to
  ``ledger_pendingentry``, in the inserting transaction: an entry can not be
  written without being queued for the sealer.
"""

from django.db import migrations

from core.append_only import guard, unguard

TABLES = ["ledger_block", "ledger_blocksignature", "ledger_leaf", "ledger_node"]

QUEUE = """
CREATE OR REPLACE FUNCTION ledger_entry_enqueue() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ledger_pendingentry (entry_id) SELECT id FROM new_entries;
    RETURN NULL;
END;
$$;
CREATE TRIGGER ledger_entry_enqueue AFTER INSERT ON ledger_entry
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_entry_enqueue();
ALTER TABLE ledger_entry ENABLE ALWAYS TRIGGER ledger_entry_enqueue;
-- Entries written before this migration wait for the first seal too.
INSERT INTO ledger_pendingentry (entry_id)
    SELECT e.id FROM ledger_entry e WHERE NOT EXISTS (SELECT 1 FROM ledger_leaf l WHERE l.entry_id = e.id);
"""

UNQUEUE = """
DROP TRIGGER IF EXISTS ledger_entry_enqueue ON ledger_entry;
DROP FUNCTION IF EXISTS ledger_entry_enqueue();
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0003_sealing")]

    operations = [
        *[migrations.RunSQL(guard(t), unguard(t)) for t in TABLES],
        migrations.RunSQL(QUEUE, UNQUEUE),
    ]
