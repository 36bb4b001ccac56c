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

from django.db import connection
from django.utils.translation import gettext_noop as _

from exchange.models import Trade
from ledger.hooks import BusinessCheck
from ledger.verification import CHUNK, Problem, Report, rows_tally

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


def _settlement_rows(lo: int, hi: int) -> list[tuple[int, int]]:
    """The settlement rows of the entries lo..hi as (entry id, trade id), for the fast pass."""
    with connection.cursor() as cur:
        table = connection.ops.quote_name(Settlement._meta.db_table)
        cur.execute(f"SELECT entry_id, trade_id FROM {table} WHERE entry_id BETWEEN %s AND %s", [lo, hi])
        return cur.fetchall()


def _settlements_agree(rows: list[tuple[int, int]], entries: Mapping[int, frozenset[int]]) -> int | None:
    """``_check_settlements``' meaning, for one chunk's entries: each names exactly the trades whose rows point at
    it (one row a trade: two alike are a doubt)."""
    named = {(eid, tid) for eid, tids in entries.items() for tid in tids}
    pairs = set(rows)
    return len(rows) if len(pairs) == len(rows) and pairs == named else None


def _settlements_tally(report: Report) -> int | None:
    """The rows the chunks must account for; ``None`` when a trade's status disagrees with whether it has a
    settlement row."""
    if (
        Trade.objects.filter(status=Trade.Status.SETTLED, settlement__isnull=True).exists()
        or Settlement.objects.exclude(trade__status=Trade.Status.SETTLED).exists()
    ):
        return None
    total, waiting = rows_tally(Settlement._meta.db_table)
    return total - waiting


SETTLEMENTS_CHECK = BusinessCheck(
    name="settlements",
    kinds=frozenset({"SETTLEMENT"}),
    extract=_trade_ids,
    check=_check_settlements,
    rows_of=_settlement_rows,
    agrees=_settlements_agree,
    tally=_settlements_tally,
)
