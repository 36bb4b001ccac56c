"""The server's log: a refused request (4xx) is one line without a traceback; a server error keeps its
traceback (core.log_filters, wired in the settings' LOGGING)."""

from __future__ import annotations

import logging
import sys

from core.log_filters import ClientErrorsWithoutTraceback


def _console():
    """The handler the settings give the root logger (what gunicorn's and the workers' output shows)."""
    return next(
        h
        for h in logging.getLogger().handlers
        if any(isinstance(f, ClientErrorsWithoutTraceback) for f in getattr(h, "filters", []))
    )


def _record(status: int) -> logging.LogRecord:
    try:
        raise PermissionError("refused")
    except PermissionError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("django.request", logging.WARNING, __file__, 1, "Forbidden: %s", ("/x/",), exc_info)
    record.status_code = status
    return record


def test_a_refused_request_is_logged_without_its_traceback_and_a_server_error_with_it():
    # Given the console handler of the settings
    console = _console()
    refused, failed = _record(403), _record(500)

    # When each record passes its filters
    kept = console.filter(refused), console.filter(failed)

    # Then both are logged; the 403 without its traceback, the 500 with it, message and status unchanged
    assert kept == (True, True) or kept == (refused, failed)
    assert refused.exc_info is None and console.format(refused) == "Forbidden: /x/"
    assert failed.exc_info is not None and "PermissionError: refused" in console.format(failed)
    assert (refused.status_code, failed.status_code) == (403, 500)
