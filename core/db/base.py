"""PostgreSQL with a cap on the connections one process has open at once, and a pool of idle ones to reuse.

**The cap** (``DB_MAX_CONNECTIONS``). A threaded web process opens a connection per busy thread (``make run``: 3
processes of 64 threads, each connection given up after its request, ``DB_CONN_MAX_AGE=0``), so a burst of
requests asked PostgreSQL for more connections than its ``max_connections`` (100 by default), and every request
past it failed with "sorry, too many clients already": a 500 (found by a probe: of 170 orders sent at once, 67
were answered 500). With a cap, a thread past it waits for another to give its connection back,
``DB_CONNECTION_WAIT`` seconds at most, and is then answered 503 ``server_busy`` (:class:`ServerBusy`), never
500. ``0`` or unset: no cap (Celery's worker processes hold one connection each). The cap counts open
connections, idle ones in the pool included; a thread holding one between requests keeps its place.

**The pool** (``DB_POOL_SIZE``). Opening a connection costs PostgreSQL a new backend process (a fork, the
authentication, the catalogue caches warmed again) and the request a few round trips: more than most requests'
own queries. A connection Django gives up after a request (``DB_CONN_MAX_AGE=0``) is kept instead, up to
``DB_POOL_SIZE`` a process, and the next request of any thread takes it. Django's own pool exists only for
psycopg 3; this is the psycopg2 equivalent of what PgBouncer does in session mode, inside the process:

- a connection is kept only when it is healthy and outside any transaction (else it is closed), and its session
  is reset as it is kept (``DISCARD ALL`` but the prepared statements: settings, session advisory locks,
  ``LISTEN``, cursors, temporary tables; psycopg2's read-only, deferrable or isolation level changed: closed
  instead), so no request sees what another left, and the order path's prepared statements (``core.prepared``)
  are planned once a connection, not once a request;
- one idle longer than ``DB_POOL_CHECK_AFTER`` seconds is asked ``SELECT 1`` before it is handed out (a server
  restarted meanwhile: it is closed and a new one opened), and one idle longer than ``DB_POOL_IDLE_TIMEOUT`` is
  closed as the process next takes or keeps one, so the pool shrinks back while requests go on after a burst (no
  thread watches it: a process that serves nothing keeps its idle connections until it serves again);
- the most recently kept is handed out first, so a quiet process uses few connections and the rest age out.

A thread waiting at the cap takes a connection given back to the pool as soon as it is kept. Each database alias
has a cap and a pool of its own (the ``replica`` of ``DATABASE_REPLICA_URL``, ``core.db.replica``): a request
that holds a primary connection and then reads the replica must not wait for a place its own kind holds. All of
it is per process: a forked child starts with none of its parent's connections.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from dataclasses import dataclass, field

from django.conf import settings
from django.db.backends.postgresql import base
from django.utils.translation import gettext_lazy as _
from psycopg2 import extensions
from rest_framework.exceptions import APIException

logger = logging.getLogger(__name__)


class ServerBusy(APIException):
    """Every connection this process may open is in use, and none was given back in time."""

    status_code = 503
    default_code = error_code = "server_busy"
    default_detail = _("The exchange is busy; try again in a moment.")
    wait = 1  # seconds, the answer's Retry-After (core.api.errors)


@dataclass
class _Connections:
    """One process's connections to one database alias: how many are open, and the idle ones kept."""

    opened: int = 0
    idle: list[tuple[object, float]] = field(default_factory=list)  # (connection, kept at), the newest last
    changed: threading.Condition = field(default_factory=threading.Condition)

    def take(self, cap: int, wait: float) -> object | None:
        """An idle connection (still counted open), or None after counting a new one in: open it, or ``give_up``."""
        deadline = time.monotonic() + wait
        with self.changed:
            while True:
                self._expire()
                if self.idle:
                    return self.idle.pop()
                if cap <= 0 or self.opened < cap:
                    self.opened += 1
                    return None
                left = deadline - time.monotonic()
                if left <= 0 or not self.changed.wait(left):
                    if self.idle or cap <= 0 or self.opened < cap:
                        continue  # given back just as the wait ran out
                    raise ServerBusy()

    def keep(self, raw, size: int) -> bool:
        """Keep ``raw`` for the next taker if there is room: True; else the caller closes it and calls ``give_up``."""
        with self.changed:
            self._expire()
            if len(self.idle) >= size:
                return False
            self.idle.append((raw, time.monotonic()))
            self.changed.notify()
            return True

    def give_up(self) -> None:
        """One open connection fewer (closed, failed to open, or lost with its thread)."""
        with self.changed:
            self.opened -= 1
            self.changed.notify()

    def _expire(self) -> None:
        # The oldest are first: close those idle past the timeout (under the lock; closing a socket is quick).
        timeout = float(getattr(settings, "DB_POOL_IDLE_TIMEOUT", 60))
        now = time.monotonic()
        while self.idle and now - self.idle[0][1] > timeout:
            raw, _kept = self.idle.pop(0)
            _close_quietly(raw)
            self.opened -= 1


_lock = threading.Lock()
_by_alias: dict[tuple[int, str], _Connections] = {}


def connections_for(alias: str) -> _Connections:
    # Per process (a forked child starts with none of its parent's connections) and per database alias.
    key = (os.getpid(), alias)
    with _lock:
        if key not in _by_alias:
            _by_alias[key] = _Connections()
        return _by_alias[key]


def _close_quietly(raw) -> None:
    try:
        raw.close()
    except Exception:  # already broken: closing it is all that was wanted
        pass


def _alive(raw) -> bool:
    try:
        with raw.cursor() as cur:
            cur.execute("SELECT 1")
        return True
    except Exception:
        return False


# What PgBouncer's server_reset_query would run (DISCARD ALL), less DEALLOCATE ALL and DISCARD PLANS: the
# statements core.prepared prepares (the order path's reads and writes, planned once a session) stay prepared for
# the next request; core.prepared knows them by the raw connection.
SESSION_RESET = (
    "CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; UNLISTEN *; SELECT pg_advisory_unlock_all();"
    " DISCARD TEMP; DISCARD SEQUENCES"
)


class DatabaseWrapper(base.DatabaseWrapper):
    _counted: weakref.finalize | None = None

    def get_new_connection(self, conn_params):
        if self._counted is not None:  # a connection replaced without being closed (connect() called again)
            self._counted, old = None, self._counted
            old()
        cap = int(getattr(settings, "DB_MAX_CONNECTIONS", 0) or 0)
        size = int(getattr(settings, "DB_POOL_SIZE", 0) or 0)
        if cap <= 0 and size <= 0:
            return super().get_new_connection(conn_params)
        pool = connections_for(self.alias)
        wait = float(getattr(settings, "DB_CONNECTION_WAIT", 10))
        check_after = float(getattr(settings, "DB_POOL_CHECK_AFTER", 1))
        while True:
            idle = pool.take(cap, wait)
            if idle is None:  # counted in: open a new one
                try:
                    raw = super().get_new_connection(conn_params)
                except BaseException:
                    pool.give_up()
                    raise
                break
            raw, kept_at = idle
            if time.monotonic() - kept_at <= check_after or _alive(raw):
                self._reused(raw)
                break
            logger.info("a pooled database connection no longer answers; opening another")
            _close_quietly(raw)
            pool.give_up()
        # Counted out when the connection is closed or kept, or when this wrapper is collected with it open (a
        # thread that ended without closing): never lost, never counted out twice.
        self._counted = weakref.finalize(self, pool.give_up)
        return raw

    def _reused(self, raw) -> None:
        # What Django's get_new_connection sets on the wrapper besides opening the connection.
        level = self.settings_dict["OPTIONS"].get("isolation_level")
        self.isolation_level = base.IsolationLevel(level) if level is not None else base.IsolationLevel.READ_COMMITTED
        if level is not None:
            raw.isolation_level = self.isolation_level

    def _close(self):
        counted, self._counted = self._counted, None
        if counted is not None and self._keep(self.connection):
            counted.detach()  # still open, and still counted: in the pool now
            return
        try:
            super()._close()
        finally:
            if counted is not None:
                counted()

    def _keep(self, raw) -> bool:
        """Keep the connection in the pool instead of closing it: only a healthy one, outside any transaction."""
        size = int(getattr(settings, "DB_POOL_SIZE", 0) or 0)
        if size <= 0 or raw is None or raw.closed or self.in_atomic_block:
            return False
        if raw.info.transaction_status != extensions.TRANSACTION_STATUS_IDLE or not raw.autocommit:
            return False
        # psycopg2's own session characteristics, which the reset cannot clear (psycopg2 would send them again):
        # as get_new_connection left them, or the next request's transactions would be read-only, deferrable or of
        # another isolation level.
        configured = self.settings_dict["OPTIONS"].get("isolation_level")
        if raw.readonly is not None or raw.deferrable is not None or raw.isolation_level != configured:
            return False
        pool = connections_for(self.alias)
        if len(pool.idle) >= size:  # full (read without the lock: keep() decides): no reset for a connection closed
            return False
        # And the time zone Django sets as it connects (init_connection_state), set again in the same round trip:
        # RESET ALL returns it to the server's, and the next request would otherwise spend one setting it back.
        reset, params = SESSION_RESET, []
        if self.timezone_name:
            reset, params = f"{reset}; {self.ops.set_time_zone_sql()}", [self.timezone_name]
        try:
            with raw.cursor() as cur:
                cur.execute(reset, params)
        except Exception:
            return False
        return pool.keep(raw, size)
