"""Events a lower app announces and a higher app listens to, after the transaction commits.

A lower app cannot import the apps above it (docs/architecture.md), so where something worth telling happens
(a trade matched, a trade settled, a KYC decision, a freeze) its service calls ``fire`` on an ``AfterCommit``
point it owns (``exchange.hooks``, ``settlement.hooks``, ``kyc.hooks``, ``supervision.hooks``), and a higher
app (``notifications``) registers a listener from its ``AppConfig.ready``.

Each listener runs once the surrounding transaction commits (``transaction.on_commit``), so a rolled-back
change announces nothing and a listener never sees rows that are not there yet. The facts are ids and small
JSON values, fit to pass on to a Celery task. A listener that raises is logged, never undoes the change
(``robust``): the change is committed by then.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction


class AfterCommit:
    """A named list of listeners, each called with the event's keyword facts after commit.

    A listener registered ``in_transaction=True`` is called at once instead, inside the transaction that fires
    the event, so that what it writes (an outbox row: ``notifications``) commits or rolls back with the change
    itself; it must only write rows of its own app, and an error it raises undoes the change."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.listeners: list[Callable[..., Any]] = []
        self.in_transaction: list[Callable[..., Any]] = []

    def register(self, fn: Callable[..., Any], *, in_transaction: bool = False) -> None:
        where = self.in_transaction if in_transaction else self.listeners
        if fn not in where:
            where.append(fn)

    def fire(self, **facts: Any) -> None:
        for fn in self.in_transaction:
            fn(**facts)
        for fn in self.listeners:
            transaction.on_commit(_bound(fn, facts), robust=True)


def _bound(fn: Callable[..., Any], facts: dict[str, Any]) -> Callable[[], None]:
    # A plain function, not functools.partial: Django names a robust callback that raised by its __qualname__.
    def after_commit() -> None:
        fn(**facts)

    after_commit.__qualname__ = f"after_commit({getattr(fn, '__qualname__', repr(fn))})"
    return after_commit
