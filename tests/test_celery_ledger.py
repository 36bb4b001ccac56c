"""Sealing with a real Celery worker and beat on Redis (committed transactions, PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from django.db import connection, transaction

from exchange.models import Trade
from ledger.models import Block, Entry, Leaf, PendingEntry
from ledger.services import SEAL_LOCK_KEY, entries_append
from ledger.verification import ledger_verify
from tests.conftest import api_for, build_market, order_body
from tests.workers import ROOT, Stack, celery_stack, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.celery]


def test_a_trade_placed_through_the_api_is_sealed_by_beat_and_worker_and_its_proof_verifies(tmp_path):
    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    buyer = market.investor(cash="100000")
    client = api_for(buyer.owner)
    with celery_stack(tmp_path) as stack:
        # given the sealer has caught up with the set-up entries
        assert wait_for(lambda: not PendingEntry.objects.exists(), timeout=20), stack.logs()

        # when an order fills through the API
        body = order_body(market, client_order_id="e2e")
        assert client.post("/api/v1/orders/", body, format="json").status_code == 201
        # (counted from the answer, when the trade has committed: the time the test's own request took on a loaded
        # machine is not beat's nor the worker's; counted from before it, the test failed with the API request alone
        # taking 2 s there, and the seals of those seconds finding nothing committed yet)
        placed = time.monotonic()
        trade = Trade.objects.get()

        # then beat and the worker seal it into a signed block within 2 seconds
        leaf = wait_for(lambda: Leaf.objects.filter(entry_id=trade.entry_id).first(), timeout=10)
        sealed_after = time.monotonic() - placed
        assert leaf is not None, stack.logs()
        assert sealed_after < 2.0, f"sealed after {sealed_after:.2f}s\n{stack.logs()}"

    detail = client.get(f"/api/v1/trades/{trade.pk}/").json()
    # (the worker settles it right after sealing: DvP follows the seal)
    assert detail["status"] in ("sealed", "settled")
    assert (detail["leaf_index"], detail["block_height"]) == (leaf.leaf_index, leaf.block_id)
    # and the proof verifies offline, with the standalone verifier, against the published keys
    (tmp_path / "proof.json").write_text(json.dumps(client.get(f"/api/v1/trades/{trade.pk}/proof/").json()))
    (tmp_path / "keys.json").write_text(json.dumps(client.get("/api/v1/ledger/keys/").json()))
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "ledger" / "verifier.py"),
            "inclusion",
            str(tmp_path / "proof.json"),
            "--keys-file",
            str(tmp_path / "keys.json"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert f"leaf {leaf.leaf_index} is in the signed tree" in run.stdout
    assert ledger_verify().ok


def _seal_in_progress() -> bool:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND granted",
            [SEAL_LOCK_KEY],
        )
        return cur.fetchone()[0] > 0


def test_a_worker_killed_while_sealing_loses_nothing_and_repeats_nothing(tmp_path, settings):
    # given 30,000 waiting entries, sealed in one block (slow enough to be caught in the middle)
    settings.LEDGER_MAX_BLOCK_LEAVES = 50_000
    with transaction.atomic():
        for chunk in range(6):
            entries_append(
                kind="HALT",
                payloads=[{"document": f"{chunk}-{i}", "sha256": "00" * 32} for i in range(5000)],
            )
    total = Entry.objects.count()
    with celery_stack(tmp_path) as stack:
        # when the worker is SIGKILLed while it holds the sealing lock
        assert wait_for(_seal_in_progress, timeout=20, interval=0.01), stack.logs()
        stack.kill("worker")
        assert not Block.objects.exists()  # the sealing transaction died with its connection
        assert PendingEntry.objects.count() == total

        # and a new worker starts
        stack.worker()

        # then beat's next run seals everything, once (a liveness bound, not a speed: 30,000 entries in one block
        # took the new worker over a minute once, on a CI machine shared with another test run)
        assert wait_for(lambda: not PendingEntry.objects.exists(), timeout=180), stack.logs()
    assert Entry.objects.count() == total + 1  # and the genesis key's KEY_ROTATION entry
    assert Leaf.objects.count() == total + 1
    assert Leaf.objects.values("entry_id").distinct().count() == total + 1
    assert Block.objects.order_by("-height").first().tree_size == total + 1
    report = ledger_verify()
    assert report.ok, [str(p) for p in report.problems]


def test_the_settlement_path_is_taken_before_a_backlog_of_notifications(tmp_path):
    # given entries waiting to be sealed, and a queue holding 400 notifications and then the seal, no worker yet
    from core.events import redis_client
    from ledger.tasks import seal
    from notifications.tasks import notify

    with transaction.atomic():
        entries_append(kind="HALT", payloads=[{"reason": "prioritised"}])
    stack = Stack(tmp_path)
    for _ in range(400):
        notify.apply_async(("no-such-event", {}), queue=stack.queue)
    seal.apply_async(queue=stack.queue)
    redis = redis_client()
    background = stack.queue + "\x06\x169"  # kombu's list of priority 9 beside the queue's own
    assert (redis.llen(stack.queue), redis.llen(background)) == (1, 400)
    try:
        # when a worker starts on the queue
        stack.worker()

        # then the entries are sealed while most notifications still wait, and those all run afterwards
        assert wait_for(lambda: not PendingEntry.objects.exists(), timeout=30, interval=0.01), stack.logs()
        assert redis.llen(background) > 200, stack.logs()
        assert wait_for(lambda: redis.llen(background) == 0, timeout=60), stack.logs()
    finally:
        stack.stop()
        redis.delete(stack.queue, background)
    assert Block.objects.count() >= 1
    assert Entry.objects.filter(kind="HALT").count() == 1  # and nothing was written twice


def test_the_offline_verifier_needs_no_django():
    code = "import sys, ledger.verifier; sys.exit(1 if any(m.startswith('django') for m in sys.modules) else 0)"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def _sessions() -> int:
    """Sessions PostgreSQL has started on this database so far (PostgreSQL 14 and later)."""
    with connection.cursor() as cur:
        cur.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return cur.fetchone()[0]


def _others() -> list[int]:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'"
        )
        return [pid for (pid,) in cur.fetchall()]


def test_a_worker_keeps_its_database_connection_between_tasks_and_replaces_a_broken_one(tmp_path):
    from ledger.tasks import seal

    if connection.pg_version < 140000:
        pytest.skip("pg_stat_database.sessions needs PostgreSQL 14")
    stack = Stack(tmp_path)
    stack.worker()
    try:
        # given a worker that has sealed the set-up entries
        with transaction.atomic():
            entries_append(kind="HALT", payloads=[{"reason": "first"}])
        seal.apply_async(queue=stack.queue)
        assert wait_for(lambda: not PendingEntry.objects.exists(), timeout=30), stack.logs()
        blocks = Block.objects.count()
        started = _sessions()

        # when it runs 30 more seals, one entry waiting for each
        for n in range(30):
            with transaction.atomic():
                entries_append(kind="HALT", payloads=[{"reason": f"again {n}"}])
            seal.apply_async(queue=stack.queue)
            assert wait_for(lambda: not PendingEntry.objects.exists(), timeout=10), stack.logs()

        # then every entry was sealed over at most a couple of new database sessions, not one or two per task
        assert Block.objects.count() == blocks + 30
        assert _sessions() - started <= 2

        # and when PostgreSQL ends the worker's session, the next task reconnects and seals
        (worker_pid,) = _others()
        with connection.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(%s)", [worker_pid])
        with transaction.atomic():
            entries_append(kind="HALT", payloads=[{"reason": "after the broken connection"}])
        seal.apply_async(queue=stack.queue)
        assert wait_for(lambda: not PendingEntry.objects.exists(), timeout=30), stack.logs()
        assert Block.objects.count() == blocks + 31
        assert ledger_verify().ok
    finally:
        stack.stop()
