"""``GET /events/``: the signed-in user's server-sent events (``core.events``)."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connections
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import translation
from django.views.decorators.cache import never_cache

from . import events
from .roles import STAFF_ROLES

# Open streams of this process. Each holds one of the web server's threads for as long as the page is open; a
# process whose every thread held a stream would leave the requests it is handed waiting, while other
# processes sit idle (gunicorn does not share connections out evenly). So a process serves at most
# LIVE_MAX_STREAMS at once and answers the next pages 204: their EventSource does not reconnect, and they
# poll at their usual pace, as they do when live events are off.


class _Slots:
    """The stream slots of this process. A stream gives its slot back to the pool it took it from, so a pool
    put in another's place (a test counting from none) is not touched by the streams of the one before."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.open = 0

    def take(self) -> bool:
        with self._lock:
            if self.open >= settings.LIVE_MAX_STREAMS:
                return False
            self.open += 1
            return True

    def give(self) -> None:
        with self._lock:
            self.open -= 1


_slots = _Slots()


class _Stream:
    """The stream's bytes. Its slot is given back once: when the server closes the response (WSGI calls
    ``close`` after the last byte, on a dropped connection, and for a response it never started to send), or
    else when the response is dropped unclosed (a middleware that replaced it), as the object is collected."""

    def __init__(self, names: list[str], slots: _Slots) -> None:
        self.names = names
        self.bytes: Iterator[bytes] | None = None
        self.release = weakref.finalize(self, slots.give)  # runs at most once

    def __iter__(self) -> _Stream:
        return self

    def __next__(self) -> bytes:
        if self.bytes is None:
            # The stream reads Redis only: give this thread's database connection back before waiting, so
            # that open pages do not hold PostgreSQL connections (the middleware is done with the request).
            connections.close_all()
            self.bytes = events.stream(self.names, seconds=settings.LIVE_STREAM_SECONDS)
        return next(self.bytes)

    def close(self) -> None:
        try:
            if self.bytes is not None:
                self.bytes.close()
        finally:
            self.release()


@login_required
@never_cache
def stream(request):
    if not settings.LIVE_EVENTS:
        return HttpResponse(status=204)  # no live events here: the pages poll at their usual pace
    if request.user.role in STAFF_ROLES:
        # Staff sessions end after a while without activity, which an open stream would hide: their pages
        # poll. 204 tells the browser's EventSource not to reconnect.
        return HttpResponse(status=204)
    slots = _slots
    if not slots.take():
        return HttpResponse(status=204)  # this process holds as many streams as it may: the page polls
    language = translation.get_language() or settings.LANGUAGE_CODE
    names = [events.language_channel("market", language), events.user_channel(request.user.pk)]
    response = StreamingHttpResponse(_Stream(names, slots), content_type="text/event-stream")
    response["X-Accel-Buffering"] = "no"  # a proxy in front must not hold the stream back
    return response
