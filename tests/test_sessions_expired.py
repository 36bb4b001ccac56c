"""Web sessions past their expiry date are deleted every hour (core.sessions, core.tasks.sessions_expired_delete):
Django keeps their rows until something deletes them, and nothing did, so django_session grew a row a login for
ever (found by a soak of a live exchange)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from core import sessions
from core.models import Role, User
from core.tasks import sessions_expired_delete

pytestmark = pytest.mark.django_db


def _session(expires_in: timedelta, **data) -> str:
    store = SessionStore()
    store.update(data)
    store.create()
    Session.objects.filter(session_key=store.session_key).update(expire_date=timezone.now() + expires_in)
    return store.session_key


def test_the_task_deletes_expired_sessions_and_keeps_the_others_as_they_were():
    # given three sessions expired (a minute, a day, a year ago) and two still open (one a user logged in with)
    expired = [_session(-timedelta(minutes=1)), _session(-timedelta(days=1)), _session(-timedelta(days=365))]
    user = User.objects.create_user(username="soak-investor", password="pw-test-2026-x", role=Role.INVESTOR)
    client = Client()
    client.force_login(user)
    logged_in = client.session.session_key
    open_ = _session(timedelta(minutes=5), note="kept")
    kept_before = {
        s.session_key: (s.session_data, s.expire_date)
        for s in Session.objects.filter(session_key__in=[logged_in, open_])
    }
    assert len(kept_before) == 2

    # when the hourly task runs
    deleted = sessions_expired_delete.apply().get()

    # then the expired ones are gone, the open ones are there unchanged, and the user is still logged in
    assert deleted == 3
    assert not Session.objects.filter(session_key__in=expired).exists()
    kept_after = {
        s.session_key: (s.session_data, s.expire_date)
        for s in Session.objects.filter(session_key__in=[logged_in, open_])
    }
    assert kept_after == kept_before
    assert SessionStore(session_key=open_).load() == {"note": "kept"}
    assert SessionStore(session_key=logged_in).load()["_auth_user_id"] == str(user.pk)
    # and a second run deletes nothing more
    assert sessions_expired_delete.apply().get() == 0
    assert Session.objects.count() == 2


def test_expired_sessions_are_deleted_in_batches_until_none_is_left():
    # given more expired sessions than a batch, and one open
    expired = [_session(-timedelta(hours=i + 1)) for i in range(7)]
    open_ = _session(timedelta(days=1))

    # when they are deleted two a transaction
    deleted = sessions.expired_delete(batch=2)

    # then every expired one went, over four batches, and the open one stayed
    assert deleted == 7
    assert not Session.objects.filter(session_key__in=expired).exists()
    assert list(Session.objects.values_list("session_key", flat=True)) == [open_]


def test_beat_runs_it_every_hour_at_background_priority():
    entries = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "core.tasks.sessions_expired_delete"]
    assert len(entries) == 1 and entries[0]["schedule"] == 3600.0
    assert settings.CELERY_TASK_ROUTES["core.tasks.sessions_expired_delete"] == {
        "priority": settings.CELERY_BACKGROUND_PRIORITY
    }
