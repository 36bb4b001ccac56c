"""``core.idempotency.made_once``: the one path by which an order, a request for quote and a negotiated proposal
are made once per client key (each of them is tested through its service; these pin the branches they share)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError

from core import errors as err
from core.idempotency import made_once
from core.models import AuditEvent


def test_what_is_made_is_answered_as_made(db):
    made = made_once(lambda: "new", index="x_unique", first=lambda: pytest.fail("looked up"), refused=pytest.fail)
    assert made == ("new", True)


def test_the_keys_index_refusing_a_twin_sent_at_once_answers_the_first_and_writes_nothing(db):
    # given a make that writes, then meets the key's index (the twin sent at once made it first)
    def make():
        AuditEvent.objects.create(action="login")
        raise IntegrityError('duplicate key value violates unique constraint "x_unique"')

    # when it is made once, then the first is answered and the make's write is rolled back
    assert made_once(make, index="x_unique", first=lambda: "first", refused=pytest.fail) == ("first", False)
    assert not AuditEvent.objects.exists()


def test_another_integrity_error_is_raised_as_it_is(db):
    def make():
        raise IntegrityError('violates check constraint "y_positive"')

    with pytest.raises(IntegrityError):
        made_once(make, index="x_unique", first=lambda: pytest.fail("looked up"), refused=pytest.fail)


def test_a_refused_retry_answers_the_first_and_a_refusal_with_nothing_before_is_raised_after_refused(db):
    def make():
        raise err.InsufficientCash()

    # a retry whose check refuses (the first spent the cash) answers the first, not the refusal
    assert made_once(make, index="x_unique", first=lambda: "first", refused=pytest.fail) == ("first", False)

    # a refusal with nothing made before: ``refused`` is asked first (it may raise a truer refusal), then it is raised
    seen = []
    with pytest.raises(err.InsufficientCash):
        made_once(make, index="x_unique", first=lambda: None, refused=seen.append)
    assert [type(e) for e in seen] == [err.InsufficientCash]

    def truer(exc):
        raise err.AccountFrozen() from exc

    with pytest.raises(err.AccountFrozen):
        made_once(make, index="x_unique", first=lambda: None, refused=truer)
