"""A process's pool of idle PostgreSQL connections (core.db.base), on real PostgreSQL with threads.

``make run``'s threaded web processes give their connection up after each request (``DB_CONN_MAX_AGE=0``); the
pool keeps it for the next request of any thread instead of PostgreSQL starting a backend for each. What must hold:
a kept connection carries nothing of the request before it, a dead one is never handed out, the cap still counts
the kept ones, and a thread waiting at the cap takes one as soon as it is kept.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import psycopg2
import pytest
from django.db import NotSupportedError, OperationalError, connection, connections, transaction

from core.db import base as db_base
from core.prepared import Statement
from exchange.models import Order
from tests.conftest import api_for, build_market, order_body

pytestmark = pytest.mark.django_db(transaction=True)

LOCK_KEY = 424242


def _request(fn):
    """``fn`` on a thread of its own, its connection given up at the end as after a request."""

    def run():
        try:
            return fn()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def _backend() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        return cur.fetchone()[0]


def _pool():
    return db_base.connections_for(connection.alias)


def _outside(sql: str, params=()):
    """One row read on a connection of its own, outside Django and its pool (which would hand out a kept one)."""
    raw = psycopg2.connect(**connection.get_connection_params())
    try:
        with raw.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone()
    finally:
        raw.close()


def _outside_run(sql: str) -> None:
    """A statement (DDL: what a migration runs) on a connection of its own, outside Django and its pool."""
    raw = psycopg2.connect(**connection.get_connection_params())
    raw.autocommit = True
    try:
        with raw.cursor() as cur:
            cur.execute(sql)
    finally:
        raw.close()


@pytest.fixture
def pooled(settings):
    """A pool of 2 in this process, empty before and after the test."""
    connections.close_all()  # the test's own connection, opened without a pool
    settings.DB_POOL_SIZE, settings.DB_MAX_CONNECTIONS, settings.DB_CONNECTION_WAIT = 2, 0, 10
    settings.DB_POOL_CHECK_AFTER, settings.DB_POOL_IDLE_TIMEOUT = 1, 60
    yield settings
    pool = _pool()
    with pool.changed:
        for raw, _kept in pool.idle:
            raw.close()
            pool.opened -= 1
        pool.idle.clear()
    settings.DB_POOL_SIZE = 0


def test_a_connection_given_up_after_a_request_serves_the_next_request_of_another_thread(pooled):
    # given one request served on its own thread
    first = _request(_backend)

    # when another thread serves the next request
    second = _request(_backend)

    # then it ran on the same PostgreSQL backend, now idle in the pool, and PostgreSQL has that one open for us
    assert second == first
    assert len(_pool().idle) == 1 and _pool().opened == 1


def test_a_kept_connection_carries_nothing_of_the_request_before_it(pooled):
    # given a request that changed its session: a setting, a session advisory lock, a LISTEN, a temporary table
    def dirty():
        with connection.cursor() as cur:
            cur.execute("SELECT set_config('application_name', 'left-behind', false)")
            cur.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
            cur.execute("LISTEN left_behind")
            cur.execute("CREATE TEMPORARY TABLE left_behind (n int)")
        return _backend()

    first = _request(dirty)

    # when the next request takes the same connection
    def look():
        with connection.cursor() as cur:
            cur.execute(
                "SELECT pg_backend_pid(), current_setting('application_name'),"
                " (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s),"
                " (SELECT count(*) FROM pg_listening_channels()),"
                " to_regclass('pg_temp.left_behind') IS NULL",
                [LOCK_KEY],
            )
            return cur.fetchone()

    backend, name, locks, channels, no_table = _request(look)

    # then it is the same backend, and the setting, the lock, the LISTEN and the table are gone
    assert backend == first
    assert (name, locks, channels, no_table) == ("", 0, 0, True)


def test_a_connection_left_inside_a_transaction_is_closed_not_kept(pooled):
    # given a request whose connection is still inside a transaction when it is given up
    def open_transaction():
        connection.ensure_connection()
        with connection.connection.cursor() as cur:  # past Django's autocommit, as a broken caller would
            cur.execute("BEGIN")
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        return _backend()

    first = _request(open_transaction)

    # when the next request comes
    second = _request(_backend)

    # then it had a new backend, and the lock died with the old one
    assert second != first
    assert _outside("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s", [LOCK_KEY]) == (0,)
    assert _pool().opened == 1


def test_a_kept_connection_that_postgresql_ended_while_idle_is_never_handed_out(pooled):
    # given a kept connection, and PostgreSQL ending its backend while it is idle (a restart, an administrator)
    pooled.DB_POOL_CHECK_AFTER = 0
    first = _request(_backend)
    assert _outside("SELECT pg_terminate_backend(%s)", [first]) == (True,)
    time.sleep(0.05)

    # when the next request comes
    second = _request(_backend)

    # then it was served on a new backend, not answered with an error, and the dead one is no longer counted
    assert second != first
    assert _pool().opened == 1


def test_the_pool_keeps_at_most_its_size_and_closes_the_rest(pooled):
    # given three requests at once, each holding its connection until all three have one
    barrier = threading.Barrier(3)

    def hold():
        pid = _backend()
        barrier.wait(10)
        return pid

    def run():
        try:
            return hold()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=3) as pool:
        pids = {f.result() for f in [pool.submit(run) for _ in range(3)]}

    # then three backends served them, two are kept (the pool's size), one closed
    assert len(pids) == 3
    assert len(_pool().idle) == 2 and _pool().opened == 2
    assert _outside("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [list(pids)]) == (2,)


def test_connections_idle_past_the_timeout_are_closed(pooled):
    # given a kept connection
    first = _request(_backend)
    assert len(_pool().idle) == 1

    # when it has been idle longer than the timeout and the next request comes
    pooled.DB_POOL_IDLE_TIMEOUT = 0.05
    time.sleep(0.1)
    second = _request(_backend)

    # then that request had a new backend and the old one is gone from PostgreSQL
    assert second != first
    assert _outside("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [first]) == (0,)


def test_a_thread_waiting_at_the_cap_takes_a_connection_as_soon_as_it_is_kept(pooled):
    # given a cap of one connection, held by a request
    pooled.DB_MAX_CONNECTIONS, pooled.DB_CONNECTION_WAIT = 1, 5
    holding, release = threading.Event(), threading.Event()

    def hold():
        pid = _backend()
        holding.set()
        release.wait(10)
        return pid

    def run(fn):
        try:
            return fn()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=2) as pool:
        held = pool.submit(run, hold)
        assert holding.wait(10)
        # when another request waits for a connection, and the first gives its own up 0.2 s later
        started = time.monotonic()
        waiting = pool.submit(run, _backend)
        time.sleep(0.2)
        release.set()
        first, second = held.result(), waiting.result()
        waited = time.monotonic() - started

    # then the waiting request ran on the kept connection at once, not after its 5 s wait, and one was ever open
    assert second == first
    assert waited < 2
    assert _pool().opened == 1


def test_orders_placed_through_the_pool_are_placed_once_each(pooled):
    # given a market, and a pool of 2 under a cap of 2
    pooled.DB_MAX_CONNECTIONS = 2
    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="500000")
    connections.close_all()

    # when twenty orders come in from eight threads, each a request that gives its connection up
    def place(n: int):
        return api_for(investor.owner).post(
            "/api/v1/orders/", order_body(market, client_order_id=f"pooled-{n}"), format="json"
        )

    def run(n):
        try:
            return place(n).status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(run, range(20)))

    # then each was placed once, and never more than two connections were open
    assert codes == [201] * 20
    assert Order.objects.filter(client_order_id__startswith="pooled-").count() == 20
    connections.close_all()
    assert _pool().opened <= 2


DOUBLE = Statement("test_pool_double", "SELECT $1::int * 2", ["int"])
MIGRATED = Statement("test_pool_migrated", "SELECT amount FROM test_pool_migrated WHERE id = $1", ["int"])


def test_a_kept_session_whose_prepared_plan_a_migration_changed_prepares_it_again(pooled):
    # given a table, and a statement that reads its column prepared on the connection the pool keeps
    _outside_run("CREATE TABLE test_pool_migrated (id int PRIMARY KEY, amount numeric(10, 2))")
    _outside_run("INSERT INTO test_pool_migrated VALUES (1, 2.5)")

    def read():
        with connection.cursor() as cur:
            MIGRATED.execute(cur, [1])
            return _backend(), cur.fetchone()[0]

    try:
        first, amount = _request(read)
        assert amount == Decimal("2.5")

        # when a migration changes the column's type (a DecimalField's digits, a CharField's length) as it runs
        _outside_run("ALTER TABLE test_pool_migrated ALTER COLUMN amount TYPE numeric(20, 8)")

        # then the kept session's plan no longer fits: the next request on it fails, once
        with pytest.raises(NotSupportedError, match="cached plan must not change result type"):
            _request(read)

        # and the request after it, on the same session, prepares the statement again and reads the row
        backends = {_request(read) for _ in range(3)}
        assert backends == {(first, Decimal("2.50000000"))}
    finally:
        _outside_run("DROP TABLE test_pool_migrated")


def test_a_connection_whose_transactions_a_request_made_read_only_is_closed_not_kept(pooled):
    # given a request that made its connection's transactions read-only, as psycopg2 allows (a report that must
    # not write), and gave it up so
    def read_only():
        connection.ensure_connection()
        connection.connection.readonly = True
        return _backend()

    first = _request(read_only)

    # when the next request writes in a transaction
    def write():
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("CREATE TEMPORARY TABLE pool_written (n int)")
            cur.execute("INSERT INTO pool_written VALUES (1)")
        return _backend()

    second = _request(write)

    # then it wrote, on a new connection: the read-only one was closed, not kept for it
    assert second != first
    assert _pool().opened == 1


def test_a_kept_connection_is_handed_out_in_django_s_time_zone_without_a_round_trip_to_set_it(pooled, monkeypatch):
    # given a database whose sessions start in another time zone than the one Django's connections use (UTC)
    name = connection.settings_dict["NAME"]
    _outside_run(f"ALTER DATABASE {name} SET timezone TO 'Asia/Shanghai'")
    try:
        first = _request(_backend)
        set_again = []
        configure = db_base.DatabaseWrapper._configure_timezone

        def spy(self, raw):
            set_again.append(configure(self, raw))
            return set_again[-1]

        monkeypatch.setattr(db_base.DatabaseWrapper, "_configure_timezone", spy)

        # when the next request takes the kept connection
        def look():
            with connection.cursor() as cur:
                cur.execute("SELECT pg_backend_pid(), current_setting('TimeZone')")
                return cur.fetchone()

        backend, zone = _request(look)
    finally:
        _outside_run(f"ALTER DATABASE {name} RESET timezone")

    # then it is the same session, in UTC, and Django did not have to set it again (the reset did, as it kept it)
    assert (backend, zone) == (first, "UTC")
    assert set_again == [False]


def test_a_kept_session_whose_prepared_statements_a_request_deallocated_prepares_them_again(pooled):
    # given a statement prepared on the connection the pool keeps
    def run():
        with connection.cursor() as cur:
            DOUBLE.execute(cur, [21])
            return _backend(), cur.fetchone()[0]

    first, answer = _request(run)
    assert answer == 42

    # when a request drops the session's prepared statements (DEALLOCATE ALL, DISCARD ALL: a console, a library)
    def drop():
        with connection.cursor() as cur:
            cur.execute("DEALLOCATE ALL")
        return _backend()

    assert _request(drop) == first

    # then the next use on that session fails, once, and the ones after it prepare the statement again
    with pytest.raises(OperationalError, match="does not exist"):
        _request(run)
    assert {_request(run) for _ in range(3)} == {(first, 42)}
