"""`make run` as a new user meets it (issue 2): on a fresh data folder with no DATABASE_URL or REDIS_URL,
``scripts/stack.py serve`` starts an embedded PostgreSQL and Redis, migrates, loads the demo market and serves
it with a Celery worker and beat; a demo investor's order fills and settles; Ctrl-C stops every process it
started; the next start comes up on the same data and adds nothing twice."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.workers import wait_for

pytestmark = pytest.mark.celery

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "demo-pass-2026"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Exchange:
    """One ``make run`` (the command its Makefile target runs) on a data folder and port of the test's own."""

    def __init__(self, data: Path, port: int) -> None:
        self.data, self.port = data, port
        self.witness_port = _free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.log = data.parent / "run.log"
        self.proc: subprocess.Popen | None = None

    def env(self, **extra: str) -> dict:
        """The environment of ``make run`` on this data folder: no database or Redis of its own."""
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "XDG_RUNTIME_DIR")}
        env.update(
            EXCHANGE_DATA_DIR=str(self.data),
            EXCHANGE_BIND=f"127.0.0.1:{self.port}",
            EXCHANGE_DEMO="1",
            WEB_WORKERS="2",
            CELERY_QUEUE=f"make-run-{self.port}",
            WITNESS_BIND=f"127.0.0.1:{self.witness_port}",
            **extra,
        )
        return env

    def launch(self, **extra: str) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "scripts/stack.py", "serve"],
                cwd=ROOT,
                env=self.env(**extra),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start(self, **extra: str) -> None:
        self.launch(**extra)
        up = wait_for(lambda: self.proc.poll() is None and self._answers(), timeout=300, interval=0.5)
        assert up, self.output()

    def ctrl_c(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=60)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base}/login/", timeout=2) as response:
                return response.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def api(self, method: str, path: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
        request = urllib.request.Request(
            f"{self.base}/api/v1/{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json", **({"Authorization": f"Token {token}"} if token else {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def token(self, username: str) -> str:
        status, body = self.api("POST", "auth/token/", {"username": username, "password": PASSWORD})
        assert status == 200, body
        return body["token"]


def _started_here(data: Path) -> list[str]:
    """Every live process started for this data folder: each inherits ``EXCHANGE_DATA_DIR`` from ``make run``
    or names the folder (the launcher, PostgreSQL, Redis, gunicorn and its workers, the Celery worker and its
    pool, beat)."""
    marker = f"EXCHANGE_DATA_DIR={data}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if marker in environ or str(data) in command:  # Redis rewrites its environment for its process title
            found.append(f"{proc.name} {command}")
    return found


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def exchange():
    # Not under pytest's own temporary folder: as root, the embedded PostgreSQL runs as its own user, and
    # every pytest session started meanwhile (another suite on the machine) sets that folder back to 0700.
    base = Path(tempfile.mkdtemp(prefix="make-run-"))
    base.chmod(0o755)
    run = Exchange(base / "data", _free_port())
    yield run
    if run.proc and run.proc.poll() is None:  # a failed test: stop it the way Ctrl-C would, then make sure
        run.proc.send_signal(signal.SIGTERM)
        try:
            run.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            run.proc.kill()
    for line in _started_here(run.data):
        try:
            os.kill(int(line.split()[0]), signal.SIGKILL)
        except ProcessLookupError:
            pass
    shutil.rmtree(base, ignore_errors=True)


def test_make_run_serves_the_demo_market_settles_a_trade_stops_on_ctrl_c_and_restarts(exchange):
    # given `make run` on a fresh data folder, with no database or Redis of its own
    exchange.start()
    assert (exchange.data / "pg").is_dir() and (exchange.data / "redis").is_dir()
    assert "demo-pass-2026" in exchange.output() and "investor1" in exchange.output()
    running = "\n".join(_started_here(exchange.data))
    witness = f"--bind 127.0.0.1:{exchange.witness_port}"  # the regulator's witness: its own gunicorn
    for process in ("scripts/stack.py serve", "postgres", "redis", "gunicorn", "worker", "beat", witness):
        assert process in running, running

    # when demo investor 1 buys one lot at the best ask of the first security
    token = exchange.token("investor1")
    status, securities = exchange.api("GET", "securities/", token=token)
    assert status == 200 and len(securities) == 3
    code = securities[0]["code"]
    _, book = exchange.api("GET", f"securities/{code}/quotes/", token=token)
    best_ask = book["asks"][0]
    _, before = exchange.api("GET", "account/", token=token)
    status, order = exchange.api(
        "POST",
        "orders/",
        {
            "security": code,
            "side": "buy",
            "quantity": securities[0]["lot_size"],
            "limit_price": best_ask["price"],
            "time_in_force": "IOC",
            "client_order_id": "make-run-1",
        },
        token=token,
    )

    # then it fills, and the worker and beat seal and settle the trade
    assert status == 201 and order["status"] == "filled", order
    _, trades = exchange.api("GET", "trades/", token=token)
    (trade,) = trades["results"]

    def settled() -> bool:
        return exchange.api("GET", f"trades/{trade['id']}/", token=token)[1]["status"] == "settled"

    assert wait_for(settled, timeout=30, interval=0.3), exchange.output()

    # and the regulator's witness, on its own database, co-signed the checkpoint that holds it
    def cosigned() -> dict | None:
        head = exchange.api("GET", "ledger/head/", token=token)[1]
        return head if "regulator.local/witness" in head.get("checkpoint", "") else None

    head = wait_for(cosigned, timeout=30, interval=0.5)
    assert head, exchange.output()
    request = urllib.request.Request(
        f"http://127.0.0.1:{exchange.witness_port}/", headers={"Accept": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        witness = json.loads(response.read())
    assert witness["logs"][0]["tree_size"] >= head["tree_size"] and witness["split_views"] == []
    assert witness["verifier_key"].startswith("regulator.local/witness+")
    _, after = exchange.api("GET", "account/", token=token)
    assert after["cash"]["total"] != before["cash"]["total"]

    # when Ctrl-C is pressed
    assert exchange.ctrl_c() == 0

    # then every process it started has stopped
    assert not _port_open(exchange.port)
    assert _started_here(exchange.data) == []

    # when it is started again on the same data
    exchange.start()

    # then the market, the trade and the balances are as they were: nothing was loaded twice
    token = exchange.token("investor1")
    _, securities_again = exchange.api("GET", "securities/", token=token)
    assert [s["code"] for s in securities_again] == [s["code"] for s in securities]
    _, trades_again = exchange.api("GET", "trades/", token=token)
    assert [t["id"] for t in trades_again["results"]] == [trade["id"]]
    _, again = exchange.api("GET", "account/", token=token)
    assert again == after
    assert exchange.ctrl_c() == 0
    assert _started_here(exchange.data) == []


def test_a_failed_start_stops_every_process_it_started_the_fonts_build_too(exchange):
    # given `make run` on a fresh data folder whose demo data cannot load (here an unknown venue rule profile;
    # found by a tester with VENUE_PROFILE=cn-regional-2017 before the demo loaded under it)
    exchange.launch(VENUE_PROFILE="no-such-profile")

    # when the demo data fails, then make run exits 1
    assert exchange.proc.wait(timeout=180) == 1, exchange.output()
    assert "no-such-profile" in exchange.output()

    # and nothing it started is left running: PostgreSQL, Redis, and the statements' fonts build
    # (`manage.py statement_fonts`, about 40 s of CPU, started before the demo data and left building)
    assert wait_for(lambda: _started_here(exchange.data) == [], timeout=10, interval=0.2), _started_here(exchange.data)
    assert not _port_open(exchange.port)


def test_exec_beside_make_run_leaves_its_runtime_env_and_servers_alone(exchange):
    # given `make run`, whose runtime.env tells commands run by hand where its servers are
    exchange.start()
    runtime = exchange.data / "runtime.env"
    published = runtime.read_text()
    assert published.startswith("DATABASE_URL=") and "LEDGER_WITNESSES=" in published
    hand = {k: v for k, v in exchange.env().items() if k not in ("DATABASE_URL", "REDIS_URL")}

    # when a command runs under `scripts/stack.py exec` meanwhile (it reuses the servers make run started)
    done = subprocess.run(
        [sys.executable, "scripts/stack.py", "exec", "--", sys.executable, "manage.py", "demo_totp", "operator"],
        cwd=ROOT,
        env=hand,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].isdigit()  # the code, after the launcher's own lines

    # then runtime.env is still there, unchanged (exec removed it, and the README's `manage.py demo_totp operator`
    # then failed with "DATABASE_URL is not set")
    assert runtime.read_text() == published
    by_hand = subprocess.run(
        [sys.executable, "manage.py", "demo_totp", "operator"], cwd=ROOT, env=hand, capture_output=True, text=True
    )
    assert by_hand.returncode == 0, by_hand.stderr
    code = by_hand.stdout.strip()
    assert len(code) == 6 and code.isdigit()
    # and make run goes on serving on its servers
    assert exchange.proc.poll() is None and exchange._answers()
    running = "\n".join(_started_here(exchange.data))
    assert "postgres" in running and "redis" in running

    # when make run stops, its runtime.env goes with it
    assert exchange.ctrl_c() == 0
    assert not runtime.exists()
    assert _started_here(exchange.data) == []
