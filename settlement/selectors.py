"""Reads for the settlement monitor and the trade lifecycle."""

from __future__ import annotations

import datetime as dt
import json
from statistics import median

from django.db.models import Count, Exists, F, OuterRef, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext

from balances.entries import Deposit, Withdrawal
from core.models import Account
from exchange import selectors as exchange_selectors
from exchange.models import Trade
from ledger.models import Entry, EntryKind, Leaf
from registry.models import Security

from . import net_windows
from .instructions import instruction_setter, reason_disclosed
from .models import Settlement, SettlementAction


def trades_awaiting() -> QuerySet[Trade]:
    """Matched trades not yet settled (sealed or not), oldest first, with their ledger position."""
    return (
        Trade.objects.filter(status=Trade.Status.MATCHED)
        .select_related("security", "buyer", "seller")
        .annotate(leaf_index=F("entry__leaf__leaf_index"), block_height=F("entry__leaf__block_id"))
        .order_by("id")
    )


def net_windows_blocked() -> list:
    """The net windows that could not settle when last tried, with why (``net_windows``) and how many sealed
    trades of each wait; a security none of whose trades wait any more is left out."""
    pending = dict(
        Trade.objects.filter(
            status=Trade.Status.MATCHED,
            entry__leaf__isnull=False,
            security__settlement_mode=Security.SettlementMode.NET,
        )
        .order_by()
        .values_list("security__code")
        .annotate(n=Count("id"))
    )
    return net_windows.windows_blocked(pending)


def _with_reason(trades: QuerySet[Trade]) -> QuerySet[Trade]:
    """Each trade with the reason of its latest hold, release or refusal: why it is held, or was refused (and
    ``held_by_instruction``, the standing instruction that held it, if one did)."""
    latest = SettlementAction.objects.filter(trade=OuterRef("pk")).order_by("-at", "-id")
    return trades.annotate(
        reason=Subquery(latest.values("reason")[:1]),
        held_by_instruction=Subquery(latest.values("instruction_id")[:1]),
        held_by_role=Subquery(latest.values("instruction__set_by_role")[:1]),
    )


def reasons_masked(rows: list[Trade], viewer) -> list[Trade]:
    """``rows`` (from ``_with_reason``) as ``viewer`` may read them (``instructions.reason_disclosed``): a reason
    they may not read (a regulator's, to the exchange operator) is replaced by a word saying it is withheld
    (found by a probe: the operator read it on the settlement monitor, where the instructions' own list is not
    theirs)."""
    for row in rows:
        if not reason_disclosed(row.held_by_role, viewer):
            row.reason = gettext("(the regulator's reason is not shown)")
    return rows


def trades_held() -> QuerySet[Trade]:
    """Held trades, oldest first, each with the reason it is held."""
    return _with_reason(
        Trade.objects.filter(status=Trade.Status.HELD).select_related("security", "buyer", "seller").order_by("id")
    )


def trades_failed(*, since: dt.datetime) -> QuerySet[Trade]:
    """Trades refused since ``since``, newest first, each with the reason of its refusal."""
    return _with_reason(
        Trade.objects.filter(status=Trade.Status.FAILED, settlement_actions__at__gte=since)
        .select_related("security", "buyer", "seller")
        .distinct()
        .order_by("-id")
    )


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def monitor_summary(*, now: dt.datetime | None = None) -> dict:
    """Counts and match → settled latency over the last hour. The latency is the venue's: a trade a depository
    operator held (a hold or a standing instruction) waited for a person, not for the system, and is left out of
    it, though it is counted as settled (one held trade put p99 at 87 s where it had been 22 s)."""
    now = now or timezone.now()
    hour_ago = now - dt.timedelta(hours=1)
    awaiting = Trade.objects.filter(status=Trade.Status.MATCHED)
    settled = list(
        Trade.objects.filter(settlement__settled_at__gte=hour_ago)
        .annotate(was_held=Exists(SettlementAction.objects.filter(trade=OuterRef("pk"), action="hold")))
        .values_list("matched_at", "settlement__settled_at", "was_held")
    )
    latencies = [(done - matched).total_seconds() for matched, done, was_held in settled if not was_held]
    return {
        "awaiting_seal": awaiting.filter(entry__leaf__isnull=True).count(),
        "awaiting_settlement": awaiting.filter(entry__leaf__isnull=False).count(),
        "held": Trade.objects.filter(status=Trade.Status.HELD).count(),
        "failed_last_hour": SettlementAction.objects.filter(
            action=SettlementAction.Action.REFUSE, at__gte=hour_ago
        ).count(),
        "settled_last_hour": len(settled),
        "latency_median_s": round(median(latencies), 3) if latencies else None,
        "latency_p99_s": round(_percentile(latencies, 0.99), 3) if latencies else None,
        "as_of": now,
    }


def trade_lifecycle(trade: Trade, *, viewer) -> dict:
    """matched → sealed → settled (or held / failed), with times, blocks and leaf indexes, and the holds,
    releases and refusals as ``viewer`` may read them."""
    leaf = Leaf.objects.filter(entry_id=trade.entry_id).select_related("block").first()
    settlement = getattr(trade, "settlement", None) if hasattr(trade, "settlement") else None
    settlement_leaf = (
        Leaf.objects.filter(entry_id=settlement.entry_id).select_related("block").first() if settlement else None
    )
    return {
        "matched_at": trade.matched_at,
        "sealed_at": leaf.block.sealed_at if leaf else None,
        "leaf_index": leaf.leaf_index if leaf else None,
        "block_height": leaf.block_id if leaf else None,
        "settled_at": settlement.settled_at if settlement else None,
        "settlement_mode": settlement.mode if settlement else None,
        "settlement_leaf_index": settlement_leaf.leaf_index if settlement_leaf else None,
        "settlement_block_height": settlement_leaf.block_id if settlement_leaf else None,
        "actions": [
            _action_shown(a, viewer)
            for a in trade.settlement_actions.select_related("instruction__created_by").order_by("at", "id")
        ],
    }


def _action_shown(action: SettlementAction, viewer) -> dict:
    """A hold, release or refusal as ``viewer`` may read it: a standing instruction's hold says whose
    instruction it was, and its reason only where ``instructions.reason_disclosed`` allows (else null)."""
    instruction = action.instruction
    return {
        "action": action.action,
        "reason": action.reason if reason_disclosed(instruction and instruction.set_by_role, viewer) else None,
        "standing_instruction_by": None if instruction is None else instruction_setter(instruction),
        "at": action.at,
    }


def cash_entry_readable(user, entry_id: int) -> bool:
    """The holder of an account and its broker's staff read the account's DEPOSIT and WITHDRAWAL entries (a
    ``ledger.hooks`` entry reader). Its statement lists each with its leaf index, to be checked against the
    ledger; the leaf hash alone (a salted hash) proves nothing to whoever cannot read the bytes, so a broker
    reconciling its client's cash could prove its trades but not the cash it took in or paid out (found by an
    outside integrator). They already see the amount and reference; nobody else gets more than before."""
    row = Entry.objects.filter(pk=entry_id, kind__in=[EntryKind.DEPOSIT, EntryKind.WITHDRAWAL]).values_list(
        "kind", "canonical"
    )
    found = row.first()
    if found is None:
        return False
    kind, canonical = found
    payload = json.loads(bytes(canonical))["payload"]
    code = (Deposit if kind == EntryKind.DEPOSIT else Withdrawal).read(payload).account
    account = Account.objects.filter(code=code).first()
    return account is not None and exchange_selectors.party_visible(account, user)


def settlement_entry_readable(user, entry_id: int) -> bool:
    """Whoever sees a trade (its parties and their brokers' staff) may read its gross SETTLEMENT entry, and its
    holds, releases and refusals where they may read their reason (``instructions.reason_disclosed``: not the
    hold of a regulator's standing instruction, whose entry carried the reason until it was left out; they check
    its inclusion only). A ``ledger.hooks`` entry reader. A net batch lists every participant, so it is not
    theirs to read."""
    mine = exchange_selectors.trades_visible(user).order_by().values("pk")
    if Settlement.objects.filter(entry_id=entry_id, mode=Settlement.Mode.GROSS, trade__in=mine).exists():
        return True
    actions = SettlementAction.objects.filter(entry_id=entry_id, trade__in=mine)
    return any(reason_disclosed(role, user) for role in actions.values_list("instruction__set_by_role", flat=True))
