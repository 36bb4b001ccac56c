"""A process's cap on its open PostgreSQL connections (core.db.base), on real PostgreSQL with threads.

Found by a probe of the running exchange: 170 orders sent at once to make run's web processes (3 × 64 threads,
a connection per busy thread) asked PostgreSQL for more connections than its max_connections, and 67 of them
were answered 500 ("sorry, too many clients already"). With the cap, a request past it waits for a connection,
and one that waits too long is a 503 server_busy, never a 500.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections
from django.test import Client

from exchange.models import Order
from tests.conftest import api_for, build_market, log_in, order_body, snapshot

pytestmark = pytest.mark.django_db(transaction=True)

APP = "h4-cap-probe"


def _on_own_connection(fn):
    """``fn`` on a thread of its own, with its own connection, closed when it is done (as after a request)."""

    def run():
        try:
            return fn()
        finally:
            connections.close_all()

    return run


def test_threads_past_the_cap_wait_for_a_connection_and_postgresql_never_sees_more_than_the_cap(settings):
    # given a cap of 2 connections in this process
    settings.DB_MAX_CONNECTIONS, settings.DB_CONNECTION_WAIT = 2, 30
    barrier = threading.Barrier(6)
    seen: list[int] = []

    def query():
        barrier.wait()
        with connection.cursor() as cur:
            cur.execute("SELECT set_config('application_name', %s, false)", [APP])
            cur.execute("SELECT pg_sleep(0.3)")
            # what PostgreSQL sees of these threads' connections while this one holds its own
            cur.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
                [APP],
            )
            seen.append(cur.fetchone()[0])
            cur.execute("SELECT pg_sleep(0.1)")
            return True

    # when six threads each run a query on a connection of their own at the same moment
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda f: f(), [_on_own_connection(query)] * 6))

    # then every one of them ran (the ones past the cap waited), and PostgreSQL never had more than two open
    assert results == [True] * 6
    assert len(seen) == 6 and max(seen) <= 2


def test_an_order_that_finds_no_connection_in_time_is_a_503_server_busy_and_places_nothing(settings):
    # given a market, and a cap of one connection that another thread holds
    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="50000")
    before = snapshot()
    connections.close_all()  # the test's own connection, opened before the cap, is not counted: close it
    settings.DB_MAX_CONNECTIONS, settings.DB_CONNECTION_WAIT = 1, 0.2
    holding, done = threading.Event(), threading.Event()

    def hold():
        connection.ensure_connection()
        holding.set()
        done.wait(10)

    def place(key: str):
        return api_for(investor.owner).post("/api/v1/orders/", order_body(market, client_order_id=key), format="json")

    with ThreadPoolExecutor(max_workers=2) as pool:
        holder = pool.submit(_on_own_connection(hold))
        assert holding.wait(10)

        # when the investor's order comes in meanwhile
        refused = pool.submit(_on_own_connection(lambda: place("busy-1"))).result()
        done.set()
        holder.result()

    # then it is told to come back (503, JSON, Retry-After), not a 500, and nothing was placed
    assert refused.status_code == 503
    assert refused.json() == {"code": "server_busy", "message": "系统繁忙，请稍后再试。"}  # the default language
    assert refused["Retry-After"] == "1"
    settings.DB_MAX_CONNECTIONS = 0
    assert snapshot() == before
    assert not Order.objects.filter(client_order_id="busy-1").exists()

    # and once the connection is given back, the same order goes through
    settings.DB_MAX_CONNECTIONS = 1
    connections.close_all()
    with ThreadPoolExecutor(max_workers=1) as pool:
        placed = pool.submit(_on_own_connection(lambda: place("busy-1"))).result()
    assert placed.status_code == 201, placed.json()


def test_a_page_that_finds_no_connection_in_time_is_a_503_page(settings):
    # given a signed-in investor and a cap of one connection that another thread holds
    market = build_market()
    investor = market.investor(cash="1000")
    browser = Client(raise_request_exception=False)
    log_in(browser, investor.owner)
    connections.close_all()
    settings.DB_MAX_CONNECTIONS, settings.DB_CONNECTION_WAIT = 1, 0.2
    holding, done = threading.Event(), threading.Event()

    def hold():
        connection.ensure_connection()
        holding.set()
        done.wait(10)

    with ThreadPoolExecutor(max_workers=2) as pool:
        holder = pool.submit(_on_own_connection(hold))
        assert holding.wait(10)

        # when the market watch is asked for meanwhile (its session is read from the database)
        page = pool.submit(_on_own_connection(lambda: browser.get("/", HTTP_ACCEPT_LANGUAGE="en"))).result()
        done.set()
        holder.result()

    # then the answer is the busy page, 503, not the server-error page
    assert page.status_code == 503
    assert page["Retry-After"] == "1"
    assert "The exchange is busy; try again in a moment." in page.content.decode()


def test_an_order_whose_connection_postgresql_drops_is_a_503_server_busy_and_places_nothing(monkeypatch):
    # given a market, and PostgreSQL ending the order's connection in the middle of its transaction (as when an
    # administrator terminates the backends, or the server restarts)
    from exchange.services import orders

    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="50000")
    before = snapshot()
    lock_security = orders.lock_security

    def dropped(code):
        locked = lock_security(code)
        with connection.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        return locked

    monkeypatch.setattr(orders, "lock_security", dropped)

    # when the investor's order comes in
    with ThreadPoolExecutor(max_workers=1) as pool:
        place = api_for(investor.owner).post
        body = order_body(market, client_order_id="dropped-1")
        answer = pool.submit(_on_own_connection(lambda: place("/api/v1/orders/", body, format="json"))).result()

    # then it is told to come back (503 server_busy, JSON), not a 500, and nothing was placed
    assert answer.status_code == 503
    assert answer.json() == {"code": "server_busy", "message": "系统繁忙，请稍后再试。"}
    assert answer["Retry-After"] == "1"
    assert snapshot() == before

    # and the same order sent again goes through
    monkeypatch.setattr(orders, "lock_security", lock_security)
    with ThreadPoolExecutor(max_workers=1) as pool:
        again = pool.submit(_on_own_connection(lambda: place("/api/v1/orders/", body, format="json"))).result()
    assert again.status_code == 201, again.json()
    assert Order.objects.get(client_order_id="dropped-1").filled_quantity == 100


def test_a_page_whose_connection_postgresql_drops_is_a_503_page(monkeypatch):
    # given a signed-in investor, and PostgreSQL ending the connection as the market watch is drawn
    from exchange import market_watch

    market = build_market()
    investor = market.investor(cash="1000")
    browser = Client(raise_request_exception=False)
    log_in(browser, investor.owner)

    def dropped():
        with connection.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    monkeypatch.setattr(market_watch, "rows", dropped)

    # when the page is asked for
    with ThreadPoolExecutor(max_workers=1) as pool:
        page = pool.submit(_on_own_connection(lambda: browser.get("/", HTTP_ACCEPT_LANGUAGE="en"))).result()

    # then the answer is the busy page, 503, not the server-error page
    assert page.status_code == 503
    assert page["Retry-After"] == "1"
    assert "The exchange is busy; try again in a moment." in page.content.decode()
