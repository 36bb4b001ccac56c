"""A stack that survives a crash (issue 9, item 9): under ``make run`` (``scripts/stack.py serve``), a Celery
worker, beat or gunicorn master killed with SIGKILL is started again within seconds, with back-off and one log
line, while the rest keeps serving; Ctrl-C still stops every process; only the death of the embedded
PostgreSQL stops everything on its own. The stacks are started the way ``tests/test_make_run.py`` starts them."""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
from pathlib import Path

import pytest

from tests import test_make_run
from tests.test_make_run import _port_open, _started_here
from tests.workers import wait_for

ROOT = Path(__file__).resolve().parent.parent

exchange = test_make_run.exchange  # the same fixture: a fresh data folder and port, all its processes gone after
LABELS = {"worker": "celery worker", "beat": "celery beat", "web": "web (gunicorn)"}


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


def _log(exchange) -> str:
    return exchange.log.read_text(errors="replace")  # all of it: the access log pushes lines out of output()


def _buy_one_lot(exchange, token: str, client_order_id: str) -> int:
    """Demo investor 1 buys one lot at the best ask; the order fills at once (the web alone does that)."""
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
    return max(trade["id"] for trade in trades["results"])


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


@pytest.mark.celery
def test_a_killed_worker_beat_or_web_comes_back_within_seconds_the_rest_keeps_running_and_ctrl_c_stops_all(
    exchange,
):
    # given a running `make run` on a fresh data folder, with its embedded PostgreSQL and Redis
    exchange.start()
    token = exchange.token("investor1")
    before = _children(exchange)
    assert set(before) == {"web", "worker", "beat", "witness"}, _started_here(exchange.data)

    for role in ("worker", "beat"):
        # when the Celery worker (then beat) is killed with SIGKILL
        os.kill(before[role], signal.SIGKILL)

        # then the exchange keeps serving and takes an order meanwhile
        assert exchange._answers(), exchange.output()
        trade = _buy_one_lot(exchange, token, f"while-{role}-down")

        # and within seconds a new one runs, said in one line, while the others were left alone
        after = _replaced(exchange, role, before[role])
        assert after, f"no new {role}\n{exchange.output()}"
        assert f"[stack] {LABELS[role]} exited with status -9; restarting in 1s (restart 1)" in _log(exchange)
        assert {k: v for k, v in after.items() if k != role} == {k: v for k, v in before.items() if k != role}

        # and it does its work: the trade is sealed and settled
        assert _settles(exchange, token, trade), exchange.output()
        before = after

    # when the new worker is killed again before it has been up a minute
    os.kill(before["worker"], signal.SIGKILL)

    # then it comes back after a longer wait
    after = _replaced(exchange, "worker", before["worker"])
    assert after, exchange.output()
    assert "[stack] celery worker exited with status -9; restarting in 2s (restart 2)" in _log(exchange)
    before = after

    # when gunicorn's master is killed
    os.kill(before["web"], signal.SIGKILL)

    # then a new one serves within seconds (its orphaned workers gone, the port free again), the rest untouched
    after = _replaced(exchange, "web", before["web"])
    assert after, exchange.output()
    assert wait_for(exchange._answers, timeout=30, interval=0.3), exchange.output()
    assert "[stack] web (gunicorn) exited with status -9; restarting in 1s (restart 1)" in _log(exchange)
    assert (after["worker"], after["beat"]) == (before["worker"], before["beat"])
    trade = _buy_one_lot(exchange, token, "after-web-restart")
    assert _settles(exchange, token, trade), exchange.output()

    # when Ctrl-C is pressed after all that
    assert exchange.ctrl_c() == 0

    # then every process it started, restarted ones included, has stopped
    assert not _port_open(exchange.port)
    assert _started_here(exchange.data) == []


@pytest.mark.celery
def test_the_death_of_the_embedded_postgresql_stops_everything_with_an_error(exchange):
    # given a running `make run`
    exchange.start()
    postmaster = int((exchange.data / "pg" / "postmaster.pid").read_text().split()[0])

    # when its PostgreSQL is killed
    os.kill(postmaster, signal.SIGKILL)

    # then the launcher says so and stops everything with a non-zero exit, restarting nothing
    assert exchange.proc.wait(timeout=60) == 1, exchange.output()
    assert f"[stack] embedded PostgreSQL (pid {postmaster}) has stopped; stopping everything" in _log(exchange)
    assert "restarting in" not in _log(exchange)
    assert not _port_open(exchange.port)
    assert wait_for(lambda: _started_here(exchange.data) == [], timeout=10), _started_here(exchange.data)


@pytest.fixture
def stack(tmp_path, monkeypatch):
    """``scripts/stack.py`` as a module, without the side effects of its import on this process."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("EXCHANGE_DATA_DIR", str(tmp_path / "data"))
    spec = importlib.util.spec_from_file_location("stack_under_test", ROOT / "scripts" / "stack.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_restart_delay_doubles_up_to_30s_and_starts_again_from_1s_after_a_minute_up(stack, capsys):
    assert [stack.restart_delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]

    # given a child that exits at once with status 3 (the clock is given, not waited for)
    child = stack.Child("celery worker", [sys.executable, "-c", "raise SystemExit(3)"], dict(os.environ))
    child.start(now=0.0)
    child.proc.wait(10)

    # when the launcher looks at it: one line, and a restart in 1 s
    child.tend(now=0.5)
    assert capsys.readouterr().out == "[stack] celery worker exited with status 3; restarting in 1s (restart 1)\n"
    first = child.proc
    child.tend(now=1.0)
    assert child.proc is first  # not yet
    child.tend(now=1.5)
    assert child.proc is not first  # started again

    # when it crashes again at once: 2 s
    child.proc.wait(10)
    child.tend(now=2.0)
    assert capsys.readouterr().out == "[stack] celery worker exited with status 3; restarting in 2s (restart 2)\n"

    # when it crashes after more than a minute up: 1 s again
    child.tend(now=4.0)
    child.proc.wait(10)
    child.tend(now=4.0 + stack.STABLE_AFTER + 1)
    assert capsys.readouterr().out == "[stack] celery worker exited with status 3; restarting in 1s (restart 3)\n"
