"""Prepared statements (core.prepared): prepared once per database session, whatever rolls back, and again on a
new connection; the reads of the order path use them (tests/test_order_queries.py)."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from core.prepared import Statement

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


def test_wrong_parameters_and_a_second_statement_of_one_name_are_refused():
    with pytest.raises(TypeError), connection.cursor() as cur:
        DOUBLE.execute(cur, [1])
    with pytest.raises(ValueError):
        Statement(DOUBLE.name, "SELECT 1", [])
