"""The hooks notifications listens to (registered by ``NotificationsConfig.ready``): each records the event and
its facts in the outbox (``models.Outbox``) inside the event's own transaction (``core.hooks.AfterCommit``,
``in_transaction``), so the record commits with the change or not at all; the commit then queues
``notify_pending``, and beat's sweep delivers what a lost message left (a fault walk lost about a hundred
"settled" notices each time Redis went away with its queue, when the hooks queued a task after commit).

Fills are announced per block, once their trades are sealed (``ledger.hooks.in_seal``, in the sealing
transaction, about a tenth of a second after the fill): one record for all the fills of a block instead of one
per order on the order path, where queuing a Celery task cost more CPU than a fill's SQL (issue 15).

The listeners are made once, at import, so a second ``ready()`` registers nothing twice."""

from __future__ import annotations

from functools import partial

from balances import hooks as balances_hooks
from exchange import hooks as exchange_hooks
from kyc import hooks as kyc_hooks
from ledger import hooks as ledger_hooks
from settlement import hooks as settlement_hooks
from supervision import hooks as supervision_hooks

from . import services


def _record(event: str, /, **facts) -> None:
    services.outbox_record(event=event, facts=facts)


def block_sealed(height: int) -> None:
    """A ``ledger.hooks.in_seal`` hook: the fills of the block's trades, recorded with the block."""
    services.outbox_record(event="block_sealed", facts={"height": height})


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
LISTENERS = [(hook, partial(_record, hook.name.split(".", 1)[1])) for hook in HOOKS]


def register() -> None:
    for hook, listener in LISTENERS:
        hook.register(listener, in_transaction=True)
    ledger_hooks.register_in_seal(block_sealed)
