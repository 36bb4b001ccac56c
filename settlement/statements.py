"""Client statements and holdings certificates, built from the ledger.

One implementation for every page that shows a statement: the broker counter
(``counter``, for a staff member's client) and the investor's own pages
(``settlement.statement_views``). It sits in ``settlement`` because it reads
the settlement entries' payloads (``settlement.entries``); ``counter`` imports it.

A statement is built from the ledger, as ``balances.replay`` rebuilds
balances: DEPOSIT and WITHDRAWAL entries and SETTLEMENT entries (gross: one
trade; net: the account's net cash and shares) move cash, ISSUE and SETTLEMENT
entries move shares. The opening cash is the sum of every movement recorded
before the period, the closing cash the opening plus the period's movements.
Forced transfers and corrections (``adjustments``, registered by supervision)
move cash and shares as the replay says they do. Trades come from the trade
table: a matched trade moves no cash until it settles, so a trade of the
period may settle in the next one. Dates are Beijing dates; a period runs from
the start of its first day to the end of its last. A holdings certificate is
the holdings part of the statement of a whole calendar year: the positions the
ledger shows at the end of 31 December.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import F, Func, Q, QuerySet, TextField, Value
from django.utils import timezone
from django.utils.translation import gettext as _

from balances import replay
from balances.entries import Deposit, Issue, Withdrawal
from core import errors as err
from core.models import Account
from core.money import ZERO, money
from core.snapshot import read_only_snapshot
from exchange.models import Order, Trade
from exchange.selectors import fee_charged, trade_notes, trade_status
from ledger.models import Entry, EntryKind
from registry.models import Security

from .entries import NetSettlement, settlement_read

BEIJING = ZoneInfo("Asia/Shanghai")

# --------------------------------------------------------------------------
# Trades as the account holder sees them


def account_trades(account: Account) -> QuerySet[Trade]:
    """The account's trades, newest first, with their ledger position once sealed."""
    return (
        Trade.objects.filter(Q(buyer=account) | Q(seller=account))
        .select_related("security", "buyer", "seller", "buy_order", "sell_order", "negotiated", "rfq_answer__request")
        .annotate(leaf_index=F("entry__leaf__leaf_index"), block_height=F("entry__leaf__block_id"))
        .order_by("-id")
    )


def entered_at_counter(trade: Trade, account: Account) -> bool:
    """Whether the account's side of the trade was entered by its broker's staff, not by its holder: the order's
    placer; for a negotiated transfer, who proposed or confirmed that side; for an RFQ, who asked (an order-less
    trade read "online" whoever had entered it)."""
    buying = trade.buyer_id == account.pk
    order = trade.buy_order if buying else trade.sell_order
    if order is not None:
        return order.placed_by_id != account.owner_id
    proposal = getattr(trade, "negotiated", None)
    if proposal is not None:
        return proposal.proposed_at_counter if proposal.proposer_id == account.pk else proposal.closed_at_counter
    answer = getattr(trade, "rfq_answer", None)
    if answer is not None and answer.request.account_id == account.pk:
        return answer.request.requested_by_id != account.owner_id
    return False


@dataclass(frozen=True)
class TradeView:
    """A trade as the client sees it: their side, their fee, and whether their order came from the counter."""

    id: int
    matched_at: dt.datetime
    security: str
    security_name: str
    side: str
    quantity: int
    price: Decimal
    value: Decimal
    fee: Decimal
    status: str
    at_counter: bool
    leaf_index: int | None
    block_height: int | None
    # What happened to the trade since, in words: a correction that reversed or re-priced it (the row keeps the
    # terms it matched at; the correction's movements are the statement's adjustments).
    notes: tuple[str, ...] = ()


def trade_views(trades, account: Account) -> list[TradeView]:
    """``trade_view`` of each trade, with its notes, read for all of them at once."""
    trades = list(trades)
    notes = trade_notes([t.pk for t in trades])
    return [trade_view(t, account, notes=tuple(n["text"] for n in notes.get(t.pk, []))) for t in trades]


def trade_view(trade: Trade, account: Account, *, notes: tuple[str, ...] = ()) -> TradeView:
    buying = trade.buyer_id == account.pk
    return TradeView(
        id=trade.pk,
        matched_at=trade.matched_at,
        security=trade.security.code,
        security_name=trade.security.name,
        side=Order.Side.BUY if buying else Order.Side.SELL,
        quantity=trade.quantity,
        price=trade.price,
        value=trade.value,
        fee=fee_charged(trade, "buy" if buying else "sell"),
        status=trade_status(trade),
        at_counter=entered_at_counter(trade, account),
        leaf_index=getattr(trade, "leaf_index", None),
        block_height=getattr(trade, "block_height", None),
        notes=notes,
    )


# --------------------------------------------------------------------------
# Statements


class Movement:
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    BUY = "buy"
    SELL = "sell"
    NET = "net_settlement"


# The kinds of the settlement's own statement lines (the registered adjustments add theirs: ``movement_kinds``).
MOVEMENTS = (Movement.DEPOSIT, Movement.WITHDRAWAL, Movement.BUY, Movement.SELL, Movement.NET)


@dataclass(frozen=True)
class Adjustment:
    """An entry kind of an app above this one that moves an account's cash or shares outside trading and
    deposits (supervision's forced transfers and corrections): its statement line's ``movement`` kind and
    ``label``, and ``refs``, what the line names (trade ids; a reference such as the transfer's number).
    Its amounts are the movements ``balances.replay`` has registered for the kind, so that a statement
    moves every balance exactly as the replay does."""

    movement: str
    label: object  # a lazy translation
    refs: Callable[[dict], tuple[tuple[int, ...], str]]


adjustments: dict[str, Adjustment] = {}


def register_adjustment(kind: str, adjustment: Adjustment) -> None:
    adjustments[kind] = adjustment


def adjustment_movements() -> set[str]:
    """The statement line kinds of the registered adjustments."""
    return {a.movement for a in adjustments.values()}


def movement_kinds() -> tuple[str, ...]:
    """Every kind a statement line can have: the settlement's own, then the registered adjustments'."""
    return (*MOVEMENTS, *sorted(adjustment_movements()))


@dataclass(frozen=True)
class CashMovement:
    """One change of the account's cash, as the ledger recorded it. ``amount`` is signed."""

    at: dt.datetime
    kind: str
    amount: Decimal
    fee: Decimal
    balance: Decimal
    entry_id: int
    leaf_index: int | None
    security: str = ""
    quantity: int | None = None
    price: Decimal | None = None
    trade_ids: tuple[int, ...] = ()
    reference: str = ""


@dataclass(frozen=True)
class Holding:
    security: str
    name: str
    quantity: int


@dataclass(frozen=True)
class Statement:
    account: Account
    start: dt.date
    end: dt.date
    opening_cash: Decimal
    closing_cash: Decimal
    movements: list[CashMovement]
    trades: list[TradeView]
    holdings: list[Holding]
    generated_at: dt.datetime
    totals: dict[str, Decimal] = field(default_factory=dict)

    @property
    def holdings_at(self) -> str:
        """When the holdings are: the end of the last day, or, while that day is not over, the moment made."""
        return holdings_moment(self.end, self.generated_at)


# Statements cover these dates only: the day after 9999-12-31 does not exist, and nothing happened before 1990.
STATEMENT_DATES = (dt.date(1990, 1, 1), dt.date(2999, 12, 31))


def beijing_today() -> dt.date:
    return timezone.now().astimezone(BEIJING).date()


def holdings_moment(day: dt.date, made: dt.datetime) -> str:
    """ "the end of ``day``", or, when ``day`` was today when the document was made (it was not over), that moment.

    Asked of ``made``, not of the clock again: a document made at 23:59:59 and shown after midnight (a download,
    a page rendered a moment later) said "the end of" a day whose holdings it had read before the day ended
    (found by crossing a Shanghai midnight inside the tests)."""
    if not day_over(day, made):
        return _("%(date)s %(time)s (Beijing time; the day is not over)") % {
            "date": day.isoformat(),
            "time": made.astimezone(BEIJING).strftime("%H:%M:%S"),
        }
    return _("end of %(date)s (Beijing time)") % {"date": day.isoformat()}


def day_over(day: dt.date, made: dt.datetime) -> bool:
    """Whether the Beijing date ``day`` was over when a document was ``made``: only then are its holdings those of
    the day's end."""
    return day < made.astimezone(BEIJING).date()


def statement_dates_error(start: dt.date, end: dt.date) -> str | None:
    """Why ``start`` … ``end`` is not a statement period, in the active language; None when it is one. A period
    may end after today (it is cut at now) but not start after it: nothing can be stated of days to come."""
    if start > end:
        return _("The start date is after the end date.")
    if start > beijing_today():
        return _("A statement starts today at the latest (%(today)s).") % {"today": beijing_today()}
    first, last = STATEMENT_DATES
    if start < first or end > last:
        return _("Statements cover dates from %(first)s to %(last)s.") % {"first": first, "last": last}
    return None


def statement_period(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[first instant, first instant after) of a period of Beijing dates."""
    if problem := statement_dates_error(start, end):
        raise err.InvalidInput(problem)
    first = dt.datetime.combine(start, dt.time.min, tzinfo=BEIJING)
    after = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=BEIJING)
    return first, after


@dataclass
class _Effect:
    """What one ledger entry does to one account."""

    cash: Decimal = ZERO
    fee: Decimal = ZERO
    kind: str = ""
    shares: dict[str, int] = field(default_factory=dict)
    security: str = ""
    quantity: int | None = None
    price: Decimal | None = None
    trade_ids: tuple[int, ...] = ()
    reference: str = ""


def _effect(kind: str, p: dict, code: str) -> _Effect | None:
    """The entry's effect on account ``code``, or None when the entry does not concern it.

    Payloads are read through the classes of the apps that write them (``balances.entries``,
    ``settlement.entries``), so a renamed field is renamed here too.
    """
    if kind in (EntryKind.DEPOSIT, EntryKind.WITHDRAWAL):
        move = (Deposit if kind == EntryKind.DEPOSIT else Withdrawal).read(p)
        if move.account != code:
            return None
        deposit = kind == EntryKind.DEPOSIT
        return _Effect(
            cash=move.amount if deposit else -move.amount,
            kind=Movement.DEPOSIT if deposit else Movement.WITHDRAWAL,
            reference=move.reference or "",
        )
    if kind == EntryKind.ISSUE:
        issue = Issue.read(p)
        quantity = sum(a.quantity for a in issue.allocations if a.account == code)
        return _Effect(shares={issue.security: quantity}) if quantity else None
    if kind in adjustments:
        return _adjustment(kind, p, code)
    if kind != EntryKind.SETTLEMENT:
        return None
    settled = settlement_read(p)
    if isinstance(settled, NetSettlement):
        cash = sum((c.amount for c in settled.cash if c.account == code), ZERO)
        shares = sum(s.quantity for s in settled.shares if s.account == code)
        if not cash and not shares:
            return None
        return _Effect(
            cash=cash,
            kind=Movement.NET,
            shares={settled.security: shares},
            security=settled.security,
            quantity=shares,
            trade_ids=tuple(settled.trade_ids),
        )
    if code not in (settled.buyer, settled.seller):
        return None
    quantity, price = settled.quantity, settled.price
    value = money(price * quantity)
    common = {"security": settled.security, "quantity": quantity, "price": price, "trade_ids": (settled.trade_id,)}
    if settled.buyer == code:
        paid = settled.buyer_pays
        return _Effect(cash=-paid, fee=paid - value, kind=Movement.BUY, shares={settled.security: quantity}, **common)
    received = settled.seller_receives
    return _Effect(
        cash=received, fee=value - received, kind=Movement.SELL, shares={settled.security: -quantity}, **common
    )


def _adjustment(kind: str, p: dict, code: str) -> _Effect | None:
    """A forced transfer's or a correction's effect on account ``code``: its totals' part of the movements the
    replay registered for the kind (frozen and locked parts are not on a statement)."""
    cash, shares = ZERO, defaultdict(int)
    for m in replay.effects[kind](p):
        if m.account != code or m.part != "total":
            continue
        if m.security is None:
            cash += m.amount
        else:
            shares[m.security] += m.amount
    moved = {security: quantity for security, quantity in shares.items() if quantity}
    if not cash and not moved:
        return None
    adjustment = adjustments[kind]
    trade_ids, reference = adjustment.refs(p)
    security, quantity = next(iter(moved.items()), ("", None))
    return _Effect(
        cash=cash,
        kind=adjustment.movement,
        shares=moved,
        security=security,
        quantity=quantity,
        trade_ids=trade_ids,
        reference=reference,
    )


def _account_entries(code: str, *, before: dt.datetime):
    """The account's balance entries recorded before ``before``, in recorded order.

    Canonical bytes hold the account code as a JSON string, so a text search
    for ``"CODE"`` finds every entry naming the account (and perhaps a few
    that only mention it, which ``_effect`` then leaves out).
    """
    kinds = [EntryKind.DEPOSIT, EntryKind.WITHDRAWAL, EntryKind.SETTLEMENT, EntryKind.ISSUE, *sorted(adjustments)]
    return (
        Entry.objects.filter(kind__in=kinds, recorded_at__lt=before)
        .annotate(text=Func(F("canonical"), Value("UTF8"), function="convert_from", output_field=TextField()))
        .filter(text__contains=f'"{code}"')
        .order_by("recorded_at", "id")
        .values_list("id", "kind", "recorded_at", "canonical", "leaf__leaf_index")
    )


def _net_fees(account: Account, trade_ids: set[int]) -> dict[int, Decimal]:
    fees = {}
    for trade in Trade.objects.filter(pk__in=trade_ids).only("buyer_id", "buyer_fee", "seller_fee"):
        fees[trade.pk] = trade.buyer_fee if trade.buyer_id == account.pk else trade.seller_fee
    return fees


@read_only_snapshot()
def account_statement(account: Account, start: dt.date, end: dt.date) -> Statement:
    """The account's statement for the Beijing dates ``start`` … ``end`` (both included, ``end`` cut at today:
    its holdings are then those of now, not of a day's end), as of one snapshot."""
    first, after = statement_period(start, end)
    # One reading of the clock both cuts the period and stamps the statement, before its snapshot is read: cut at
    # one and stamped with a later one, past a midnight, it said "the end of" the day its holdings were read in.
    now = timezone.now()
    end = min(end, now.astimezone(BEIJING).date())
    opening = ZERO
    shares: dict[str, int] = defaultdict(int)
    in_period: list[tuple[int, dt.datetime, int | None, _Effect]] = []
    for entry_id, kind, recorded_at, canonical, leaf_index in _account_entries(account.code, before=after):
        effect = _effect(kind, json.loads(bytes(canonical))["payload"], account.code)
        if effect is None:
            continue
        for security, quantity in effect.shares.items():
            shares[security] += quantity
        if not effect.kind:
            continue
        if recorded_at < first:
            opening += effect.cash
        else:
            in_period.append((entry_id, recorded_at, leaf_index, effect))

    net_ids = {t for *_, e in in_period if e.kind == Movement.NET for t in e.trade_ids}
    net_fees = _net_fees(account, net_ids) if net_ids else {}
    balance = opening
    movements = []
    for entry_id, recorded_at, leaf_index, e in in_period:
        balance += e.cash
        fee = sum((net_fees.get(t, ZERO) for t in e.trade_ids), ZERO) if e.kind == Movement.NET else e.fee
        movements.append(
            CashMovement(
                at=recorded_at,
                kind=e.kind,
                amount=e.cash,
                fee=fee,
                balance=balance,
                entry_id=entry_id,
                leaf_index=leaf_index,
                security=e.security,
                quantity=e.quantity,
                price=e.price,
                trade_ids=e.trade_ids,
                reference=e.reference,
            )
        )

    trades = trade_views(
        account_trades(account).filter(matched_at__gte=first, matched_at__lt=after).order_by("matched_at", "id"),
        account,
    )
    names = dict(Security.objects.filter(code__in=list(shares)).values_list("code", "name"))
    holdings = [Holding(code, names.get(code, ""), qty) for code, qty in sorted(shares.items()) if qty]
    trade_moves = [m.amount for m in movements if m.kind in (Movement.BUY, Movement.SELL, Movement.NET)]
    adjusting = adjustment_movements()
    totals = {
        "deposits": sum((m.amount for m in movements if m.kind == Movement.DEPOSIT), ZERO),
        "withdrawals": sum((-m.amount for m in movements if m.kind == Movement.WITHDRAWAL), ZERO),
        "settlements_paid": sum((-a for a in trade_moves if a < 0), ZERO),
        "settlements_received": sum((a for a in trade_moves if a > 0), ZERO),
        "adjustments": sum((m.amount for m in movements if m.kind in adjusting), ZERO),
        "fees": sum((m.fee for m in movements), ZERO),
    }
    return Statement(
        account=account,
        start=start,
        end=end,
        opening_cash=opening,
        closing_cash=balance,
        movements=movements,
        trades=trades,
        holdings=holdings,
        generated_at=now,
        totals=totals,
    )


# --------------------------------------------------------------------------
# Annual holdings certificate


@dataclass(frozen=True)
class Certificate:
    """The account's holdings at the end of ``as_of`` (31 December of ``year``, or today for the current year)."""

    account: Account
    year: int
    as_of: dt.date
    holdings: list[Holding]
    generated_at: dt.datetime


def certificate_years(account: Account) -> tuple[int, int]:
    """The years the account has a holdings certificate of: from the year it was opened (1990 at the earliest)
    to this one."""
    opened = account.created_at.astimezone(BEIJING).date()
    return max(STATEMENT_DATES[0].year, opened.year), beijing_today().year


def certificate_year_error(account: Account, year: int) -> str | None:
    """Why the account has no holdings certificate of ``year``, in the active language; None when it has one.
    One rule and one message for every year out of range, naming the day the account was opened: a year before
    it was certified as "no holdings", as if the account had held nothing then (found by a walk-through)."""
    first, last = certificate_years(account)
    if first <= year <= last:
        return None
    return _(
        "A holdings certificate of this account is for a year from %(first)s to %(last)s: "
        "the account was opened on %(opened)s."
    ) % {"first": first, "last": last, "opened": account.created_at.astimezone(BEIJING).date().isoformat()}


def holdings_certificate(account: Account, year: int) -> Certificate:
    """The holdings certificate of ``year``: the holdings of the year's statement, so the two always agree."""
    if problem := certificate_year_error(account, year):
        raise err.InvalidInput(problem)
    today = timezone.now().astimezone(BEIJING).date()
    as_of = min(dt.date(year, 12, 31), today, STATEMENT_DATES[1])
    statement = account_statement(account, dt.date(year, 1, 1), as_of)
    return Certificate(
        account=account, year=year, as_of=as_of, holdings=statement.holdings, generated_at=statement.generated_at
    )
