"""Every pre-trade rule (DESIGN.md §2, §7), in one module, checked in this fixed order:

1. who acts: the account's owner, or staff of its broker for a client account
   (``permission_denied``) — ``check_may_act``; ``order_place`` asks it first, so
   pages, API and counter are authorised in one place;
2. the security exists (``unknown_security``; the services lock its row);
3. the market for it: the whole market halted (``market_halted``), the security
   delisted (``security_not_listed``) or halted (``security_halted``),
   the trading mode off (``trading_mode_disabled``), the market closed
   (``market_closed``) — ``check_tradable``;
4. the price on tick (``price_off_tick``) and in band (``price_out_of_band``) — ``check_price``;
5. the quantity in lots (``quantity_not_in_lots``) — ``check_quantity``;
6. no self-trade: an investor order never meets its own account's quote
   (``self_trade``) — ``check_self_trade``;
7. the investor: KYC approved (``kyc_not_approved``) and not expired (``kyc_expired``);
   for buys, investor level ≥ security risk (``unsuitable_risk_level``), the
   qualified-investor rule (``not_qualified_investor``) and the holder cap counted
   per real identity (``holder_cap_reached``); for sells, the minimum holding
   period (``holding_period``), and under a profile that says so, for buys too
   (no buying back within the period after a sale) — ``check_investor``, whose refusals
   speak to whoever acts: the account's owner as "you", the broker's staff by the client's code;
8. available cash for a buy (``insufficient_cash``) or available shares for a
   sell (``insufficient_shares``), read from the locked balance rows —
   ``check_cash`` and ``check_shares``.

A market maker's quote goes through the same steps but 6 and 7: who acts is a
market maker quoting from its desk account (``market_maker_account``), and
after 5 its bid must be below its ask (``crossed_quote``, ``check_spread``), and
neither may lock or cross another market maker's quote (``crosses_market``,
``check_market_not_crossed``).

The venue rule profile (``registry.profile``, DESIGN §2) is read here and
only here: which modes are allowed, the holder cap, the holding interval and
the qualified-investor rule are the stricter of the profile and the security.
A negotiated transfer (``exchange.services.negotiated``) runs the same checks
for both parties, in the same order, with its own mode.

Each rule raises its own error; a rejected order or quote changes nothing (its
transaction rolls back). Sells are otherwise always allowed, so an investor can
exit. The checks run inside the order's transaction, after the security row
lock: the holder count cannot change under it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

from django.db import connection
from django.db.models import Max, Min, Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core import errors as err
from core.errors import DomainError
from core.labels import sentence_gap
from core.models import Account, Role, User
from core.money import amount_text, shares_text
from core.prepared import Statement
from exchange.models import Quote, Trade
from kyc.models import KycProfile
from kyc.selectors import is_qualified
from registry import profile
from registry.calendar import SHANGHAI, is_trading_day, market_is_open
from registry.models import Security


class KycNotApproved(DomainError):
    code = "kyc_not_approved"
    status = 403
    default_message = _("Your account opening (KYC) is not approved yet, so you cannot trade.")


class KycExpired(DomainError):
    code = "kyc_expired"
    status = 403
    default_message = _("Your risk assessment has expired. Please take the questionnaire again before trading.")


class Unsuitable(DomainError):
    code = "unsuitable_risk_level"
    status = 403
    default_message = _("This security is riskier than your investor level allows you to buy.")


class NotQualified(DomainError):
    code = "not_qualified_investor"
    status = 403
    default_message = _("Only qualified investors may buy this security.")


class HolderCapReached(DomainError):
    code = "holder_cap_reached"
    status = 409
    default_message = _("This security already has the maximum number of holders; new holders cannot buy.")


class HoldingPeriod(DomainError):
    code = "holding_period"
    status = 409
    default_message = _("Shares bought recently cannot be sold before the minimum holding period ends.")


def trading_days_back(now: dt.datetime, days: int) -> dt.datetime:
    """The moment ``days`` trading days (Monday to Friday, not a holiday) before ``now``."""
    moment = now
    while days > 0:
        moment -= dt.timedelta(days=1)
        if is_trading_day(moment.astimezone(SHANGHAI).date()):
            days -= 1
    return moment


def holding_since(now: dt.datetime, days: int) -> dt.datetime:
    """The start (midnight, Asia/Shanghai) of the first day whose trades are within a holding period of ``days``
    trading days at ``now``: the ``days``-th trading day counting back from ``now``'s day, that day included when
    it is one. A trade before it has ``days`` trading days after its own day up to ``now``'s, so it is free, as
    ``trading_days_ahead`` says. The period counts whole trading days, not hours (found by a probe: a buy at 10:00
    became free at 10:00 five trading days later), and a day the market is open without being a trading day (a
    weekend or a holiday, with ``MARKET_ALWAYS_OPEN``) counts for neither the trade nor the sale (found by a
    probe: on a Saturday a Monday's buy, four trading days old, could be sold, and on a Friday a Saturday's buy
    could not, though the refusal said it could from that Friday)."""
    day = now.astimezone(SHANGHAI).date()
    while True:
        if is_trading_day(day):
            days -= 1
            if days <= 0:
                return dt.datetime.combine(day, dt.time(), SHANGHAI)
        day -= dt.timedelta(days=1)


def trading_days_ahead(at: dt.datetime, days: int) -> dt.datetime:
    """The start (midnight, Asia/Shanghai) of the ``days``-th trading day after ``at``'s day (the inverse of
    ``holding_since``): a trade at ``at`` is out of the holding period from then."""
    day = at.astimezone(SHANGHAI).date()
    while days > 0:
        day += dt.timedelta(days=1)
        if is_trading_day(day):
            days -= 1
    return dt.datetime.combine(day, dt.time(), SHANGHAI)


def _sellable_from(buys: list[tuple[int, dt.datetime, int]], days: int, short: int) -> dt.datetime:
    """When ``short`` more of the account's shares leave the holding period: its recent buys (id, matched at,
    quantity as corrected), oldest first, each free ``days`` trading days after it matched."""
    freed = 0
    for _id, matched_at, quantity in buys:
        freed += quantity
        if freed >= short:
            return trading_days_ahead(matched_at, days)
    return trading_days_ahead(buys[-1][1], days)


# A trade's quantity as corrected (the supervision app registers it): trade ids → {id: the last executed
# correction's quantity} for those corrected (0: reversed). The holding period counts a buy as it stands now
# (found by a review: a reversed buy kept the seller's older shares locked for the period).
_corrected_quantities: list[Callable[[list[int]], dict[int, int]]] = []


def register_corrected_quantities(fn: Callable[[list[int]], dict[int, int]]) -> None:
    if fn not in _corrected_quantities:
        _corrected_quantities.append(fn)


def _as_corrected(rows: list[tuple[int, dt.datetime, int]]) -> list[tuple[int, dt.datetime, int]]:
    """Trades (id, matched at, quantity) with their quantities as corrected; asked only when there are some."""
    if not rows:
        return rows
    for fn in _corrected_quantities:
        if corrected := fn([tid for tid, _at, _q in rows]):
            rows = [(tid, at, corrected.get(tid, q)) for tid, at, q in rows]
    return rows


# A holder is a real identity (an account without a KYC profile counts as itself)
# with settled shares or a pending buy of the security: these two conditions, on
# settlement_position and exchange_trade, are the one definition both queries below use.
_HOLDS = "total > 0"
_BUYING = "status IN ('matched', 'held')"  # as the partial index trade_pending_buy
_HOLDERS = (
    f"SELECT account_id FROM settlement_position WHERE security_id = %(security)s AND {_HOLDS}"
    f" UNION SELECT buyer_id FROM exchange_trade WHERE security_id = %(security)s AND {_BUYING}"
)

# The owner's profile, the accounts of the same real identity, and whether one of them holds the security
# already (settled shares or a pending buy): one prepared statement (core.prepared), run under the security
# lock (the holder count cannot change under it). Planning it each time cost more than running it. The holder
# probe is a nested loop over the identity's few accounts, each an index probe (``position_one_per_holder``,
# ``trade_pending_buy``) that LIMIT 1 keeps a probe: a generic plan cannot turn it into a scan of every holder
# or pending trade of the security.
_PROFILE = Statement(
    "investor_profile",
    "WITH me AS MATERIALIZED (SELECT k.state, k.expires_at, k.risk_level, k.qualified_investor,"
    " ARRAY(SELECT a.id FROM kyc_kycprofile same JOIN exchange_account a ON a.owner_id = same.user_id"
    " WHERE same.identity = k.identity) AS accounts FROM kyc_kycprofile k WHERE k.user_id = $1)"
    " SELECT state, expires_at, risk_level, qualified_investor, me.accounts,"
    " EXISTS (SELECT 1 FROM unnest(me.accounts) acc(id), LATERAL (SELECT 1 FROM settlement_position p"
    f" WHERE p.account_id = acc.id AND p.security_id = $2 AND {_HOLDS} LIMIT 1) held)"
    " OR EXISTS (SELECT 1 FROM unnest(me.accounts) acc(id), LATERAL (SELECT 1 FROM exchange_trade t"
    f" WHERE t.buyer_id = acc.id AND t.security_id = $2 AND {_BUYING} LIMIT 1) buying)"
    " FROM me",
    ["bigint", "bigint"],
)


def holder_count(security_id: int) -> int:
    """How many real identities hold the security: settled holdings and pending buys."""
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT count(DISTINCT COALESCE(k.identity, 'account:' || a.id)) FROM ({_HOLDERS}) h"
            " JOIN exchange_account a ON a.id = h.account_id LEFT JOIN kyc_kycprofile k ON k.user_id = a.owner_id",
            {"security": security_id},
        )
        return cur.fetchone()[0]


def holder_counts(security_ids: list[int]) -> dict[int, int]:
    """``holder_count`` of each of the securities, in one query (the depository's console lists them all)."""
    if not security_ids:
        return {}
    with connection.cursor() as cur:
        cur.execute(
            "SELECT h.security_id, count(DISTINCT COALESCE(k.identity, 'account:' || a.id)) FROM ("
            f"SELECT security_id, account_id FROM settlement_position WHERE security_id = ANY(%(securities)s)"
            f" AND {_HOLDS} UNION SELECT security_id, buyer_id FROM exchange_trade"
            f" WHERE security_id = ANY(%(securities)s) AND {_BUYING}) h"
            " JOIN exchange_account a ON a.id = h.account_id LEFT JOIN kyc_kycprofile k ON k.user_id = a.owner_id"
            " GROUP BY h.security_id",
            {"securities": list(security_ids)},
        )
        counts = dict(cur.fetchall())
    return {pk: counts.get(pk, 0) for pk in security_ids}


def new_holder(account: Account, security_id: int) -> str | None:
    """The real identity (as ``holder_count`` counts it: an account without a KYC profile, a market maker's, is
    itself) of an account whose identity holds nothing of the security yet, settled or pending: a buy would make
    it a new holder. ``None`` when it holds already."""
    with connection.cursor() as cur:
        cur.execute(
            "WITH me AS (SELECT COALESCE(k.identity, 'account:' || a.id) AS who FROM exchange_account a"
            " LEFT JOIN kyc_kycprofile k ON k.user_id = a.owner_id WHERE a.id = %(account)s)"
            f" SELECT who, EXISTS (SELECT 1 FROM ({_HOLDERS}) h JOIN exchange_account a ON a.id = h.account_id"
            " LEFT JOIN kyc_kycprofile k ON k.user_id = a.owner_id"
            " WHERE COALESCE(k.identity, 'account:' || a.id) = me.who) FROM me",
            {"account": account.pk, "security": security_id},
        )
        who, holds = cur.fetchone()
    return None if holds else who


def check_holder_room(
    account: Account, security: Security, *, seller: Account | None = None, quantity: int = 0
) -> None:
    """The holder cap for a buyer ``check_investor`` does not check: a market maker's account, which the
    register and the cap count as a holder like any other (found by a probe: market makers bought by RFQ and
    negotiated transfer past the cap, and then every investor was refused)."""
    if account.kind == Account.Kind.INVESTOR:
        return  # check_investor counts it
    if new_holder(account, security.pk) is not None:
        _check_cap_room(security, seller=seller, quantity=quantity)


def _check_cap_room(security: Security, *, seller: Account | None, quantity: int) -> None:
    """Room under the cap for a new holder buying ``quantity`` from ``seller`` (where known): the holders now,
    less the seller's real person when this trade takes all it holds, so that a holder may sell out to a newcomer
    at the cap (found by a probe: at 6 of 6, no holder could ever sell to anyone new)."""
    cap = profile.max_holders(security)
    holders = holder_count(security.pk)
    if holders < cap or (holders == cap and seller is not None and identity_holding(seller, security.pk) <= quantity):
        return
    raise _cap_reached(security, holders, cap)


def identity_holding(account: Account, security_id: int) -> int:
    """The shares of the security the account's real person (every account of its identity; an account without
    a KYC profile is itself) will hold once its pending trades settle: settled shares, plus pending buys, less
    pending sales."""
    with connection.cursor() as cur:
        cur.execute(
            "WITH mine AS (SELECT CASE WHEN k.identity IS NULL THEN ARRAY[a.id] ELSE ARRAY(SELECT same_a.id FROM"
            " kyc_kycprofile same JOIN exchange_account same_a ON same_a.owner_id = same.user_id"
            " WHERE same.identity = k.identity) END AS ids FROM exchange_account a"
            " LEFT JOIN kyc_kycprofile k ON k.user_id = a.owner_id WHERE a.id = %(account)s)"
            " SELECT COALESCE((SELECT sum(p.total) FROM settlement_position p, mine"
            " WHERE p.security_id = %(security)s AND p.account_id = ANY(mine.ids)), 0)"
            " + COALESCE((SELECT sum(CASE WHEN t.buyer_id = ANY(mine.ids) THEN t.quantity ELSE 0 END)"
            " - sum(CASE WHEN t.seller_id = ANY(mine.ids) THEN t.quantity ELSE 0 END) FROM exchange_trade t, mine"
            f" WHERE t.security_id = %(security)s AND t.{_BUYING}"
            " AND (t.buyer_id = ANY(mine.ids) OR t.seller_id = ANY(mine.ids))), 0)",
            {"account": account.pk, "security": security_id},
        )
        return cur.fetchone()[0]


def _cap_reached(security: Security, holders: int, cap: int) -> HolderCapReached:
    # The cap named beside the count: the count may be above it, once an operator lowered the cap (found by a
    # probe: "already has 5 holders, its maximum" where the maximum was 2).
    return HolderCapReached(
        gettext("%(code)s has %(n)s holders and may have at most %(cap)s; new holders cannot buy.")
        % {"code": security.code, "n": holders, "cap": cap}
    )


def _client_code(account: Account, actor: User | None) -> str | None:
    """The account's code when someone other than its owner acts (its broker's staff at the counter): a refusal
    then names the client instead of telling the staff member "you" (found by a tester: "your investor level is
    C3" to staff placing a client's order)."""
    return account.code if actor is not None and actor.pk != account.owner_id else None


def _kyc_not_approved(client: str | None) -> KycNotApproved:
    if client is None:
        return KycNotApproved()
    return KycNotApproved(
        gettext("The client's (%(account)s) account opening (KYC) is not approved yet, so the client cannot trade.")
        % {"account": client}
    )


def check_investor(
    *,
    account: Account,
    security: Security,
    side: str,
    quantity: int,
    available_shares: int | None,
    now: dt.datetime,
    seller: Account | None = None,
    actor: User | None = None,
) -> None:
    """Raise the first rule the order breaks. Only investor accounts are subject to KYC and suitability; any
    buyer to the holder cap. ``seller``: a buy's counterparty where it is known (a negotiated transfer, an RFQ's
    answer), whose leaving the register makes room for the buyer under the cap. ``actor``, who acts, only chooses
    the words of a refusal (to the owner, or naming the client); the rules are the same for both."""
    if account.kind != Account.Kind.INVESTOR:
        if side == "buy":
            check_holder_room(account, security, seller=seller, quantity=quantity)
        check_venue_interval(account, security, side=side, now=now)
        return
    buying = side == "buy"
    client = _client_code(account, actor)
    with connection.cursor() as cur:
        _PROFILE.execute(cur, [account.owner_id, security.pk])
        row = cur.fetchone()
    if row is None:
        raise _kyc_not_approved(client)
    state, expires_at, risk_level, attested, identity_accounts, already_holder = row
    days = profile.holding_days(security)
    if state in (KycProfile.State.DRAFT, KycProfile.State.SUBMITTED, KycProfile.State.REJECTED):
        raise _kyc_not_approved(client)
    if state == KycProfile.State.EXPIRED or expires_at is None or expires_at <= now:
        raise KycExpired(
            None
            if client is None
            else gettext(
                "The client's (%(account)s) risk assessment has expired. The client must take the questionnaire"
                " again before trading."
            )
            % {"account": client}
        )
    if buying:
        if risk_level < security.risk_rating:
            said = (
                gettext("Your investor level is C%(level)s; %(code)s is rated R%(risk)s, so you may not buy it.")
                if client is None
                else gettext(
                    "The client's (%(account)s) investor level is C%(level)s; %(code)s is rated R%(risk)s,"
                    " so the client may not buy it."
                )
            )
            raise Unsuitable(
                said % {"level": risk_level, "code": security.code, "risk": security.risk_rating, "account": client}
            )
        if profile.qualified_only(security) and not is_qualified(
            state=state, expires_at=expires_at, attested=attested, now=now
        ):
            raise NotQualified(
                None
                if client is None
                else gettext("Only qualified investors may buy this security; the client (%(account)s) is not one.")
                % {"account": client}
            )
        if not already_holder:
            _check_cap_room(security, seller=seller, quantity=quantity)
        if days and profile.holding_both_ways():
            # The holding period counts the real person's trades, in any of its accounts (found by a probe: a
            # nominee account of the same identity sold and bought back at once).
            sold = _recent(identity_accounts, security, "seller", days, now)
            if sold:
                raise _interval_refused(security, days, sold[-1][1], buying=True, client=client)
    elif days and available_shares is not None:
        bought = _recent(identity_accounts, security, "buyer", days, now)
        if bought and profile.holding_both_ways():
            # Between buying and selling in either order (found by a probe: under cn-regional-2017 a buy was sold
            # at once out of shares held before it).
            raise _interval_refused(security, days, bought[-1][1], buying=False, client=client)
        recent = sum(q for _id, _at, q in bought)
        # Only a sale the holding would cover is the holding period's to refuse; one larger than the holding is
        # ``insufficient_shares``, checked after (found by a review: it reached ``_sellable_from`` with no recent
        # buy to wait for, a 500, or was told to wait for bought shares a correction had reversed).
        if recent > 0 and available_shares - recent < quantity <= available_shares:
            # Say when the sale could go through (found by a probe: the refusal did not say).
            free_from = _sellable_from(bought, days, quantity - (available_shares - recent))
            said = (
                gettext(
                    "%(recent)s of your shares were bought within the last %(days)s trading days"
                    " and cannot be sold yet; this sale can go through from %(when)s (Asia/Shanghai)."
                )
                if client is None
                else gettext(
                    "%(recent)s of the client's (%(account)s) shares were bought within the last %(days)s trading"
                    " days and cannot be sold yet; this sale can go through from %(when)s (Asia/Shanghai)."
                )
            )
            raise HoldingPeriod(said % {"recent": recent, "days": days, "when": _when(free_from), "account": client})


class CounterpartyUnsuitable(Unsuitable):
    """A negotiated proposal's counterparty whose investor level is below the security's risk: refused at the
    proposal, with the code its confirmation would meet, as a conflict with the other party (409), not as the
    proposer's own refusal."""

    status = 409
    field = "counterparty"


class CounterpartyNotQualified(NotQualified):
    status = 409
    field = "counterparty"


def check_counterparty_may_buy(counterparty: Account, security: Security, *, now: dt.datetime) -> None:
    """A negotiated sale's counterparty, the buyer, who may not take the trade: its investor level below the
    security's risk, or not a qualified investor where the security or the venue needs one. Said at the proposal so
    that it is not refused only when the counterparty confirms (``check_investor`` still checks at the
    confirmation: things change). The refusal names the rule only, as its code would at the confirmation, never the
    counterparty's level; a counterparty whose account opening is not approved or has expired is left to the
    confirmation, which refuses that first, so that the proposer learns nothing of its KYC."""
    if counterparty.kind != Account.Kind.INVESTOR:
        return
    row = (
        KycProfile.objects.filter(user_id=counterparty.owner_id)
        .values_list("state", "expires_at", "risk_level", "qualified_investor")
        .first()
    )
    if row is None:
        return
    state, expires_at, risk_level, attested = row
    if state != KycProfile.State.APPROVED or expires_at is None or expires_at <= now:
        return
    said = {"account": counterparty.code, "code": security.code, "risk": security.risk_rating}
    if risk_level < security.risk_rating:
        raise CounterpartyUnsuitable(
            gettext(
                "The counterparty (%(account)s) may not buy %(code)s: the security is rated R%(risk)s, above the"
                " counterparty's investor level."
            )
            % said
        )
    if profile.qualified_only(security) and not is_qualified(
        state=state, expires_at=expires_at, attested=attested, now=now
    ):
        raise CounterpartyNotQualified(
            gettext(
                "Only qualified investors may buy %(code)s, and the counterparty (%(account)s) is not one: it could"
                " not confirm this proposal."
            )
            % said
        )


def check_venue_interval(account: Account, security: Security, *, side: str, now: dt.datetime) -> None:
    """The venue's interval between buying and selling one security (cn-regional-2017: 5 trading days, in either
    order) for an account ``check_investor`` does not assess, a market maker's desk account: the profile's rule binds
    every party to a trade, not investors only (found by a probe: under cn-regional-2017 a market maker bought from
    one investor by request for quote and sold to another minutes later). A security's own holding period, under a
    profile without one, stays an investor rule. Read under the security lock, as the investor's."""
    if not profile.current().holding_days:
        return
    days = profile.holding_days(security)
    buying = side == "buy"
    if not buying or profile.holding_both_ways():
        recent = _recent([account.pk], security, "seller" if buying else "buyer", days, now)
        if recent:
            raise _interval_refused(security, days, recent[-1][1], buying=buying)


def check_not_one_person(buyer: Account, seller: Account, security: Security) -> None:
    """Under a venue whose interval runs both ways (cn-regional-2017), the two sides of a trade are not one real
    person (``self_trade``): its accounts would buy and sell the security at the same moment, with no interval
    between (found by a probe: two accounts of one identity, both qualified, traded by negotiated transfer, the
    interval counting each side's earlier trades only). Accounts of one owner, or whose owners' KYC identities
    match, are one person."""
    days = profile.holding_days(security)
    if not days or not profile.current().holding_days or not profile.holding_both_ways():
        return
    owners = {buyer.owner_id, seller.owner_id}
    if None in owners:
        return
    if len(owners) > 1:
        identities = dict(KycProfile.objects.filter(user_id__in=owners).values_list("user_id", "identity"))
        if len(identities) != 2 or len(set(identities.values())) != 1 or not next(iter(identities.values())):
            return  # an owner without a KYC profile (a market maker) is a person of its own
    raise err.SelfTrade(
        gettext(
            "Both accounts belong to one person: under the venue's rules (%(profile)s) one person may not buy and"
            " sell %(code)s within %(days)s trading days, so they cannot trade it with each other."
        )
        % {"profile": profile.current().name, "code": security.code, "days": days}
    )


def _interval_refused(
    security: Security, days: int, last: dt.datetime, *, buying: bool, client: str | None = None
) -> HoldingPeriod:
    """The refusal of a trade inside the venue's interval since the last trade the other way (at ``last``), said
    to the account's holder, or at the counter of ``client``'s account."""
    if buying:
        said = (
            gettext(
                "You sold %(code)s within the last %(days)s trading days; you cannot buy it back before %(when)s"
                " (Asia/Shanghai)."
            )
            if client is None
            else gettext(
                "The client (%(account)s) sold %(code)s within the last %(days)s trading days; the client cannot buy"
                " it back before %(when)s (Asia/Shanghai)."
            )
        )
    else:
        said = (
            gettext(
                "You bought %(code)s within the last %(days)s trading days; you cannot sell it before %(when)s"
                " (Asia/Shanghai)."
            )
            if client is None
            else gettext(
                "The client (%(account)s) bought %(code)s within the last %(days)s trading days; the client cannot"
                " sell it before %(when)s (Asia/Shanghai)."
            )
        )
    when = _when(trading_days_ahead(last, days))
    return HoldingPeriod(said % {"code": security.code, "days": days, "when": when, "account": client})


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d")


def _recent(
    accounts: list[int], security: Security, party: str, days: int, now: dt.datetime
) -> list[tuple[int, dt.datetime, int]]:
    """The trades of the security in which one of ``accounts`` (a real person's) was ``party`` ("buyer" or
    "seller") within the holding period, oldest first, with their quantities as corrected and those a correction
    reversed left out. A buy counts once settled (its shares are then the holding's); a sale once matched (its
    shares are gone then)."""
    statuses = (
        [Trade.Status.SETTLED]
        if party == "buyer" and not profile.holding_both_ways()
        else [Trade.Status.MATCHED, Trade.Status.HELD, Trade.Status.SETTLED]
    )
    rows = _as_corrected(
        list(
            Trade.objects.filter(
                **{f"{party}_id__in": accounts},
                security=security,
                status__in=statuses,
                matched_at__gte=holding_since(now, days),
            )
            .order_by("matched_at", "id")
            .values_list("id", "matched_at", "quantity")
        )
    )
    return [row for row in rows if row[2]]


# --------------------------------------------------------------------------
# The market, the price, the quantity


def check_tradable(security: Security, *, now: dt.datetime, mode: str = profile.MARKET_MAKING) -> None:
    if getattr(security, "market_halted", False):
        reason = getattr(security, "market_halt_reason", "")
        raise err.MarketHalted(
            gettext("Trading is halted across the market: %(reason)s") % {"reason": reason} if reason else None
        )
    if security.status == Security.Status.DELISTED:
        raise err.SecurityNotListed()
    if security.status == Security.Status.HALTED:
        raise err.SecurityHalted(
            gettext("Trading in %(code)s is halted: %(reason)s")
            % {"code": security.code, "reason": security.halt_reason}
            if security.halt_reason
            else None
        )
    check_mode(security, mode)
    if not market_is_open(now):
        raise err.MarketClosed()


def check_mode(security: Security, mode: str) -> None:
    """The trading mode is allowed by both the venue's profile and the security (``trading_mode_disabled``)."""
    if profile.mode_allowed(security, mode):
        return
    params = {"mode": profile.MODE_LABELS[mode], "code": security.code, "profile": profile.current().name}
    if mode not in profile.current().modes:
        raise err.ModeDisabled(
            gettext("Trading by %(mode)s is not allowed under the venue's rules (%(profile)s).") % params
        )
    raise err.ModeDisabled(gettext("Trading by %(mode)s is off for %(code)s.") % params)


def price_fits(security: Security, price: Decimal, *, reference: Decimal | None = None) -> bool:
    """Whether ``price`` is on the security's tick and inside its band around ``reference`` (its reference price
    unless given): the price rule, as an answer. ``check_price`` refuses what it says no to, and what the system
    keeps or closes by itself when a security or the venue changes asks it (``services.listing``, ``negotiated``,
    ``rfq``), so that the rule lives here only."""
    if not _on_tick(security, price):
        return False
    low, high = security.band_around(security.reference_price if reference is None else reference)
    return low <= price <= high


def _on_tick(security: Security, price: Decimal) -> bool:
    return price % security.tick_size == 0


def check_price(security: Security, price: Decimal, *, reference: Decimal | None = None, quote_side: str = "") -> None:
    """On the tick and in the band around ``reference`` (the security's reference price unless given: a
    correction checks against the band of the trade's own day), or the error that says which (``price_fits``).
    A two-sided quote's price (``quote_side``: bid or ask, always against today's band) is refused by its side
    and value, since the quote has two (found by a walk-through: "the price must be between" left the market
    maker to guess which)."""
    if price_fits(security, price, reference=reference):
        return
    if not _on_tick(security, price):
        raise err.PriceOffTick(
            gettext("The price must be a multiple of the tick size %(tick)s.") % {"tick": security.tick_size}
        )
    low, high = security.band_around(security.reference_price if reference is None else reference)
    values = {"price": amount_text(price), "low": amount_text(low), "high": amount_text(high)}
    if quote_side == Quote.Side.BID:
        raise err.PriceOutOfBand(gettext("The bid %(price)s is outside today's band %(low)s–%(high)s.") % values)
    if quote_side == Quote.Side.ASK:
        raise err.PriceOutOfBand(gettext("The ask %(price)s is outside today's band %(low)s–%(high)s.") % values)
    raise err.PriceOutOfBand(gettext("The price must be between %(low)s and %(high)s.") % values)


def check_quantity(security: Security, quantity: int, *, whole_holding: int | None = None) -> None:
    """A whole number of lots; or, for an order's sale (``whole_holding``: the shares the seller has free), all
    of them at once, odd lot included, so that shares left out of lots (a lot size raised, an issue, a forced
    transfer) can still be sold, as the A-share rules sell an odd lot (found by a probe: they never could)."""
    if quantity % security.lot_size == 0 or (whole_holding is not None and quantity == whole_holding):
        return
    if whole_holding is not None and whole_holding % security.lot_size:
        raise err.QuantityNotInLots(
            gettext("The quantity must be a multiple of the lot size %(lot)s, or all %(n)s shares you hold free.")
            % {"lot": security.lot_size, "n": whole_holding}
        )
    raise err.QuantityNotInLots(
        gettext("The quantity must be a multiple of the lot size %(lot)s.") % {"lot": security.lot_size}
    )


# --------------------------------------------------------------------------
# Who acts, and against whom


def may_act_for(actor: User, account: Account) -> bool:
    """The account's owner, or staff of its broker for one of the broker's client (investor) accounts."""
    if actor.role == Role.BROKER_STAFF:
        return (
            actor.broker_id is not None
            and actor.broker_id == account.broker_id
            and account.kind == Account.Kind.INVESTOR
        )
    return account.owner_id is not None and account.owner_id == actor.pk


def check_may_act(actor: User, account: Account) -> None:
    if not may_act_for(actor, account):
        raise err.PermissionDenied(gettext("You may not trade for this account."))
    check_account_not_frozen(account)


# What a freeze or a trading restriction approved after a request read its account makes of the request: the
# database's refusal of its row (exchange migration 0027, or 0020 for a trade), or, a whole-account freeze holding
# every asset, too little cash or too few shares.
BLOCKED_SINCE_READ = (
    err.AccountFrozen,
    err.TradingRestricted,
    err.TradePartyFrozen,
    err.InsufficientCash,
    err.InsufficientShares,
)


def check_not_blocked_since_read(account: Account, refused: DomainError) -> None:
    """After a trading path's ``refused`` (its transaction rolled back): when a freeze or a trading restriction of
    ``account`` may be why, the account's own refusal, read again, with the regulator's reason
    (``check_account_not_frozen``); else nothing, and the caller raises ``refused``. One query, on refusal only
    (found by a review: a path reads the account before its locks, and an account restricted while it waited
    wrote a resting order)."""
    if isinstance(refused, BLOCKED_SINCE_READ):
        check_account_not_frozen(Account.objects.get(pk=account.pk))


def market_maker_account(user: User) -> Account:
    """The desk account a market maker quotes from; only market makers quote (``permission_denied``)."""
    if user.role != Role.MARKET_MAKER:
        raise err.PermissionDenied(gettext("Only market makers publish quotes."))
    account = Account.objects.filter(owner=user, kind=Account.Kind.MARKET_MAKER).first()
    if account is None:
        raise err.NoAccount()
    check_account_not_frozen(account)
    return account


def check_spread(bid_price: Decimal, ask_price: Decimal) -> None:
    """A two-sided quote's bid is below its ask (``crossed_quote``)."""
    if bid_price >= ask_price:
        raise err.CrossedQuote()


def check_market_not_crossed(security: Security, account: Account, bid_price: Decimal, ask_price: Decimal) -> None:
    """A market maker's quote neither locks nor crosses another's (``crosses_market``): with a bid at or above
    another's ask, an investor could buy from one and sell to the other at once, at no risk. Read under the
    security's lock, which every quote of the security takes first."""
    others = Quote.objects.filter(security=security, status=Quote.Status.ACTIVE).exclude(account=account)
    best = others.aggregate(
        ask=Min("price", filter=Q(side=Quote.Side.ASK)), bid=Max("price", filter=Q(side=Quote.Side.BID))
    )
    if best["ask"] is not None and bid_price >= best["ask"]:
        raise err.CrossesMarket(
            gettext("Your bid %(bid)s is not below another market maker's ask %(ask)s: quotes may not lock or cross.")
            % {"bid": amount_text(bid_price), "ask": amount_text(best["ask"])}
        )
    if best["bid"] is not None and ask_price <= best["bid"]:
        raise err.CrossesMarket(
            gettext("Your ask %(ask)s is not above another market maker's bid %(bid)s: quotes may not lock or cross.")
            % {"ask": amount_text(ask_price), "bid": amount_text(best["bid"])}
        )


def check_self_trade(account: Account, quotes) -> None:
    """An investor order never meets a quote of its own account."""
    if any(q.account_id == account.pk for q in quotes):
        raise err.SelfTrade()


# --------------------------------------------------------------------------
# Available cash and shares (on locked balance rows)


# Why assets of an account are frozen (the supervision app registers it): account id, security id (None for
# cash, -1 for a whole-account freeze, -2 for a trading restriction) → the freeze's reason, or None. Asked only
# when a check fails, so it costs the order path nothing.
_frozen_reasons: list[Callable[[int, int | None], str | None]] = []


def register_frozen_reason(fn: Callable[[int, int | None], str | None]) -> None:
    if fn not in _frozen_reasons:
        _frozen_reasons.append(fn)


def _frozen_note(row, security_id: int | None) -> str:
    if row is None or not row.frozen:
        return ""
    for fn in _frozen_reasons:
        if reason := fn(row.account_id, security_id):
            if security_id is None:  # cash: its unit, as the sentence before it says (found by a probe)
                note = gettext("%(frozen)s CNY of it is frozen by a legal order. Reason: %(reason)s")
                return sentence_gap() + note % {"frozen": amount_text(row.frozen), "reason": reason}
            return sentence_gap() + gettext("%(frozen)s of it is frozen by a legal order. Reason: %(reason)s") % {
                "frozen": shares_text(row.frozen),
                "reason": reason,
            }
    return ""


def _locked_note(row) -> str:
    """Shares under a lock-up, and until when (found by a probe: a refusal explained the frozen shares, not the
    locked ones)."""
    if row is None or not getattr(row, "locked", 0):
        return ""
    if row.locked_until is None:
        return sentence_gap() + gettext("%(locked)s of it is locked up.") % {"locked": shares_text(row.locked)}
    return sentence_gap() + gettext("%(locked)s of it is locked up until %(until)s.") % {
        "locked": shares_text(row.locked),
        "until": row.locked_until.isoformat(),
    }


def check_cash(available: Decimal, needed: Decimal, *, what: str = "order", row=None) -> None:
    if available < needed:
        # ``what``: an order, a market maker's bid, or a trade made otherwise (an accepted request for quote, a
        # negotiated transfer: "the order needs" read wrong there; found by a walk-through).
        message = {
            "order": gettext("The order needs %(needed)s CNY including fees; %(available)s CNY is available."),
            "trade": gettext("The trade needs %(needed)s CNY including fees; %(available)s CNY is available."),
        }.get(what) or gettext("The bid needs %(needed)s CNY; %(available)s is available.")
        amounts = {"needed": amount_text(needed), "available": amount_text(available)}
        raise err.InsufficientCash(message % amounts + _frozen_note(row, None))


def check_shares(available: int, needed: int, *, what: str = "order", row=None) -> None:
    if available < needed:
        message = {
            "order": gettext("The order needs %(needed)s shares; %(available)s are available."),
            "trade": gettext("The trade needs %(needed)s shares; %(available)s are available."),
        }.get(what) or gettext("The ask needs %(needed)s shares; %(available)s are available.")
        note = _frozen_note(row, row.security_id if row is not None else None) + _locked_note(row)
        raise err.InsufficientShares(
            message % {"needed": shares_text(needed), "available": shares_text(available)} + note
        )


def check_account_not_frozen(account: Account) -> None:
    """A whole-account judicial freeze stops orders and quotes (``account_frozen``); so does a trading restriction
    (``trading_restricted``), which leaves the account's assets its own."""
    if account.frozen:
        reason = next((r for fn in _frozen_reasons if (r := fn(account.pk, -1))), "")
        # The regulator's reason, in whatever language it was written, labelled as such inside the sentence of the
        # reader's language (found by a probe: appended bare, the message mixed two languages with no seam).
        if reason:
            raise err.AccountFrozen(
                gettext("This account is frozen by a legal order; it cannot trade. Reason: %(reason)s")
                % {"reason": reason}
            )
        raise err.AccountFrozen(gettext("This account is frozen by a legal order; it cannot trade."))
    if account.trading_restricted:
        # A trading restriction: the same refusal, naming the restriction's reason (its assets are not frozen).
        reason = next((r for fn in _frozen_reasons if (r := fn(account.pk, -2))), "")
        if reason:
            raise err.TradingRestricted(
                gettext("A regulator has restricted this account's trading; it cannot trade. Reason: %(reason)s")
                % {"reason": reason}
            )
        raise err.TradingRestricted()
