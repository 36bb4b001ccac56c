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
    """Run the listeners; ``fields`` names what changed ("status" for a delisting); ``reason`` is what the orders
    they cancel keep: the changes ("lot_size 100 → 300"), or the operator's reason for a delisting. Returns
    cancelled order ids."""
    cancelled: list[int] = []
    for fn in listeners:
        cancelled += fn(security, fields, now, reason)
    return sorted(cancelled)


# --------------------------------------------------------------------------
# The security page (``registry.views``, ``/securities/<code>/``) shows what the apps above add to it: the
# trading app registers a panel (its market data: the day's figures, chart, quotes, time and sales). A panel
# function takes the request and the security and returns a dict with "template" (rendered with the panel as
# ``panel`` in its context) and whatever that template reads, or None to show nothing.

Panel = Callable[[object, Security], dict | None]
page_panels: list[Panel] = []


def register_security_panel(fn: Panel) -> None:
    if fn not in page_panels:
        page_panels.append(fn)


def security_panels(request, security: Security) -> list[dict]:
    return [panel for fn in page_panels if (panel := fn(request, security)) is not None]


# --------------------------------------------------------------------------
# How a security's holders are counted for its cap (DESIGN §2: per real person, nominee and counter accounts of
# one identity once). The count has one definition, the trading app's ``exchange.pretrade.holder_count``, which
# the buy path checks the cap with; the balances app registers ``balances.services.holders_counted``, which asks
# it (the issuance check uses the same). The registry asks it before a change sets the cap below the count.

HolderCounter = Callable[[int], int]
holder_counters: list[HolderCounter] = []


def register_holder_counter(fn: HolderCounter) -> None:
    if fn not in holder_counters:
        holder_counters.append(fn)


def holders_counted(security_id: int) -> int:
    """The security's holders as its cap counts them."""
    if not holder_counters:
        raise RuntimeError("no app counts a security's holders: the balances app registers its count when ready")
    return holder_counters[0](security_id)
