"""The web server's access log leaves out the pages' background refreshes that succeeded (core.gunicorn_log): an
open page wrote a line every few seconds for as long as it stayed open (found by a soak of a live exchange)."""

from __future__ import annotations

import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from gunicorn import util
from gunicorn.config import Config

from core.gunicorn_log import QuietPolls

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def access_log(tmp_path):
    path = tmp_path / "access.log"
    cfg = Config()
    cfg.set("accesslog", str(path))
    logger = QuietPolls(cfg)
    yield logger, path
    for handler in logger.access_log.handlers:
        handler.close()
    logger.access_log.handlers.clear()


def _request(logger, path: str, status: int, *, poll: bool) -> None:
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": path,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
    }
    if poll:
        environ["HTTP_X_EXCHANGE_POLL"] = "1"
    resp = SimpleNamespace(status=f"{status} X", status_code=status, sent=12, headers=[], response_length=12)
    req = SimpleNamespace(headers=[], method="GET", path=path, query="", uri=path, version=(1, 1))
    logger.access(resp, req, environ, datetime.timedelta(milliseconds=5))
    for handler in logger.access_log.handlers:
        handler.flush()


def test_a_successful_background_refresh_writes_no_line_and_everything_else_does(access_log):
    logger, path = access_log
    # given a page's requests: the page itself, its refreshes (one refused, one failing), a posted order
    _request(logger, "/", 200, poll=False)
    _request(logger, "/market/data/", 200, poll=True)
    _request(logger, "/api/v1/notifications/", 304, poll=True)
    _request(logger, "/market/data/", 403, poll=True)
    _request(logger, "/market/data/", 503, poll=True)
    _request(logger, "/market/data/", 200, poll=False)

    # then the refreshes that succeeded are not in the log, and every other request is, in order
    lines = path.read_text().splitlines()
    assert [line.split('"')[1] for line in lines] == [
        "GET / HTTP/1.1",
        "GET /market/data/ HTTP/1.1",
        "GET /market/data/ HTTP/1.1",
        "GET /market/data/ HTTP/1.1",
    ]
    assert [line.split('"')[2].split()[0] for line in lines] == ["200", "403", "503", "200"]


def test_the_stacks_web_server_uses_it(stack):
    # when make run's web command is built (scripts/stack.py), then it names this logger class
    cmd = stack.web_command("gunicorn", "127.0.0.1:8000", {})
    assert cmd[cmd.index("--logger-class") + 1] == "core.gunicorn_log.QuietPolls"
    # and gunicorn finds the class by that name, as its master does at start
    assert util.load_class("core.gunicorn_log.QuietPolls", section="gunicorn.loggers") is QuietPolls
