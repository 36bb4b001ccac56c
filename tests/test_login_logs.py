"""django-axes' login records older than LOGIN_LOG_RETENTION_DAYS are deleted every hour (core.login_logs,
core.tasks.login_logs_old_delete): axes writes one a web login and deletes none, so axes_accesslog grew a row a
login for ever (found by a soak of a live exchange). A lockout (axes_accessattempt) is never touched."""

from __future__ import annotations

from datetime import timedelta

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.test import Client
from django.utils import timezone

from core import login_logs
from core.models import Role
from core.tasks import login_logs_old_delete

PASSWORD = "pw-test-2026"


def _login(username: str, password: str = PASSWORD, *, address: str = "127.0.0.1"):
    return Client(REMOTE_ADDR=address).post("/login/", {"username": username, "password": password})


def _rows(model) -> dict[int, tuple]:
    return {r.pk: (r.username, r.ip_address, r.attempt_time) for r in model.objects.all()}


def test_the_task_deletes_old_login_records_and_leaves_young_ones_and_lockouts_alone(settings, market):
    # given an investor's three web logins and two failed ones (the failure log on), two of each a month old,
    settings.AXES_ENABLE_ACCESS_FAILURE_LOG = True
    investor = market.user(Role.INVESTOR)
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        assert _login(investor.username, address=address).status_code == 302
    for address in ("10.0.0.1", "10.0.0.2"):
        assert _login(investor.username, "wrong-password-1", address=address).status_code == 200
    month_ago = timezone.now() - timedelta(days=31)
    old_logs = list(AccessLog.objects.order_by("pk").values_list("pk", flat=True)[:2])
    old_failures = list(AccessFailureLog.objects.order_by("pk").values_list("pk", flat=True))
    AccessLog.objects.filter(pk__in=old_logs).update(attempt_time=month_ago)
    AccessFailureLog.objects.filter(pk__in=old_failures).update(attempt_time=month_ago)
    # and another user locked out from an address
    locked = market.user(Role.INVESTOR)
    answers = [_login(locked.username, "wrong-password-1").status_code for _ in range(settings.AXES_FAILURE_LIMIT)]
    assert answers[-1] == 429
    attempts_before = {a.pk: (a.username, a.failures_since_start, a.attempt_time) for a in AccessAttempt.objects.all()}
    logs_kept = {pk: row for pk, row in _rows(AccessLog).items() if pk not in old_logs}
    failures_kept = {pk: row for pk, row in _rows(AccessFailureLog).items() if pk not in old_failures}
    assert len(logs_kept) == 1 and len(failures_kept) == settings.AXES_FAILURE_LIMIT

    # when the hourly task runs
    deleted = login_logs_old_delete.apply().get()

    # then the month-old records are gone, the others are as they were
    assert deleted == 4
    assert _rows(AccessLog) == logs_kept
    assert _rows(AccessFailureLog) == failures_kept
    # and the lockout is untouched: the right password from that address is still refused
    assert {a.pk: (a.username, a.failures_since_start, a.attempt_time) for a in AccessAttempt.objects.all()} == (
        attempts_before
    )
    assert _login(locked.username).status_code == 429
    # and a second run deletes nothing more
    assert login_logs_old_delete.apply().get() == 0


def test_old_login_records_are_deleted_in_batches_until_none_is_left(market):
    # given seven logins a month old and one of today
    investor = market.user(Role.INVESTOR)
    for _ in range(8):
        assert _login(investor.username).status_code == 302
    young = AccessLog.objects.order_by("-pk").values_list("pk", flat=True)[0]
    AccessLog.objects.exclude(pk=young).update(attempt_time=timezone.now() - timedelta(days=40))

    # when they are deleted two a transaction
    deleted = login_logs.old_delete(batch=2)

    # then all seven went, over four batches, and today's stayed
    assert deleted == 7
    assert list(AccessLog.objects.values_list("pk", flat=True)) == [young]


def test_a_retention_of_zero_keeps_every_record(settings, market):
    investor = market.user(Role.INVESTOR)
    assert _login(investor.username).status_code == 302
    AccessLog.objects.update(attempt_time=timezone.now() - timedelta(days=3650))
    before = _rows(AccessLog)
    settings.LOGIN_LOG_RETENTION_DAYS = 0

    assert login_logs.old_delete() == 0
    assert _rows(AccessLog) == before


def test_beat_runs_it_every_hour_at_background_priority():
    entries = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "core.tasks.login_logs_old_delete"]
    assert len(entries) == 1 and entries[0]["schedule"] == 3600.0
    assert settings.CELERY_TASK_ROUTES["core.tasks.login_logs_old_delete"] == {
        "priority": settings.CELERY_BACKGROUND_PRIORITY
    }
    assert settings.LOGIN_LOG_RETENTION_DAYS == 30
