"""Live updates without polling: server-sent events over Redis pub/sub.

A page opens one ``EventSource`` on ``/events/`` (``core.event_views.stream``); the stream subscribes to the
public ``market:<language>`` channel and to the signed-in user's own ``user:<id>`` channel, and forwards
what is published there as SSE (``event: <name>`` / ``data: <json>``). Pages keep polling as the fallback,
slowly while the stream is open (``static/js/events.js`` holds the page's one stream, ``static/js/poll.js``
the polling).

Publishing happens after commit, never inside a transaction that may still roll back:

* ``publish_many_on_commit([(channel, event, data), …])``: a message each, for users' own news (a trade of
  theirs changed, a notification), in one round trip.
* ``publish_coalesced(channel, event)``: for what everyone watches (the market): the first change of a quiet
  moment queues ``core.tasks.publish_built`` to run ``LIVE_COALESCE`` seconds later; it builds the payload
  then (with every change of the window in it) with the builder the owning app registered
  (``register_builder``) and publishes it once. A burst of trades makes one message, and each open page gets
  the new rows in it without asking the server again.

Redis failures are logged and never reach the caller, whose transaction has committed: the pages' polling
picks the change up.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator

import redis
from django.conf import settings
from django.core.cache import cache as django_cache
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import translation

from . import coalesce, redis_on_commit

log = logging.getLogger(__name__)

builders: dict[str, tuple[str, Callable[[], dict]]] = {}  # channel → (event name, payload builder)


def register_builder(channel_name: str, event: str, build: Callable[[], dict]) -> None:
    builders[channel_name] = (event, build)


def channel(name: str) -> str:
    return django_cache.make_key(f"sse:{name}")


def user_channel(user_id: int) -> str:
    return f"user:{user_id}"


def redis_client() -> redis.Redis:
    return redis_on_commit.client()


def publish_many_on_commit(messages: list[tuple[str, str, dict]]) -> None:
    """After commit, publish each ``(channel, event, data)``, in the transaction's one round trip to Redis
    (``core.redis_on_commit``)."""
    if not settings.LIVE_EVENTS or not messages:
        return
    encoded = [(channel(name), sse(event, json.dumps(data, cls=DjangoJSONEncoder))) for name, event, data in messages]

    def commands(pipe) -> int:
        for name, message in encoded:
            pipe.publish(name, message)
        return len(encoded)

    # The pages' polling is the fallback.
    redis_on_commit.add(f"{len(encoded)} live events", commands)


def _pending_key(name: str) -> str:
    return django_cache.make_key(f"sse-pending:{name}")


def publish_coalesced(name: str) -> None:
    """After commit, make sure a fresh ``name`` payload is published within ``LIVE_COALESCE`` seconds (asked
    once per transaction, in its one round trip to Redis)."""
    if not settings.LIVE_EVENTS or name not in builders:
        return
    window = settings.LIVE_COALESCE

    def queue() -> None:
        from .tasks import publish_built

        publish_built.apply_async((name,), countdown=window, queue=settings.CELERY_TASK_DEFAULT_QUEUE)

    coalesce.ask_on_commit(
        _pending_key(name), window=window, ttl=window, queue=queue, what=f"the publication of {name}"
    )


def language_channel(name: str, language: str) -> str:
    return f"{name}:{language}"


def publish_now(name: str) -> int:
    """Build and publish ``name``'s payload (the task), once per language of the site, since its labels are
    translated: the number of subscribers that got it."""
    coalesce.started(redis_client(), _pending_key(name))  # later changes queue another one
    event, build = builders[name]
    reached = 0
    for language, _label in settings.LANGUAGES:
        with translation.override(language):
            message = sse(event, json.dumps(build(), cls=DjangoJSONEncoder))
        try:
            reached += redis_client().publish(channel(language_channel(name, language)), message)
        except redis.RedisError:
            log.warning("could not publish %s", name, exc_info=True)
    return reached


# --- The stream -------------------------------------------------------------------------------------------


def sse(event: str, data: str) -> bytes:
    """One server-sent event. What is published on a channel is this frame itself (``data`` one line of JSON),
    so a stream passes it on as it comes: an open page costs no decoding or encoding of what it is sent."""
    return f"event: {event}\ndata: {data}\n\n".encode()


def stream(names: list[str], *, seconds: float, heartbeat: float = 15.0) -> Iterator[bytes]:
    """SSE bytes of what is published on ``names`` for ``seconds`` (then the browser reconnects by itself).
    Between messages the thread waits on Redis until the next keep-alive is due (a dropped page is noticed
    when that is written), not waking every second: 200 open pages are 200 idle threads, not 200 wake-ups a
    second."""
    pubsub = redis_client().pubsub(ignore_subscribe_messages=True)
    try:
        pubsub.subscribe(*[channel(n) for n in names])
        yield b"retry: 3000\n" + sse("hello", json.dumps({"channels": names}))
        end = time.monotonic() + seconds
        beat = time.monotonic() + heartbeat
        while (now := time.monotonic()) < end:
            message = pubsub.get_message(timeout=max(0.0, min(beat, end) - now))
            if message is not None and message["type"] == "message":
                frame = message["data"]
                if not frame.startswith(b"event: "):
                    # Published by a process of the release before, during a rolling upgrade: {event, data}.
                    body = json.loads(frame)
                    frame = sse(body["event"], json.dumps(body["data"]))
                yield frame
            elif time.monotonic() >= beat:
                yield b": keep-alive\n\n"
                beat = time.monotonic() + heartbeat
    finally:
        pubsub.close()
