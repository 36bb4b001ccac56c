"""The surveillance rules: one small function each, over one sealed block, with its thresholds as data.

Each rule gets the block (``Scan``: its height, its time window, its trades and disclosures) and the
thresholds of its ``Rule`` row, and returns ``Finding``s; ``services.block_scan`` turns them into alerts.
A finding's ``key`` says what it is about within the rule and the block, so that re-running a block finds
the same keys and writes nothing new.

Thresholds are validated against ``THRESHOLDS`` (name → type and range) whenever the regulator changes
them (``thresholds_checked``); the seeded defaults are ``DEFAULTS``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db import connection
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core import errors as err
from core.models import Account
from exchange.models import Order, Trade
from exchange.pretrade import holder_count
from exchange.selectors import price_changes_since, security_as_of
from registry import profile as venue_profile
from registry.models import Disclosure, Security

from .models import Rule

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


@dataclass(frozen=True)
class Threshold:
    kind: type  # int or Decimal
    low: Decimal
    high: Decimal
    label: str


THRESHOLDS: dict[str, dict[str, Threshold]] = {
    Rule.Code.WASH_TRADE: {},
    Rule.Code.HOLDER_CAP: {
        "percent_of_max": Threshold(int, Decimal(1), Decimal(100), _("Alert at this percentage of the holder cap")),
    },
    Rule.Code.BAND_EDGE: {
        "ticks": Threshold(int, Decimal(0), Decimal(1000), _("Within this many ticks of the band's edge")),
    },
    Rule.Code.VALUE_SPIKE: {
        "multiple": Threshold(Decimal, Decimal("1"), Decimal("10000"), _("Times the daily average")),
        "lookback_days": Threshold(int, Decimal(1), Decimal(365), _("Days the average is taken over")),
        "minimum_value": Threshold(Decimal, Decimal(0), Decimal("1000000000000"), _("Minimum value of the day (CNY)")),
    },
    Rule.Code.ORDER_BURST: {
        "count": Threshold(int, Decimal(2), Decimal(100000), _("Orders and cancels")),
        "window_seconds": Threshold(int, Decimal(1), Decimal(86400), _("Within this many seconds")),
    },
    Rule.Code.PRE_DISCLOSURE: {
        "hours": Threshold(int, Decimal(1), Decimal(720), _("Hours before the publication")),
    },
    Rule.Code.SPLIT_VIEW: {},
}

DEFAULTS: dict[str, dict[str, object]] = {
    Rule.Code.WASH_TRADE: {},
    Rule.Code.HOLDER_CAP: {"percent_of_max": 90},
    Rule.Code.BAND_EDGE: {"ticks": 1},
    Rule.Code.VALUE_SPIKE: {"multiple": "10.00", "lookback_days": 20, "minimum_value": "100000.00"},
    Rule.Code.ORDER_BURST: {"count": 20, "window_seconds": 60},
    Rule.Code.PRE_DISCLOSURE: {"hours": 24},
    Rule.Code.SPLIT_VIEW: {},
}


def thresholds_checked(code: str, values: object) -> dict[str, object]:
    """The thresholds of rule ``code`` as stored (ints, decimals as strings): every one given, each in range.

    InvalidInput naming each bad field otherwise (unknown name, missing, wrong type, out of range)."""
    spec = THRESHOLDS[code]
    if not isinstance(values, dict):
        raise err.InvalidInput(gettext("Thresholds are an object of names and values."))
    problems: dict[str, str] = {}
    out: dict[str, object] = {}
    for name in values:
        if name not in spec:
            problems[str(name)] = gettext("Unknown threshold.")
    for name, t in spec.items():
        if name not in values:
            problems[name] = gettext("This threshold is required.")
            continue
        raw = values[name]
        if isinstance(raw, bool) or isinstance(raw, float):
            problems[name] = gettext("Give a whole number or a decimal string.")
            continue
        try:
            number = Decimal(str(raw).strip()) if isinstance(raw, int | str) else None
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            problems[name] = gettext("Not a number.")
            continue
        if t.kind is int and number != number.to_integral_value():
            problems[name] = gettext("Give a whole number.")
            continue
        if not t.low <= number <= t.high:
            problems[name] = gettext("Between %(low)s and %(high)s.") % {"low": f"{t.low:,}", "high": f"{t.high:,}"}
            continue
        if t.kind is not int and number != number.quantize(Decimal("0.01")):
            problems[name] = gettext("At most two decimal places.")  # not rounded behind the regulator's back
            continue
        out[name] = int(number) if t.kind is int else str(number.quantize(Decimal("0.01")))
    if problems:
        name, problem = next(iter(problems.items()))
        exc = err.InvalidInput(f"{name}: {problem}")
        exc.fields = problems
        raise exc
    return out


# --------------------------------------------------------------------------
# The block the rules look at


@dataclass
class Scan:
    height: int
    sealed_at: dt.datetime
    previous_sealed_at: dt.datetime | None
    trades: list[Trade]
    disclosures: list[Disclosure]


@dataclass
class Finding:
    key: str
    security_id: int | None
    accounts: list[str]
    trade_ids: list[int] = field(default_factory=list)
    detail: dict = field(default_factory=dict)


def _is_watched(account: Account) -> bool:
    # Market makers are on one side of almost every trade by design: the per-account rules watch investors.
    return account.kind == Account.Kind.INVESTOR


# --------------------------------------------------------------------------
# The rules


def wash_trade(scan: Scan, _t: dict) -> list[Finding]:
    """A trade whose buyer and seller belong to one real identity (the KYC blind index, never the ID number)."""
    ids = [t.pk for t in scan.trades]
    if not ids:
        return []
    with connection.cursor() as cur:
        cur.execute(
            "SELECT t.id FROM exchange_trade t"
            " JOIN exchange_account b ON b.id = t.buyer_id JOIN exchange_account s ON s.id = t.seller_id"
            " JOIN kyc_kycprofile kb ON kb.user_id = b.owner_id JOIN kyc_kycprofile ks ON ks.user_id = s.owner_id"
            " WHERE t.id = ANY(%s) AND kb.identity = ks.identity",
            [ids],
        )
        same = {row[0] for row in cur.fetchall()}
    return [
        Finding(
            key=f"trade:{t.pk}",
            security_id=t.security_id,
            accounts=[t.buyer.code, t.seller.code],
            trade_ids=[t.pk],
            detail={"price": str(t.price), "quantity": t.quantity},
        )
        for t in scan.trades
        if t.pk in same
    ]


def holder_cap(scan: Scan, t: dict) -> list[Finding]:
    """A security traded in the block whose holders (counted by identity) reach the percentage of its cap."""
    out = []
    by_security: dict[int, list[Trade]] = defaultdict(list)
    for trade in scan.trades:
        by_security[trade.security_id].append(trade)
    for security_id, trades in sorted(by_security.items()):
        security = trades[0].security
        holders = holder_count(security_id)
        cap = venue_profile.max_holders(security)  # the venue's cap, where lower than the security's own
        if holders * 100 < t["percent_of_max"] * cap:
            continue
        buyers = sorted({tr.buyer.code for tr in trades if _is_watched(tr.buyer)})
        out.append(
            Finding(
                key=f"security:{security.code}",
                security_id=security_id,
                accounts=buyers,
                trade_ids=[tr.pk for tr in trades],
                detail={"holders": holders, "max_holders": cap},
            )
        )
    return out


def band_edge(scan: Scan, t: dict) -> list[Finding]:
    """A trade priced within ``ticks`` ticks of the price band's low or high edge."""
    out = []
    # Each trade against the band it was made in, not today's (found by a probe: a later change of the reference
    # price raised an alert for a trade mid-band, and took one from a trade at the edge).
    changes = price_changes_since(min(trade.matched_at for trade in scan.trades)) if scan.trades else []
    for trade in scan.trades:
        s = security_as_of(trade.security, trade.matched_at, changes=changes)
        margin = s.tick_size * t["ticks"]
        low, high = s.band_low, s.band_high
        if trade.price <= low + margin:
            edge = "low"
        elif trade.price >= high - margin:
            edge = "high"
        else:
            continue
        out.append(
            Finding(
                key=f"trade:{trade.pk}",
                security_id=s.pk,
                accounts=[a.code for a in (trade.buyer, trade.seller) if _is_watched(a)],
                trade_ids=[trade.pk],
                detail={"price": str(trade.price), "band_low": str(low), "band_high": str(high), "edge": edge},
            )
        )
    return out


def _day_bounds(moment: dt.datetime) -> tuple[dt.date, dt.datetime, dt.datetime]:
    day = moment.astimezone(SHANGHAI).date()
    start = dt.datetime.combine(day, dt.time(), tzinfo=SHANGHAI)
    return day, start, start + dt.timedelta(days=1)


def _traded_value(account_id: int, start: dt.datetime, end: dt.datetime) -> Decimal:
    values = Trade.objects.filter(
        Q(buyer_id=account_id) | Q(seller_id=account_id), matched_at__gte=start, matched_at__lt=end
    ).exclude(status=Trade.Status.FAILED)
    return sum((t.value for t in values.only("price", "quantity")), Decimal("0.00"))


def _securities_named(security_ids: set[int]) -> tuple[int | None, dict]:
    """What a finding names of the securities it is about: the one security, or none and their codes under
    ``securities`` in its detail when they are several."""
    if len(security_ids) == 1:
        return next(iter(security_ids)), {}
    codes = sorted(Security.objects.filter(pk__in=security_ids).values_list("code", flat=True))
    return None, ({"securities": codes} if codes else {})


def value_spike(scan: Scan, t: dict) -> list[Finding]:
    """An account whose traded value on the day (Asia/Shanghai) of its trade in the block is at least
    ``multiple`` times its daily average over the ``lookback_days`` days before, and at least ``minimum_value``."""
    multiple, days, minimum = Decimal(t["multiple"]), t["lookback_days"], Decimal(t["minimum_value"])
    seen: dict[tuple[int, dt.date], tuple[Account, list[int], set[int]]] = {}
    for trade in scan.trades:
        for account in (trade.buyer, trade.seller):
            if _is_watched(account):
                day, _s, _e = _day_bounds(trade.matched_at)
                found = seen.setdefault((account.pk, day), (account, [], set()))
                found[1].append(trade.pk)
                found[2].add(trade.security_id)
    out = []
    for (account_id, day), (account, trade_ids, securities) in sorted(seen.items()):
        _d, start, end = _day_bounds(dt.datetime.combine(day, dt.time(12), tzinfo=SHANGHAI))
        today = _traded_value(account_id, start, end)
        average = (_traded_value(account_id, start - dt.timedelta(days=days), start) / days).quantize(Decimal("0.01"))
        if today < minimum or today < multiple * average:
            continue
        # The security, where the block's trades of the account were all in one (found by a probe: the alert said
        # "—" for a large trade in one security); their codes where several, as an order burst says them.
        security_id, named = _securities_named(securities)
        out.append(
            Finding(
                key=f"account:{account.code}:{day.isoformat()}",
                security_id=security_id,
                accounts=[account.code],
                trade_ids=sorted(trade_ids),
                detail={"day": day.isoformat(), "value": str(today), "daily_average": str(average), **named},
            )
        )
    return out


def order_burst(scan: Scan, t: dict) -> list[Finding]:
    """An account with at least ``count`` order placements and cancellations within ``window_seconds``, the
    window ending in this block's time span (after the previous block's seal, up to this one's). The alert names
    the security when the orders of the burst were all in one, and the securities when they were several."""
    window = dt.timedelta(seconds=t["window_seconds"])
    start = scan.previous_sealed_at or (scan.sealed_at - window)
    placed = Order.objects.filter(created_at__gt=start - window, created_at__lte=scan.sealed_at).values_list(
        "account_id", "created_at", "security_id"
    )
    # A cancellation by the client: a DAY order cancelled by nobody else (not by a security change nor a freeze;
    # an IOC order's unfilled rest is cancelled at once and is not a cancel).
    cancelled = Order.objects.filter(
        status=Order.Status.CANCELLED,
        time_in_force=Order.TimeInForce.DAY,
        closed_by=Order.ClosedBy.NOBODY_ELSE,
        updated_at__gt=start - window,
        updated_at__lte=scan.sealed_at,
    ).values_list("account_id", "updated_at", "security_id")
    events: dict[int, list[tuple[dt.datetime, int]]] = defaultdict(list)
    for account_id, at, security_id in [*placed, *cancelled]:
        events[account_id].append((at, security_id))
    out = []
    for account_id, times in sorted(events.items()):
        times.sort()
        best, lo, securities = 0, 0, set()
        for hi, (at, _security_id) in enumerate(times):
            while times[lo][0] <= at - window:
                lo += 1
            if at > start and hi - lo + 1 > best:
                # The burst is the busiest window (its first, when several are as busy): its securities.
                best, securities = hi - lo + 1, {security_id for _at, security_id in times[lo : hi + 1]}
        if best < t["count"]:
            continue
        account = Account.objects.get(pk=account_id)
        security_id, named = _securities_named(securities)
        out.append(
            Finding(
                key=f"account:{account.code}",
                security_id=security_id,
                accounts=[account.code],
                detail={"events": best, "window_seconds": t["window_seconds"], **named},
            )
        )
    return out


def pre_disclosure(scan: Scan, t: dict) -> list[Finding]:
    """For each disclosure sealed in the block, each investor account that traded its security in the
    ``hours`` before its publication."""
    out = []
    for disclosure in scan.disclosures:
        since = disclosure.published_at - dt.timedelta(hours=t["hours"])
        trades = (
            Trade.objects.filter(
                security_id=disclosure.security_id, matched_at__gte=since, matched_at__lt=disclosure.published_at
            )
            .exclude(status=Trade.Status.FAILED)
            .select_related("buyer", "seller")
            .order_by("id")
        )
        by_account: dict[str, list[int]] = defaultdict(list)
        quantity: dict[str, int] = defaultdict(int)
        for trade in trades:
            for account, sign in ((trade.buyer, 1), (trade.seller, -1)):
                if _is_watched(account):
                    by_account[account.code].append(trade.pk)
                    quantity[account.code] += sign * trade.quantity
        for code, trade_ids in sorted(by_account.items()):
            out.append(
                Finding(
                    key=f"disclosure:{disclosure.pk}:account:{code}",
                    security_id=disclosure.security_id,
                    accounts=[code],
                    trade_ids=trade_ids,
                    detail={
                        "disclosure": disclosure.pk,
                        "title": disclosure.title,
                        "published_at": disclosure.published_at.isoformat(),
                        "net_quantity": quantity[code],
                    },
                )
            )
    return out


RULES: dict[str, Callable[[Scan, dict], list[Finding]]] = {
    Rule.Code.WASH_TRADE: wash_trade,
    Rule.Code.HOLDER_CAP: holder_cap,
    Rule.Code.BAND_EDGE: band_edge,
    Rule.Code.VALUE_SPIKE: value_spike,
    Rule.Code.ORDER_BURST: order_burst,
    Rule.Code.PRE_DISCLOSURE: pre_disclosure,
}
