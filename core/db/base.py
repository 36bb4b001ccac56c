"""PostgreSQL with a cap on the connections one process has open at once (``DB_MAX_CONNECTIONS``).

A threaded web process opens a connection per busy thread (``make run``: 3 processes of 64 threads, each
connection closed after its request, ``DB_CONN_MAX_AGE=0``), so a burst of requests asked PostgreSQL for more
connections than its ``max_connections`` (100 by default), and every request past it failed with "sorry, too
many clients already": a 500 (found by a probe: of 170 orders sent at once, 67 were answered 500). With a cap, a
thread past it waits for another to give its connection back, as with a pool, ``DB_CONNECTION_WAIT`` seconds
at most, and is then answered 503 ``server_busy`` (:class:`ServerBusy`), never 500. ``0`` or unset: no cap
(Celery's worker processes hold one connection each). The cap counts open connections, so it suits
connections closed after each request; a thread holding one between requests keeps its slot. Each database
alias has a cap of its own (the ``replica`` of ``DATABASE_REPLICA_URL``, ``core.db.replica``): a request that
holds a primary connection and then reads the replica must not wait for a slot its own kind holds.
"""

from __future__ import annotations

import os
import threading
import weakref

from django.conf import settings
from django.db.backends.postgresql import base
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import APIException


class ServerBusy(APIException):
    """Every connection this process may open is in use, and none was given back in time."""

    status_code = 503
    default_code = error_code = "server_busy"
    default_detail = _("The exchange is busy; try again in a moment.")
    wait = 1  # seconds, the answer's Retry-After (core.api.errors)


_lock = threading.Lock()
_slots: dict[tuple[int, str, int], threading.BoundedSemaphore] = {}


def _slots_for(alias: str, cap: int) -> threading.BoundedSemaphore:
    # Per process (a forked child starts with none of its parent's connections), per database alias (each server
    # its own connections) and per cap (tests change it).
    key = (os.getpid(), alias, cap)
    with _lock:
        if key not in _slots:
            _slots[key] = threading.BoundedSemaphore(cap)
        return _slots[key]


class DatabaseWrapper(base.DatabaseWrapper):
    _slot: weakref.finalize | None = None

    def get_new_connection(self, conn_params):
        cap = int(getattr(settings, "DB_MAX_CONNECTIONS", 0) or 0)
        if cap <= 0:
            return super().get_new_connection(conn_params)
        if self._slot is not None:  # a connection replaced without being closed (connect() called again)
            self._slot, old = None, self._slot
            old()
        slots = _slots_for(self.alias, cap)
        if not slots.acquire(timeout=float(getattr(settings, "DB_CONNECTION_WAIT", 10))):
            raise ServerBusy()
        try:
            connection = super().get_new_connection(conn_params)
        except BaseException:
            slots.release()
            raise
        # Given back when the connection is closed, or when this wrapper is collected with it open (a thread
        # that ended without closing): a slot is never lost, and never given back twice.
        self._slot = weakref.finalize(self, slots.release)
        return connection

    def _close(self):
        try:
            super()._close()
        finally:
            slot, self._slot = self._slot, None
            if slot is not None:
                slot()
