"""The ``pool`` part of ``make bench``: ``make run``'s web server with its connection pool and without.

``make run`` serves with gunicorn's threaded workers, each thread giving its PostgreSQL connection up after each
request (``DB_CONN_MAX_AGE=0``, so that a hundred idle threads do not each hold one) under a cap of 20 a process
(``DB_MAX_CONNECTIONS``). Without a pool, every request starts a PostgreSQL backend and prepares the order path's
statements again; with one (``DB_POOL_SIZE``, ``core.db.base``) the next request takes a kept connection. Two
servers configured as ``make run``'s, the same but for ``DB_POOL_SIZE`` (0 and 20), on one database, are measured
in alternating phases of each round (ping, then orders, each without and with the pool), so a change in the
machine's speed touches both alike. The figure: requests a second with the pool ÷ without, for pings and orders.

Server CPU per request is not reported here: a backend that starts and ends inside a phase (every request's,
without the pool) is gone before ``/proc`` is read, so the unpooled side's database CPU would be undercounted.
"""

from __future__ import annotations

import multiprocessing
import os

import bench

# make run's web server (scripts/stack.py), but for the pool.
MAKE_RUN_WEB = {"DB_CONN_MAX_AGE": "0", "DB_MAX_CONNECTIONS": "20"}
WORKERS, THREADS = 3, 64


def run_pool(args, env: dict) -> dict:
    market = bench.seeded(env, investors=args.concurrency, securities=args.securities)
    tokens, securities = market["tokens"], sorted(market["prices"].items())
    servers = {
        pooled: bench.Server(
            env=dict(env, **MAKE_RUN_WEB, DB_POOL_SIZE="20" if pooled else "0"),
            workers=WORKERS,
            worker_class="gthread",
            threads=THREADS,
        )
        for pooled in (False, True)
    }
    cpus = {}
    phases = {
        (kind, pooled): bench.Phase(f"{kind}, {'pooled' if pooled else 'no pool'}")
        for kind in ("ping", "order")
        for pooled in (False, True)
    }
    load_before = os.getloadavg()[0]
    try:
        for pooled, server in servers.items():
            server.start(tokens[0])
            cpus[pooled] = bench.ServerCpu(server.proc.pid, env["DATABASE_URL"])
        with multiprocessing.get_context("fork").Pool(len(tokens)) as pool:
            for n in range(args.rounds):
                bench.log(f"pool: round {n + 1} of {args.rounds}")
                for (kind, pooled), phase in phases.items():
                    bench.run_slice(
                        pool,
                        cpus[pooled],
                        phase,
                        kind=kind,
                        tokens=tokens,
                        securities=securities,
                        port=servers[pooled].port,
                        warmup=args.warmup if n == 0 else min(args.warmup, 0.5),
                        seconds=args.seconds,
                        max_requests=args.max_requests,
                    )
        for cpu in cpus.values():  # their own connections are not the servers'
            cpu.close()
        cpus.clear()
        connections = _backends(env["DATABASE_URL"])
    finally:
        for cpu in cpus.values():
            cpu.close()
        for server in servers.values():
            server.stop()
    return {
        "phases": {
            phase.name: {
                "rate": phase.rate,
                "ok": phase.ok,
                "requests": phase.requests,
                "errors": phase.error_count,
                "first_error": phase.first_error,
                "p50_ms": phase.percentile_ms(50),
                "p99_ms": phase.percentile_ms(99),
                "round_rates": phase.round_rates,
            }
            for phase in phases.values()
        },
        "workers": WORKERS,
        "threads": THREADS,
        "concurrency": args.concurrency,
        "backends_at_end": connections,
        "load": [load_before, os.getloadavg()[0]],
        "rounds": args.rounds,
        "seconds": args.seconds,
    }


def _backends(url: str) -> int:
    """Client backends open on the bench database as the servers still run (the pooled server's kept ones)."""
    import psycopg2

    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            )
            return cur.fetchone()[0]
    finally:
        conn.close()


def report_pool(result: dict, cores: int) -> None:
    phases = result["phases"]
    print()
    print(
        f"make run's web server, {result['workers']} gthread workers × {result['threads']} threads, "
        f"DB_CONN_MAX_AGE=0, a cap of 20 connections a process; {result['concurrency']} clients; "
        f"{result['rounds']} rounds of {result['seconds']:g} s per phase; {cores} cores; "
        f"load average {result['load'][0]:.2f} before, {result['load'][1]:.2f} after"
    )
    print(f"{'phase':<22}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'requests':>9}{'errors':>7}")
    for name, p in phases.items():
        print(f"{name:<22}{p['rate']:>8.1f}{p['p50_ms']:>8.1f}{p['p99_ms']:>8.1f}{p['requests']:>9}{p['errors']:>7}")
    for kind in ("ping", "order"):
        pooled, plain = phases[f"{kind}, pooled"], phases[f"{kind}, no pool"]
        by_round = " ".join(
            f"{a / b:.2f}" if b else "-" for a, b in zip(pooled["round_rates"], plain["round_rates"], strict=True)
        )
        ratio = pooled["rate"] / plain["rate"] if plain["rate"] else 0.0
        print(f"{kind}: pooled ÷ no pool {ratio:.3f} (by round {by_round})")
    print(f"client backends open at the end (both servers running): {result['backends_at_end']}")
    for name, p in phases.items():
        if p["errors"]:
            print(f"  {name}: {p['errors']} errors; first: {p['first_error']}")
