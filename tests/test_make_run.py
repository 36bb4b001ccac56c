"""`make run` as a new user meets it (issue 2): on a fresh data folder with no DATABASE_URL or REDIS_URL,
``scripts/stack.py serve`` starts an embedded PostgreSQL and Redis, migrates, loads the demo market and serves
it with a Celery worker and beat; a demo investor's order fills and settles; Ctrl-C stops every process it
started; the next start comes up on the same data and adds nothing twice.

And a stack that survives a crash (issue 9, item 9): a Celery worker, beat or gunicorn master killed with
SIGKILL is started again within seconds, with back-off and one log line, while the rest keeps serving; only the
death of the embedded PostgreSQL stops everything on its own.

A fresh stack takes about a minute to start (initdb, migrations, the demo market), so the tests of this module
share one, in the order they are written: each starts it if an earlier one left it stopped (run alone, a test
starts its own), and the last kills its PostgreSQL. A failed start needs a folder of its own."""

from __future__ import annotations

import contextlib
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

    def ensure_started(self) -> None:
        """The shared stack, running: started here if no earlier test left it so."""
        if self.proc is None or self.proc.poll() is not None:
            self.start()

    def ctrl_c(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=60)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def full_log(self, since: int = 0) -> str:
        """The launcher's whole log (the access log pushes lines out of output()), from byte ``since``."""
        return self.log.read_bytes()[since:].decode(errors="replace")

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

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


LABELS = {"worker": "celery worker", "beat": "celery beat", "web": "web (gunicorn)"}


@contextlib.contextmanager
def _fresh_exchange():
    # Not under pytest's own temporary folder: as root, the embedded PostgreSQL runs as its own user, and
    # every pytest session started meanwhile (another suite on the machine) sets that folder back to 0700.
    base = Path(tempfile.mkdtemp(prefix="make-run-"))
    base.chmod(0o755)
    run = Exchange(base / "data", _free_port())
    try:
        yield run
    finally:
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


@pytest.fixture(scope="module")
def shared():
    """One stack for the module's tests (see the module's docstring); every process it started gone after."""
    with _fresh_exchange() as run:
        yield run


@pytest.fixture
def exchange():
    """A stack of the test's own, on a fresh data folder and port."""
    with _fresh_exchange() as run:
        yield run


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])  # after "pid (name)": state, then the parent's pid


def _children(exchange) -> dict[str, int]:
    """The launcher's own children by role: gunicorn's master, the Celery worker, beat, the witness's gunicorn
    (not their workers)."""
    found = {}
    for line in _started_here(exchange.data):
        pid, command = line.split(" ", 1)
        if _parent(int(pid)) != exchange.proc.pid:
            continue
        if f"--bind 127.0.0.1:{exchange.witness_port}" in command:
            found["witness"] = int(pid)  # the regulator's witness (its own gunicorn)
        elif "gunicorn" in command:
            found["web"] = int(pid)
        elif " worker " in command:
            found["worker"] = int(pid)
        elif " beat " in command:
            found["beat"] = int(pid)
    return found


def _buy_one_lot(exchange, token: str, client_order_id: str) -> tuple[int, dict]:
    """Demo investor 1 buys one lot of the first security at the best ask; the order fills at once (the web
    alone does that). The trade's id, and the security."""
    status, securities = exchange.api("GET", "securities/", token=token)
    assert status == 200, securities
    security = securities[0]
    _, book = exchange.api("GET", f"securities/{security['code']}/quotes/", token=token)
    status, order = exchange.api(
        "POST",
        "orders/",
        {
            "security": security["code"],
            "side": "buy",
            "quantity": security["lot_size"],
            "limit_price": book["asks"][0]["price"],
            "time_in_force": "IOC",
            "client_order_id": client_order_id,
        },
        token=token,
    )
    assert status == 201 and order["status"] == "filled", order
    _, trades = exchange.api("GET", "trades/", token=token)
    return max(trade["id"] for trade in trades["results"]), security


def _settles(exchange, token: str, trade: int) -> bool:
    """Sealing (beat, then the worker) and settlement (the worker) both have to run for this."""

    def settled() -> bool:
        return exchange.api("GET", f"trades/{trade}/", token=token)[1]["status"] == "settled"

    return bool(wait_for(settled, timeout=30, interval=0.3))


def _replaced(exchange, role: str, old: int) -> dict[str, int] | None:
    """Wait for a new process in ``role``'s place; all the launcher's children then."""

    def back():
        now = _children(exchange)
        return now if now.get(role) not in (None, old) else None

    return wait_for(back, timeout=20, interval=0.2)


def test_make_run_serves_the_demo_market_on_a_fresh_folder_and_a_trade_settles_and_is_cosigned(shared):
    exchange = shared
    # given `make run` on a fresh data folder, with no database or Redis of its own
    assert not exchange.data.exists()
    exchange.start()
    assert (exchange.data / "pg").is_dir() and (exchange.data / "redis").is_dir()
    assert "demo-pass-2026" in exchange.output() and "investor1" in exchange.output()
    running = "\n".join(_started_here(exchange.data))
    witness = f"--bind 127.0.0.1:{exchange.witness_port}"  # the regulator's witness: its own gunicorn
    for process in ("scripts/stack.py serve", "postgres", "redis", "gunicorn", "worker", "beat", witness):
        assert process in running, running
    token = exchange.token("investor1")
    status, securities = exchange.api("GET", "securities/", token=token)
    assert status == 200 and len(securities) == 3
    _, before = exchange.api("GET", "account/", token=token)
    _, trades = exchange.api("GET", "trades/", token=token)
    assert trades["results"] == []

    # when demo investor 1 buys one lot at the best ask of the first security
    trade, _ = _buy_one_lot(exchange, token, "make-run-1")

    # then it fills (above), and the worker and beat seal and settle the trade
    assert _settles(exchange, token, trade), exchange.output()

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


def test_exec_beside_make_run_leaves_its_runtime_env_and_servers_alone(shared):
    exchange = shared
    # given `make run`, whose runtime.env tells commands run by hand where its servers are
    exchange.ensure_started()
    runtime = exchange.data / "runtime.env"
    published = runtime.read_text()
    assert published.startswith("DATABASE_URL=") and "LEDGER_WITNESSES=" in published
    hand = {k: v for k, v in exchange.env().items() if k not in ("DATABASE_URL", "REDIS_URL")}
    before = _children(exchange)

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
    # and make run goes on serving on its servers, its processes untouched
    assert exchange.proc.poll() is None and exchange._answers()
    running = "\n".join(_started_here(exchange.data))
    assert "postgres" in running and "redis" in running
    assert _children(exchange) == before


def test_a_killed_worker_beat_or_web_comes_back_within_seconds_and_the_rest_keeps_running(shared):
    exchange = shared
    # given a running `make run`, with its embedded PostgreSQL and Redis
    exchange.ensure_started()
    log_from = exchange.log_size()
    token = exchange.token("investor1")
    before = _children(exchange)
    assert set(before) == {"web", "worker", "beat", "witness"}, _started_here(exchange.data)

    for role in ("worker", "beat"):
        # when the Celery worker (then beat) is killed with SIGKILL
        os.kill(before[role], signal.SIGKILL)

        # then the exchange keeps serving and takes an order meanwhile
        assert exchange._answers(), exchange.output()
        trade, _ = _buy_one_lot(exchange, token, f"while-{role}-down")

        # and within seconds a new one runs, said in one line, while the others were left alone
        after = _replaced(exchange, role, before[role])
        assert after, f"no new {role}\n{exchange.output()}"
        line = f"[stack] {LABELS[role]} exited with status -9; restarting in 1s (restart 1)"
        assert line in exchange.full_log(log_from)
        assert {k: v for k, v in after.items() if k != role} == {k: v for k, v in before.items() if k != role}

        # and it does its work: the trade is sealed and settled
        assert _settles(exchange, token, trade), exchange.output()
        before = after

    # when the new worker is killed again before it has been up a minute
    os.kill(before["worker"], signal.SIGKILL)

    # then it comes back after a longer wait
    after = _replaced(exchange, "worker", before["worker"])
    assert after, exchange.output()
    assert "[stack] celery worker exited with status -9; restarting in 2s (restart 2)" in exchange.full_log(log_from)
    before = after

    # when gunicorn's master is killed
    os.kill(before["web"], signal.SIGKILL)

    # then a new one serves within seconds (its orphaned workers gone, the port free again), the rest untouched
    after = _replaced(exchange, "web", before["web"])
    assert after, exchange.output()
    assert wait_for(exchange._answers, timeout=30, interval=0.3), exchange.output()
    line = "[stack] web (gunicorn) exited with status -9; restarting in 1s (restart 1)"
    assert line in exchange.full_log(log_from)
    assert (after["worker"], after["beat"]) == (before["worker"], before["beat"])
    trade, _ = _buy_one_lot(exchange, token, "after-web-restart")
    assert _settles(exchange, token, trade), exchange.output()


def test_ctrl_c_stops_every_process_and_the_next_start_on_the_same_data_adds_nothing_twice(shared):
    exchange = shared
    # given a running `make run` that has traded (and, after the tests before, had processes restarted)
    exchange.ensure_started()
    token = exchange.token("investor1")
    trade, _ = _buy_one_lot(exchange, token, "before-ctrl-c")
    assert _settles(exchange, token, trade), exchange.output()
    _, securities = exchange.api("GET", "securities/", token=token)
    _, trades = exchange.api("GET", "trades/", token=token)
    _, account = exchange.api("GET", "account/", token=token)
    runtime = exchange.data / "runtime.env"
    assert runtime.exists()

    # when Ctrl-C is pressed
    assert exchange.ctrl_c() == 0

    # then every process it started, restarted ones included, has stopped, and its runtime.env went with it
    assert not _port_open(exchange.port)
    assert _started_here(exchange.data) == []
    assert not runtime.exists()

    # when it is started again on the same data
    exchange.start()

    # then the market, the trades and the balances are as they were: nothing was loaded twice
    token = exchange.token("investor1")
    _, securities_again = exchange.api("GET", "securities/", token=token)
    assert [s["code"] for s in securities_again] == [s["code"] for s in securities]
    _, trades_again = exchange.api("GET", "trades/", token=token)
    assert [t["id"] for t in trades_again["results"]] == [t["id"] for t in trades["results"]]
    _, again = exchange.api("GET", "account/", token=token)
    assert again == account


def test_the_death_of_the_embedded_postgresql_stops_everything_with_an_error(shared):
    exchange = shared
    # given a running `make run`
    exchange.ensure_started()
    log_from = exchange.log_size()
    postmaster = int((exchange.data / "pg" / "postmaster.pid").read_text().split()[0])

    # when its PostgreSQL is killed
    os.kill(postmaster, signal.SIGKILL)

    # then the launcher says so and stops everything with a non-zero exit, restarting nothing
    assert exchange.proc.wait(timeout=60) == 1, exchange.output()
    log = exchange.full_log(log_from)
    assert f"[stack] embedded PostgreSQL (pid {postmaster}) has stopped; stopping everything" in log
    assert "restarting in" not in log
    assert not _port_open(exchange.port)
    assert wait_for(lambda: _started_here(exchange.data) == [], timeout=10), _started_here(exchange.data)


def test_a_failed_start_stops_every_process_it_started_the_fonts_build_too(exchange):
    # given `make run` on a fresh data folder whose demo data cannot load (here an unknown venue rule profile;
    # found by a tester with VENUE_PROFILE=cn-regional-2017 before the demo loaded under it)
    exchange.launch(VENUE_PROFILE="no-such-profile")

    # when the demo data fails, then make run exits 1 (given as long as a start that succeeds, on a loaded machine)
    assert exchange.proc.wait(timeout=300) == 1, exchange.output()
    assert "no-such-profile" in exchange.output()

    # and nothing it started is left running: PostgreSQL, Redis, and the statements' fonts build
    # (`manage.py statement_fonts`, about 40 s of CPU, started before the demo data and left building)
    assert wait_for(lambda: _started_here(exchange.data) == [], timeout=10, interval=0.2), _started_here(exchange.data)
    assert not _port_open(exchange.port)
