"""Real Celery worker and beat processes for tests, on Redis, against the test database.

They run on a queue of their own so nothing else (a running ``make run``,
another test run) takes their tasks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
CELERY = str(Path(sys.executable).with_name("celery"))


def _database_url() -> str:
    db = connection.settings_dict
    host = db["HOST"] or ""
    from urllib.parse import quote

    hostpart = quote(host, safe="") if host.startswith("/") else host
    port = f":{db['PORT']}" if db.get("PORT") else ""
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{hostpart}{port}/{db['NAME']}"


class Stack:
    def __init__(self, tmp: Path) -> None:
        self.queue = f"test-{uuid.uuid4().hex[:12]}"
        self.tmp = tmp
        self.env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "CELERY_QUEUE": self.queue,
            "EXCHANGE_ALWAYS_OPEN": "1",
            "LEDGER_KEY_DIR": str(settings.LEDGER_KEY_DIR),
            "LEDGER_CHECKPOINT_LOG": str(settings.LEDGER_CHECKPOINT_LOG),
            "LEDGER_MAX_BLOCK_LEAVES": str(settings.LEDGER_MAX_BLOCK_LEAVES),
        }
        self.procs: dict[str, subprocess.Popen] = {}

    def _start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "ab")
        proc = subprocess.Popen(
            [CELERY, "-A", "config", *args],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[name] = proc
        return proc

    def worker(self, name: str = "worker") -> subprocess.Popen:
        """A worker process on the stack's queue; give each of several workers its own ``name``."""
        return self._start(
            name,
            [
                "worker",
                "-Q",
                self.queue,
                "--pool",
                "solo",
                "-l",
                "info",
                "--without-mingle",
                "--without-gossip",
                "-n",
                f"{name}-{self.queue}@%h",
            ],
        )

    def ready(self, name: str, timeout: float = 60) -> bool:
        """Whether the worker ``name`` says it is ready (consuming its queue) within ``timeout`` seconds."""
        log = self.tmp / f"{name}.log"
        return bool(wait_for(lambda: b" ready." in log.read_bytes(), timeout=timeout, interval=0.1))

    def beat(self) -> subprocess.Popen:
        return self._start("beat", ["beat", "-l", "info", "-s", str(self.tmp / "beat-schedule")])

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        os.killpg(proc.pid, sig)
        proc.wait(10)

    def stop(self) -> None:
        for name in list(self.procs):
            proc = self.procs[name]
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.procs.clear()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.tmp.glob("*.log"))


@contextmanager
def celery_stack(tmp: Path, *, beat: bool = True):
    stack = Stack(tmp)
    stack.worker()
    if beat:
        stack.beat()
    try:
        yield stack
    finally:
        stack.stop()


def wait_for(predicate, *, timeout: float, interval: float = 0.05):
    """Poll until ``predicate()`` is truthy; return its value, or None at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None
