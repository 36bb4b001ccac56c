"""The live part of ``make bench``: the server's load with N open market-watch pages, polling as before against
server-sent events (issue 14 item 7), measured in the same run on the same server.

Both modes run the same market: one trader buys a lot at the ask every ``TRADE_EVERY`` seconds, so the market watch
changes about as often as on a busy day. In the polling mode each page asks ``/market/data/`` every 2 s (the market
watch's period before the event stream). In the events mode each page holds ``/events/`` open and gets the rows pushed
(``core.events``, coalesced to one publication per ``LIVE_COALESCE``), and polls only when 30 s pass without a market
event (the fallback: ``static/js/poll.js`` puts it off at every event that carries the page's data, as the market
watch's does; until the thirty-third round this simulation polled every 30 s whatever came, which the page never did
while events flowed). The figure is the server's CPU seconds per second (gunicorn workers, the Celery worker that builds
the publications, and the PostgreSQL backends, those that ended meanwhile included, through the postmaster's reaped
children), read from /proc, and the requests served. Polling runs on today's server (sync workers, persistent database
connections); events on the threaded one ``make run`` now starts (a thread per open stream, a connection per request).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
TRADE_EVERY = 0.25
POLL_EVERY = 2.0
FALLBACK_POLL_EVERY = 30.0


def sessions(usernames: list[str]) -> list[str]:
    """(internal, in a subprocess on the bench database) a logged-in session key for each user."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    SessionStore = import_module(settings.SESSION_ENGINE).SessionStore

    from core.models import User

    keys = []
    for user in User.objects.filter(username__in=usernames).order_by("username"):
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        keys.append(store.session_key)
    return keys


class Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.errors = 0
        self.events = 0
        self.first_error = ""

    def add(self, *, requests: int = 0, errors: int = 0, events: int = 0, why: str = "") -> None:
        with self.lock:
            self.requests += requests
            self.errors += errors
            self.events += events
            if errors and why and not self.first_error:
                self.first_error = why


def _get(port: int, path: str, cookie: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Cookie": cookie, "Accept": "application/json", "X-Exchange-Poll": "1"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _poller(port: int, cookie: str, period: float, stop: float, counter: Counter) -> None:
    time.sleep(random.uniform(0, period))  # pages opened at different moments
    while time.monotonic() < stop:
        try:
            ok = _get(port, "/market/data/", cookie) == 200
            counter.add(requests=1, errors=0 if ok else 1)
        except OSError:
            counter.add(requests=1, errors=1)
        time.sleep(period)


def _listener(port: int, cookie: str, stop: float, counter: Counter, ready: threading.Barrier, delay: float) -> None:
    time.sleep(delay)  # pages open over a few seconds, not in the same millisecond
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", "/events/", headers={"Cookie": cookie, "Accept": "text/event-stream"})
        response = conn.getresponse()
        counter.add(requests=1, errors=0 if response.status == 200 else 1, why=f"/events/: HTTP {response.status}")
        ready.wait(timeout=120)
        next_poll = time.monotonic() + random.uniform(0, FALLBACK_POLL_EVERY)
        while time.monotonic() < stop:
            line = response.fp.readline()
            if not line:
                break
            if line.startswith(b"event: market"):
                counter.add(events=1)
                # The market watch's event carries its rows (poll.js, eventData): the page renders them and puts
                # its slow fallback poll off again, so it polls only after FALLBACK_POLL_EVERY without one.
                next_poll = time.monotonic() + FALLBACK_POLL_EVERY
            if time.monotonic() >= next_poll:  # the page's slow fallback poll
                ok = _get(port, "/market/data/", cookie) == 200
                counter.add(requests=1, errors=0 if ok else 1)
                next_poll += FALLBACK_POLL_EVERY
    except (OSError, threading.BrokenBarrierError) as exc:
        counter.add(errors=1, why=f"/events/: {exc!r}")
        ready.abort()  # the others stop waiting for a page that will not come
    finally:
        conn.close()


def _trader(port: int, token: str, security: str, price: str, stop: float, counter: Counter) -> None:
    n = 0
    while time.monotonic() < stop:
        n += 1
        body = json.dumps(
            {
                "security": security,
                "side": "buy",
                "quantity": 100,
                "limit_price": price,
                "time_in_force": "IOC",
                "client_order_id": f"live-{os.getpid()}-{time.monotonic_ns()}-{n}",
            }
        )
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request(
                "POST",
                "/api/v1/orders/",
                body=body,
                headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            response.read()
            counter.add(requests=1, errors=0 if response.status == 201 else 1)
        except OSError:
            counter.add(requests=1, errors=1)
        finally:
            conn.close()
        time.sleep(TRADE_EVERY)


def _worker_start(env: dict, logs: Path) -> subprocess.Popen:
    celery = str(Path(PY).with_name("celery"))
    out = (logs / "live-worker.log").open("w")
    return subprocess.Popen(
        [celery, "-A", "config", "worker", "-Q", env["CELERY_QUEUE"], "-c", "1", "-l", "warning", "--without-gossip"],
        env=env,
        cwd=ROOT,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _children_cpu(pid: int | None) -> float:
    """CPU seconds of a process's children that have ended (cutime + cstime): PostgreSQL's closed backends."""
    if pid is None:
        return 0.0
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rfind(")") + 2 :].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def _postmaster(cpu) -> int | None:
    """The PostgreSQL postmaster (the parent of this bench's own backend), when the server is local."""
    with cpu.conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        backend = cur.fetchone()[0]
    try:
        stat = Path(f"/proc/{backend}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rfind(")") + 2 :].split()[1])


def _measure(mode: str, *, pages: int, seconds: float, port: int, cookies: list[str], token: str, market: dict,
             cpu, worker_pid: int) -> dict:  # fmt: skip
    import bench

    counter, trades = Counter(), Counter()
    security, price = sorted(market["prices"].items())[0]
    ready = threading.Barrier(pages + 1)
    open_until = time.monotonic() + seconds + 60
    threads = []
    if mode == "events":
        # Open every stream first: opening 200 pages is not the load being measured.
        threads = [
            threading.Thread(target=_listener, args=(port, c, open_until, counter, ready, i * 0.01), daemon=True)
            for i, c in enumerate(cookies)
        ]
        for t in threads:
            t.start()
        try:
            ready.wait(timeout=120)
        except threading.BrokenBarrierError:  # a page's stream did not open: counted, and the phase measured
            counter.add(errors=1, why="not every page's /events/ stream opened within 120 s")
    postmaster = _postmaster(cpu)
    reaped_before = _children_cpu(postmaster)
    before, worker_before, t0 = cpu.sample(), bench._proc_cpu_seconds(worker_pid) or 0.0, time.monotonic()
    stop = t0 + seconds
    trader = threading.Thread(target=_trader, args=(port, token, security, price, stop, trades), daemon=True)
    trader.start()
    if mode == "polling":
        threads = [
            threading.Thread(target=_poller, args=(port, c, POLL_EVERY, stop, counter), daemon=True) for c in cookies
        ]
        for t in threads:
            t.start()
    trader.join()
    time.sleep(max(0.0, stop - time.monotonic()))
    elapsed = time.monotonic() - t0
    spent = cpu.spent(before, cpu.sample())
    spent["db"] += _children_cpu(postmaster) - reaped_before  # backends that ended within the window
    spent["worker"] = (bench._proc_cpu_seconds(worker_pid) or 0.0) - worker_before
    if mode == "polling":
        for t in threads:
            t.join(timeout=POLL_EVERY + 30)
    requests = counter.requests - (pages if mode == "events" else 0)  # the streams' opening requests
    return {
        "cpu_per_s": sum(spent.values()) / elapsed,
        "cpu": {k: round(v / elapsed, 4) for k, v in spent.items()},
        "requests_per_s": requests / elapsed,
        "events_per_s": counter.events / elapsed,
        "trades_per_s": trades.requests / elapsed,
        "errors": counter.errors + trades.errors,
        "first_error": counter.first_error or trades.first_error,
    }


def run_live(args, env: dict, logs: Path) -> dict:
    """Seed, serve (gthread, a thread per open page), measure polling then events; return the figures."""
    import bench
    import bench_pool

    pages = args.live_pages
    market = bench.seeded(env, investors=pages + 1, securities=1)
    names = [f"bench-investor{i}" for i in range(2, pages + 2)]  # investor1 trades
    keys = json.loads(
        subprocess.run(
            [PY, __file__, "sessions", *names], env=env, cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True
        ).stdout.strip()
    )
    cookies = [f"sessionid={k}; django_language=zh-hans" for k in keys]
    # A queue of its own: the orders part's servers leave their notifications queued on the bench's queue
    # (no worker ran there), and this worker would go through them before any publication.
    live_env = dict(env, LIVE_EVENTS="1", CELERY_QUEUE=f"bench-live-{os.getpid()}")
    worker = _worker_start(live_env, logs)
    servers = {
        "polling": bench.Server(env=dict(live_env, LIVE_EVENTS="0"), workers=4, worker_class="sync", threads=1),
        # Threads enough in each worker for every page: the workers do not share the streams out evenly (the
        # one whose accept wakes first takes more), and a stream beyond a worker's threads waits unanswered.
        "events": bench.Server(
            env=dict(live_env, **bench_pool.MAKE_RUN_WEB, DB_POOL_SIZE="20", LIVE_MAX_STREAMS=str(pages)),
            workers=2,
            worker_class="gthread",
            threads=pages + 32,
        ),
    }
    server, cpu = None, None
    try:
        result = {"pages": pages, "seconds": args.live_seconds}
        for mode, server in servers.items():
            server.start(market["tokens"][0])
            cpu = bench.ServerCpu(server.proc.pid, env["DATABASE_URL"])
            bench.log(f"live: {pages} open pages, {mode}, {args.live_seconds:.0f} s")
            result[mode] = _measure(
                mode,
                pages=pages,
                seconds=args.live_seconds,
                port=server.port,
                cookies=cookies,
                token=market["tokens"][0],
                market=market,
                cpu=cpu,
                worker_pid=worker.pid,
            )
            cpu.close()
            cpu = None
            if result[mode]["errors"]:
                result[mode]["server_log"] = server.log_tail(60)
            server.stop()
        result["ratio"] = result["events"]["cpu_per_s"] / max(result["polling"]["cpu_per_s"], 1e-9)
        return result
    finally:
        if cpu is not None:
            cpu.close()
        for server in servers.values():
            server.stop()
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
        _queue_delete(live_env)


def _queue_delete(env: dict) -> None:
    """The live part's Celery queue and kombu's lists of its other priorities."""
    import bench
    import redis

    url, queue = env["REDIS_URL"], env["CELERY_QUEUE"]
    try:
        client = (
            redis.Redis(unix_socket_path=url[len("unix://") :])
            if url.startswith("unix://")
            else redis.Redis.from_url(url)
        )
        client.delete(queue, *client.keys(queue + "\x06\x16*"))
    except redis.RedisError as exc:  # a left-over queue is harmless
        bench.log(f"could not delete the Celery queue {queue}: {exc}")


def report_live(result: dict, cores: int) -> None:
    print()
    print(f"## Live updates: {result['pages']} open market-watch pages, {cores} cores")
    print()
    print("| mode | server CPU s/s | web | db | worker | requests/s | pushed updates/s | trades/s | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for mode in ("polling", "events"):
        r = result[mode]
        print(
            f"| {mode} | {r['cpu_per_s']:.3f} | {r['cpu']['web']:.3f} | {r['cpu']['db']:.3f} | {r['cpu']['worker']:.3f}"
            f" | {r['requests_per_s']:.1f} | {r['events_per_s']:.1f} | {r['trades_per_s']:.1f} | {r['errors']} |"
        )
    print()
    print(f"events / polling, server CPU: {result['ratio']:.3f}")
    for mode in ("polling", "events"):
        if result[mode]["first_error"]:
            print(f"first error ({mode}): {result[mode]['first_error']}")
            print(result[mode].get("server_log", ""))


if __name__ == "__main__":
    if sys.argv[1:2] == ["sessions"]:
        print(json.dumps(sessions(sys.argv[2:])))
