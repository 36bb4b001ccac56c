"""Django's ``flush``, able to empty the append-only tables when run by their owner, and quick where it may be.

Tests flush the database after each transactional test. Django's ``flush`` truncates every table, which costs a
new file for each table and each of its indexes whether the table holds a row or not: about 30 ms a table on a
busy machine, two seconds for the seventy tables here, most of a short test. Where the caller keeps the sequences
(``reset_sequences=False``, as Django's ``TransactionTestCase`` asks) and confirms nothing, only the tables that
hold rows are emptied, with ``DELETE``, in one transaction; the result is the same, every table empty (but the
content types and permissions where ``post_migrate`` is to make them again: it finds them there). A flush after a
transactional test: from about 2 s to about 0.1 s on a busy 2-core machine.

The append-only tables' row trigger refuses ``DELETE`` (ledger migration 0002). Their owner may switch a
trigger off (``ALTER TABLE … DISABLE TRIGGER``), so this path does that for the tables it empties, inside its
transaction, and switches it back on (``ENABLE ALWAYS``) before it commits: nobody else ever sees it off, and it
grants the owner nothing the owner did not have. A role that is not the table owner is refused here as anywhere.
Should that path fail for any reason, it is rolled back and the tables are truncated as before.

The truncation lets the table owner through the statement trigger only with ``exchange.allow_reset`` set
(see ledger migration 0002). Anyone else is still refused.
"""

from graphlib import TopologicalSorter
from importlib import import_module

from django.apps import apps
from django.core.management.commands import flush
from django.core.management.sql import emit_post_migrate_signal
from django.db import DatabaseError, connections, transaction

# The row triggers of the append-only guard (core.append_only): FOR EACH ROW is bit 0 of tgtype.
GUARDS = """
SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE t.tgfoid = 'exchange_append_only'::regproc AND t.tgtype & 1 = 1 AND c.relname = ANY(%s)
"""
# Foreign keys checked at once, not at commit: the referencing rows must go first.
IMMEDIATE_KEYS = """
SELECT r.relname, t.relname FROM pg_constraint k
JOIN pg_class r ON r.oid = k.conrelid JOIN pg_class t ON t.oid = k.confrelid
WHERE k.contype = 'f' AND NOT k.condeferrable AND r.relname = ANY(%s)
"""


def _kept_for_post_migrate() -> set[str]:
    """The content types' and permissions' tables: ``post_migrate`` makes their rows again, all of them, as they
    are; kept, it finds them there (76 queries, not 190, and no new ids)."""
    kept = set()
    for app_label, model in (("contenttypes", "ContentType"), ("auth", "Permission")):
        if apps.is_installed(f"django.contrib.{app_label}"):
            kept.add(apps.get_model(app_label, model)._meta.db_table)
    return kept


def _delete_rows(connection, *, keep: set[str]) -> bool:
    """Empty every table that holds a row, but ``keep``, with DELETE, in one transaction. False, with nothing
    changed, where the database would not have it."""
    qn = connection.ops.quote_name
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    tables = [t for t in tables if t not in keep]
    if not tables:
        return True
    try:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute("SELECT " + ", ".join(f"EXISTS (SELECT FROM {qn(t)})" for t in tables))
            held = [t for t, has_rows in zip(tables, cursor.fetchone(), strict=True) if has_rows]
            if not held:
                return True
            cursor.execute(GUARDS, [held])
            guards = cursor.fetchall()
            cursor.execute(IMMEDIATE_KEYS, [held])
            order = TopologicalSorter({t: set() for t in held})
            for referencing, referenced in cursor.fetchall():
                if referenced in held and referenced != referencing:
                    order.add(referenced, referencing)  # the referencing table's rows go first
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            for table, trigger in guards:
                cursor.execute(f"ALTER TABLE {qn(table)} DISABLE TRIGGER {qn(trigger)}")
            for table in order.static_order():
                cursor.execute(f"DELETE FROM {qn(table)}")
            # The deferred keys checked now (a table with checks pending cannot be altered), then the guards back.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for table, trigger in guards:
                cursor.execute(f"ALTER TABLE {qn(table)} ENABLE ALWAYS TRIGGER {qn(trigger)}")
    except DatabaseError:
        return False
    return True


class Command(flush.Command):
    def handle(self, **options):
        connection = connections[options["database"]]
        post_migrate = not options.get("inhibit_post_migrate", False)
        if (
            connection.vendor == "postgresql"
            and not options.get("reset_sequences", True)
            and not options["interactive"]
            and not options.get("allow_cascade", False)
            and _delete_rows(connection, keep=_kept_for_post_migrate() if post_migrate else set())
        ):
            if post_migrate:
                for app_config in apps.get_app_configs():  # their post_migrate receivers, as Django's flush does
                    try:
                        import_module(".management", app_config.name)
                    except ImportError:
                        pass
                emit_post_migrate_signal(options["verbosity"], False, options["database"])
            return
        with connection.cursor() as cursor:
            cursor.execute("SET exchange.allow_reset = 'on'")
        try:
            return super().handle(**options)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET exchange.allow_reset")
