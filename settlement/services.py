"""Delivery versus payment (DESIGN.md §5).

Gross (BIS model 1, the default): each sealed trade settles alone in meaning:
the buyer's cash goes to the seller, the seller's shares to the buyer, fees to
the brokers' fee accounts, the trade's reservations are released, the trade is
marked settled and a SETTLEMENT entry is written. Both legs or neither.
``trade_settle`` settles one trade in one transaction; ``trades_settle`` (the
tasks') settles a chunk of them in one transaction, falling back to one by
one when a trade of the chunk cannot settle.

Net (BIS model 3, per security): a window's sealed trades are netted per
account and asset and settle together, with one SETTLEMENT entry recording
every net position; if any participant could not pay or deliver, none settle.
The refusal names every participant that blocks the window (``blocked`` in its
context, for ``net_windows``), found by the checks each balance row needs anyway.

Exactly once: the trade row is locked and re-read first; a trade that is not
pending any more is left alone; ``Settlement`` is unique per trade. So
retries, duplicate deliveries and two workers on one block change nothing the
second time.

Only sealed trades settle: the block holding a trade's entry is its proof of
existence. A depository operator can hold a pending trade (it then waits),
release it, or refuse it: refusal releases both sides' reservations and
writes SETTLEMENT_FAILED. A trade matching an active standing instruction
(``settlement.instructions``) is held instead of settled, in the settlement
transaction and under the same locks (a SETTLEMENT_HOLD entry naming the
instruction); a net batch settles without it. While the market is halted (``registry.services.market_halt``)
nothing settles; the sweep settles what waited once it resumes. Each settling transaction reads the switch
through the market's gate, taken shared (``registry.gate``), so that no settlement that read the market open
commits after the HALT entry.

Lock order: trade rows by id, then the market gate (shared), then cash rows by account pk, then positions
by account pk (a batch of several securities: by security, then account pk).
Settlement never waits for a security's row while it holds balance rows: the
foreign-key checks of the positions it creates (deferred to commit) take a key
share lock, which the order path's ``FOR NO KEY UPDATE`` of the security
(``exchange.services.book.lock_security``) does not block.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from balances.entries import CashAmount, ShareAmount
from balances.models import CashBalance, Position
from balances.services import cash_lock, positions_lock, positions_lock_many
from core import errors as err
from core.audit import audit_record
from core.models import Account, Role, User
from core.money import ZERO
from exchange.models import Trade
from ledger import witnessing
from ledger.models import Leaf
from ledger.services import entries_write, entry_write
from registry import gate
from registry.models import Security

from . import hooks, net_windows
from .entries import GrossSettlement, Hold, InstructionHold, NetSettlement, Refusal, Release
from .instructions import matching_instruction, reason_disclosed
from .models import Settlement, SettlementAction, SettlementBatch, SettlementInstruction

PENDING = (Trade.Status.MATCHED,)

log = logging.getLogger(__name__)


class TradeNotPending(err.DomainError):
    code = "trade_not_pending"
    status = 409
    default_message = gettext_lazy("The trade is not waiting for settlement.")


class TradeNotHeld(err.DomainError):
    code = "trade_not_held"
    status = 409
    default_message = gettext_lazy("The trade is not held.")


# --------------------------------------------------------------------------
# Reads used by the tasks


def trades_ready(*, block_height: int | None = None, mode: str = Security.SettlementMode.GROSS) -> QuerySet[Trade]:
    """Sealed trades still waiting to settle (not held), optionally of one block."""
    qs = Trade.objects.filter(
        status=Trade.Status.MATCHED, entry__leaf__isnull=False, security__settlement_mode=mode
    ).order_by("id")
    if block_height is not None:
        qs = qs.filter(entry__leaf__block_id=block_height)
    if witnessing.awaits_cosignature():  # only blocks a final (co-signed) checkpoint covers
        final = witnessing.final_height()
        qs = qs.filter(entry__leaf__block_id__lte=-1 if final is None else final)
    return qs


def _fee_accounts(accounts: list[Account]) -> dict[int, Account]:
    """broker id → its fee account."""
    brokers = {a.broker_id for a in accounts if a.broker_id}
    fee_accounts = Account.objects.filter(kind=Account.Kind.FEE, broker_id__in=brokers)
    return {a.broker_id: a for a in fee_accounts}


@dataclass
class _Legs:
    """What one trade moves."""

    trade: Trade
    value: Decimal
    buyer_pays: Decimal
    seller_receives: Decimal
    fees: list[tuple[Account, Decimal]]


def _legs(trade: Trade, fee_accounts: dict[int, Account], *, unpaid: dict[str, None] | None = None) -> _Legs:
    """What ``trade`` moves. A party whose broker has no fee account is refused, or, given ``unpaid`` (the net
    window's), added to it, its fee left out, so that the window names every such party at once."""
    value = trade.value
    fees = []
    for party, amount in ((trade.buyer, trade.buyer_fee), (trade.seller, trade.seller_fee)):
        if amount:
            fee_account = fee_accounts.get(party.broker_id)
            if fee_account is None:
                if unpaid is not None:
                    unpaid[party.code] = None
                    continue
                raise err.DomainError(
                    gettext("The broker of %(account)s has no fee account.") % {"account": party.code},
                    account=party.code,
                )
            fees.append((fee_account, amount))
    return _Legs(trade, value, value + trade.buyer_fee, value - trade.seller_fee, fees)


def _lock_trade(trade_id: int, *, now=None) -> Trade | None:
    """The trade, locked, with its security and parties; ``trade.sealed`` tells whether its entry is in a block,
    and, given ``now``, ``trade.instruction_id`` the standing instruction that holds it, if any (all read in the
    locking statement)."""
    qs = (
        Trade.objects.select_for_update(of=("self",))
        .select_related("security", "buyer__broker", "seller__broker")
        .annotate(
            sealed=Exists(Leaf.objects.filter(entry_id=OuterRef("entry_id"))),
        )
    )
    if now is not None:
        qs = qs.annotate(instruction_id=matching_instruction(now))
    return qs.filter(pk=trade_id).first()


def _instruction_hold(trade: Trade, instruction_id: int, now) -> None:
    """Hold a locked, pending trade by a standing instruction: SETTLEMENT_HOLD naming it, with the reason of a
    depository's instruction, which the trade's parties are told; a regulator's instruction's hold carries none
    on the ledger (empty), which its readers (the exchange operator, replicas, the regulatory feed) are more than
    the instruction's (found by a review). Its action row keeps the reason. The instruction's creator is the
    hold's actor. Nothing moves."""
    instruction = SettlementInstruction.objects.select_related("created_by").get(pk=instruction_id)
    record = InstructionHold(
        trade_id=trade.pk,
        security=trade.security.code,
        reason=instruction.reason if reason_disclosed(instruction.set_by_role) else "",
        at=now,
        instruction=instruction.pk,
    )
    entry = entry_write(record, recorded_at=now)
    action = SettlementAction.objects.create(
        trade=trade,
        action=SettlementAction.Action.HOLD,
        reason=instruction.reason,
        actor_id=instruction.created_by_id,
        entry=entry,
        at=now,
        instruction=instruction,
    )
    hooks.settlement_acted.fire(action_id=action.pk)
    Trade.objects.filter(pk=trade.pk).update(status=Trade.Status.HELD)


# --------------------------------------------------------------------------
# Gross settlement


def trade_settle(*, trade_id: int) -> bool:
    """Settle one sealed, pending trade. True if it settled now; False if there was nothing to do, or if a
    standing instruction held it instead."""
    with transaction.atomic():
        trade = _lock_trade(trade_id, now=timezone.now())
        if trade is None or trade.status not in PENDING or not trade.sealed:
            return False
        # A halted market pauses settlement: the trade waits, and the sweep settles it after resume. Read through
        # the gate (registry.gate): a halt in flight is waited for, and a later one waits for this settlement.
        if gate.halted():
            return False
        if trade.security.settlement_mode != Security.SettlementMode.GROSS:
            return False
        now = timezone.now()
        if trade.instruction_id is not None:
            _instruction_hold(trade, trade.instruction_id, now)
            return False
        legs = _legs(trade, _fee_accounts([trade.buyer, trade.seller]))
        entry = entry_write(_gross_record(legs, now), recorded_at=now)
        Settlement.objects.create(trade=trade, mode=Settlement.Mode.GROSS, entry=entry, settled_at=now)
        Trade.objects.filter(pk=trade.pk).update(status=Trade.Status.SETTLED)
        # The balance rows last: other trades of the same parties (the market maker, the
        # broker's fee account) wait for them, so they are held for the fewest statements.
        # A constraint refusing a move rolls back everything above with it.
        cash = cash_lock([trade.buyer_id, trade.seller_id, *(a.pk for a, _ in legs.fees)])
        positions = positions_lock(trade.security_id, [trade.buyer_id, trade.seller_id])
        _move(cash, positions, legs)
        _save(cash, positions)
        hooks.trades_settled.fire(trade_ids=[trade.pk])
        return True


# --------------------------------------------------------------------------
# Gross settlement in batches


class _Unsettleable(Exception):
    """A trade of a batch cannot settle (a balance would break its constraint): settle the batch one by one."""


def trades_settle(*, trade_ids: list[int], failed: list[int] | None = None) -> int:
    """Settle these gross trades, many in one transaction; the number that settled now.

    Each trade still settles alone in meaning (both legs or neither, its own
    SETTLEMENT entry, exactly once): the batch locks every row it needs once
    (trades by id, then cash rows by account pk, then positions by security
    and account pk), applies the trades' legs in id order, checking after
    each trade what the balance constraints check, and writes the rows, the
    entries and the settlements in one statement each. If one trade of the
    batch cannot settle (a balance would break, a fee account is missing, the
    database refuses), the batch rolls back and its trades settle one by one
    (``trade_settle``), so that one fails alone: it is logged and stays pending
    (the sweep retries it; the depository can hold or refuse it), its id added to
    ``failed`` if given. Trades not pending, not sealed, net-mode, or held by a
    standing instruction are left as ``trade_settle`` leaves them (not failed).
    """
    if not trade_ids:
        return 0
    try:
        return _batch_settle(sorted(set(trade_ids)))
    except (_Unsettleable, err.DomainError, IntegrityError, DataError):
        log.info("a trade of a settlement batch cannot settle; settling the batch's trades one by one", exc_info=True)
    settled = 0
    for trade_id in trade_ids:
        try:
            settled += trade_settle(trade_id=trade_id)
        except (err.DomainError, IntegrityError, DataError):
            log.warning("trade %s cannot settle; it stays pending", trade_id, exc_info=True)
            if failed is not None:
                failed.append(trade_id)
    return settled


def _batch_settle(trade_ids: list[int]) -> int:
    with transaction.atomic():
        now = timezone.now()
        locked = list(
            Trade.objects.select_for_update(of=("self",))
            .select_related("security", "buyer", "seller")  # the parties' broker_id names their fee account
            .annotate(
                sealed=Exists(Leaf.objects.filter(entry_id=OuterRef("entry_id"))),
                instruction_id=matching_instruction(now),
            )
            .filter(pk__in=trade_ids)
            .order_by("id")
        )
        # A halted market pauses settlement: the trades wait, and the sweep settles them after resume. Read
        # through the gate (registry.gate): a halt in flight is waited for, and a later one waits for this batch.
        if gate.halted():
            return 0
        trades = []
        for trade in locked:
            if trade.status not in PENDING or not trade.sealed:
                continue
            if trade.security.settlement_mode != Security.SettlementMode.GROSS:
                continue
            if trade.instruction_id is not None:
                _instruction_hold(trade, trade.instruction_id, now)
                continue
            trades.append(trade)
        if not trades:
            return 0
        fee_accounts = _fee_accounts([a for t in trades for a in (t.buyer, t.seller)])
        all_legs = [_legs(t, fee_accounts) for t in trades]
        pairs = [(t.security_id, a) for t in trades for a in (t.buyer_id, t.seller_id)]
        cash = cash_lock(
            {a for legs in all_legs for a in (legs.trade.buyer_id, legs.trade.seller_id)}
            | {fee.pk for legs in all_legs for fee, _ in legs.fees}
        )
        positions = positions_lock_many(pairs)
        for legs in all_legs:
            t = legs.trade
            _move(cash, {a: positions[(t.security_id, a)] for a in (t.buyer_id, t.seller_id)}, legs)
            touched = [cash[t.buyer_id], cash[t.seller_id], *(cash[f.pk] for f, _ in legs.fees)]
            if any(row.reserved < 0 or row.available < 0 for row in touched) or any(
                row.reserved < 0 or row.available < 0
                for row in (positions[(t.security_id, t.buyer_id)], positions[(t.security_id, t.seller_id)])
            ):
                raise _Unsettleable(t.pk)
        entries = entries_write([_gross_record(legs, now) for legs in all_legs], recorded_at=now)
        Settlement.objects.bulk_create(
            [
                Settlement(trade=t, mode=Settlement.Mode.GROSS, entry=e, settled_at=now)
                for t, e in zip(trades, entries, strict=True)
            ]
        )
        Trade.objects.filter(pk__in=[t.pk for t in trades]).update(status=Trade.Status.SETTLED)
        _save(cash, positions)
        hooks.trades_settled.fire(trade_ids=[t.pk for t in trades])  # after commit: notifications, live pages
        return len(trades)


def _move(cash: dict[int, CashBalance], positions: dict[int, Position], legs: _Legs) -> None:
    t = legs.trade
    buyer, seller = cash[t.buyer_id], cash[t.seller_id]
    buyer.total -= legs.buyer_pays
    buyer.reserved -= legs.buyer_pays
    seller.total += legs.seller_receives
    for fee_account, amount in legs.fees:
        cash[fee_account.pk].total += amount
    positions[t.seller_id].total -= t.quantity
    positions[t.seller_id].reserved -= t.quantity
    positions[t.buyer_id].total += t.quantity


def _save(cash: dict[int, CashBalance], positions: dict[int, Position]) -> None:
    """Write the locked rows' new total and reserved: one ``UPDATE … FROM (VALUES …)`` per table.

    ``bulk_update`` builds a ``CASE … WHEN`` per column through the ORM, which
    cost about a third of a gross settlement (measured with ``make bench``);
    this writes the same values to the same rows, under the same constraints.
    """
    with connection.cursor() as cur:
        if cash:
            rows = [(row.account_id, row.total, row.reserved) for row in cash.values()]
            cur.execute(
                "UPDATE settlement_cashbalance AS c SET total = v.total, reserved = v.reserved FROM (VALUES "
                + ", ".join(["(%s::bigint, %s::numeric, %s::numeric)"] * len(rows))
                + ") AS v(account_id, total, reserved) WHERE c.account_id = v.account_id",
                [value for row in rows for value in row],
            )
        if positions:
            rows = [(row.pk, row.total, row.reserved) for row in positions.values()]
            cur.execute(
                "UPDATE settlement_position AS p SET total = v.total, reserved = v.reserved FROM (VALUES "
                + ", ".join(["(%s::bigint, %s::bigint, %s::bigint)"] * len(rows))
                + ") AS v(id, total, reserved) WHERE p.id = v.id",
                [value for row in rows for value in row],
            )


def _gross_record(legs: _Legs, now) -> GrossSettlement:
    t = legs.trade
    return GrossSettlement(
        mode="gross",
        trade_id=t.pk,
        security=t.security.code,
        quantity=t.quantity,
        price=t.price,
        buyer=t.buyer.code,
        seller=t.seller.code,
        buyer_pays=legs.buyer_pays,
        seller_receives=legs.seller_receives,
        fees=[CashAmount(account=a.code, amount=amount) for a, amount in legs.fees],
        settled_at=now,
    )


# --------------------------------------------------------------------------
# Net settlement


@dataclass
class NetResult:
    batch: SettlementBatch | None
    trades: int
    paused: bool = False  # the market is halted: the window waits for the resume


def net_settle(*, security_code: str) -> NetResult:
    """Settle every sealed pending trade of a net-mode security as one batch, or none of them.

    The trades a standing instruction matches are held first, in the same transaction, and left out."""
    with transaction.atomic():
        security = Security.objects.filter(code=security_code, settlement_mode=Security.SettlementMode.NET).first()
        if security is None:
            raise err.UnknownSecurity(gettext("No net-settled security has that code."))
        ids = list(
            trades_ready(mode=Security.SettlementMode.NET).filter(security=security).values_list("id", flat=True)
        )
        now = timezone.now()
        locked = list(
            Trade.objects.select_for_update(of=("self",))
            .select_related("security", "buyer__broker", "seller__broker")
            .annotate(instruction_id=matching_instruction(now))
            .filter(pk__in=ids, status=Trade.Status.MATCHED)
            .order_by("id")
        )
        if gate.halted():  # the window closes after resume (read through the gate, as trades_settle)
            return NetResult(batch=None, trades=0, paused=True)
        trades = []
        for trade in locked:
            if trade.instruction_id is not None:
                _instruction_hold(trade, trade.instruction_id, now)
            else:
                trades.append(trade)
        if not trades:
            return NetResult(batch=None, trades=0)
        fee_accounts = _fee_accounts([a for t in trades for a in (t.buyer, t.seller)])
        unpaid: dict[str, None] = {}  # the parties whose broker has no fee account, in the order met
        all_legs = [_legs(t, fee_accounts, unpaid=unpaid) for t in trades]
        cash_delta: dict[int, Decimal] = defaultdict(lambda: ZERO)
        reserved_cash_release: dict[int, Decimal] = defaultdict(lambda: ZERO)
        share_delta: dict[int, int] = defaultdict(int)
        reserved_share_release: dict[int, int] = defaultdict(int)
        codes: dict[int, str] = {}
        for legs in all_legs:
            t = legs.trade
            codes.update({t.buyer_id: t.buyer.code, t.seller_id: t.seller.code})
            cash_delta[t.buyer_id] -= legs.buyer_pays
            reserved_cash_release[t.buyer_id] += legs.buyer_pays
            cash_delta[t.seller_id] += legs.seller_receives
            for fee_account, amount in legs.fees:
                cash_delta[fee_account.pk] += amount
                codes[fee_account.pk] = fee_account.code
            share_delta[t.seller_id] -= t.quantity
            reserved_share_release[t.seller_id] += t.quantity
            share_delta[t.buyer_id] += t.quantity
        cash = cash_lock(cash_delta)
        positions = positions_lock(security.pk, share_delta)
        # Every participant that blocks the window, found by the checks each row needs anyway (no second pass):
        # a window blocked by several named only the first, so that mending it showed the next a minute later. A
        # party without a fee account no longer stops the window before the balances: they are locked and checked
        # too (a refused window costs what a settling one does, once a minute), so that those who cannot pay or
        # deliver are named with it.
        blocked = [(net_windows.FEE_ACCOUNT, code) for code in unpaid]
        for account_id, delta in cash_delta.items():
            row = cash[account_id]
            row.total += delta
            row.reserved -= reserved_cash_release[account_id]
            if row.total < 0 or row.available < 0:
                blocked.append((net_windows.CASH, codes[account_id]))
        for account_id, delta in share_delta.items():
            row = positions[account_id]
            row.total += delta
            row.reserved -= reserved_share_release[account_id]
            if row.total < 0 or row.available < 0:
                blocked.append((net_windows.SHARES, codes[account_id]))
        if blocked:
            raise _window_blocked(blocked)
        entry = entry_write(
            NetSettlement(
                mode="net",
                security=security.code,
                trade_ids=[t.pk for t in trades],
                cash=[CashAmount(account=codes[a], amount=d) for a, d in sorted(cash_delta.items()) if d],
                shares=[ShareAmount(account=codes[a], quantity=d) for a, d in sorted(share_delta.items()) if d],
                settled_at=now,
            ),
            recorded_at=now,
        )
        batch = SettlementBatch.objects.create(security=security, entry=entry, trade_count=len(trades), settled_at=now)
        Settlement.objects.bulk_create(
            [Settlement(trade=t, mode=Settlement.Mode.NET, batch=batch, entry=entry, settled_at=now) for t in trades]
        )
        Trade.objects.filter(pk__in=[t.pk for t in trades]).update(status=Trade.Status.SETTLED)
        _save(cash, positions)
        hooks.trades_settled.fire(trade_ids=[t.pk for t in trades])
        return NetResult(batch=batch, trades=len(trades))


def _window_blocked(blocked: list[tuple[str, str]]) -> err.DomainError:
    """The refusal of a net window: the first blocker's error, in its words, with ``blocked`` (every blocker:
    why, account code) in its context for ``net_windows``."""
    why, account = blocked[0]
    if why == net_windows.CASH:
        message = gettext("%(account)s cannot pay its net obligation; nothing settled.") % {"account": account}
        return err.InsufficientCash(message, account=account, blocked=blocked)
    if why == net_windows.SHARES:
        message = gettext("%(account)s cannot deliver its net obligation; nothing settled.") % {"account": account}
        return err.InsufficientShares(message, account=account, blocked=blocked)
    message = gettext("The broker of %(account)s has no fee account.") % {"account": account}
    return err.DomainError(message, account=account, blocked=blocked)


# --------------------------------------------------------------------------
# Holds and refusals (depository operators)


def _require_depository(actor: User) -> None:
    if actor.role != Role.DEPOSITORY_OPERATOR:
        raise err.PermissionDenied(gettext("Only depository operators hold or refuse settlement."))


def _act(*, actor: User, trade_id: int, reason: str, ip: str | None, action: str) -> Trade:
    _require_depository(actor)
    reason = err.reason_checked(reason)
    with transaction.atomic():
        trade = _lock_trade(trade_id)
        if trade is None:
            raise err.NotFound(gettext("No such trade."))
        # action → (statuses it applies to, the status it sets)
        allowed, new_status = {
            SettlementAction.Action.HOLD: ((Trade.Status.MATCHED,), Trade.Status.HELD),
            SettlementAction.Action.RELEASE: ((Trade.Status.HELD,), Trade.Status.MATCHED),
            SettlementAction.Action.REFUSE: ((Trade.Status.MATCHED, Trade.Status.HELD), Trade.Status.FAILED),
        }[action]
        if trade.status not in allowed:
            raise TradeNotHeld() if action == SettlementAction.Action.RELEASE else TradeNotPending()
        now = timezone.now()
        common = {"trade_id": trade.pk, "security": trade.security.code, "reason": reason, "at": now}
        if action == SettlementAction.Action.REFUSE:
            record = Refusal(**common, **_unwind(trade))
        else:
            record = (Hold if action == SettlementAction.Action.HOLD else Release)(**common)
        entry = entry_write(record, recorded_at=now)
        done = SettlementAction.objects.create(
            trade=trade, action=action, reason=reason, actor=actor, entry=entry, at=now
        )
        hooks.settlement_acted.fire(action_id=done.pk)
        Trade.objects.filter(pk=trade.pk).update(status=new_status)
        audit_record(
            actor=actor,
            action=f"settlement_{action}",
            target=f"trade {trade.pk}",
            ip=ip,
            detail={"reason": reason, "entry": entry.pk},
        )
        trade.status = new_status
        return trade


def _unwind(trade: Trade) -> dict:
    """Release both sides' reservations of a refused trade; nothing moves."""
    buyer_reserved = trade.value + trade.buyer_fee
    cash = cash_lock([trade.buyer_id])
    positions = positions_lock(trade.security_id, [trade.seller_id])
    cash[trade.buyer_id].reserved -= buyer_reserved
    positions[trade.seller_id].reserved -= trade.quantity
    _save(cash, positions)
    return {
        "buyer": trade.buyer.code,
        "seller": trade.seller.code,
        "released_cash": buyer_reserved,
        "released_shares": trade.quantity,
    }


def trade_hold(*, actor: User, trade_id: int, reason: str, ip: str | None = None) -> Trade:
    return _act(actor=actor, trade_id=trade_id, reason=reason, ip=ip, action=SettlementAction.Action.HOLD)


def trade_release(*, actor: User, trade_id: int, reason: str, ip: str | None = None) -> Trade:
    return _act(actor=actor, trade_id=trade_id, reason=reason, ip=ip, action=SettlementAction.Action.RELEASE)


def trade_refuse(*, actor: User, trade_id: int, reason: str, ip: str | None = None) -> Trade:
    return _act(actor=actor, trade_id=trade_id, reason=reason, ip=ip, action=SettlementAction.Action.REFUSE)
