"""A transaction's after-commit Redis work in one round trip (core.redis_on_commit; PostgreSQL, Redis)."""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction

from core import redis_on_commit
from tests.conftest import CountingRedis


@pytest.fixture
def redis(monkeypatch):
    client = CountingRedis(redis_on_commit.client())
    monkeypatch.setattr(redis_on_commit, "client", lambda: client)
    keys = [f"test-on-commit:{uuid.uuid4().hex}:{n}" for n in range(3)]
    yield client, keys
    client.real.delete(*keys)


def setting(key: str, value: str, into: list):
    def commands(pipe) -> int:
        pipe.set(key, value)
        pipe.get(key)
        return 2

    return commands, into.append


@pytest.mark.django_db(transaction=True)
def test_the_steps_of_one_transaction_go_in_one_round_trip_after_commit_each_with_its_replies(redis):
    client, (a, b, c) = redis
    got_a, got_b = [], []

    # when a transaction adds three steps (one with nothing to ask)
    with transaction.atomic():
        redis_on_commit.add("a", *setting(a, "1", got_a))
        redis_on_commit.add("nothing", lambda pipe: 0, lambda replies: pytest.fail("a step of no commands"))
        redis_on_commit.add("b", *setting(b, "2", got_b))
        # then nothing reaches Redis before the commit
        assert client.round_trips == 0 and client.real.get(a) is None

    # then after it, one pipeline ran every step's commands, and each step got its own replies
    assert client.round_trips == 1
    assert got_a == [[True, b"1"]] and got_b == [[True, b"2"]]
    assert client.real.get(c) is None  # nothing else was written


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_savepoint_drops_its_steps_and_a_named_step_is_asked_once(redis):
    client, (a, b, c) = redis
    got = []

    # when a transaction adds a step, a savepoint adds another and rolls back, and a named step is added twice
    with transaction.atomic():
        redis_on_commit.add("kept", *setting(a, "kept", got))
        with pytest.raises(RuntimeError), transaction.atomic():
            redis_on_commit.add("dropped", *setting(b, "dropped", got))
            raise RuntimeError("roll the savepoint back")
        redis_on_commit.add("named", *setting(c, "first", got), once="named")
        redis_on_commit.add("named", *setting(c, "second", got), once="named")

    # then the rolled-back savepoint's step never reached Redis, and the named step ran once
    assert client.real.get(b) is None
    assert client.real.get(a) == b"kept" and client.real.get(c) == b"first"
    assert got == [[True, b"kept"], [True, b"first"]]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_sends_nothing_and_outside_one_a_step_runs_at_once(redis):
    client, (a, b, _) = redis
    with pytest.raises(RuntimeError), transaction.atomic():
        redis_on_commit.add("dropped", *setting(a, "x", []))
        raise RuntimeError("roll back")
    assert client.round_trips == 0 and client.real.get(a) is None

    got = []
    redis_on_commit.add("at once", *setting(b, "now", got))
    assert got == [[True, b"now"]] and client.round_trips == 1


@pytest.mark.django_db(transaction=True)
def test_unreachable_redis_and_a_failing_step_are_logged_and_leave_the_commit_alone(redis, monkeypatch, caplog):
    from core.models import User

    client, (a, _, _) = redis

    # given a step whose replies handler fails, beside one that works
    got = []
    with transaction.atomic():
        User.objects.create(username="kept-after-commit")
        redis_on_commit.add("a failing step", *setting(a, "1", [])[:1], lambda replies: 1 / 0)
        redis_on_commit.add("a good step", *setting(a, "2", got))
    # then the good step got its replies and the failure is logged
    assert got == [[True, b"2"]]
    assert "after a commit: a failing step failed" in caplog.text

    # given Redis unreachable, when a transaction commits, then the loss is logged and the rows are there
    def down():
        raise ConnectionError("redis is down")

    monkeypatch.setattr(redis_on_commit, "client", down)
    with transaction.atomic():
        User.objects.create(username="also-kept")
        redis_on_commit.add("the thing", *setting(a, "3", []))
    assert "could not reach Redis: the thing lost" in caplog.text
    assert User.objects.filter(username__in=["kept-after-commit", "also-kept"]).count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_named_step_of_a_rolled_back_savepoint_does_not_stop_the_same_step_added_after_it(redis):
    client, (a, b, _) = redis
    got = []

    # when a savepoint adds a named step (the seal's wake-up, say) and rolls back, and the transaction then adds
    # the same named step again
    with transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():
            redis_on_commit.add("named", *setting(a, "rolled back", got), once="named")
            raise RuntimeError("roll the savepoint back")
        redis_on_commit.add("named", *setting(b, "after", got), once="named")

    # then the step added after the rollback is sent, and the rolled-back one is not
    assert client.round_trips == 1
    assert client.real.get(a) is None and client.real.get(b) == b"after"
    assert got == [[True, b"after"]]
