"""Reads: what each role may see, and the shapes the API and pages show."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal

import orjson
from django.db import connection
from django.db.models import F, Q, QuerySet

from balances.models import CashBalance, Position
from core.models import Account, Broker, Role, User
from core.money import CURRENCY, amount_text
from core.prepared import Statement
from core.roles import SUPERVISORS
from kyc.models import KycProfile
from ledger.models import Entry, EntryKind
from registry.models import Security

from .models import DayClose, Order, Quote, RfqAnswer, RfqRequest, Trade

_ACCOUNT_FIELDS = [f.attname for f in Account._meta.concrete_fields]
_BROKER_FIELDS = [f.attname for f in Broker._meta.concrete_fields]
_ACCOUNT_OF = Statement(
    "account_of",
    f"SELECT {', '.join(f'a.{f}' for f in _ACCOUNT_FIELDS)}, {', '.join(f'b.{f}' for f in _BROKER_FIELDS)}"
    " FROM exchange_account a LEFT JOIN exchange_broker b ON b.id = a.broker_id WHERE a.owner_id = $1",
    ["bigint"],
)


def kyc_pending(user: User) -> bool:
    """An investor whose account opening (KYC) is not approved: the trading pages say so up front, with the way to
    their KYC page (found by a walk-through: a new investor typed a whole order before learning it, with no way on)."""
    if user.role != Role.INVESTOR:
        return False
    return not KycProfile.objects.filter(
        user=user, state__in=(KycProfile.State.APPROVED, KycProfile.State.EXPIRED)
    ).exists()


def account_of(user: User) -> Account | None:
    """The user's account with its broker (``select_related("broker")``), or None.

    Written out and prepared (``core.prepared``): it runs on every order through the API, and building the
    ORM's SQL, then planning it, cost more CPU than running it (measured with ``make bench``).
    """
    with connection.cursor() as cur:
        _ACCOUNT_OF.execute(cur, [user.pk])
        row = cur.fetchone()
    if row is None:
        return None
    n = len(_ACCOUNT_FIELDS)
    account = Account.from_db("default", _ACCOUNT_FIELDS, row[:n])
    account.broker = None if row[n] is None else Broker.from_db("default", _BROKER_FIELDS, row[n:])
    return account


def _visible_accounts_q(user: User, prefix: str) -> Q | None:
    """None means everything; otherwise a filter on ``prefix`` (an account relation)."""
    if user.role in SUPERVISORS:
        return None
    if user.role == Role.BROKER_STAFF:
        if user.broker_id is None:
            return Q(pk__in=[])
        return Q(**{f"{prefix}__broker_id": user.broker_id, f"{prefix}__kind": Account.Kind.INVESTOR})
    return Q(**{f"{prefix}__owner_id": user.pk})


def accounts_visible(user: User) -> QuerySet[Account]:
    """The accounts the user may see, with their broker: every account for a supervisor, a broker's investors and
    its own fee account for its staff (whose freezes they see), one's own for an investor or a market maker."""
    qs = Account.objects.select_related("broker")
    if user.role in SUPERVISORS:
        return qs
    if user.role == Role.BROKER_STAFF:
        if user.broker_id is None:
            return qs.none()
        return qs.filter(broker_id=user.broker_id, kind__in=[Account.Kind.INVESTOR, Account.Kind.FEE])
    return qs.filter(owner_id=user.pk)


def account_visible(user: User, code) -> Account | None:
    """The account of ``code`` (as typed: "inv000004 " names INV000004) if the user may see it, else None: an
    account the user may not see is not told apart from one that does not exist."""
    if not isinstance(code, str) or not code.strip():
        return None
    return accounts_visible(user).filter(code=Account.typed_code(code)).first()


def trades_of_account(qs: QuerySet[Trade], account: Account) -> QuerySet[Trade]:
    """``qs`` narrowed to the trades ``account`` bought or sold in."""
    return qs.filter(Q(buyer=account) | Q(seller=account))


def orders_visible(user: User) -> QuerySet[Order]:
    qs = Order.objects.select_related("security", "account").order_by("-id")
    q = _visible_accounts_q(user, "account")
    return qs if q is None else qs.filter(q)


def trades_visible(user: User) -> QuerySet[Trade]:
    """Trades the user may see, with ``leaf_index`` and ``block_height`` once the sealer has sealed them."""
    qs = (
        Trade.objects.select_related("security", "buyer", "seller")
        .annotate(leaf_index=F("entry__leaf__leaf_index"), block_height=F("entry__leaf__block_id"))
        .order_by("-id")
    )
    if user.role in SUPERVISORS:
        return qs
    return qs.filter(_visible_accounts_q(user, "buyer") | _visible_accounts_q(user, "seller"))


def securities_listed() -> QuerySet[Security]:
    return Security.objects.exclude(status=Security.Status.DELISTED).order_by("code")


def quotes_active(account: Account) -> QuerySet[Quote]:
    """The account's active quotes with their security, by security code then side (ask before bid)."""
    return (
        Quote.objects.filter(account=account, status=Quote.Status.ACTIVE)
        .select_related("security")
        .order_by("security__code", "side")
    )


def quote_book(security: Security, *, depth: int = 10) -> dict[str, list[dict]]:
    """Active quotes, best first: bids high to low, asks low to high; earliest first at a price."""
    active = Quote.objects.filter(security=security, status=Quote.Status.ACTIVE).select_related("account")
    bids = active.filter(side=Quote.Side.BID).order_by("-price", "id")[:depth]
    asks = active.filter(side=Quote.Side.ASK).order_by("price", "id")[:depth]

    def row(q: Quote) -> dict:
        return {"price": q.price, "quantity": q.quantity, "market_maker": q.account.code, "quote_id": q.pk}

    return {"bids": [row(q) for q in bids], "asks": [row(q) for q in asks]}


def best_prices() -> dict[int, dict]:
    """Best bid and ask (price, total size at that price) of every security, in two queries."""
    out: dict[int, dict] = {}
    for side, order in ((Quote.Side.BID, "-price"), (Quote.Side.ASK, "price")):
        seen: set[int] = set()
        rows = (
            Quote.objects.filter(status=Quote.Status.ACTIVE, side=side)
            .order_by("security_id", order)
            .values_list("security_id", "price", "quantity")
        )
        for security_id, price, qty in rows:
            book = out.setdefault(security_id, {"bid": None, "bid_size": 0, "ask": None, "ask_size": 0})
            if security_id not in seen:
                seen.add(security_id)
                book[side] = price
            if book[side] == price:
                book[f"{side}_size"] += qty
    return out


def account_balances(account: Account) -> dict:
    cash = CashBalance.objects.filter(account=account).first()
    positions = Position.objects.filter(account=account).select_related("security").order_by("security__code")
    return {
        "account": account.code,
        "cash": {
            "currency": CURRENCY,
            "total": cash.total if cash else 0,
            "available": cash.available if cash else 0,
            "reserved": cash.reserved if cash else 0,
            "frozen": cash.frozen if cash else 0,
        },
        "positions": [
            {
                "security": p.security.code,
                "name": p.security.name,
                "total": p.total,
                "available": p.available,
                "reserved": p.reserved,
                "frozen": p.frozen,
                "locked": p.locked,
                "locked_until": p.locked_until,
            }
            for p in positions
            if p.total or p.reserved
        ],
    }


def account_part_frozen(account: Account) -> bool:
    """Whether a legal order holds some of the account's cash or shares (a freeze of an amount, of shares, or a
    whole-account freeze's holdings)."""
    return (
        CashBalance.objects.filter(account=account, frozen__gt=0).exists()
        or Position.objects.filter(account=account, frozen__gt=0).exists()
    )


def trade_status(trade: Trade) -> str:
    """matched → sealed once its entry is in a block (the ledger does not write exchange rows)."""
    if trade.status == Trade.Status.MATCHED and getattr(trade, "leaf_index", None) is not None:
        return Trade.Status.SEALED
    return trade.status


def trades_of_status(qs: QuerySet[Trade], status: str) -> QuerySet[Trade]:
    """``qs`` narrowed to the trades ``trade_status`` shows as ``status``: sealed is a matched trade whose entry is
    in a block, matched one whose entry is not in a block yet."""
    if status == Trade.Status.SEALED:
        return qs.filter(status=Trade.Status.MATCHED, entry__leaf__isnull=False)
    if status == Trade.Status.MATCHED:
        return qs.filter(status=Trade.Status.MATCHED, entry__leaf__isnull=True)
    return qs.filter(status=status)


def fee_charged(trade: Trade, side: str) -> Decimal:
    """The fee the buyer (``side`` "buy") or the seller paid: the trade's, nothing for a trade whose settlement
    failed (nothing moved). The trade row and its TRADE entry keep the fee agreed when it matched."""
    if trade.status == Trade.Status.FAILED:
        return Decimal("0.00")
    return trade.buyer_fee if side == "buy" else trade.seller_fee


# The parameters a trade's price and quantity are judged by, each with its type, and the entries that change
# them: a day's close (the reference price) and an operator's change (any of them).
TRADE_PARAMETERS = {"reference_price": Decimal, "band_pct": Decimal, "tick_size": Decimal, "lot_size": int}


def price_changes_since(at) -> list[tuple]:
    """The entries recorded after ``at`` that change a security's price parameters, newest first, as
    ``(recorded_at, kind, payload)``: read once for many ``security_as_of`` calls."""
    since = (
        Entry.objects.filter(kind__in=[EntryKind.CLOSE, EntryKind.SECURITY_CHANGE], recorded_at__gt=at)
        .order_by("-id")
        .values_list("recorded_at", "kind", "canonical")
    )
    return [(recorded_at, kind, orjson.loads(bytes(canonical))["payload"]) for recorded_at, kind, canonical in since]


def security_as_of(security: Security, at, *, changes: list[tuple] | None = None) -> Security:
    """The security with the trading parameters it had at ``at`` (reference price, band, tick, lot), as an unsaved
    copy: the present ones with every change recorded since undone, newest first. A CLOSE entry gives the
    reference it started from (``previous_reference``), a SECURITY_CHANGE entry each field's ``before``. A
    correction is priced in its trade's band and sized in its lots, and surveillance judges a trade's price
    against the band it was made in (found by probes: an operator's change of the reference price since moved
    both to today's band; a lot raised since refused every correction of the trades made in the old lots).
    ``changes``: ``price_changes_since`` of a moment no later than ``at``, read once for many calls.

    By when each was recorded, not the day it was for: in always-open mode a trade a minute after 15:00 that
    matched before the close job ran was in the old day's band."""
    then = copy.copy(security)
    for recorded_at, kind, payload in price_changes_since(at) if changes is None else changes:
        if recorded_at <= at:
            continue
        if kind == EntryKind.CLOSE:
            for row in payload["securities"]:
                if row["code"] == security.code:
                    then.reference_price = Decimal(row["previous_reference"])
        elif payload["security"] == security.code:
            for change in payload["changes"]:
                kind_of = TRADE_PARAMETERS.get(change["field"])
                if kind_of is not None and change["before"] is not None:
                    setattr(then, change["field"], kind_of(change["before"]))
    return then


def trade_side_for(trade: Trade, user: User) -> str:
    """The trade's side as the viewer sees it: their own side, else the investor order's side."""
    if trade.buyer.owner_id == user.pk:
        return "buy"
    if trade.seller.owner_id == user.pk:
        return "sell"
    if user.role == Role.BROKER_STAFF and trade.buyer.broker_id == user.broker_id:
        return "buy"
    if user.role == Role.BROKER_STAFF and trade.seller.broker_id == user.broker_id:
        return "sell"
    if trade.buy_order_id or trade.sell_order_id:
        return "buy" if trade.buy_order_id else "sell"
    # No order (an accepted RFQ answer): the investor's side.
    return "buy" if trade.buyer.kind == Account.Kind.INVESTOR else "sell"


def account_code_masked(code: str) -> str:
    """An account code as shown to someone who may see the trade but not whose account it is: its kind's
    prefix and last two characters (``INV000010`` → ``INV****10``)."""
    if len(code) <= 5:
        return "*" * len(code)
    return code[:3] + "*" * (len(code) - 5) + code[-2:]


def party_visible(account: Account, user: User) -> bool:
    """Whether ``user`` sees ``account``'s code in full on an exchange-wide trade list: supervisors every
    account; broker staff their own broker's client accounts; everyone their own account."""
    if user.role in SUPERVISORS or account.owner_id == user.pk:
        return True
    return (
        user.role == Role.BROKER_STAFF
        and user.broker_id is not None
        and account.broker_id == user.broker_id
        and account.kind == Account.Kind.INVESTOR
    )


def party_shown(account: Account, fee: Decimal, user: User) -> dict:
    """A trade's party as an exchange-wide view (a trade list, a trade's page read by staff or a supervisor)
    shows it to ``user``: the account's code, masked unless ``party_visible``, and its fee only then."""
    visible = party_visible(account, user)
    return {
        "code": account.code if visible else account_code_masked(account.code),
        "masked": not visible,
        "fee": amount_text(fee) if visible else None,
    }


def orders_in_period(qs: QuerySet[Order], since: dt.datetime | None, until: dt.datetime | None) -> QuerySet[Order]:
    """``qs`` narrowed to the orders placed in [since, until) (either bound None: open on that side)."""
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    return qs if until is None else qs.filter(created_at__lt=until)


def trades_in_period(qs: QuerySet[Trade], since: dt.datetime | None, until: dt.datetime | None) -> QuerySet[Trade]:
    """``qs`` narrowed to the trades matched in [since, until) (either bound None: open on that side)."""
    if since is not None:
        qs = qs.filter(matched_at__gte=since)
    return qs if until is None else qs.filter(matched_at__lt=until)


def trade_entry_readable(user: User, entry_id: int) -> bool:
    """Whoever sees a trade may read its TRADE entry (registered as a ``ledger.hooks`` entry reader): its two
    parties and their brokers' staff, as its proof (``trades/{id}/proof/``) gives them the same bytes."""
    return trades_visible(user).filter(entry_id=entry_id).exists()


# What later apps add to a trade as its page and API show it (supervision: its corrections). Each function
# takes trade ids and returns {trade id: [notes]}, a note a dict with at least "text", and its "kind", one of the
# kinds registered with it.
trade_note_sources: list = []
_trade_note_kinds: list[str] = []


def register_trade_notes(fn, kind: str) -> None:
    if fn not in trade_note_sources:
        trade_note_sources.append(fn)
    if kind not in _trade_note_kinds:
        _trade_note_kinds.append(kind)


def trade_note_kinds() -> tuple[str, ...]:
    """The kinds of the notes the registered sources give (the API's schema documents them)."""
    return tuple(_trade_note_kinds)


def trade_notes(trade_ids: list[int]) -> dict[int, list[dict]]:
    notes: dict[int, list[dict]] = {}
    for fn in trade_note_sources:
        for trade_id, items in fn(trade_ids).items():
            notes.setdefault(trade_id, []).extend(items)
    return notes


# --------------------------------------------------------------------------
# Requests for quote


def rfqs_visible(user: User) -> QuerySet[RfqRequest]:
    """Requests for quote the user may see: supervisors all; a market maker the open ones (to answer) and those
    it answered; an investor its own (broker staff their clients')."""
    qs = RfqRequest.objects.select_related("security", "account").prefetch_related("answers__account").order_by("-id")
    if user.role in SUPERVISORS:
        return qs
    if user.role == Role.MARKET_MAKER:
        return qs.filter(Q(status=RfqRequest.Status.OPEN) | Q(answers__account__owner_id=user.pk)).distinct()
    return qs.filter(_visible_accounts_q(user, "account"))


def rfq_answers_visible(rfq: RfqRequest, user: User) -> list[RfqAnswer]:
    """The answers to ``rfq`` the user may see: a market maker only its own, everyone else who sees the request
    all of them (the investor compares them side by side)."""
    answers = sorted(rfq.answers.all(), key=lambda a: a.pk)
    if user.role == Role.MARKET_MAKER:
        return [a for a in answers if a.account.owner_id == user.pk]
    return answers


# --------------------------------------------------------------------------
# Market data of one security: candles (OHLC and volume per interval), the day's figures, time and sales.
# Built from the trades themselves; a trade refused at settlement (failed) did not happen and is left out.

CANDLE_INTERVALS = {"1m": ("minute", "1 minute"), "1d": ("day", "1 day")}
# At most this many buckets per request: 1m over about three and a half days, 1d over thirteen years.
CANDLES_MAX_BUCKETS = 5000

# Buckets are minutes or days of the exchange's clock (Asia/Shanghai). generate_series makes every bucket of
# the range, the trades' aggregate joins onto them, so a bucket without trades is there with volume 0.
# ``from`` is inclusive, ``to`` exclusive; open and close are the first and the last trade (time, then id).
_CANDLES = """
WITH buckets AS (
  SELECT b FROM generate_series(
    date_trunc(%(unit)s, %(start)s AT TIME ZONE 'Asia/Shanghai'),
    date_trunc(%(unit)s, (%(end)s - interval '1 microsecond') AT TIME ZONE 'Asia/Shanghai'),
    %(step)s::interval) AS b
  WHERE %(start)s < %(end)s
), agg AS (
  SELECT date_trunc(%(unit)s, t.matched_at AT TIME ZONE 'Asia/Shanghai') AS b,
         (array_agg(t.price ORDER BY t.matched_at, t.id))[1] AS open,
         max(t.price) AS high,
         min(t.price) AS low,
         (array_agg(t.price ORDER BY t.matched_at DESC, t.id DESC))[1] AS close,
         sum(t.quantity) AS volume,
         sum(t.price * t.quantity) AS turnover,
         count(*) AS trades
  FROM exchange_trade t
  WHERE t.security_id = %(security)s AND t.status <> 'failed'
    AND t.matched_at >= %(start)s AND t.matched_at < %(end)s
  GROUP BY 1
)
SELECT buckets.b AT TIME ZONE 'Asia/Shanghai', agg.open, agg.high, agg.low, agg.close,
       COALESCE(agg.volume, 0), COALESCE(agg.turnover, 0), COALESCE(agg.trades, 0)
FROM buckets LEFT JOIN agg ON agg.b = buckets.b
ORDER BY buckets.b
"""


def candles(security: Security, *, interval: str, start, end) -> list[dict]:
    """OHLC, volume (shares), turnover (CNY) and trade count per ``interval`` ("1m" or "1d") bucket of
    ``[start, end)``, one SQL aggregate; empty buckets have ``open`` … ``close`` None and volume 0."""
    unit, step = CANDLE_INTERVALS[interval]
    with connection.cursor() as cur:
        cur.execute(_CANDLES, {"unit": unit, "step": step, "security": security.pk, "start": start, "end": end})
        rows = cur.fetchall()
    return [
        {
            "time": time,
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": int(volume),
            "turnover": Decimal(turnover).quantize(Decimal("0.01")),
            "trades": int(trades),
        }
        for time, open_, high, low, close, volume, turnover, trades in rows
    ]


def reference_before(security: Security, day: dt.date) -> Decimal:
    """The security's reference price before the close of ``day`` (a Beijing date) and of any day after it: the
    previous reference of the first such close, or the reference price now when there is none. A day's change is
    against it: after the close the reference price is that day's close, and a change against it said 0.00 all
    evening (found by a probe). By the date closed, not the time: a day closed late (the beat down) moved the
    reference before the next day's trades, whenever it ran."""
    close = DayClose.objects.filter(date__gte=day).order_by("date").select_related("entry").first()
    if close is not None:
        for row in orjson.loads(bytes(close.entry.canonical))["payload"]["securities"]:
            if row["code"] == security.code:
                return Decimal(row["previous_reference"])
    return security.reference_price


def candle_buckets(interval: str, start, end) -> int:
    """How many buckets ``candles`` would return (to refuse a too long range before running it)."""
    if end <= start:
        return 0
    if interval == "1m":
        return int((end - start).total_seconds() // 60) + 2
    return (end - start).days + 2


def time_and_sales(security: Security) -> QuerySet[Trade]:
    """The security's trades for everyone: newest first, no parties (price, quantity, time only)."""
    return (
        Trade.objects.filter(security=security)
        .exclude(status=Trade.Status.FAILED)
        .order_by("-matched_at", "-id")
        .only("id", "price", "quantity", "matched_at")
    )
