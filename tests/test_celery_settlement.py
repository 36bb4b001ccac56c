"""Settlement with real Celery workers on Redis: latency, exactly once under faults (PostgreSQL, committed)."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connections

from balances.replay import replay_check
from exchange.models import Trade
from exchange.services import OrderRequest, order_place
from ledger.models import Entry, PendingEntry
from ledger.services import block_seal
from ledger.verification import ledger_verify
from ledger.wakeup import WAKE_KEY
from settlement.models import Settlement
from settlement.tasks import settle_block
from tests.conftest import build_market, cash_of
from tests.workers import celery_stack, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.celery]
D = Decimal


def _market_with_trades(n: int):
    market = build_market()
    mm = market.market_maker(cash="10000000", shares=1_000_000)
    market.quote(mm, "9.90", "10.10", ask_qty=100 * max(n, 10))
    buyer = market.investor(cash=str(1100 * n))
    for i in range(n):
        order_place(
            placed_by=buyer.owner,
            account=buyer,
            request=OrderRequest(market.security.code, "buy", 100, D("10.10"), "IOC", f"t{i}"),
        )
    return market, mm, buyer


def _all_settled_once(n: int) -> None:
    assert Trade.objects.filter(status=Trade.Status.SETTLED).count() == n
    assert Settlement.objects.count() == n
    assert Entry.objects.filter(kind="SETTLEMENT").count() == n


def test_a_trade_settles_within_two_seconds_of_matching(tmp_path):
    market, _mm, _buyer = _market_with_trades(0)
    with celery_stack(tmp_path) as stack:
        fresh = market.investor(cash="5000")
        assert wait_for(lambda: not PendingEntry.objects.exists(), timeout=20), stack.logs()
        matched = time.monotonic()
        order_place(
            placed_by=fresh.owner,
            account=fresh,
            request=OrderRequest(market.security.code, "buy", 100, D("10.10"), "IOC", "fast"),
        )
        trade = Trade.objects.get()
        settled = wait_for(lambda: Trade.objects.filter(pk=trade.pk, status=Trade.Status.SETTLED).exists(), timeout=10)
        latency = time.monotonic() - matched
        assert settled, stack.logs()
        assert latency < 2.0, f"settled {latency:.2f}s after matching"
    # 100 × 10.10 + 5.00 fee, to the cent
    assert cash_of(fresh).total == D("3985.00") and cash_of(fresh).reserved == 0
    assert replay_check() == []


def test_without_beat_a_commit_wakes_the_sealer_and_a_burst_makes_few_blocks(tmp_path, settings):
    # given a worker and no beat, the set-up entries sealed, and this process waking the sealer on commit
    market, _mm, _buyer = _market_with_trades(0)
    fresh = market.investor(cash="100000")
    block_seal()
    with celery_stack(tmp_path, beat=False) as stack:
        settings.LEDGER_SEAL_ON_COMMIT = True
        settings.LEDGER_SEAL_WAKE_DELAY = 0.5
        settings.CELERY_TASK_DEFAULT_QUEUE = stack.queue
        # (a wake-up key left by an earlier test's worker, whose queued seal died with it, would hold
        # wake-ups back for its last seconds: a deployment's beat covers that, this test has none)
        cache.delete(WAKE_KEY)

        # when a burst of 10 orders fills (all the quote offers), one transaction each
        for i in range(10):
            order_place(
                placed_by=fresh.owner,
                account=fresh,
                request=OrderRequest(market.security.code, "buy", 100, D("10.10"), "IOC", f"burst{i}"),
            )

        # then every trade is sealed and settled with no beat to ask for a seal
        assert wait_for(lambda: Settlement.objects.count() == 10, timeout=20), stack.logs()
        # and the burst's trades share a few blocks rather than one block each
        blocks = set(Trade.objects.values_list("entry__leaf__block_id", flat=True))
        assert None not in blocks and len(blocks) <= 3, blocks
        # and the settlement entries were sealed too, again without beat
        assert wait_for(lambda: not PendingEntry.objects.exists(), timeout=10), stack.logs()
    _all_settled_once(10)
    assert replay_check() == []


def test_a_worker_killed_while_settling_a_block_of_1000_trades_settles_each_once(tmp_path):
    # given a sealed block of 1,000 trades
    _market_with_trades(1000)
    height = block_seal().block.height
    with celery_stack(tmp_path, beat=False) as stack:
        # when the worker is SIGKILLed in the middle of settling the block, shared out in chunks as sealing does
        settle_block.apply_async(args=[height], kwargs={"share_out": True}, queue=stack.queue)
        assert wait_for(lambda: 0 < Settlement.objects.count() < 1000, timeout=30, interval=0.01), stack.logs()
        stack.kill("worker")
        partly = Settlement.objects.count()
        assert 0 < partly < 1000

        # and a new worker with beat comes back: the sweep settles the rest
        stack.worker()
        stack.beat()
        assert wait_for(lambda: Settlement.objects.count() == 1000, timeout=90, interval=0.2), stack.logs()
        assert wait_for(lambda: not PendingEntry.objects.exists(), timeout=20), stack.logs()

    # then every trade settled exactly once, the balances replay and the ledger verifies
    _all_settled_once(1000)
    assert replay_check() == []
    report = ledger_verify()
    assert report.ok, [str(p) for p in report.problems[:5]]


def test_trades_whose_messages_redis_lost_are_settled_by_the_sweep(tmp_path):
    # given sealed trades whose settle task was queued, and then Redis lost everything it held for this exchange:
    # its queue, bindings and keys (not FLUSHDB: the other test workers' queues share this Redis database, and
    # wiping them made their tests wait for messages that were gone)
    _market_with_trades(20)
    height = block_seal().block.height
    with celery_stack(tmp_path, beat=False) as stack:
        stack.kill("worker")
        settle_block.apply_async(args=[height], queue=stack.queue)
        server = redis.Redis.from_url(settings.REDIS_URL)
        assert server.llen(stack.queue) == 1
        ours = (stack.queue.encode(), settings.CACHES["default"]["KEY_PREFIX"].encode())
        lost = [key for key in server.scan_iter(count=1000) if any(mark in key for mark in ours)]
        server.delete(*lost)
        assert not any(any(mark in key for mark in ours) for key in server.scan_iter(count=1000))

        # when a worker and beat run
        stack.worker()
        stack.beat()

        # then the sweep settles every trade anyway
        assert wait_for(lambda: Settlement.objects.count() == 20, timeout=30, interval=0.2), stack.logs()
    _all_settled_once(20)
    assert replay_check() == []


def test_the_settle_task_run_twice_at_once_on_one_block_moves_once():
    # given a sealed block of 50 trades
    _market_with_trades(50)
    height = block_seal().block.height
    barrier = threading.Barrier(2)
    results = []

    def run():
        try:
            barrier.wait()
            results.append(settle_block(height))
        finally:
            connections.close_all()

    # when two settle tasks of the same block run at the same moment
    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # then each trade moved once, between them
    assert sum(results) == 50
    _all_settled_once(50)
    assert replay_check() == []


def test_two_worker_processes_given_one_block_twice_settle_each_trade_once(tmp_path):
    # given a sealed block of 200 trades and two worker processes on one queue
    _market_with_trades(200)
    height = block_seal().block.height
    with celery_stack(tmp_path, beat=False) as stack:
        stack.worker("worker-b")
        # (both consuming before the tasks go out: on a busy machine one that was still starting took none)
        assert stack.ready("worker") and stack.ready("worker-b"), stack.logs()

        # when the block's settle task is delivered twice, each shared out in chunks as sealing does
        for _ in range(2):
            settle_block.apply_async(args=[height], kwargs={"share_out": True}, queue=stack.queue)

        # then both processes took chunks, and every trade settled exactly once
        assert wait_for(lambda: Settlement.objects.count() == 200, timeout=60, interval=0.2), stack.logs()
        time.sleep(1.0)  # the duplicate chunks still running find nothing to do
        logs = {name: (tmp_path / f"{name}.log").read_text() for name in ("worker", "worker-b")}
        assert all("settle_trades" in log for log in logs.values()), stack.logs()
    _all_settled_once(200)
    assert replay_check() == []


def test_fills_whose_delivery_messages_were_lost_are_told_by_beats_sweep_once(tmp_path):
    # given three fills sealed in a block, whose notifications' delivery messages went where no worker reads (the
    # test process's own queue: as if Redis had lost them), so only the outbox records them
    from notifications.models import Kind, Notification, Outbox

    _market_with_trades(3)
    height = block_seal().block.height
    assert Outbox.objects.filter(event="block_sealed", facts={"height": height}).count() == 1
    assert not Notification.objects.filter(kind=Kind.FILL).exists()

    # when a worker and beat run
    with celery_stack(tmp_path) as stack:
        # then beat's sweep (every 30 s, for records over 10 s old) tells each fill, once, and empties the outbox
        assert wait_for(lambda: Notification.objects.filter(kind=Kind.FILL).count() == 3, timeout=120, interval=0.5), (
            stack.logs()
        )
        assert wait_for(lambda: not Outbox.objects.filter(event="block_sealed").exists(), timeout=30), stack.logs()
    trades = Trade.objects.order_by("pk")
    assert sorted(Notification.objects.filter(kind=Kind.FILL).values_list("key", flat=True)) == sorted(
        f"fill:{t.pk}" for t in trades
    )
