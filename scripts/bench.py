"""`make bench`: orders placed per second through the API, beside a trivial DRF endpoint.

This module is the ``orders`` part and the driver; ``--only`` picks parts of
``orders,pool,ledger,settlement,live,witness`` (``pool``: ``scripts/bench_pool.py``).
The ledger part (sealing beside COPY, verification beside SHA-256) and the settlement part (settled/s beside
matched/s, match-to-settled latency with a Celery worker and beat) are in
``scripts/bench_ledger.py``; every part runs on a freshly created bench
database.

Throughput on a shared laptop or CI box means little on its own, so every
figure is printed beside a baseline measured in the same run, on the same
server, with the same clients: ``GET /api/v1/ping/`` (token authentication, a
DRF view, no query of its own). The headline is the ratio orders/s ÷ ping/s,
printed with the machine's core count.

What it does, touching none of the developer's data:

1. creates a fresh database ``exchange_bench`` on the server of DATABASE_URL
   (dropped first if a crashed run left one), migrates it, and seeds it
   through the services in a subprocess: a broker with its fee account,
   securities, one market maker per security quoting a very large two-sided
   market, and one KYC-approved investor per client connection with cash and
   an API token (KYC keys and ID scans go to a temporary directory);
2. serves it with gunicorn on a free 127.0.0.1 port (DEBUG off, market always
   open), the same REDIS_URL under its own cache key prefix;
3. drives it from ``--concurrency`` client processes (4 × cores, 8 to 16),
   one HTTP/1.1 connection each (http.client), one investor token each, in
   ``--rounds`` rounds; each round runs every phase once, so that other work
   on the machine weighs on the baseline and the orders alike. A phase warms
   up, then is measured for ``--seconds``; every client loop is bounded by
   that time and by ``--max-requests``:
   * ping: ``GET /api/v1/ping/``;
   * orders: ``POST /api/v1/orders/`` IOC buys of one lot at the best ask,
     the clients spread over the securities (the matching engine serializes
     orders per security); only 201 responses that filled count;
   * one security: the same with every client on one security;
4. prints a table and drops the database. Exit status 1 when more than 1% of
   the requests of a phase failed (non-2xx or a broken connection), or when
   the server could not be started.

Beside throughput it prints the CPU time the server spent per request
(gunicorn workers + PostgreSQL backends, read from /proc), a steadier figure
when other work shares the machine, and the load generator's own CPU time.

Gunicorn: sync workers (as ``make run``), one per client connection by
default (``--workers``). A sync worker is busy for the whole request,
including its wait for a security's row lock, so with fewer workers than
connections the requests queue behind blocked workers; a sync worker also
closes the connection after each response, so the clients reconnect per
request. ``--worker-class gthread --threads N`` keeps connections alive, to
compare. See docs/benchmarks.md for figures.

Run it through ``make bench``; by hand, with any PostgreSQL and Redis::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
    REDIS_URL=redis://127.0.0.1:6379/4 .venv/bin/python scripts/bench.py
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
# BENCH_DATABASE names it otherwise, for two benches on one server (an identifier: letters, digits, _).
BENCH_DB = os.environ.get("BENCH_DATABASE") or "exchange_bench"
if not BENCH_DB.replace("_", "").isalnum():
    raise SystemExit("BENCH_DATABASE is a plain identifier (letters, digits, underscores)")
LOT = 100
BATCH = 25  # orders per POST orders/batch/ in the "orders in batches" phase (small enough for several in a 3 s slice)
ERROR_BUDGET = 0.01


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# The bench database


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _admin(url: str, *statements: str) -> None:
    """Run statements on the server's ``postgres`` database, outside a transaction."""
    import psycopg2

    conn = psycopg2.connect(_with_database(url, "postgres"))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
    finally:
        conn.close()


def database_create(url: str) -> str:
    if _database_name(url) == BENCH_DB:
        raise SystemExit(f"DATABASE_URL already names {BENCH_DB}; the bench would drop it. Point it elsewhere.")
    _admin(url, f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)", f"CREATE DATABASE {BENCH_DB}")
    return _with_database(url, BENCH_DB)


def database_drop(url: str) -> None:
    _admin(url, f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


# --------------------------------------------------------------------------
# Seeding (runs in a subprocess, with DATABASE_URL naming the bench database)


def seeded(env: dict, *, investors: int, securities: int, net_securities: int = 0) -> dict:
    """``seed`` in a subprocess with Django set up on the bench database (``env``): its tokens, prices, modes."""
    args = ["--investors", str(investors), "--securities", str(securities), "--net-securities", str(net_securities)]
    out = subprocess.run(
        [PY, str(ROOT / "scripts" / "bench.py"), "seed", *args],
        env=env,
        cwd=ROOT,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def seed(*, investors: int, securities: int, net_securities: int = 0) -> dict:
    """Create the market through the services; return the tokens, the prices to buy at and the settlement modes.

    The last ``net_securities`` securities settle net (DvP model 3), the others gross.
    """
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from decimal import Decimal

    from balances.services import account_open, cash_deposit, securities_issue
    from core.models import Account, Broker, Role, User
    from core.tokens import token_issue
    from demo.onboarding import approved_investor
    from exchange.services import QuoteRequest, quote_publish
    from registry.models import Security

    def user(username: str, role: str, **kwargs) -> User:
        # No password: hashing one costs more than the whole seed.
        return User.objects.create_user(username=username, password=None, role=role, **kwargs)

    # Funding a bench investor is one large deposit by one person: the broker's two-person threshold is above it.
    broker = Broker.objects.create(
        code="BENCH",
        name="Bench Broker",
        fee_bps=Decimal("2.5"),
        fee_minimum=Decimal("5"),
        cash_approval_threshold=Decimal("10000000000"),
        cash_movement_limit=Decimal("10000000000"),
    )
    account_open(kind=Account.Kind.FEE, name="fees", broker=broker)
    staff = user("bench-staff", Role.BROKER_STAFF, broker=broker)
    depository = user("bench-depository", Role.DEPOSITORY_OPERATOR)
    ask_quantity = 100_000_000  # 10^6 orders of one lot: more than any run places
    prices, modes = {}, {}
    for i in range(1, securities + 1):
        net = i > securities - net_securities
        security = Security.objects.create(
            code=f"BENCH{i:02d}",
            name=f"Bench {i}",
            issuer=f"Bench {i} Ltd",
            risk_rating=3,
            reference_price=Decimal("10.00"),
            settlement_mode=Security.SettlementMode.NET if net else Security.SettlementMode.GROSS,
        )
        modes[security.code] = security.settlement_mode
        mm_user = user(f"bench-mm{i}", Role.MARKET_MAKER)
        mm = account_open(kind=Account.Kind.MARKET_MAKER, name=mm_user.username, owner=mm_user)
        cash_deposit(actor=depository, account=mm, amount=Decimal("10000000000"))
        securities_issue(actor=depository, security_code=security.code, allocations=[(mm, ask_quantity)])
        result = quote_publish(
            user=mm_user,
            request=QuoteRequest(
                security=security.code,
                bid_price=Decimal("9.99"),
                bid_quantity=ask_quantity,
                ask_price=Decimal("10.01"),
                ask_quantity=ask_quantity,
            ),
        )
        prices[security.code] = str(result.ask.price)
    # Investors are opened by one staff member and approved by another (KYC), as at a real counter.
    checker = user("bench-checker", Role.BROKER_STAFF, broker=broker)
    tokens = []
    for i in range(1, investors + 1):
        account = approved_investor(username=f"bench-investor{i}", broker=broker, maker=staff, checker=checker, seq=i)
        cash_deposit(actor=staff, account=account, amount=Decimal("1000000000"))
        tokens.append(token_issue(user=account.owner).key)
    return {"tokens": tokens, "prices": prices, "modes": modes}


# --------------------------------------------------------------------------
# The server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    env: dict
    workers: int
    worker_class: str
    threads: int
    port: int = 0
    proc: subprocess.Popen | None = None
    logfile: Path | None = None

    def start(self, token: str) -> None:
        self.port = _free_port()
        gunicorn = str(Path(PY).with_name("gunicorn"))
        cmd = [gunicorn, "config.wsgi", "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers)]
        cmd += ["--worker-class", self.worker_class]
        if self.worker_class == "gthread":
            cmd += ["--threads", str(self.threads), "--keep-alive", "30"]
        fd, name = tempfile.mkstemp(prefix="bench-gunicorn-", suffix=".log")
        self.logfile = Path(name)
        with os.fdopen(fd, "w") as out:
            self.proc = subprocess.Popen(
                cmd, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/api/v1/ping/", headers={"Authorization": f"Token {token}"})
                if conn.getresponse().status == 200:
                    conn.close()
                    return
                conn.close()
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within 60 s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        if self.logfile is None or not self.logfile.exists():
            return ""
        return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
        if self.logfile is not None:
            self.logfile.unlink(missing_ok=True)


def _proc_cpu_seconds(pid: int) -> float | None:
    """utime + stime of a local process, from /proc (None when it is gone or not ours to read)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()  # after "pid (comm) "; fields[0] is the state
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ServerCpu:
    """CPU seconds spent by the gunicorn workers and by the bench database's PostgreSQL backends.

    Throughput on a machine shared with other work moves with that work; CPU
    time per request barely does, so it gives a second, steadier ratio. Linux
    only (/proc); PostgreSQL backends count only when the server is local.
    """

    def __init__(self, master_pid: int, database_url: str) -> None:
        import psycopg2

        self.master_pid = master_pid
        self.available = Path("/proc/self/stat").exists()
        self.conn = psycopg2.connect(database_url)
        self.conn.autocommit = True

    def _pids(self) -> dict[int, str]:
        """The pids to count, each with what it is: "web" (a gunicorn worker) or "db" (a backend)."""
        workers = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat[stat.rfind(")") + 2 :].split()[1]) == self.master_pid:
                    workers.append(int(entry.name))
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            )
            backends = [row[0] for row in cur.fetchall()]
        pids = dict.fromkeys(workers, "web")
        for pid in backends:
            try:
                if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"postgres"):
                    pids[pid] = "db"
            except OSError:
                pass
        return pids

    def sample(self) -> dict[int, tuple[str, float]]:
        if not self.available:
            return {}
        out = {}
        for pid, kind in self._pids().items():
            seconds = _proc_cpu_seconds(pid)
            if seconds is not None:
                out[pid] = (kind, seconds)
        return out

    @staticmethod
    def spent(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
        """CPU seconds spent between two samples, by kind."""
        out = {"web": 0.0, "db": 0.0}
        for pid, (kind, seconds) in after.items():
            out[kind] += seconds - before.get(pid, (kind, 0.0))[1]
        return out

    def close(self) -> None:
        self.conn.close()


# --------------------------------------------------------------------------
# The clients


@dataclass(frozen=True)
class ClientJob:
    port: int
    token: str
    kind: str  # "ping", "order" or "batch" (BATCH orders per request)
    security: str
    price: str
    tag: str  # keeps client_order_id unique across phases and clients
    start_at: float  # time.time() at which every client starts its warm-up
    stop_at: float
    warmup_until: float
    max_requests: int


@dataclass
class ClientResult:
    latencies: list[float] = field(default_factory=list)
    ok: int = 0  # pings answered 200, orders answered 201 and filled
    unfilled: int = 0  # orders answered 2xx that did not fill
    errors: dict[str, int] = field(default_factory=dict)
    first_error: str = ""
    last_done: float = 0.0
    cpu_seconds: float = 0.0  # the client's own CPU time over its measured requests


def _client(job: ClientJob) -> ClientResult:
    """One connection, one investor: requests back to back until the time or count limit."""
    result = ClientResult()
    headers = {"Authorization": f"Token {job.token}", "Accept": "application/json"}
    if job.kind in ("order", "batch"):
        headers["Content-Type"] = "application/json"
    conn = http.client.HTTPConnection("127.0.0.1", job.port, timeout=30)
    seq = 0
    _sleep_until(job.start_at)
    measured = 0
    cpu_from = None
    while measured < job.max_requests:
        begin = time.time()
        if begin >= job.stop_at:
            break
        if cpu_from is None and begin >= job.warmup_until:
            cpu_from = time.process_time()
        seq += 1
        if job.kind == "ping":
            method, path, body = "GET", "/api/v1/ping/", None
        elif job.kind == "batch":
            method, path = "POST", "/api/v1/orders/batch/"
            body = json.dumps(
                {
                    "orders": [
                        {
                            "security": job.security,
                            "side": "buy",
                            "quantity": LOT,
                            "limit_price": job.price,
                            "time_in_force": "IOC",
                            "client_order_id": f"{job.tag}-{seq}-{i}",
                        }
                        for i in range(BATCH)
                    ]
                }
            )
        else:
            method, path = "POST", "/api/v1/orders/"
            body = json.dumps(
                {
                    "security": job.security,
                    "side": "buy",
                    "quantity": LOT,
                    "limit_price": job.price,
                    "time_in_force": "IOC",
                    "client_order_id": f"{job.tag}-{seq}",
                }
            )
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            status = resp.status
        except (OSError, http.client.HTTPException) as exc:
            conn.close()  # http.client reconnects on the next request
            status, data = 0, repr(exc).encode()
        done = time.time()
        if begin < job.warmup_until:
            continue
        measured += 1
        result.latencies.append(done - begin)
        result.last_done = done
        if job.kind == "ping" and status == 200:
            result.ok += 1
        elif job.kind == "batch" and status == 200:
            try:
                results = json.loads(data)["results"]
            except (ValueError, KeyError):
                results = []
            filled = sum(1 for r in results if r.get("status") == 201 and r["order"]["filled_quantity"] == LOT)
            result.ok += filled
            result.unfilled += len(results) - filled
        elif job.kind == "order" and 200 <= status < 300:
            try:
                order = json.loads(data)
            except ValueError:
                order = {}
            if status == 201 and order.get("status") == "filled" and order.get("filled_quantity") == LOT:
                result.ok += 1
            else:
                result.unfilled += 1
        else:
            key = str(status or "connection")
            result.errors[key] = result.errors.get(key, 0) + 1
            if not result.first_error:
                result.first_error = f"{status}: {data[:300].decode(errors='replace')}"
    if cpu_from is not None:
        result.cpu_seconds = time.process_time() - cpu_from
    conn.close()
    return result


@dataclass
class Phase:
    """One kind of traffic, summed over the rounds."""

    name: str
    requests: int = 0
    ok: int = 0
    unfilled: int = 0
    seconds: float = 0.0
    cpu_seconds: dict[str, float] = field(default_factory=lambda: {"web": 0.0, "db": 0.0})
    client_cpu_seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    first_error: str = ""
    latencies: list[float] = field(default_factory=list)
    round_rates: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    def cpu_ms(self, kind: str | None = None) -> float:
        """Server CPU time per successful request: gunicorn workers ("web"), PostgreSQL backends ("db"), or both."""
        seconds = sum(self.cpu_seconds.values()) if kind is None else self.cpu_seconds[kind]
        return seconds / self.ok * 1000 if self.ok else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def percentile_ms(self, pct: float) -> float:
        values = sorted(self.latencies)
        if not values:
            return 0.0
        return values[min(len(values) - 1, max(0, round(pct / 100 * len(values)) - 1))] * 1000

    def add(
        self, results: list[ClientResult], *, measured_from: float, stop_at: float, cpu_seconds: dict[str, float]
    ) -> None:
        ok = sum(r.ok for r in results)
        latencies = [x for r in results for x in r.latencies]
        # The window ends when the last request started before stop_at is answered.
        seconds = max([stop_at, *(r.last_done for r in results)]) - measured_from if latencies else 0.0
        self.requests += len(latencies)
        self.ok += ok
        self.unfilled += sum(r.unfilled for r in results)
        self.seconds += seconds
        for kind, spent in cpu_seconds.items():
            self.cpu_seconds[kind] += spent
        self.client_cpu_seconds += sum(r.cpu_seconds for r in results)
        self.latencies += latencies
        self.round_rates.append(ok / seconds if seconds else 0.0)
        for r in results:
            for key, n in r.errors.items():
                self.errors[key] = self.errors.get(key, 0) + n
            self.first_error = self.first_error or r.first_error


def _sleep_until(moment: float) -> None:
    while (left := moment - time.time()) > 0:
        time.sleep(min(left, 0.05))


def run_slice(
    pool, cpu: ServerCpu, phase: Phase, *, kind: str, tokens: list[str], securities: list[tuple[str, str]], **job
) -> None:
    """Every client runs ``kind`` requests for one warm-up and one measured window; add the results to ``phase``."""
    start_at = time.time() + 0.2  # time for every client process to pick up its job
    warmup_until = start_at + job.pop("warmup")
    stop_at = warmup_until + job.pop("seconds")
    jobs = [
        ClientJob(
            token=token,
            kind=kind,
            security=securities[i % len(securities)][0],
            price=securities[i % len(securities)][1],
            tag=f"{''.join(c for c in phase.name if c.isalnum())[:12]}-{len(phase.round_rates)}-{i}",
            start_at=start_at,
            warmup_until=warmup_until,
            stop_at=stop_at,
            **job,
        )
        for i, token in enumerate(tokens)
    ]
    pending = pool.map_async(_client, jobs)
    _sleep_until(warmup_until)
    before = cpu.sample()
    _sleep_until(stop_at)
    after = cpu.sample()
    results = pending.get(timeout=stop_at - time.time() + 60)
    phase.add(results, measured_from=warmup_until, stop_at=stop_at, cpu_seconds=ServerCpu.spent(before, after))


# --------------------------------------------------------------------------
# The run


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def _report(*, cores: int, args, phases: list[Phase], load: tuple[float, float]) -> None:
    ping = phases[0]
    workers = f"{args.workers} {args.worker_class}"
    if args.worker_class == "gthread":
        workers += f" × {args.threads} threads"
    print()
    print(f"cores {cores}   gunicorn workers {workers}   concurrency {args.concurrency}   securities {args.securities}")
    print(
        f"{args.rounds} rounds of {args.seconds:g} s per phase; "
        f"load average {load[0]:.2f} before the run, {load[1]:.2f} after"
    )
    header = (
        f"{'phase':<22}{'req/s':>8}{'ratio':>7}{'p50 ms':>8}{'p99 ms':>8}{'requests':>9}{'errors':>7}"
        f"{'CPU ms web+db':>16}{'ratio':>7}   ratio by round"
    )
    print(header)
    for p in phases:
        by_round = " ".join(f"{_ratio(r, q):.3f}" for r, q in zip(p.round_rates, ping.round_rates, strict=True))
        cpu = f"{p.cpu_ms('web'):.2f}+{p.cpu_ms('db'):.2f}"
        print(
            f"{p.name:<22}{p.rate:>8.1f}{_ratio(p.rate, ping.rate):>7.3f}"
            f"{p.percentile_ms(50):>8.1f}{p.percentile_ms(99):>8.1f}{p.requests:>9}{p.error_count:>7}"
            f"{cpu:>16}{_ratio(ping.cpu_ms(), p.cpu_ms()):>7.3f}   {by_round}"
        )
    orders = phases[1]
    print()
    print(
        f"orders/s {orders.rate:.1f} / ping req/s {ping.rate:.1f} = ratio {_ratio(orders.rate, ping.rate):.3f}"
        f" (aim ≥ 0.35) on {cores} cores; by server CPU per request {_ratio(ping.cpu_ms(), orders.cpu_ms()):.3f}"
    )
    print(
        "req/s counts pings answered 200 and orders answered 201 and filled (in batches: filled orders, so CPU ms is"
        " per order there); CPU ms is server CPU time per request"
        " (gunicorn workers + PostgreSQL backends); the load generator used "
        + ", ".join(f"{_ratio(p.client_cpu_seconds * 1000, p.requests):.2f}" for p in phases)
        + " ms CPU per request"
    )
    for p in phases:
        if p.unfilled:
            print(f"  {p.name}: {p.unfilled} orders accepted but not filled")
        if p.errors:
            detail = ", ".join(f"{k}×{n}" for k, n in sorted(p.errors.items()))
            print(f"  {p.name}: errors {detail}; first: {p.first_error}")


PARTS = ("orders", "pool", "ledger", "settlement", "live", "witness")


def _migrate(env: dict) -> None:
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], env=env, cwd=ROOT, check=True)


def _phase_figures(p: Phase) -> dict:
    return {
        "rate": p.rate,
        "ok": p.ok,
        "requests": p.requests,
        "errors": p.error_count,
        "p50_ms": p.percentile_ms(50),
        "p99_ms": p.percentile_ms(99),
    }


def bench_orders(args, env: dict, cores: int, results: dict) -> int:
    """The orders part: ping and orders through gunicorn, in rounds (the database is fresh and migrated)."""
    t0 = time.monotonic()
    load_before = os.getloadavg()[0]
    server = Server(env=env, workers=args.workers, worker_class=args.worker_class, threads=args.threads)
    cpu = None
    try:
        log("orders: seeding through the services")
        market = seeded(env, investors=args.concurrency, securities=args.securities)
        tokens, securities = market["tokens"], sorted(market["prices"].items())
        log(f"ready in {time.monotonic() - t0:.1f}s; starting gunicorn")
        server.start(tokens[0])
        cpu = ServerCpu(server.proc.pid, env["DATABASE_URL"])
        # Phases alternate within each round so that a change in the machine's
        # speed (other work on it) touches the baseline and the orders alike.
        plan = [(Phase("ping"), "ping", securities), (Phase("orders"), "order", securities)]
        if args.single_security:
            plan.append((Phase("orders, one security"), "order", securities[:1]))
        if args.batch:
            plan.append((Phase(f"orders in batches of {BATCH}"), "batch", securities))
        with multiprocessing.get_context("fork").Pool(len(tokens)) as pool:
            for n in range(args.rounds):
                log(f"round {n + 1} of {args.rounds}")
                for phase, kind, where in plan:
                    run_slice(
                        pool,
                        cpu,
                        phase,
                        kind=kind,
                        tokens=tokens,
                        securities=where,
                        port=server.port,
                        warmup=args.warmup if n == 0 else min(args.warmup, 0.5),
                        seconds=args.seconds,
                        max_requests=args.max_requests,
                    )
        phases = [phase for phase, _, _ in plan]
        _report(cores=cores, args=args, phases=phases, load=(load_before, os.getloadavg()[0]))
        results["orders"] = {
            "phases": {
                p.name: {**_phase_figures(p), "round_rates": p.round_rates, "cpu_ms": p.cpu_ms()} for p in phases
            },
            "concurrency": args.concurrency,
            "workers": args.workers,
        }
        failed = [p.name for p in phases if p.requests == 0 or p.error_count > ERROR_BUDGET * p.requests]
        if failed:
            print(f"FAILED: more than {ERROR_BUDGET:.0%} of the requests failed in: {', '.join(failed)}")
            print(server.log_tail())
            return 1
        return 0
    finally:
        if cpu is not None:
            cpu.close()
        server.stop()


def bench(args) -> int:
    """Run the selected parts, each on a freshly created and migrated bench database; print the summary
    table first, then each part's own tables; save the run beside docs/benchmarks.md."""
    import contextlib
    import io

    import bench_ledger
    import bench_summary

    url = os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("DATABASE_URL is not set; run `make bench`.")
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown or not parts:
        raise SystemExit(f"--only takes a comma-separated list of {', '.join(PARTS)}; not {', '.join(unknown)}")
    cores = os.cpu_count() or 1
    args.concurrency = args.concurrency or min(16, max(8, 4 * cores))
    args.workers = args.workers or args.concurrency
    started = time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime())
    load_before = os.getloadavg()[0]
    env = dict(os.environ)
    env.pop("DJANGO_DEBUG", None)
    env["EXCHANGE_ALWAYS_OPEN"] = "1"
    env["CACHE_KEY_PREFIX"] = "exchange-bench"
    # The bench's own Celery queue: the seals its commits wake (ledger.wakeup) go to no other worker.
    env["CELERY_QUEUE"] = f"exchange-bench-{os.getpid()}"
    # Personal-data keys (ID scans are in the database, encrypted with them), the
    # ledger's signing key and its external checkpoint log: the bench's own, never
    # the developer's.
    scratch = tempfile.TemporaryDirectory(prefix="exchange-bench-")
    env["KYC_KEY_DIR"] = str(Path(scratch.name) / "keys")
    env["LEDGER_KEY_DIR"] = str(Path(scratch.name) / "ledger-keys")
    env["LEDGER_CHECKPOINT_LOG"] = str(Path(scratch.name) / "checkpoints.log")
    env.pop("LEDGER_SIGNING_KEY", None)
    t0 = time.monotonic()
    status = 0
    results: dict = {}
    details = io.StringIO()
    try:
        for part in parts:
            env["DATABASE_URL"] = database_create(url)
            Path(env["LEDGER_CHECKPOINT_LOG"]).unlink(missing_ok=True)
            log(f"{part}: created database {BENCH_DB}; migrating")
            _migrate(env)
            with contextlib.redirect_stdout(details):
                if part == "orders":
                    status |= bench_orders(args, env, cores, results)
                elif part == "pool":
                    import bench_pool

                    log("pool: make run's web server with its connection pool and without")
                    results["pool"] = bench_pool.run_pool(args, env)
                    bench_pool.report_pool(results["pool"], cores)
                    pool_phases = results["pool"]["phases"].values()
                    if any(p["requests"] == 0 or p["errors"] > ERROR_BUDGET * p["requests"] for p in pool_phases):
                        print("FAILED: requests failed in the pool part")
                        status = 1
                elif part == "witness":
                    import bench_witness

                    witness_logs = Path(scratch.name) / "witness"
                    witness_logs.mkdir(exist_ok=True)
                    results["witness"] = bench_witness.run_witness(args, env, witness_logs)
                    bench_witness.report_witness(results["witness"], cores)
                elif part == "live":
                    import bench_live

                    live_logs = Path(scratch.name) / "live"
                    live_logs.mkdir(exist_ok=True)
                    results["live"] = bench_live.run_live(args, env, live_logs)
                    bench_live.report_live(results["live"], cores)
                elif part == "ledger":
                    log(f"ledger: writing {args.entries} entries, sealing and verifying them")
                    results["ledger"] = bench_ledger.run_ledger(args, env)
                    bench_ledger.report_ledger(results["ledger"], cores)
                else:
                    celery_logs = Path(scratch.name) / "celery"
                    celery_logs.mkdir(exist_ok=True)
                    results["settlement"] = result = bench_ledger.run_settlement(args, env, celery_logs)
                    bench_ledger.report_settlement(result, cores)
                    if result["load"]["errors"] > ERROR_BUDGET * max(1, result["load"]["requests"]):
                        print(f"FAILED: orders failed under settlement load; first: {result['load']['first_error']}")
                        print(result.get("server_log", ""))
                        status = 1
        load = (load_before, os.getloadavg()[0])
        rows = bench_summary.summary_rows(results)
        bench_summary.print_summary(rows, cores=cores, load=load, started=started)
        print(details.getvalue())
        options = {k: v for k, v in vars(args).items() if k not in ("command", "compare")}
        saved = bench_summary.save(rows, results, cores=cores, load=load, args={**options, "started": started})
        print(f"saved to {saved.relative_to(ROOT) if saved.is_relative_to(ROOT) else saved}")
        log(f"done in {time.monotonic() - t0:.1f}s")
        return status
    finally:
        if details.tell() and not results:  # a part failed before the summary: show what it printed
            print(details.getvalue())
        if not args.keep:
            database_drop(url)
        _queue_drop(env)
        scratch.cleanup()


def _queue_drop(env: dict) -> None:
    """Delete the bench's Celery queue (the seals its commits woke, with no worker to take them)."""
    try:
        import redis

        url = env.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        client = (
            redis.Redis(unix_socket_path=url[len("unix://") :])
            if url.startswith("unix://")
            else redis.Redis.from_url(url)
        )
        # the queue's list and kombu's lists of its other priorities (queue + "\x06\x16" + step)
        client.delete(env["CELERY_QUEUE"], *client.keys(env["CELERY_QUEUE"] + "\x06\x16*"))
    except Exception as exc:  # a left-over queue key is harmless
        log(f"could not delete the Celery queue {env['CELERY_QUEUE']}: {exc}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    seed_parser = sub.add_parser("seed", help="(internal) seed the bench database and print the tokens as JSON")
    seed_parser.add_argument("--investors", type=int, required=True)
    seed_parser.add_argument("--securities", type=int, required=True)
    seed_parser.add_argument("--net-securities", type=int, default=0)
    parser.add_argument("--workers", type=int, default=0, help="gunicorn workers (default: one per connection)")
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"])
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker")
    parser.add_argument("--concurrency", type=int, default=0, help="client connections (default 4 × cores, 8 to 16)")
    parser.add_argument("--securities", type=int, default=4, help="securities the order clients spread over")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; each runs every phase once")
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per phase and round")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds (first round; 0.5 s later)")
    parser.add_argument("--max-requests", type=int, default=10_000, help="per client, phase and round")
    parser.add_argument("--no-single-security", dest="single_security", action="store_false")
    parser.add_argument(
        "--no-batch", dest="batch", action="store_false", help=f"orders: skip the POST orders/batch/ phase ({BATCH})"
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    parser.add_argument("--only", default=",".join(PARTS), help=f"parts to run, of {','.join(PARTS)} (default all)")
    parser.add_argument("--entries", type=int, default=20_000, help="ledger: waiting entries to seal and verify")
    parser.add_argument("--verify-repeats", type=int, default=2, help="ledger: verification runs (the best counts)")
    parser.add_argument(
        "--settle-seconds", type=float, default=12.0, help="settlement: seconds of orders, for the backlog and again"
    )
    parser.add_argument(
        "--drain-seconds", type=float, default=15.0, help="settlement: at most this long for gross settlement to drain"
    )
    parser.add_argument("--live-pages", type=int, default=200, help="live: open market-watch pages")
    parser.add_argument("--live-seconds", type=float, default=20.0, help="live: measured seconds per mode")
    parser.add_argument("--profile", help="ledger, settlement: write cProfile stats to PREFIX.{seal,verify,gross}.prof")
    parser.add_argument(
        "--compare",
        nargs=2,
        metavar=("A", "B"),
        help="print two saved runs (docs/bench-runs/*.json) side by side, and run nothing",
    )
    args = parser.parse_args()
    if args.compare:
        import bench_summary

        return bench_summary.compare(*args.compare)
    if args.command == "seed":
        print(
            json.dumps(seed(investors=args.investors, securities=args.securities, net_securities=args.net_securities))
        )
        return 0
    return bench(args)


if __name__ == "__main__":
    sys.modules.setdefault("bench", sys.modules[__name__])  # bench_ledger imports this module by name
    sys.exit(main())
