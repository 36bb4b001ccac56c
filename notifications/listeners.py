"""The hooks notifications listens to (registered by ``NotificationsConfig.ready``): each queues the ``notify``
task with the event's facts. The hooks call them after the event's transaction committed
(``core.hooks.AfterCommit``), so the task finds the rows.

Fills are announced per block, once their trades are sealed (``ledger.hooks.after_seal``, run by the seal task
after its commit, about a tenth of a second after the fill): one task for all the fills of a block instead of
a message per order on the order path, where queuing a Celery task cost more CPU than a fill's SQL (issue 15).

The listeners are made once, at import, so a second ``ready()`` registers nothing twice."""

from __future__ import annotations

from functools import partial

from balances import hooks as balances_hooks
from exchange import hooks as exchange_hooks
from kyc import hooks as kyc_hooks
from ledger import hooks as ledger_hooks
from settlement import hooks as settlement_hooks
from supervision import hooks as supervision_hooks

from . import tasks


def _queue(event: str, /, **facts) -> None:
    tasks.notify.delay(event, facts)


def block_sealed(height: int) -> None:
    """A ``ledger.hooks.after_seal`` hook: the fills of the block's trades."""
    tasks.notify.delay("block_sealed", {"height": height})


HOOKS = [
    exchange_hooks.rfq_answered,
    exchange_hooks.negotiated_proposed,
    exchange_hooks.negotiated_ended,
    exchange_hooks.orders_closed,
    settlement_hooks.trades_settled,
    settlement_hooks.settlement_acted,
    kyc_hooks.kyc_decided,
    supervision_hooks.freeze_changed,
    supervision_hooks.assets_moved,
    balances_hooks.issuance_approved,
    balances_hooks.cash_deposited,
    balances_hooks.cash_withdrawn,
]
LISTENERS = [(hook, partial(_queue, hook.name.split(".", 1)[1])) for hook in HOOKS]


def register() -> None:
    for hook, listener in LISTENERS:
        hook.register(listener)
    ledger_hooks.register_after_seal(block_sealed)
