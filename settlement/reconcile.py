"""Settlements reconciled with their entries, checked by ``ledger_verify`` (registered from
``SettlementConfig.ready``).

* every ``Settlement`` row points at a SETTLEMENT entry that names its trade
  (a gross entry its ``trade_id``, a net entry among its ``trade_ids``);
* every sealed SETTLEMENT entry names exactly the trades whose rows point at it;
* a trade is ``settled`` exactly when it has a settlement row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping

from django.utils.translation import gettext_noop as _

from exchange.models import Trade
from ledger.hooks import BusinessCheck
from ledger.verification import CHUNK, Problem, Report

from .models import Settlement


def _trade_ids(kind: str, payload: dict) -> frozenset[int]:
    """The trades a SETTLEMENT entry settles, read as it is stored (gross: one, net: the window's)."""
    if payload.get("mode") == "net":
        return frozenset(int(t) for t in payload.get("trade_ids", []))
    return frozenset([int(payload["trade_id"])]) if "trade_id" in payload else frozenset()


def _check_settlements(report: Report, entries: Mapping[int, frozenset[int]], waiting: Callable[[], set[int]]) -> None:
    rows: dict[int, set[int]] = defaultdict(set)
    for trade_id, entry_id in Settlement.objects.order_by("id").values_list("trade_id", "entry_id").iterator(CHUNK):
        rows[entry_id].add(trade_id)
        named = entries.get(entry_id)
        if named is None:
            if entry_id not in waiting():
                report.problems.append(
                    Problem(
                        _("the settlement of trade %(trade)s has no sealed SETTLEMENT entry"),
                        entry_id=entry_id,
                        params={"trade": trade_id},
                    )
                )
        elif trade_id not in named:
            report.problems.append(
                Problem(
                    _("the settlement of trade %(trade)s points at an entry that does not settle it"),
                    entry_id=entry_id,
                    params={"trade": trade_id},
                )
            )
    for entry_id, named in sorted(entries.items()):
        if set(named) != rows.get(entry_id, set()):
            missing = sorted(set(named) - rows.get(entry_id, set()))
            if missing:
                report.problems.append(
                    Problem(
                        _("SETTLEMENT entry without the settlement rows of trades %(trades)s"),
                        entry_id=entry_id,
                        params={"trades": ", ".join(map(str, missing))},
                    )
                )
    settled_without_row = Trade.objects.filter(status=Trade.Status.SETTLED, settlement__isnull=True).values_list(
        "id", flat=True
    )[:20]
    rows_of_unsettled = Settlement.objects.exclude(trade__status=Trade.Status.SETTLED).values_list(
        "trade_id", flat=True
    )[:20]
    for trade_id in settled_without_row:
        report.problems.append(
            Problem(_("trade %(trade)s is settled without a settlement"), params={"trade": trade_id})
        )
    for trade_id in rows_of_unsettled:
        report.problems.append(
            Problem(_("trade %(trade)s has a settlement but is not settled"), params={"trade": trade_id})
        )


def _settlement_rows() -> tuple[list[tuple[int, int]], bool]:
    """Every settlement row as (entry id, trade id), and whether a trade's status disagrees with whether it
    has a settlement row: read whole for the fast pass."""
    pairs = list(Settlement.objects.values_list("entry_id", "trade_id"))
    status = (
        Trade.objects.filter(status=Trade.Status.SETTLED, settlement__isnull=True).exists()
        or Settlement.objects.exclude(trade__status=Trade.Status.SETTLED).exists()
    )
    return pairs, status


def _settlements_agree(
    report: Report, read: tuple[list[tuple[int, int]], bool], entries: Mapping[int, frozenset[int]], waiting
) -> bool:
    """``_check_settlements``' meaning: a row of a sealed entry is one of the trades it names, every named
    trade has its row, a row of an entry not sealed is waiting; statuses agree with rows."""
    pairs, status_differs = read
    if status_differs:
        return False
    named = {(eid, tid) for eid, tids in entries.items() for tid in tids}
    rows = set(pairs)
    if rows == named:
        return True
    unsealed = {eid for eid, _ in rows if eid not in entries}
    return {pair for pair in rows if pair[0] in entries} == named and unsealed <= waiting()


SETTLEMENTS_CHECK = BusinessCheck(
    name="settlements",
    kinds=frozenset({"SETTLEMENT"}),
    extract=_trade_ids,
    check=_check_settlements,
    read=_settlement_rows,
    agrees=_settlements_agree,
)
