"""Coalesced tasks (core.coalesce) on a real Redis: one task per quiet moment, and processes that keep quiet
until the queued task's due time instead of asking Redis on every change."""

from __future__ import annotations

import time
import uuid

import pytest
from django.conf import settings

from core import coalesce, events
from tests.conftest import CountingRedis

# The window within which the first test's changes after the first one must come for it to see them keep quiet:
# one second, which a loaded CI machine does not miss between a few calls of a Redis round trip each (0.3 s
# could be: a test process not scheduled for that long fails it), and the key outlives the whole test.
WINDOW = 1.0


@pytest.fixture
def redis_key():
    client = CountingRedis(events.redis_client())
    key = f"{settings.CACHES['default'].get('KEY_PREFIX', '')}:test-coalesce:{uuid.uuid4().hex}"
    coalesce.forget()
    yield client, key
    client.real.delete(key)
    coalesce.forget()


def test_one_task_per_quiet_moment_and_quiet_processes_until_it_is_due(redis_key):
    client, key = redis_key
    queued = []

    def ask() -> bool:
        return coalesce.ask(client, key, window=WINDOW, ttl=5 * WINDOW, queue=lambda: queued.append(time.time()))

    # when a first change asks: it queues the task, and its process's next changes ask Redis nothing
    assert ask() is True and len(queued) == 1 and client.round_trips == 1
    assert ask() is False and ask() is False and client.round_trips == 1

    # when another process (nothing in mind) changes something within the window: no second task; it reads the
    # due time in that one round trip and keeps quiet until then
    coalesce.forget()
    assert ask() is False and client.round_trips == 2
    assert ask() is False and client.round_trips == 2 and len(queued) == 1

    # when the window has passed and the task is late (not started): changes ask again, and queue nothing
    time.sleep(WINDOW + 0.05)
    assert ask() is False and ask() is False and client.round_trips == 4 and len(queued) == 1

    # when the task starts (one round trip: it deletes the key): the next change queues the next task
    coalesce.started(client, key)
    assert client.round_trips == 5
    assert ask() is True and len(queued) == 2 and client.round_trips == 6


def test_a_key_that_expired_lets_the_next_change_queue_a_task(redis_key):
    client, key = redis_key
    queued = []

    def ask() -> bool:
        return coalesce.ask(client, key, window=0.05, ttl=0.1, queue=lambda: queued.append(1))

    # given a task queued whose message was lost (it never starts nor deletes the key)
    assert ask() is True
    # when the key has expired on its own
    time.sleep(0.2)
    # then the next change queues another one
    assert ask() is True and queued == [1, 1]
