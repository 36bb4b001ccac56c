"""`make bench`, ledger and settlement parts: sealing, verification and settlement throughput.

Run by ``scripts/bench.py`` (``--only ledger,settlement``), which owns the
bench database, the environment and the report; the measurements that need
Django run in subprocesses of this script, against the bench database, and
print their figures as one JSON line. Each figure has a baseline of the same
run:

* **seal**: sealed entries per second of ``ledger.services.block_seal`` (in
  blocks of ``LEDGER_MAX_BLOCK_LEAVES``, as the ``seal`` task does) over
  ``--entries`` waiting entries, beside a PostgreSQL ``COPY`` of as many rows
  of the same width (the entries' own columns and bytes) into a scratch table;
* **verify**: entries per second of the ``ledger_verify`` command over that
  sealed ledger, beside raw ``hashlib.sha256`` over the same canonical bytes;
* **settlement**: gross (``settle_trades`` chunks over as many processes as
  the worker has, as ``settle_block`` shares a sealed block out) and
  net (``settle_net`` → ``net_settle``) settled trades per second over a
  sealed backlog, beside the matched trades per second of the same run; then
  the latency from match to settled under sustained orders with a real Celery
  worker and beat.
"""

from __future__ import annotations

import io
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import bench

ROOT = bench.ROOT
PY = bench.PY
CELERY = str(Path(PY).with_name("celery"))
TRADES_PER_TX = 250  # trades written per transaction when filling the ledger (a busy block of matching)


def _django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def _run_json(env: dict, *args: str) -> dict:
    """Run a sub-command of this script against the bench database; return the JSON it prints last."""
    out = subprocess.run([PY, __file__, *args], env=env, cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


# --------------------------------------------------------------------------
# Ledger: fill, seal, verify (runs in a subprocess with Django)


def _ledger_fill(entries: int) -> None:
    """Write ``entries`` waiting entries shaped as the matching and settlement services write them.

    Half are TRADE entries with their trade rows (as ``exchange.services``
    writes them: ids first, entries, then trades), half gross SETTLEMENT
    entries of those trades, ``TRADES_PER_TX`` trades per transaction. Not
    through order entry: that costs about 20 ms per trade, and only the
    ledger is measured here. The business rows stay consistent, so
    ``ledger_verify`` finds nothing to report.
    """
    from decimal import Decimal

    from django.db import connection, transaction
    from django.utils import timezone

    from balances.entries import CashAmount
    from balances.services import account_open
    from core.models import Account, Broker, Role, User
    from exchange.entries import TradeEntry
    from exchange.models import Trade
    from ledger.services import entries_write
    from registry.models import Security
    from settlement.entries import GrossSettlement
    from settlement.models import Settlement

    broker = Broker.objects.create(code="LBENCH", name="Ledger Bench", fee_bps=Decimal("2.5"), fee_minimum=Decimal("5"))
    fee = account_open(kind=Account.Kind.FEE, name="fees", broker=broker)
    security = Security.objects.create(
        code="LBENCH01", name="Ledger Bench", issuer="Ledger Bench Ltd", risk_rating=3, reference_price=Decimal("10")
    )
    parties = []
    for name in ("ledger-bench-buyer", "ledger-bench-seller"):
        user = User.objects.create_user(username=name, password=None, role=Role.MARKET_MAKER)
        # Under the broker whose fee account takes their fees, as settlement pays them (ledger_verify checks it).
        parties.append(account_open(kind=Account.Kind.MARKET_MAKER, name=name, owner=user, broker=broker))
    buyer, seller = parties
    price, quantity, fee_amount = Decimal("10.01"), 100, Decimal("5.00")
    value = price * quantity
    written = 0
    while written < entries:
        n = min(TRADES_PER_TX, max(1, (entries - written) // 2))
        with transaction.atomic():
            now = timezone.now()
            with connection.cursor() as cur:
                cur.execute(
                    "SELECT nextval(pg_get_serial_sequence('exchange_trade', 'id')) FROM generate_series(1, %s)", [n]
                )
                ids = [row[0] for row in cur.fetchall()]
            trade_records = [
                TradeEntry(
                    trade_id=tid,
                    security=security.code,
                    price=price,
                    quantity=quantity,
                    buyer=buyer.code,
                    seller=seller.code,
                    buyer_fee=fee_amount,
                    seller_fee=fee_amount,
                    buy_order_id=tid,
                    sell_order_id=None,
                    quote_id=1,
                    matched_at=now,
                )
                for tid in ids
            ]
            trade_entries = entries_write(trade_records, recorded_at=now)
            Trade.objects.bulk_create(
                Trade(
                    id=tid,
                    security=security,
                    price=price,
                    quantity=quantity,
                    buyer=buyer,
                    seller=seller,
                    buyer_fee=fee_amount,
                    seller_fee=fee_amount,
                    status=Trade.Status.SETTLED,
                    entry=entry,
                    matched_at=now,
                )
                for tid, entry in zip(ids, trade_entries, strict=True)
            )
            fees = [CashAmount(account=fee.code, amount=fee_amount)] * 2
            settlement_records = [
                GrossSettlement(
                    mode="gross",
                    trade_id=tid,
                    security=security.code,
                    quantity=quantity,
                    price=price,
                    buyer=buyer.code,
                    seller=seller.code,
                    buyer_pays=value + fee_amount,
                    seller_receives=value - fee_amount,
                    fees=fees,
                    settled_at=now,
                )
                for tid in ids
            ]
            settlement_entries = entries_write(settlement_records, recorded_at=now)
            Settlement.objects.bulk_create(
                Settlement(trade_id=tid, mode=Settlement.Mode.GROSS, entry=entry, settled_at=now)
                for tid, entry in zip(ids, settlement_entries, strict=True)
            )
        written += 2 * n


def _copy_baseline(rows: list[tuple]) -> float:
    """Seconds to COPY ``rows`` (id, kind, canonical, leaf hash, recorded at) into a fresh scratch table.

    The table has the columns and primary key of ``ledger_entry``, and is
    logged like it; the text of the COPY is built before the clock starts.
    """
    from django.db import connection

    buf = io.StringIO()
    for eid, kind, data, leaf, at in rows:
        buf.write(f"{eid}\t{kind}\t\\\\x{bytes(data).hex()}\t\\\\x{bytes(leaf).hex()}\t{at.isoformat()}\n")
    text = buf.getvalue()
    raw = connection.connection  # psycopg2
    with raw.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_copy")
        cur.execute(
            "CREATE TABLE bench_copy (id bigint PRIMARY KEY, kind varchar(32) NOT NULL, canonical bytea NOT NULL, "
            "leaf_hash bytea NOT NULL, recorded_at timestamptz NOT NULL)"
        )
    raw.commit()
    began = time.perf_counter()
    with raw.cursor() as cur:
        cur.copy_expert("COPY bench_copy (id, kind, canonical, leaf_hash, recorded_at) FROM STDIN", io.StringIO(text))
    raw.commit()
    seconds = time.perf_counter() - began
    with raw.cursor() as cur:
        cur.execute("DROP TABLE bench_copy")
    raw.commit()
    return seconds


def _sha256_baseline(blobs: list[bytes]) -> float:
    """Seconds for raw hashlib SHA-256 of each blob with the leaf prefix, as a verifier must at least do."""
    import hashlib

    sha256 = hashlib.sha256
    began = time.perf_counter()
    for data in blobs:
        sha256(b"\x00" + data).digest()
    return time.perf_counter() - began


def _parse_floor(blobs: list[bytes]) -> float:
    """Seconds for orjson to parse each blob once, as the business checks must (every TRADE and SETTLEMENT entry):
    what the verification cannot do without, beside SHA-256, measured the same way."""
    import orjson

    loads = orjson.loads
    began = time.perf_counter()
    for data in blobs:
        loads(data)
    return time.perf_counter() - began


def _read_baseline(leaves: int) -> float:
    """Seconds to only read the sealed entries in leaf order, with the query ``ledger_verify`` streams them by."""
    from django.db import connection

    from ledger.verification import _leaves

    connection.close()
    began = time.perf_counter()
    for _ in _leaves(0, leaves):
        pass
    return time.perf_counter() - began


def ledger_measure(*, entries: int, repeats: int, profile: str | None) -> dict:
    """Fill, seal (timed), verify (timed), with their baselines; the figures as a dict."""
    _django()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, transaction

    from ledger.models import Entry, EntryKind, PendingEntry
    from ledger.services import block_seal, entry_append

    # Genesis first (creating the node key is a one-off), so the timed seals are ordinary ones.
    with transaction.atomic():
        entry_append(kind=EntryKind.HALT, payload={"reason": "ledger bench genesis"})  # no business row to match
    while block_seal() is not None:
        pass
    t0 = time.perf_counter()
    _ledger_fill(entries)
    fill_seconds = time.perf_counter() - t0
    waiting = PendingEntry.objects.count()
    rows = list(
        Entry.objects.filter(id__in=PendingEntry.objects.values("entry_id"))
        .order_by("id")
        .values_list("id", "kind", "canonical", "leaf_hash", "recorded_at")
    )
    copy_seconds = [_copy_baseline(rows)]
    connection.close()  # the seals start on a fresh connection, as a task would

    profiler = _profiler(profile)
    blocks = sealed = 0
    began = time.perf_counter()
    if profiler:
        profiler.enable()
    while (result := block_seal()) is not None:
        blocks += 1
        sealed += result.leaves
    if profiler:
        profiler.disable()
        profiler.dump_stats(f"{profile}.seal.prof")
    seal_seconds = time.perf_counter() - began
    copy_seconds.append(_copy_baseline(rows))

    mean_width = sum(len(bytes(data)) for _, _, data, _, _ in rows) / max(1, len(rows))
    entries_filled = len(rows)
    del rows
    total_leaves = Entry.objects.count()
    blobs_all = [bytes(d) for d in Entry.objects.order_by("id").values_list("canonical", flat=True)]
    # The statistics autovacuum keeps on a live exchange (a bulk fill just before would leave none and
    # the planner would guess); not timed.
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    verify_seconds, serial_seconds, sha_seconds, read_seconds, chain_seconds, verified = [], [], [], [], [], 0
    parse_seconds = []
    for n in range(repeats):
        connection.close()
        out = io.StringIO()
        profiler = _profiler(profile if n == 0 else None)
        began = time.perf_counter()
        if profiler:
            profiler.enable()
        call_command("ledger_verify", "--no-progress", stdout=out)
        if profiler:
            profiler.disable()
            profiler.dump_stats(f"{profile}.verify.prof")
        verify_seconds.append(time.perf_counter() - began)
        text = out.getvalue()
        if "ledger OK" not in text:
            raise RuntimeError(f"ledger_verify did not pass: {text}")
        connection.close()
        began = time.perf_counter()
        call_command("ledger_verify", "--no-progress", "--serial", stdout=io.StringIO())
        serial_seconds.append(time.perf_counter() - began)
        verified = int(text.split(" leaves")[0].rsplit(" ", 1)[1])
        sha_seconds.append(_sha256_baseline(blobs_all))
        parse_seconds.append(_parse_floor(blobs_all))
        read_seconds.append(_read_baseline(total_leaves))
        chain_seconds.append(_chain_only())
    return {
        "entries": entries_filled,
        "waiting": waiting,
        "fill_seconds": fill_seconds,
        "block_leaves": settings.LEDGER_MAX_BLOCK_LEAVES,
        "blocks": blocks,
        "sealed": sealed,
        "seal_seconds": seal_seconds,
        "copy_seconds": copy_seconds,
        "mean_width": mean_width,
        "verified": verified,
        "total_leaves": total_leaves,
        "verify_seconds": verify_seconds,
        "verify_serial_seconds": serial_seconds,
        "sha_seconds": sha_seconds,
        "parse_seconds": parse_seconds,
        "read_seconds": read_seconds,
        "chain_seconds": chain_seconds,
        "verify_memory": _verify_memory(),
    }


def _chain_only() -> float:
    """Seconds of the fast pass's chain half alone (leaves, tree, blocks, signatures; no business rows)."""
    from django.db import connection

    from core.snapshot import read_only_snapshot
    from ledger.fast_verification import chain_ok
    from ledger.verification import Report

    connection.close()
    began = time.perf_counter()
    with read_only_snapshot():
        chain_ok(Report())
    return time.perf_counter() - began


def _verify_memory() -> dict:
    """Peak memory (KiB) of ``ledger_verify`` in a fresh process, beside the same process that only starts
    Django: what verifying needs on top. Read from ``VmHWM`` (the peak of this process's own memory, which an
    exec starts afresh; ``ru_maxrss`` would carry over the bench's own peak); the forked workers' largest
    peak (``RUSAGE_CHILDREN``) counts the pages each shares with its parent, so it is an upper bound."""
    code = (
        "import os, resource, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings');"
        " django.setup(); from ledger.verification import ledger_verify; {work};"
        " hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1];"
        " print(hwm, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )

    def peak(work: str) -> tuple[int, int]:
        run = subprocess.run(
            [PY, "-c", code.format(work=work)], cwd=ROOT, env=os.environ, capture_output=True, text=True, check=True
        )
        own, children = run.stdout.split()[-2:]
        return int(own), int(children)

    idle, _ = peak("pass")
    busy, child = peak("assert ledger_verify(parallel=True).ok")
    return {"idle_kib": idle, "verify_kib": busy, "worker_kib": child}


def _profiler(path: str | None):
    if not path:
        return None
    import cProfile

    return cProfile.Profile()


# --------------------------------------------------------------------------
# Settlement capacity (runs in a subprocess with Django)


def _settle_chunk(trade_ids: list[int]) -> int:
    from django.db import connection

    from settlement.tasks import settle_trades

    connection.ensure_connection()
    return settle_trades(trade_ids)


def _settle_one_by_one(trade_ids: list[int]) -> int:
    """The baseline: the same chunk settled as before batching, each trade in its own transaction."""
    from django.db import connection

    from settlement.services import trade_settle

    connection.ensure_connection()
    return sum(trade_settle(trade_id=tid) for tid in trade_ids)


def settle_capacity(*, profile: str | None) -> dict:
    """Seal what waits, then settle the backlog through the task bodies: gross per block, then net."""
    _django()
    from django.db.models import Count

    from exchange.models import Trade
    from ledger.services import block_seal
    from registry.models import Security
    from settlement.services import trades_ready
    from settlement.tasks import SETTLE_CHUNK, settle_net

    heights = []
    while (result := block_seal()) is not None:
        heights.append(result.block.height)
    pending = dict(
        Trade.objects.filter(status=Trade.Status.MATCHED)
        .values_list("security__settlement_mode")
        .annotate(n=Count("id"))
        .values_list("security__settlement_mode", "n")
    )
    profiler = _profiler(profile)
    if profiler:
        profiler.enable()
    # As the worker settles a sealed block: chunks of SETTLE_CHUNK trades (settle_block with
    # share_out) over as many processes as the worker has (serially when profiling).
    ids = [tid for h in heights for tid in trades_ready(block_height=h).values_list("id", flat=True)]
    # Every other trade is the baseline, settled one trade a transaction as before batching: two alike
    # halves of one backlog, so their rates compare within the run. Each half in chunks, as a worker has.
    halves = ids[0::2], ids[1::2]
    batched, single = ([half[i : i + SETTLE_CHUNK] for i in range(0, len(half), SETTLE_CHUNK)] for half in halves)
    if profiler:
        began = time.perf_counter()
        gross = sum(_settle_chunk(chunk) for chunk in batched)
        gross_seconds = time.perf_counter() - began
        began = time.perf_counter()
        one_by_one = sum(_settle_one_by_one(chunk) for chunk in single)
        one_by_one_seconds = time.perf_counter() - began
    else:
        import multiprocessing

        from django.db import connections

        connections.close_all()  # the forked processes open their own
        with multiprocessing.get_context("fork").Pool(CeleryStack.concurrency) as pool:
            # The processes up and connected before the clock starts, as a running worker's are.
            pool.map(_settle_chunk, [[] for _ in range(CeleryStack.concurrency)], chunksize=1)
            began = time.perf_counter()
            gross = sum(pool.map(_settle_chunk, batched, chunksize=1))
            gross_seconds = time.perf_counter() - began
            began = time.perf_counter()
            one_by_one = sum(pool.map(_settle_one_by_one, single, chunksize=1))
            one_by_one_seconds = time.perf_counter() - began
    if profiler:
        profiler.disable()
        profiler.dump_stats(f"{profile}.gross.prof")
    began = time.perf_counter()
    net = settle_net()
    net_seconds = time.perf_counter() - began
    left = Trade.objects.filter(status=Trade.Status.MATCHED).count()
    securities = dict(
        Security.objects.values_list("settlement_mode").annotate(n=Count("id")).values_list("settlement_mode", "n")
    )
    return {
        "blocks": len(heights),
        "pending_gross": pending.get(Security.SettlementMode.GROSS, 0),
        "pending_net": pending.get(Security.SettlementMode.NET, 0),
        "gross": gross,
        "gross_seconds": gross_seconds,
        "one_by_one": one_by_one,
        "one_by_one_seconds": one_by_one_seconds,
        "net": net,
        "net_seconds": net_seconds,
        "net_securities": securities.get(Security.SettlementMode.NET, 0),
        "left": left,
    }


def settle_latency(*, since: float, until: float) -> dict:
    """Match-to-settled latencies of the trades matched in [since, until), and what is still pending."""
    _django()
    import datetime as dt

    from exchange.models import Trade
    from settlement.models import Settlement

    lo = dt.datetime.fromtimestamp(since, dt.UTC)
    hi = dt.datetime.fromtimestamp(until, dt.UTC)
    rows = Trade.objects.filter(matched_at__gte=lo, matched_at__lt=hi).values_list(
        "security__settlement_mode", "matched_at", "settlement__settled_at", "entry__leaf__block__sealed_at"
    )
    out: dict[str, dict] = {}
    for mode in ("gross", "net"):
        done = [(s - m).total_seconds() for md, m, s, _ in rows if md == mode and s is not None]
        # Where the time goes: match → its block sealed, and sealed → settled.
        sealed = [(b - m).total_seconds() for md, m, _, b in rows if md == mode and b is not None]
        after = [(s - b).total_seconds() for md, _, s, b in rows if md == mode and s is not None and b is not None]
        out[mode] = {
            "matched": sum(1 for md, *_ in rows if md == mode),
            "settled": len(done),
            # Settled in the window, whenever matched: keeping pace means as many as were matched.
            "settled_in_window": Settlement.objects.filter(
                settled_at__gte=lo, settled_at__lt=hi, trade__security__settlement_mode=mode
            ).count(),
            "p50": _percentile(done, 50),
            "p99": _percentile(done, 99),
            "max": max(done, default=0.0),
            "sealed_p50": _percentile(sealed, 50),
            "sealed_p99": _percentile(sealed, 99),
            "after_seal_p50": _percentile(after, 50),
            "after_seal_p99": _percentile(after, 99),
        }
    return out


# --------------------------------------------------------------------------
# Celery worker and beat for the settlement part (the parent process)


@dataclass
class CeleryStack:
    """A Celery worker (prefork, as ``make run``) and beat on a queue of the bench's own."""

    env: dict
    scratch: Path
    concurrency: int = 2

    def __post_init__(self) -> None:
        self.queue = f"bench-{uuid.uuid4().hex[:12]}"
        self.env = {**self.env, "CELERY_QUEUE": self.queue}
        self.procs: list[subprocess.Popen] = []

    def _start(self, name: str, args: list[str]) -> None:
        log = open(self.scratch / f"{name}.log", "ab")
        self.procs.append(
            subprocess.Popen(
                [CELERY, "-A", "config", *args],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        log.close()

    def start(self) -> None:
        self._start(
            "worker",
            [
                "worker",
                "-Q",
                self.queue,
                "--concurrency",
                str(self.concurrency),
                "-l",
                "warning",
                "--without-mingle",
                "--without-gossip",
                "-n",
                f"{self.queue}@%h",
            ],
        )
        self._start("beat", ["beat", "-l", "warning", "-s", str(self.scratch / "beat-schedule")])

    def _redis(self):
        import redis

        url = self.env["REDIS_URL"]
        if url.startswith("unix://"):
            return redis.Redis(unix_socket_path=url[len("unix://") :])
        return redis.Redis.from_url(url)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until the worker takes messages: the seals the backlog's orders woke wait on its queue (a loaded
        machine starts a worker in far more than the 3 s once allowed here), then beat's first tick."""
        deadline = time.monotonic() + timeout
        client = self._redis()
        while time.monotonic() < deadline and client.llen(self.queue):
            time.sleep(0.2)
        time.sleep(1.5)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()
        try:
            client = self._redis()
            client.delete(self.queue, *client.keys(self.queue + "\x06\x16*"))
        except Exception as exc:  # a left-over queue key is harmless
            bench.log(f"could not delete the Celery queue {self.queue}: {exc}")

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-2000:] for p in self.scratch.glob("*.log"))


# --------------------------------------------------------------------------
# The parts, as bench.py runs them


def _backlog(database_url: str) -> tuple[int, int]:
    """(entries waiting to be sealed, gross trades waiting to settle), read with plain SQL from the parent."""
    import psycopg2

    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM ledger_pendingentry")
            waiting = cur.fetchone()[0]
            cur.execute(
                "SELECT count(*) FROM exchange_trade t JOIN exchange_security s ON s.id = t.security_id "
                "WHERE t.status = 'matched' AND s.settlement_mode = 'gross'"
            )
            return waiting, cur.fetchone()[0]
    finally:
        conn.close()


def sustained_orders(pool, cpu, phase, *, tokens, securities, port: int, args) -> tuple[float, float]:
    """Orders from every client for ``--settle-seconds`` after 1 s of warm-up; the measured window, as
    ``time.time()`` values (what ``settle-latency`` takes)."""
    since = time.time() + 0.2 + 1.0  # run_slice: 0.2 s to start + 1 s warm-up
    bench.run_slice(
        pool,
        cpu,
        phase,
        kind="order",
        tokens=tokens,
        securities=securities,
        port=port,
        warmup=1.0,
        seconds=args.settle_seconds,
        max_requests=args.max_requests,
    )
    return since, since + args.settle_seconds


def drain(env: dict, seconds: float) -> float:
    """Wait up to ``seconds`` until nothing waits to be sealed and no gross trade to settle; the seconds
    waited."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(_backlog(env["DATABASE_URL"])):
        time.sleep(1.0)
    return seconds - max(0.0, deadline - time.monotonic())


def run_ledger(args, env: dict) -> dict:
    """The ledger part: returns its figures (the database is the parent's, fresh and migrated)."""
    extra = ["--profile", args.profile] if args.profile else []
    return _run_json(env, "ledger", "--entries", str(args.entries), "--repeats", str(args.verify_repeats), *extra)


def report_ledger(r: dict, cores: int) -> None:
    copy = statistics.mean(r["copy_seconds"])
    seal_rate = r["sealed"] / r["seal_seconds"]
    copy_rate = r["entries"] / copy
    verify = min(r["verify_seconds"])
    sha = min(r["sha_seconds"])
    verify_rate = r["verified"] / verify
    sha_rate = r["total_leaves"] / sha
    print()
    print(
        f"ledger: {r['sealed']} waiting entries (mean {r['mean_width']:.0f} bytes) sealed in {r['blocks']} blocks"
        f" of ≤ {r['block_leaves']}; filled in {r['fill_seconds']:.1f}s; cores {cores}"
    )
    print(f"{'figure':<34}{'per s':>11}{'baseline per s':>16}{'ratio':>8}{'aim':>7}")
    print(
        f"{'seal (block_seal) ÷ COPY':<34}{seal_rate:>11.0f}{copy_rate:>16.0f}{seal_rate / copy_rate:>8.3f}{'0.10':>7}"
    )
    print(
        f"{'verify (ledger_verify) ÷ SHA-256':<34}{verify_rate:>11.0f}{sha_rate:>16.0f}"
        f"{verify_rate / sha_rate:>8.3f}{'0.20':>7}"
    )
    read_rate = r["total_leaves"] / min(r["read_seconds"])
    print(
        f"{'  (verify ÷ reading the entries)':<34}{verify_rate:>11.0f}{read_rate:>16.0f}{verify_rate / read_rate:>8.3f}"
    )
    if r.get("verify_serial_seconds"):
        serial_rate = r["verified"] / min(r["verify_serial_seconds"])
        print(
            f"{'  (verify ÷ one process, --serial)':<34}{verify_rate:>11.0f}{serial_rate:>16.0f}"
            f"{verify_rate / serial_rate:>8.3f}"
        )
    if r.get("chain_seconds"):
        chain_rate = r["total_leaves"] / min(r["chain_seconds"])
        print(f"{'  chain alone ÷ SHA-256':<34}{chain_rate:>11.0f}{sha_rate:>16.0f}{chain_rate / sha_rate:>8.3f}")
    if r.get("parse_seconds"):
        parse_rate = r["total_leaves"] / min(r["parse_seconds"])
        print(
            f"{'  parsing alone (orjson) ÷ SHA-256':<34}{parse_rate:>11.0f}{sha_rate:>16.0f}"
            f"{parse_rate / sha_rate:>8.3f}"
        )
    if memory := r.get("verify_memory"):
        worker = memory.get("worker_kib", memory.get("business_process_kib", 0))
        print(
            f"  memory: ledger_verify's process peaked {memory['verify_kib'] / 1024:.0f} MiB"
            f" ({(memory['verify_kib'] - memory['idle_kib']) / 1024:.0f} MiB above Django's start),"
            f" each of its workers at most {worker / 1024:.0f} MiB"
        )
    print(
        f"  seal {r['seal_seconds']:.2f}s; COPY {' / '.join(f'{s:.3f}' for s in r['copy_seconds'])}s (before / after);"
        f" verify {' / '.join(f'{s:.2f}' for s in r['verify_seconds'])}s for {r['verified']} leaves;"
        f" SHA-256 {' / '.join(f'{s * 1000:.1f}' for s in r['sha_seconds'])} ms"
    )


def run_settlement(args, env: dict, scratch: Path) -> dict:
    """The settlement part: a backlog settled by the task bodies, then sustained load with worker and beat."""
    tokens, securities, modes = _seed(args, env)
    stack = CeleryStack(env=env, scratch=scratch)
    # The server's commits wake the sealer on the worker's queue (ledger.wakeup); beat stays the safety net.
    server = bench.Server(env=stack.env, workers=args.workers, worker_class=args.worker_class, threads=args.threads)
    out: dict = {}
    try:
        server.start(tokens[0])
        cpu = bench.ServerCpu(server.proc.pid, env["DATABASE_URL"])
        try:
            import multiprocessing

            with multiprocessing.get_context("fork").Pool(len(tokens)) as pool:
                # 1. Backlog without a worker: matched/s, then settled/s of the task bodies.
                backlog = bench.Phase("orders, no worker")
                bench.log("settlement: building a backlog of trades (no worker)")
                bench.run_slice(
                    pool,
                    cpu,
                    backlog,
                    kind="order",
                    tokens=tokens,
                    securities=securities,
                    port=server.port,
                    warmup=1.0,
                    seconds=args.settle_seconds,
                    max_requests=args.max_requests,
                )
                bench.log("settlement: sealing and settling the backlog (gross, then net)")
                extra = ["--profile", args.profile] if args.profile else []
                out["capacity"] = _run_json(env, "settle-capacity", *extra)
                out["backlog"] = _phase_dict(backlog)
                # 2. Sustained orders with a real worker and beat: match-to-settled latency.
                bench.log("settlement: sustained orders with a Celery worker and beat")
                stack.start()
                stack.wait_ready()
                load = bench.Phase("orders, worker + beat")
                measured_from, measured_until = sustained_orders(
                    pool, cpu, load, tokens=tokens, securities=securities, port=server.port, args=args
                )
                out["load"] = _phase_dict(load)
                # Gross trades should all settle within seconds; net ones wait for their window.
                out["drain_seconds"] = drain(env, args.drain_seconds)
                out["latency"] = _run_json(
                    env, "settle-latency", "--since", str(measured_from), "--until", str(measured_until)
                )
                out["measured_seconds"] = measured_until - measured_from
        finally:
            cpu.close()
    finally:
        if out.get("load", {}).get("errors"):
            out["server_log"] = server.log_tail(80)
        stack.stop()
        server.stop()
    out["modes"] = modes
    return out


def _seed(args, env: dict) -> tuple[list[str], list[tuple[str, str]], dict[str, str]]:
    market = bench.seeded(
        env, investors=args.concurrency, securities=args.securities, net_securities=args.securities // 2
    )
    return market["tokens"], sorted(market["prices"].items()), market["modes"]


def _phase_dict(p: bench.Phase) -> dict:
    return {"rate": p.rate, "ok": p.ok, "requests": p.requests, "errors": p.error_count, "first_error": p.first_error}


def report_settlement(r: dict, cores: int) -> None:
    cap, backlog, load, lat = r["capacity"], r["backlog"], r["load"], r["latency"]
    gross_rate = cap["gross"] / cap["gross_seconds"] if cap["gross_seconds"] else 0.0
    net_rate = cap["net"] / cap["net_seconds"] if cap["net_seconds"] else 0.0
    matched = backlog["rate"]
    net_codes = sorted(code for code, mode in r["modes"].items() if mode == "net")
    print()
    print(
        f"settlement: cores {cores}; {len(r['modes'])} securities, {cap['net_securities']} of them net-settled"
        f" ({', '.join(net_codes)}); backlog of {cap['pending_gross']} gross + {cap['pending_net']} net trades"
        f" sealed in {cap['blocks']} blocks"
    )
    print(f"{'figure':<44}{'per s':>9}{'baseline per s':>16}{'ratio':>8}{'aim':>6}")
    for name, rate in (
        ("gross settled (chunks, worker procs) ÷ matched", gross_rate),
        ("net settled (settle_net) ÷ matched", net_rate),
    ):
        print(f"{name:<44}{rate:>9.1f}{matched:>16.1f}{rate / matched if matched else 0.0:>8.2f}{'≥ 1':>6}")
    print(
        f"  matched/s is orders filled through the API with no worker running ({backlog['ok']} trades);"
        f" gross {cap['gross']} trades in {cap['gross_seconds']:.2f}s in batches"
        f" and {cap.get('one_by_one', 0)} in {cap.get('one_by_one_seconds', 0):.2f}s one by one (every other trade),"
        f" net {cap['net']} in {cap['net_seconds']:.2f}s;"
        f" {cap['left']} left unsettled"
    )
    secs = r["measured_seconds"]
    print(
        f"sustained, worker + beat: matched {load['rate']:.1f}/s over {secs:.0f}s"
        f" (errors {load['errors']}); then waited {r['drain_seconds']:.1f}s for gross settlement to drain"
    )
    print(
        f"{'mode':<8}{'matched':>9}{'matched/s':>11}{'settled/s':>11}{'ratio':>7}{'settled':>9}"
        f"{'p50 s':>8}{'p99 s':>8}{'max s':>8}"
    )
    for mode in ("gross", "net"):
        m = lat[mode]
        ratio = m["settled_in_window"] / m["matched"] if m["matched"] else 0.0
        times = f"{m['p50']:>8.2f}{m['p99']:>8.2f}{m['max']:>8.2f}" if m["settled"] else f"{'—':>8}{'—':>8}{'—':>8}"
        print(
            f"{mode:<8}{m['matched']:>9}{m['matched'] / secs:>11.1f}{m['settled_in_window'] / secs:>11.1f}{ratio:>7.2f}"
            f"{m['settled']:>9}{times}"
        )
    print(
        "  settled/s: trades settled in the window, whenever matched; settled: how many of the trades matched in"
        " the window had settled by the end of the drain;\n  latency: Trade.matched_at → Settlement.settled_at"
        " (aim: gross p99 ≤ 0.5 s); net trades wait for their window (every SETTLEMENT_NET_EVERY_BLOCKS blocks)"
    )
    g = lat["gross"]
    if "sealed_p50" in g:
        print(
            f"  gross, where the time goes: match → block sealed p50 / p99"
            f" {g['sealed_p50']:.2f} / {g['sealed_p99']:.2f} s, sealed → settled"
            f" {g['after_seal_p50']:.2f} / {g['after_seal_p99']:.2f} s"
        )


# --------------------------------------------------------------------------


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    ledger = sub.add_parser("ledger")
    ledger.add_argument("--entries", type=int, required=True)
    ledger.add_argument("--repeats", type=int, default=2)
    ledger.add_argument("--profile")
    capacity = sub.add_parser("settle-capacity")
    capacity.add_argument("--profile")
    latency = sub.add_parser("settle-latency")
    latency.add_argument("--since", type=float, required=True)
    latency.add_argument("--until", type=float, required=True)
    args = parser.parse_args()
    if args.command == "ledger":
        result = ledger_measure(entries=args.entries, repeats=args.repeats, profile=args.profile)
    elif args.command == "settle-capacity":
        result = settle_capacity(profile=args.profile)
    else:
        result = settle_latency(since=args.since, until=args.until)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
