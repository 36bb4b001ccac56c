"""What the apps above the registry do when a security changes (``registry.listing``).

The trading app registers a listener from its ``AppConfig.ready``; the registry
calls every listener inside the transaction that changes the security, under
its row lock. A listener returns the ids of the resting orders it cancelled,
and may raise a ``DomainError`` to refuse the change (nothing is then written).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from .models import Security

Listener = Callable[[Security, set[str], dt.datetime, str], list[int]]
listeners: list[Listener] = []


def register_security_changed(fn: Listener) -> None:
    if fn not in listeners:
        listeners.append(fn)


def security_changed(security: Security, fields: set[str], *, now: dt.datetime, reason: str) -> list[int]:
    """Run the listeners; ``fields`` names what changed ("status" for a delisting). Returns cancelled order ids."""
    cancelled: list[int] = []
    for fn in listeners:
        cancelled += fn(security, fields, now, reason)
    return sorted(cancelled)
