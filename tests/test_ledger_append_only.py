"""The ledger and audit tables are append-only, enforced by PostgreSQL triggers."""

from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from ledger.models import Entry
from ledger.services import entry_append


@pytest.fixture
def entry(db):
    with transaction.atomic():
        return entry_append(kind="DEPOSIT", payload={"account": "INV000001", "amount": Decimal("1.00")})


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE ledger_entry SET kind = 'WITHDRAWAL' WHERE id = %s",
        "UPDATE ledger_entry SET canonical = '\\x00'::bytea WHERE id = %s",
        "DELETE FROM ledger_entry WHERE id = %s",
        "TRUNCATE ledger_entry CASCADE",
    ],
)
def test_raw_sql_changes_to_the_ledger_fail(entry, sql):
    before = (entry.kind, bytes(entry.canonical))
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")  # TRUNCATE refuses while FK checks are pending
        cur.execute(sql, [entry.pk] if "%s" in sql else None)
    stored = Entry.objects.get(pk=entry.pk)
    assert (stored.kind, bytes(stored.canonical)) == before


def test_replication_role_does_not_silence_the_triggers(entry):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL session_replication_role = replica")
        cur.execute("DELETE FROM ledger_entry WHERE id = %s", [entry.pk])
    assert Entry.objects.filter(pk=entry.pk).exists()


def test_reset_flag_alone_does_not_let_a_non_owner_truncate(entry):
    # given a role that may write the table but does not own it (production's app role)
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cur.execute("DROP ROLE IF EXISTS ledger_app_test")
        cur.execute("CREATE ROLE ledger_app_test")
        cur.execute("GRANT SELECT, INSERT, TRUNCATE ON ALL TABLES IN SCHEMA public TO ledger_app_test")
        cur.execute("SET LOCAL ROLE ledger_app_test")
        cur.execute("SET LOCAL exchange.allow_reset = 'on'")
        # when it truncates with the reset flag set, then the trigger still refuses
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            cur.execute("TRUNCATE ledger_entry CASCADE")
    assert Entry.objects.filter(pk=entry.pk).exists()


def test_audit_trail_is_append_only(db):
    from core.audit import audit_record

    event = audit_record(actor=None, action="test", username="x")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("UPDATE exchange_auditevent SET outcome = 'forged' WHERE id = %s", [event.pk])


def test_entries_are_only_written_inside_a_transaction(db):
    # pytest-django wraps the test in a transaction; leave it to see autocommit behaviour
    with pytest.raises(RuntimeError):
        connection.in_atomic_block = False
        try:
            entry_append(kind="DEPOSIT", payload={})
        finally:
            connection.in_atomic_block = True


@pytest.mark.parametrize("table", ["ledger_block", "ledger_blocksignature", "ledger_leaf", "ledger_node"])
@pytest.mark.parametrize(
    "change", ["UPDATE {table} SET {column} = {column}", "DELETE FROM {table}", "TRUNCATE {table}"]
)
def test_sealed_blocks_are_append_only_too(entry, table, change):
    from ledger.models import Block
    from ledger.services import block_seal

    # given the entry sealed into a signed block
    block_seal()
    with connection.cursor() as cur:
        cur.execute(f"SELECT * FROM {table} ORDER BY 1")
        column = cur.description[0].name
        before = cur.fetchall()
    assert before

    # when raw SQL changes a row, then PostgreSQL refuses and the rows stay as they were
    sql = change.format(table=table, column=column)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cur.execute(sql + (" CASCADE" if sql.startswith("TRUNCATE") else ""))
    with connection.cursor() as cur:
        cur.execute(f"SELECT * FROM {table} ORDER BY 1")
        assert cur.fetchall() == before
    assert Block.objects.count() == 1
