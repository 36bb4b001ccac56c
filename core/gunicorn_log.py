"""gunicorn's access log without the pages' background refreshes (``scripts/stack.py serve``, ``make run``).

An open page refreshes parts of itself every few seconds (``static/js/poll.js``, ``bell.js``, ``security.js``,
``session.js``; each sends ``X-Exchange-Poll: 1``, which ``core.middleware`` already reads as "not the user's
activity"). Each refresh was a line of the access log for as long as the page stayed open, whether anything
happened or not: four idle pages wrote 12 KB a minute, 17 MB a day, to the console (found by a soak of a live
exchange). A refresh answered with an error (4xx, 5xx) is still logged, as is every other request.

No Django here: gunicorn's master loads this class before any worker loads the application.
"""

from __future__ import annotations

from gunicorn.glogging import Logger

# The WSGI environ's name of the X-Exchange-Poll header (core.middleware.POLL_HEADER).
POLL_ENVIRON = "HTTP_X_EXCHANGE_POLL"


class QuietPolls(Logger):
    """gunicorn's logger, less the access lines of background refreshes that succeeded."""

    def access(self, resp, req, environ, request_time):
        status = getattr(resp, "status_code", None)
        if environ.get(POLL_ENVIRON) and status is not None and status < 400:
            return
        super().access(resp, req, environ, request_time)
