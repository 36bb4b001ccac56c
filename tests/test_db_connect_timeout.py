"""A PostgreSQL server that does not answer is given up within seconds (``DB_CONNECT_TIMEOUT``).

Found by a fault walk: with the postmaster stopped (SIGSTOP, as a hung server or a network partition looks), every
request waited for as long as it stayed stopped (15 s), where a dead one is refused at once and answered 503."""

from __future__ import annotations

import socket
import threading
import time

import psycopg2
from django.conf import settings
from django.db.backends.postgresql.base import DatabaseWrapper


def test_the_database_is_given_up_after_a_few_seconds_unless_its_url_says_otherwise():
    assert settings.DATABASES["default"]["OPTIONS"]["connect_timeout"] == 5


def test_a_server_that_accepts_but_never_answers_fails_the_connection_within_seconds():
    # given a server that accepts connections and never answers (a hung postmaster)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    port = silent.getsockname()[1]
    settings_dict = {
        **settings.DATABASES["default"],
        "HOST": "127.0.0.1",
        "PORT": port,
        "NAME": "exchange",
        "OPTIONS": dict(settings.DATABASES["default"]["OPTIONS"]),
    }
    wrapper = DatabaseWrapper(settings_dict, alias="silent")
    outcome: list = []

    def connect():
        started = time.monotonic()
        try:
            wrapper.get_new_connection(wrapper.get_connection_params())
        except Exception as exc:  # what it raised, and when
            outcome.append((type(exc), time.monotonic() - started))
        else:
            outcome.append((None, time.monotonic() - started))

    try:
        # when a connection is opened to it
        attempt = threading.Thread(target=connect, daemon=True)
        attempt.start()
        attempt.join(20)
        # then it fails within the timeout (and a little), not after as long as the server stays silent
        assert outcome, "the connection still waits after 20 s"
        raised, took = outcome[0]
        assert raised is not None and issubclass(raised, psycopg2.OperationalError)
        assert took < 5 + 3
    finally:
        silent.close()
