"""``GET /events/``: the signed-in user's server-sent events (``core.events``)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connections
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import translation
from django.views.decorators.cache import never_cache

from . import events
from .roles import STAFF_ROLES


def _without_database(names: list[str]):
    # The stream reads Redis only: give this thread's database connection back before waiting, so that open
    # pages do not hold PostgreSQL connections (the middleware is done with the request by now).
    connections.close_all()
    yield from events.stream(names, seconds=settings.LIVE_STREAM_SECONDS)


@login_required
@never_cache
def stream(request):
    if not settings.LIVE_EVENTS:
        return HttpResponse(status=204)  # no live events here: the pages poll at their usual pace
    if request.user.role in STAFF_ROLES:
        # Staff sessions end after a while without activity, which an open stream would hide: their pages
        # poll. 204 tells the browser's EventSource not to reconnect.
        return HttpResponse(status=204)
    language = translation.get_language() or settings.LANGUAGE_CODE
    names = [events.language_channel("market", language), events.user_channel(request.user.pk)]
    response = StreamingHttpResponse(_without_database(names), content_type="text/event-stream")
    response["X-Accel-Buffering"] = "no"  # a proxy in front must not hold the stream back
    return response
