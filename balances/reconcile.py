"""Conservation, checked by ``ledger_verify`` (registered from ``BalancesConfig.ready``).

Cash held equals deposits − withdrawals; each security's shares held equal
its ``issued_quantity`` and the sum of its ISSUE entries. Entries still waiting
to be sealed count too: the balance rows already hold their effect.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from decimal import Decimal

from django.db.models import Sum
from django.utils.translation import gettext_noop as _

from core.money import ZERO
from ledger.hooks import BusinessCheck
from ledger.models import Entry
from ledger.verification import CHUNK, UNREADABLE, Problem, Report
from registry.models import Security

from .entries import KINDS
from .models import CashBalance, Position


def _check_conservation(report: Report, _entries: Mapping[int, object], _waiting: Callable[[], set[int]]) -> None:
    flows, issued = ZERO, {}
    readers = {k.kind: k for k in KINDS}
    flows_entries = Entry.objects.filter(kind__in=list(readers)).values_list("id", "kind", "canonical")
    for entry_id, kind, data in flows_entries.iterator(chunk_size=CHUNK):  # streamed: many deposits
        try:
            movements = readers[kind].read(json.loads(bytes(data))["payload"]).movements()
        except UNREADABLE:  # bytes rewritten, say
            report.problems.append(Problem(_("a cash or share movement that cannot be read"), entry_id=entry_id))
            continue
        for m in movements:
            if m.part != "total":  # locked or frozen: a part of what is held, not more of it
                continue
            if m.security is None:
                flows += m.amount
            else:
                issued[m.security] = issued.get(m.security, 0) + m.amount
    cash = CashBalance.objects.aggregate(s=Sum("total"))["s"] or Decimal("0.00")
    if cash != flows:
        report.problems.append(
            Problem(
                _("cash held %(cash)s differs from deposits − withdrawals %(flows)s"),
                params={"cash": cash, "flows": flows},
            )
        )
    held = dict(
        Position.objects.values_list("security__code").annotate(s=Sum("total")).values_list("security__code", "s")
    )
    for code, total in Security.objects.values_list("code", "issued_quantity"):
        if not held.get(code, 0) == total == issued.get(code, 0):
            report.problems.append(
                Problem(
                    _("%(security)s: %(held)s shares held, %(issued)s issued, %(ledger)s on the ledger"),
                    params={
                        "security": code,
                        "held": held.get(code, 0),
                        "issued": total,
                        "ledger": issued.get(code, 0),
                    },
                )
            )


CONSERVATION_CHECK = BusinessCheck(
    name="conservation", kinds=frozenset(), extract=lambda kind, payload: None, check=_check_conservation
)
