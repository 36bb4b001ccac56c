"""``make run``'s web server keeps an idle client connection open for longer than a client's pause.

Found by a fault walk: gunicorn closed a connection idle for 2 s (its default ``--keep-alive``), and a market maker
that requoted every 2 s had, a few times a minute, its request reset as the server closed the connection under it
("Connection reset by peer": it cannot tell whether its quote was taken)."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_idle_connection_outlives_a_clients_pause_of_a_few_seconds(stack, tmp_path):
    # given make run's web server (one worker)
    port = _free_port()
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    env = {**os.environ, "EXCHANGE_DATA_DIR": str(tmp_path / "data"), "WEB_WORKERS": "1", "WEB_THREADS": "4"}
    cmd = stack.web_command(gunicorn, f"127.0.0.1:{port}", env)
    server = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        deadline = time.monotonic() + 60
        while True:
            try:
                conn.request("GET", "/api/v1/ping/")
                first = conn.getresponse()
                first.read()
                break
            except OSError:
                conn.close()
                assert time.monotonic() < deadline, "the web server did not start"
                time.sleep(0.5)
        sock = conn.sock
        assert first.status == 401 and first.getheader("Connection", "").lower() != "close"
        # when the client pauses 4 s, as a market maker between two quotes
        time.sleep(4)
        conn.request("GET", "/api/v1/ping/")
        second = conn.getresponse()
        second.read()
        # then the same connection answers (not closed under it)
        assert conn.sock is sock and second.status == 401
    finally:
        server.terminate()
        server.wait(20)
