"""Prepared statements (core.prepared): prepared once per database session, whatever rolls back, and again on a
new connection; inserts of one row or several; the order path uses them (tests/test_order_queries.py)."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import DataError, IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.models import Broker
from core.prepared import Batch, Insert, Statement, Update
from ledger.canonical import leaf_hash
from ledger.models import Entry

pytestmark = pytest.mark.django_db(transaction=True)  # each test closes the connection: a new session

DOUBLE = Statement("test_prepared_double", "SELECT $1::bigint * 2, $2::text", ["bigint", "text"])


def _session_has(name: str) -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_prepared_statements WHERE name = %s", [name])
        return cur.fetchone()[0] == 1


def _run(value: int, text: str) -> tuple:
    with connection.cursor() as cur:
        DOUBLE.execute(cur, [value, text])
        return cur.fetchone()


def test_a_statement_is_prepared_in_its_first_round_trip_then_only_executed():
    # given a session that has not run the statement
    connection.close()
    connection.ensure_connection()
    assert not _session_has(DOUBLE.name)
    # when it runs twice
    with CaptureQueriesContext(connection) as queries:
        first = _run(21, "a%b")
        second = _run(4, "it's")
    # then one round trip each: PREPARE with the first EXECUTE, then EXECUTE alone; the answers are right
    assert (first, second) == ((42, "a%b"), (8, "it's"))
    assert [q["sql"].split()[0] for q in queries] == ["PREPARE", "EXECUTE"]
    assert queries[0]["sql"].count("EXECUTE") == 1 and _session_has(DOUBLE.name)


def test_a_rollback_does_not_unprepare_it_and_a_new_connection_prepares_it_again():
    connection.close()
    # when it is first run in a transaction that rolls back
    with pytest.raises(RuntimeError), transaction.atomic():
        assert _run(1, "x") == (2, "x")
        raise RuntimeError("rolled back")
    # then the session still has it: the next run only executes it
    with CaptureQueriesContext(connection) as queries:
        assert _run(2, "y") == (4, "y")
    assert [q["sql"].split()[0] for q in queries] == ["EXECUTE"]
    # and a new connection (a new session) prepares it again
    connection.close()
    with CaptureQueriesContext(connection) as queries:
        assert _run(3, "z") == (6, "z")
    assert [q["sql"].split()[0] for q in queries] == ["PREPARE"]


def test_each_thread_prepares_in_its_own_session():
    # given the statement prepared on this thread's connection
    assert _run(5, "main") == (10, "main")
    seen = {}

    def other_thread() -> None:
        # a thread has its own connection (Django's are per thread), so its own session to prepare it in
        try:
            with CaptureQueriesContext(connection) as queries:
                seen["answer"] = _run(6, "thread")
            seen["first"] = queries[0]["sql"].split()[0]
        finally:
            connection.close()

    worker = threading.Thread(target=other_thread)
    worker.start()
    worker.join()
    assert seen == {"answer": (12, "thread"), "first": "PREPARE"}
    # and this thread's session still only executes it
    with CaptureQueriesContext(connection) as queries:
        assert _run(7, "main") == (14, "main")
    assert [q["sql"].split()[0] for q in queries] == ["EXECUTE"]


def test_wrong_parameters_and_a_name_too_long_are_refused_and_a_name_stands_for_one_text():
    with pytest.raises(TypeError), connection.cursor() as cur:
        DOUBLE.execute(cur, [1])
    # PostgreSQL would cut the name at 63 characters, and never find it again among the session's statements
    with pytest.raises(ValueError, match="longer than 63"):
        Statement("test_" + "x" * 50, "SELECT 1", [])
    # the name in the session ends with a checksum of the text: a new text of an old name is another statement
    assert DOUBLE.name.startswith("test_prepared_double_") and len(DOUBLE.name) == len("test_prepared_double") + 9
    assert Statement("test_prepared_double", "SELECT 1", []).name != DOUBLE.name


ENTRIES = Insert(Entry)


def _entry(n: int, **kwargs) -> Entry:
    data = f'{{"n":{n}}}'.encode()
    return Entry(kind="DEPOSIT", canonical=data, leaf_hash=leaf_hash(data), recorded_at=timezone.now(), **kwargs)


@pytest.mark.django_db
def test_insert_writes_one_row_or_several_and_reads_their_keys_back_in_order():
    # when one entry, then three, are inserted
    (one,) = ENTRIES.rows([_entry(0)])
    many = ENTRIES.rows([_entry(i) for i in (1, 2, 3)])
    # then each got its key, in row order, and is saved (the ORM reads back what was written)
    assert one.pk is not None and [e.pk for e in many] == sorted(e.pk for e in many) and many[0].pk > one.pk
    assert [bytes(Entry.objects.get(pk=e.pk).canonical) for e in [one, *many]] == [
        b'{"n":0}',
        b'{"n":1}',
        b'{"n":2}',
        b'{"n":3}',
    ]
    assert not one._state.adding and one._state.db == "default"


@pytest.mark.django_db
def test_insert_keeps_given_keys_and_refuses_a_mix():
    with connection.cursor() as cur:
        cur.execute("SELECT nextval(pg_get_serial_sequence('ledger_entry', 'id')) FROM generate_series(1, 2)")
        ids = [row[0] for row in cur.fetchall()]
    written = ENTRIES.rows([_entry(i, id=pk) for i, pk in enumerate(ids)])
    assert [e.pk for e in written] == ids and Entry.objects.filter(pk__in=ids).count() == 2
    before = Entry.objects.count()
    with pytest.raises(ValueError):
        ENTRIES.rows([_entry(5, id=ids[0] + 1000), _entry(6)])
    assert Entry.objects.count() == before


FAILING = Statement("test_prepared_may_fail", "SELECT 10 / $1::bigint", ["bigint"])


def test_a_statement_whose_first_execute_fails_still_runs_afterwards_in_the_same_session():
    # given a new session whose first use of a statement fails after its PREPARE ran (PREPARE is not
    # transactional: it stays although the EXECUTE's transaction rolls back)
    connection.close()
    connection.ensure_connection()
    with pytest.raises(DataError), transaction.atomic(), connection.cursor() as cur:
        FAILING.execute(cur, [0])  # division by zero
    # when it runs again in the same session
    with transaction.atomic(), connection.cursor() as cur:
        FAILING.execute(cur, [5])
        # then it answers, and the session holds the statement once
        assert cur.fetchone() == (2,)
    assert _session_has(FAILING.name)


# A text with '%' in it, which psycopg2 must not take for a placeholder in a round trip of several statements.
RENAMED = Statement(
    "test_prepared_batch_renamed", "UPDATE exchange_broker SET name = $1 || '%' WHERE id = $2", ["text", "bigint"]
)
BROKER_FEE = Update(Broker, ["fee_bps"])


def _drawn(n: int) -> list[int]:
    with connection.cursor() as cur:
        cur.execute("SELECT nextval(pg_get_serial_sequence('ledger_entry', 'id')) FROM generate_series(1, %s)", [n])
        return [row[0] for row in cur.fetchall()]


def test_a_batch_goes_in_one_round_trip_preparing_what_the_session_lacks():
    # given a new session, two entries whose keys were drawn beforehand, and two brokers
    connection.close()
    a, b = _drawn(2)
    first, second = _entry(1, id=a), _entry(2, id=b)
    broker, other = Broker.objects.create(code="B1", name="One"), Broker.objects.create(code="B2", name="Two")
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        # when one batch inserts both entries (one statement each) and changes one broker twice
        batch = Batch()
        ENTRIES.add(batch, [first])
        ENTRIES.add(batch, [second])
        broker.fee_bps = Decimal("3.75")
        BROKER_FEE.add(batch, broker)
        batch.add(RENAMED, ["Renamed", broker.pk])
        assert first._state.adding  # not saved before it runs
        batch.run()
    # then one round trip: a PREPARE for each statement the session lacked, then the four EXECUTEs in order
    (sql,) = [q["sql"] for q in queries if q["sql"] not in ("BEGIN", "COMMIT")]
    assert sql.count("PREPARE ") == 3 and sql.count("EXECUTE ") == 4
    assert not first._state.adding and not second._state.adding
    assert [bytes(e.canonical) for e in Entry.objects.filter(pk__in=[a, b]).order_by("pk")] == [b'{"n":1}', b'{"n":2}']
    assert Broker.objects.filter(pk=broker.pk, name="Renamed%", fee_bps=Decimal("3.75"), code="B1").exists()
    # and nothing else changed: the other broker keeps its name and fee
    assert Broker.objects.filter(pk=other.pk, name="Two", fee_bps=Decimal("2.50")).exists()
    # and a second batch only executes
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        batch = Batch()
        ENTRIES.add(batch, [_entry(3, id=_drawn(1)[0])])
        batch.run()
    assert [q["sql"].split()[0] for q in queries] == ["BEGIN", "SELECT", "EXECUTE", "COMMIT"]  # the id drawn, the batch


def test_a_batch_that_fails_writes_nothing_and_the_session_runs_it_again():
    # given a new session, and a batch whose second insert repeats the first one's key
    connection.close()
    (taken,) = _drawn(1)
    before = Entry.objects.count()
    batch = Batch()
    rows = [_entry(1, id=taken), _entry(2, id=taken)]
    ENTRIES.add(batch, rows[:1])
    ENTRIES.add(batch, rows[1:])
    # when it runs in a transaction
    with pytest.raises(IntegrityError), transaction.atomic():
        batch.run()
    # then nothing was written, and the rows are not taken for saved
    assert Entry.objects.count() == before
    assert all(row._state.adding for row in rows)
    # and the same statements, whose PREPARE may have run, work in the same session
    again = Batch()
    ENTRIES.add(again, [_entry(3, id=taken)])
    with transaction.atomic():
        again.run()
    assert Entry.objects.count() == before + 1 and _session_has(ENTRIES.statements[True, True][0].name)


@pytest.mark.django_db
def test_a_batch_takes_only_rows_with_their_keys_and_the_right_parameters():
    before = Entry.objects.count()
    batch = Batch()
    with pytest.raises(ValueError):
        ENTRIES.add(batch, [_entry(1)])
    with pytest.raises(TypeError):
        batch.add(RENAMED, ["only one"])
    # nothing was queued: running the batch sends nothing and writes nothing
    with CaptureQueriesContext(connection) as queries:
        batch.run()
    assert len(queries) == 0 and Entry.objects.count() == before
