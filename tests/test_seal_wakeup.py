"""A commit that writes ledger entries wakes the sealer, coalesced (ledger.wakeup; PostgreSQL, Redis)."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import transaction

from core import coalesce
from ledger import tasks, wakeup
from ledger.models import Entry
from ledger.services import block_seal, entry_append


@pytest.fixture
def queued(settings, monkeypatch):
    """The seals a wake-up queues, as (countdown, queue), instead of sending them; the wake key cleared."""
    settings.LEDGER_SEAL_ON_COMMIT = True
    settings.LEDGER_SEAL_WAKE_DELAY = 0.3
    # The wake key lives two beats (ledger.wakeup): with beat's 1 s, a burst test slower than 2 s on a loaded
    # machine saw its key expire and a second seal queued. Beats of 30 s keep it for the whole of any test here.
    settings.LEDGER_SEAL_EVERY = 30.0
    calls: list[tuple[float, str]] = []
    monkeypatch.setattr(tasks.seal, "apply_async", lambda **kw: calls.append((kw["countdown"], kw["queue"])))
    cache.delete(wakeup.WAKE_KEY)
    coalesce.forget()
    yield calls
    cache.delete(wakeup.WAKE_KEY)
    coalesce.forget()


def deposit(n: int = 1) -> None:
    with transaction.atomic():
        for i in range(n):
            entry_append(kind="DEPOSIT", payload={"account": f"A{i}", "amount": Decimal("1.00")})


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_commits_queues_one_seal_and_the_seal_reopens_the_window(queued, settings):
    # given a sealed ledger (its genesis block and key written) and no wake-up pending
    block_seal()
    queued.clear()
    cache.delete(wakeup.WAKE_KEY)
    coalesce.forget()

    # when ten transactions in a row each write entries and commit
    for _ in range(10):
        deposit(3)

    # then one seal is queued, to run one wake window later, on the deployment's queue
    assert queued == [(0.3, settings.CELERY_TASK_DEFAULT_QUEUE)]
    assert Entry.objects.count() == 1 + 30  # (the genesis key's KEY_ROTATION entry first)

    # and while that seal has not started (a busy worker), later commits queue nothing: it will take them too
    time.sleep(0.4)
    deposit()
    assert len(queued) == 1

    # when the seal runs, it takes every entry committed so far
    block = block_seal().block
    assert block.tree_size - block.first_leaf_index == 31
    assert len(queued) == 1
    # then the next commit queues the next seal
    deposit()
    assert len(queued) == 2


def test_one_transaction_asks_once_and_a_rolled_back_one_not_at_all(db, queued, django_capture_on_commit_callbacks):
    # when a transaction writes entries three times
    with django_capture_on_commit_callbacks() as callbacks:
        deposit(3)
    # then it registers one batch for Redis, with one wake-up in it
    assert len(callbacks) == 1
    assert [step.once for step in callbacks[0].steps] == [f"coalesce:{wakeup._key()}"]

    # when a transaction that wrote entries rolls back
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            entry_append(kind="DEPOSIT", payload={"account": "A", "amount": Decimal("1.00")})
            raise RuntimeError("abort")
    # then nothing is queued and no entry was written
    assert callbacks == [] and queued == []
    assert Entry.objects.count() == 3


def test_the_wake_up_is_off_when_the_setting_says_so(db, queued, settings, django_capture_on_commit_callbacks):
    settings.LEDGER_SEAL_ON_COMMIT = False
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        deposit()
    assert callbacks == [] and queued == []


def test_a_wake_up_that_cannot_reach_redis_leaves_the_commit_alone(
    db, queued, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    # given Redis is unreachable
    from core import redis_on_commit

    def down():
        raise ConnectionError("redis is down")

    monkeypatch.setattr(redis_on_commit, "client", down)

    # when a transaction writes an entry and commits
    with django_capture_on_commit_callbacks(execute=True):
        deposit()

    # then the entry is written, nothing is queued, and the miss is logged (beat's seal takes the entry)
    assert Entry.objects.count() == 1
    assert queued == []
    assert "could not reach Redis: the seal's wake-up" in caplog.text
