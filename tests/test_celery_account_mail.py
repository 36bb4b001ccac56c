"""The account mails end to end with a real Celery worker on Redis (committed transactions, PostgreSQL): the
request queues, the worker sends over SMTP (a small SMTP server in this process)."""

from __future__ import annotations

import email
import re
import socketserver
import threading
import time
import uuid
from email import policy

import pytest
from django.core.cache import cache
from django.test import Client

from config.celery import app as celery_app
from core.models import AuditEvent, Role, User
from tests.workers import Stack, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.celery]

PASSWORD = "pw-test-2026"


class _Smtp(socketserver.StreamRequestHandler):
    """Just enough SMTP for Django's backend: every command accepted, each message's text kept."""

    def reply(self, line: bytes) -> None:
        self.wfile.write(line + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        self.server.connections += 1
        self.reply(b"220 test")
        lines: list[bytes] | None = None
        while line := self.rfile.readline():
            if lines is not None:
                if line.rstrip(b"\r\n") == b".":
                    self.server.received.append(b"".join(lines))
                    lines = None
                    self.reply(b"250 queued")
                else:
                    lines.append(line[1:] if line.startswith(b"..") else line)
                continue
            verb = line[:4].upper()
            if verb == b"DATA":
                lines = []
                self.reply(b"354 go on")
            elif verb == b"QUIT":
                self.reply(b"221 bye")
                return
            else:
                self.reply(b"250 ok")


@pytest.fixture
def smtp_server():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    server.daemon_threads = True
    server.received, server.connections = [], 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_a_reset_answered_by_the_web_is_mailed_by_the_worker(tmp_path, settings, smtp_server, monkeypatch):
    # given a user with an address, and a web process and a worker whose mail goes to one SMTP server
    settings.PASSWORD_RESET_IP_RATE = settings.PASSWORD_RESET_ADDRESS_RATE = "100000/hour"
    cache.delete("password-reset:ip:127.0.0.1")
    address = f"{uuid.uuid4().hex[:12]}@example.com"
    user = User.objects.create_user(
        username=f"mail{uuid.uuid4().hex[:8]}", password=PASSWORD, role=Role.INVESTOR, email=address
    )
    mail_server = {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_server.server_address[1]),
    }
    for name, value in mail_server.items():  # this (web) process's too, so that a mail it sent would show
        setattr(settings, name, int(value) if name == "EMAIL_PORT" else value)
    stack = Stack(tmp_path)
    stack.env.update(mail_server)
    settings.CELERY_TASK_DEFAULT_QUEUE = stack.queue
    # Celery keeps the default queue it first sent to (a cached property of its AMQP helper), maybe before this
    # test in a whole run: the mail's task, sent with no queue of its own, would go where no worker of this stack
    # reads (found by the full suite: it passed alone). Its own copy is this stack's for the test, restored after.
    monkeypatch.setitem(celery_app.conf, "task_default_queue", stack.queue)
    monkeypatch.setitem(vars(celery_app.amqp), "default_queue", celery_app.amqp.queues[stack.queue])
    stack.worker()
    try:
        # when a reset is asked for that address and for an unknown one, through the web
        known = Client().post("/password-reset/", {"email": address})
        unknown = Client().post("/password-reset/", {"email": f"nobody-{address}"})

        # then both answers are the same, and the web process talked to no mail server
        assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
        assert smtp_server.connections == 0

        # and the worker mails the one link, to that address only
        assert wait_for(lambda: smtp_server.received, timeout=120), stack.logs()
        time.sleep(0.5)  # a second mail, were there one, would be on its way by now
    finally:
        stack.stop()

    (raw,) = smtp_server.received
    message = email.message_from_bytes(raw, policy=policy.default)
    assert message["To"] == address and message["Subject"].endswith(" / Reset your password")
    text = message.get_content()
    assert f"Hello {user.username}," in text and "/password-reset/" in text
    # and the worker's log names the task, never the link nor the address
    (path,) = set(re.findall(r"/password-reset/[^\s]+", text))
    logs = stack.logs()
    assert "core.tasks.account_mail" in logs and path not in logs and address not in logs
    assert AuditEvent.objects.filter(action="password_reset_request", actor=user, outcome="ok").count() == 1
