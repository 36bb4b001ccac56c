"""A client's idempotency key on what it asks to be made (an order's ``client_order_id``, a proposal's or a
request's ``client_request_id``): a retry with the key answers what was made first, and makes nothing; the key
sent again with other terms is a conflict, and changes nothing. Each kind of row keeps its maker's keys unique
(an index), so two sent at once make one: the second, waiting on the index, finds the first."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils.translation import gettext

from . import errors as err

KEY_MAX_LENGTH = 64

Row = TypeVar("Row")
Made = TypeVar("Made")


def key_checked(key: str) -> str:
    """The key, or ``InvalidInput`` when it is longer than its column: a service called other than through the API
    (whose field checks it) is told so, not the database."""
    if len(key) > KEY_MAX_LENGTH:
        raise err.InvalidInput(gettext("client_request_id must be 1 to 64 characters."), field="client_request_id")
    return key


def made_before(
    rows: QuerySet[Row], same: Callable[[Row], bool], conflict: type[err.DomainError] = err.RequestIdConflict
) -> Row | None:
    """What the client made before with its key (``rows``: the maker's rows of that key, one at most), or None;
    ``conflict`` when it was made on other terms than those asked now (``same`` says whether they are the same)."""
    first = rows.first()
    if first is not None and not same(first):
        raise conflict()
    return first


def made_once(
    make: Callable[[], Made],
    *,
    index: str,
    first: Callable[[], Made | None],
    refused: Callable[[err.DomainError], None],
) -> tuple[Made, bool]:
    """``make()`` in a transaction of its own: (what it made, True). A retry answers (``first()``, False), what the
    key made before (nearly everything asked is new, so it is looked up only when ``make`` fails): refused by the
    key's unique ``index`` (the same key sent at once, made by the other), or by a check (one made before with the
    key may have spent the cash, or the market may have closed since). A check's refusal with nothing made before is
    raised, after ``refused(exc)``, which may raise a truer one instead."""
    try:
        with transaction.atomic():
            return make(), True
    except IntegrityError as exc:
        if index not in str(exc):
            raise
        made = first()
        if made is None:  # pragma: no cover - the index says it exists
            raise
        return made, False
    except err.DomainError as exc:
        made = first()
        if made is None:
            refused(exc)
            raise
        return made, False
