"""``flush`` (core/management/commands/flush.py), as Django's ``TransactionTestCase`` runs it after each
transactional test: every table emptied, the append-only tables included, their guards on again after it, and a
role that does not own the tables still refused."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from core.management.commands.flush import _delete_rows
from exchange.services import OrderRequest, order_place
from ledger.models import Entry
from ledger.services import block_seal, entry_append
from registry.disclosures import disclosure_publish
from tests.conftest import build_market

pytestmark = pytest.mark.django_db

# The append-only tables' row guards and how each is enabled ("A": always, even under a replication role).
GUARDS = """
SELECT c.relname, t.tgenabled FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE t.tgfoid = 'exchange_append_only'::regproc ORDER BY 1, t.tgname
"""


def rows_by_table() -> dict[str, int]:
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    with connection.cursor() as cursor:
        cursor.execute(
            " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {connection.ops.quote_name(t)}" for t in tables)
        )
        return {t: n for t, n in cursor.fetchall() if n}


def guards() -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(GUARDS)
        return cursor.fetchall()


@pytest.fixture
def market_with_a_sealed_trade():
    """Rows in the append-only tables (entries, a block, leaves, audit records, a disclosure and its file, whose
    key is checked at once, not at commit) and in the tables that refer to them (the trade)."""
    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="50000")
    order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest(market.security.code, "buy", 100, Decimal("10.10"), "IOC", "flush-1"),
    )
    disclosure_publish(
        actor=market.depository, code=market.security.code, kind="prospectus", title="Prospectus",
        filename="p.txt", content=b"prospectus",
    )  # fmt: skip
    block_seal()
    with connection.cursor() as cursor:  # the test's transaction stands for the committed ones of a real run
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    return market


def test_a_flush_after_a_transactional_test_empties_every_table_and_puts_the_guards_back(market_with_a_sealed_trade):
    # given rows in the append-only tables and in those that refer to them
    held = rows_by_table()
    assert {"ledger_entry", "ledger_block", "ledger_leaf", "exchange_auditevent", "exchange_trade"} <= held.keys()
    assert {"registry_disclosure", "registry_disclosurefile"} <= held.keys()
    guards_before = guards()
    content_types = sorted(ContentType.objects.values_list("pk", flat=True))
    permissions = sorted(Permission.objects.values_list("pk", flat=True))

    # when the database is flushed as Django's TransactionTestCase flushes it
    call_command("flush", verbosity=0, interactive=False, reset_sequences=False, allow_cascade=False)

    # then no table holds a row but the content types and permissions, which post_migrate finds whole (the same
    # rows: the tables that held rows were emptied, not every table truncated)
    assert rows_by_table().keys() <= {"django_content_type", "auth_permission"}
    assert sorted(ContentType.objects.values_list("pk", flat=True)) == content_types
    assert sorted(Permission.objects.values_list("pk", flat=True)) == permissions
    # and every guard is on again, always, and refuses as before
    assert guards() == guards_before and {enabled for _table, enabled in guards_before} == {"A"}
    with transaction.atomic():
        entry = entry_append(kind="DEPOSIT", payload={"account": "INV000001", "amount": Decimal("1.00")})
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM ledger_entry WHERE id = %s", [entry.pk])
    assert Entry.objects.filter(pk=entry.pk).exists()


def test_without_post_migrate_the_content_types_go_too(market_with_a_sealed_trade):
    # when flushed without post_migrate (as a serialised rollback asks)
    call_command(
        "flush", verbosity=0, interactive=False, reset_sequences=False, allow_cascade=False, inhibit_post_migrate=True
    )
    # then nothing is left, as Django's own flush leaves it
    assert rows_by_table() == {}


def test_a_role_that_does_not_own_the_tables_empties_nothing(market_with_a_sealed_trade):
    # given the production application's kind of role: it may read and write the tables but does not own them
    held = rows_by_table()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("DROP ROLE IF EXISTS flush_app_test")
        cursor.execute("CREATE ROLE flush_app_test")
        cursor.execute(
            "GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public TO flush_app_test"
        )
        cursor.execute("SET LOCAL ROLE flush_app_test")
        # when it tries the quick way, then it may not switch a guard off, and nothing is deleted
        assert _delete_rows(connection, keep=set()) is False
        cursor.execute("RESET ROLE")
    assert rows_by_table() == held
    assert {enabled for _table, enabled in guards()} == {"A"}
