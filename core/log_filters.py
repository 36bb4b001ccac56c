"""Logging filters for the settings' LOGGING.

``ClientErrorsWithoutTraceback``: Django logs every refused request on ``django.request`` (a 403 from a
``PermissionDenied``, a 404, a 405) with the exception's traceback, at WARNING. A refused request is the
client's error and its traceback says nothing an operator needs, while the lines bury the tracebacks of real
server errors. The record stays (method, path and status); only the traceback of a 4xx goes."""

from __future__ import annotations

import logging


class ClientErrorsWithoutTraceback(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if status is not None and 400 <= status < 500:
            record.exc_info = None
            record.exc_text = None
        return True
