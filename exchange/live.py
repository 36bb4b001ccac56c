"""What the trading pages hear without asking (``core.events``).

* ``market``: the market watch's rows and session, the same JSON as ``market/data/``, published (coalesced,
  per language) after any transaction that locked a security's book (``book.lock_security``: orders, quotes,
  RFQ, negotiated transfers, listing changes).
* ``trade`` on a party's own channel: one of their trades was matched, sealed or settled; their trades page
  then asks for the changed rows at once instead of at its next poll.
"""

from __future__ import annotations

from collections.abc import Iterable

from core import events

from . import market_watch
from .models import Trade


def market_payload() -> dict:
    """What the market watch's open pages are sent: the page's own rows, labels in the active language."""
    return market_watch.payload()


def market_changed() -> None:
    events.publish_coalesced("market")


def trades_changed(trades: Iterable[tuple[int, int | None, int | None]], what: str) -> None:
    """After commit, tell each party's pages that these trades changed (``what``: matched, sealed, settled).
    ``trades``: (trade id, buyer's owner id, seller's owner id)."""
    owners: dict[int, list[int]] = {}
    for trade_id, *parties in trades:
        for owner in parties:
            if owner is not None:
                owners.setdefault(owner, []).append(trade_id)
    events.publish_many_on_commit(
        [(events.user_channel(owner), "trade", {"ids": ids, "what": what}) for owner, ids in owners.items()]
    )


_PARTIES = ("pk", "buyer__owner_id", "seller__owner_id")


def block_sealed(height: int) -> None:
    """A ``ledger.hooks.after_seal`` hook: the block's trades are sealed now."""
    trades_changed(Trade.objects.filter(entry__leaf__block_id=height).values_list(*_PARTIES), "sealed")


def trades_ids_changed(trade_ids: list[int], what: str) -> None:
    """Like ``trades_changed``, from ids (an ``AfterCommit`` listener of the apps above: settled, held…)."""
    trades_changed(Trade.objects.filter(pk__in=trade_ids).values_list(*_PARTIES), what)
