"""Request for quote (DESIGN.md §2, issue 12 item 3).

An investor asks every market maker for a firm price for ``quantity`` shares of
a security (``rfq_request``); the request itself reserves nothing. A market
maker answers with a price valid for some seconds (``rfq_answer``), which
reserves its side while firm: its shares when the investor buys, price ×
quantity cash when the investor sells (market makers pay no commission, as on
their quotes). The investor accepts one firm answer before it expires
(``rfq_accept``): that reserves the investor's side with every pre-trade check
and writes the trade at once at the answer's price, through ``book.trades_write``
(a TRADE entry; no order and no quote), so it seals and settles like any other.
The other answers are released. ``rfq_cancel`` (the investor) and
``rfqs_expire`` (beat) close requests and answers and release what they hold.

Locks: the request row first, then the security row (``lock_security``), then
balances in the global order (cash by account pk, then positions). So two
acceptances of one request queue on the request row, and the second finds it
accepted (``rfq_not_open``). The answer accepted names its trade
(``RfqAnswer.trade``); PostgreSQL allows one accepted answer a request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from balances.services import cash_lock, positions_lock
from core import errors as err
from core.idempotency import made_before, made_once
from core.models import Account, User
from core.money import ZERO, notional
from registry import calendar, profile
from registry.models import Security

from .. import hooks, pretrade
from ..models import Order, RfqAnswer, RfqRequest, Trade
from .book import Book, Fill, commission, lock_security, seller_commission
from .inputs import parse_price, parse_quantity

# The longest an answer may stay firm (seconds); it never outlives its request either.
MAX_VALID_SECONDS = 3600


class RfqNotOpen(err.DomainError):
    code = "rfq_not_open"
    status = 409
    default_message = gettext_lazy("This request for quote is no longer open.")


class RfqAnswerNotFirm(err.DomainError):
    code = "rfq_answer_not_firm"
    status = 409
    default_message = gettext_lazy("This answer is no longer firm; accept another one or ask again.")


class RfqAnswerExpired(err.DomainError):
    code = "rfq_answer_expired"
    status = 409
    default_message = gettext_lazy("This answer has expired; accept another one or ask again.")


def rfq_ttl() -> int:
    """How long a request stays open (seconds): ``settings.RFQ_TTL``, 120 by default."""
    return int(getattr(settings, "RFQ_TTL", 120))


# --------------------------------------------------------------------------
# The investor's request


@dataclass(frozen=True)
class RfqRequestInput:
    security: str
    side: str
    quantity: int
    client_request_id: str


def _existing_request(account: Account, req: RfqRequestInput) -> RfqRequest | None:
    rows = RfqRequest.objects.select_related("security").filter(
        account=account, client_request_id=req.client_request_id
    )
    return made_before(
        rows, lambda rfq: (rfq.security.code, rfq.side, rfq.quantity) == (req.security, req.side, req.quantity)
    )


def rfq_request(
    *, requested_by: User, account: Account, request: RfqRequestInput, ttl: int | None = None
) -> tuple[RfqRequest, bool]:
    """Open a request for quote after the checks that need no price. Returns (request, created).

    Idempotent on ``(account, client_request_id)``: a retry returns the first request. ``ttl``: how long it
    stays open (seconds), ``RFQ_TTL`` when not given (the demo data opens one for longer).
    """
    pretrade.check_may_act(requested_by, account)
    if account.kind != Account.Kind.INVESTOR:
        raise err.PermissionDenied(_("Only investors ask for quotes."))
    if request.side not in Order.Side.values:
        raise err.InvalidInput(_('side must be "buy" or "sell".'))
    if not request.client_request_id or len(request.client_request_id) > 64:
        raise err.InvalidInput(_("client_request_id must be 1 to 64 characters."))
    parse_quantity(request.quantity)
    return made_once(
        lambda: _rfq_request(requested_by=requested_by, account=account, req=request, ttl=ttl or rfq_ttl()),
        index="rfq_client_request_id_unique",
        first=lambda: _existing_request(account, request),
        refused=lambda exc: pretrade.check_not_blocked_since_read(account, exc),
    )


def _rfq_request(*, requested_by: User, account: Account, req: RfqRequestInput, ttl: int) -> RfqRequest:
    now = timezone.now()
    security = lock_security(req.security)
    pretrade.check_tradable(security, now=now, mode=profile.RFQ)
    available = None
    if req.side == Order.Side.SELL:
        position = positions_lock(security.pk, [account.pk])[account.pk]
        available = position.available
    # A sale may be of all the shares held free, odd lot included, as an order's may (found by a probe).
    pretrade.check_quantity(security, req.quantity, whole_holding=available)
    pretrade.check_investor(
        account=account,
        security=security,
        side=req.side,
        quantity=req.quantity,
        available_shares=available,
        now=now,
        actor=requested_by,
    )
    if available is not None:
        pretrade.check_shares(available, req.quantity, what="trade", row=position)
    with err.database_refusals():  # the account frozen or restricted while this waited (exchange 0027)
        return RfqRequest.objects.create(
            account=account,
            security=security,
            side=req.side,
            quantity=req.quantity,
            client_request_id=req.client_request_id,
            requested_by=requested_by,
            created_at=now,
            # Not past the end of the session in progress, as a negotiated proposal (found by a probe: asked at
            # 11:29 with 120 s, its answers were "firm until 11:30:30", through a lunch break no one could trade in).
            expires_at=min(filter(None, [now + dt.timedelta(seconds=ttl), calendar.session_end(now)])),
        )


def _lock_request(rfq_id: int) -> RfqRequest | None:
    return (
        RfqRequest.objects.select_for_update(of=("self",))
        .select_related("security", "account__broker", "account__owner")
        .filter(pk=rfq_id)
        .first()
    )


def _require_open(rfq: RfqRequest, now: dt.datetime) -> None:
    if rfq.status != RfqRequest.Status.OPEN or rfq.expires_at <= now:
        raise RfqNotOpen()


# --------------------------------------------------------------------------
# The market maker's answer


def _answer_release(book: Book, rfq: RfqRequest, answer: RfqAnswer, status: str) -> None:
    """Close a firm answer with ``status`` and release what it holds (the caller locked the balances)."""
    if rfq.side == Order.Side.BUY:
        book.reserve_shares(answer.account_id, -answer.quantity)
    else:
        book.reserve_cash(answer.account_id, -notional(answer.price, answer.quantity))
    answer.status = status
    answer.closed_at = book.now


def rfq_answer(*, user: User, rfq_id: int, price: Decimal, valid_seconds: int) -> RfqAnswer:
    """A market maker's firm price for an open request, replacing its earlier firm answer to it, if any."""
    account = pretrade.market_maker_account(user)
    price = parse_price(price)
    if isinstance(valid_seconds, bool) or not isinstance(valid_seconds, int):
        raise err.InvalidInput(_("valid_seconds is a whole number of seconds."))
    if not 1 <= valid_seconds <= MAX_VALID_SECONDS:
        raise err.InvalidInput(_("valid_seconds must be between 1 and %(max)s.") % {"max": MAX_VALID_SECONDS})
    try:
        return _rfq_answer(user=user, account=account, rfq_id=rfq_id, price=price, valid_seconds=valid_seconds)
    except err.DomainError as exc:
        pretrade.check_not_blocked_since_read(account, exc)
        raise


class IntervalRefusals:
    """What the venue's interval between buying and selling (``pretrade.check_venue_interval``) says now of a market
    maker's answer to each request, as ``_rfq_answer`` would say it: its refusal's message, or "" where an answer
    may go. Read without locks, for the inbox and the API's list: the answer itself checks again under them. One
    read per security and side, however many requests."""

    def __init__(self, account: Account | None, *, now: dt.datetime | None = None) -> None:
        self.account = account
        self.now = now or timezone.now()
        self._said: dict[tuple[int, str], str] = {}

    def of(self, rfq: RfqRequest) -> str:
        if self.account is None:
            return ""
        side = Order.Side.SELL if rfq.side == Order.Side.BUY else Order.Side.BUY
        key = (rfq.security_id, side)
        if key not in self._said:
            try:
                pretrade.check_venue_interval(self.account, rfq.security, side=side, now=self.now)
                self._said[key] = ""
            except pretrade.HoldingPeriod as refused:
                self._said[key] = refused.message
        return self._said[key]


@transaction.atomic
def _rfq_answer(*, user: User, account: Account, rfq_id: int, price: Decimal, valid_seconds: int) -> RfqAnswer:
    now = timezone.now()
    rfq = _lock_request(rfq_id)
    if rfq is None:
        raise err.NotFound(_("No such request for quote."))
    _require_open(rfq, now)
    security = lock_security(rfq.security.code)
    pretrade.check_tradable(security, now=now, mode=profile.RFQ)
    pretrade.check_price(security, price)
    # The market maker sells when the investor buys, and buys when it sells: the venue's interval binds it too.
    side = Order.Side.SELL if rfq.side == Order.Side.BUY else Order.Side.BUY
    pretrade.check_venue_interval(account, security, side=side, now=now)
    book = Book(now=now, security=security)
    previous = list(RfqAnswer.objects.filter(request=rfq, account=account, status=RfqAnswer.Status.FIRM))
    if rfq.side == Order.Side.BUY:  # the market maker sells
        book.positions = positions_lock(security.pk, [account.pk])
        for old in previous:
            _answer_release(book, rfq, old, RfqAnswer.Status.REPLACED)
        row = book.positions[account.pk]
        pretrade.check_shares(row.available, rfq.quantity, what="ask", row=row)
        book.reserve_shares(account.pk, rfq.quantity)
    else:  # the market maker buys
        book.cash = cash_lock([account.pk])
        for old in previous:
            _answer_release(book, rfq, old, RfqAnswer.Status.REPLACED)
        row = book.cash[account.pk]
        pretrade.check_cash(row.available, notional(price, rfq.quantity), what="bid", row=row)
        book.reserve_cash(account.pk, notional(price, rfq.quantity))
    if previous:
        RfqAnswer.objects.bulk_update(previous, ["status", "closed_at"])
    with err.database_refusals():  # the account frozen or restricted while this waited (exchange 0027)
        answer = RfqAnswer.objects.create(
            request=rfq,
            account=account,
            price=price,
            quantity=rfq.quantity,
            answered_by=user,
            created_at=now,
            expires_at=min(now + dt.timedelta(seconds=valid_seconds), rfq.expires_at),
        )
    book.write()
    hooks.rfq_answered.fire(answer_id=answer.pk)
    return answer


# --------------------------------------------------------------------------
# Acceptance, cancel, expiry


@dataclass
class RfqAcceptance:
    request: RfqRequest
    answer: RfqAnswer
    trade: Trade


def rfq_accept(*, actor: User, rfq_id: int, answer_id: int) -> RfqAcceptance:
    """Accept a firm answer: reserve the investor's side with every pre-trade check and trade at once.

    A retry of an acceptance that went through returns it; anything else on a closed request is refused.
    """
    if isinstance(answer_id, bool) or not isinstance(answer_id, int):
        raise err.InvalidInput(_("answer is the id of an answer."))
    try:
        return _rfq_accept(actor=actor, rfq_id=rfq_id, answer_id=answer_id)
    except err.DomainError as exc:
        _refused_since_read(rfq_id, answer_id, exc)
        raise


def _refused_since_read(rfq_id: int, answer_id: int, refused: err.DomainError) -> None:
    """After an acceptance's ``refused`` (rolled back): a freeze or trading restriction approved since it read the
    accounts may be why (the trade's trigger refused it, or a whole-account freeze took the cash or shares). The
    investor's own account blocked: its own refusal, with the regulator's reason, as an order's
    (``pretrade.check_not_blocked_since_read``); the market maker's: the answer is no longer firm, which is true
    (the approval releases it) and tells the investor nothing of another account's legal order. Found by a race
    test: the investor read "insufficient cash" or "a party was frozen". Reads only on refusal."""
    answer = RfqAnswer.objects.filter(pk=answer_id, request_id=rfq_id).select_related("request__account").first()
    if answer is None:
        return
    pretrade.check_not_blocked_since_read(answer.request.account, refused)
    if isinstance(refused, pretrade.BLOCKED_SINCE_READ) and _blocked(answer.account_id):
        raise RfqAnswerNotFirm() from refused


def _blocked(account_id: int) -> bool:
    return Account.objects.filter(Q(frozen=True) | Q(trading_restricted=True), pk=account_id).exists()


def _rfq_accept(*, actor: User, rfq_id: int, answer_id: int) -> RfqAcceptance:
    with transaction.atomic():
        now = timezone.now()
        rfq = _lock_request(rfq_id)
        if rfq is None or not pretrade.may_act_for(actor, rfq.account):
            raise err.NotFound(_("No such request for quote."))
        answer = RfqAnswer.objects.select_related("account").filter(pk=answer_id, request=rfq).first()
        if answer is None:
            raise err.NotFound(_("No such answer to this request."))
        if rfq.status == RfqRequest.Status.ACCEPTED and answer.status == RfqAnswer.Status.ACCEPTED:
            return RfqAcceptance(request=rfq, answer=answer, trade=answer.trade)
        _require_open(rfq, now)
        if answer.status != RfqAnswer.Status.FIRM:
            raise RfqAnswerNotFirm()
        if answer.expires_at <= now:
            raise RfqAnswerExpired()
        pretrade.check_may_act(actor, rfq.account)
        security = lock_security(rfq.security.code)
        now = timezone.now()  # the trade's moment, under the lock, as an order's (exchange.services.orders)
        if answer.expires_at <= now:
            raise RfqAnswerExpired()
        pretrade.check_tradable(security, now=now, mode=profile.RFQ)
        pretrade.check_price(security, answer.price)
        if answer.account.frozen or answer.account.trading_restricted:
            # The market maker's legal order is not the investor's to read (its reason least of all).
            raise RfqAnswerNotFirm()
        investor, maker = rfq.account, answer.account
        try:
            # The market maker's own trades since it answered (another request it answered, accepted first) may put
            # it inside the venue's interval: its answer is then no longer one it may honour, said as for a freeze.
            side = Order.Side.SELL if rfq.side == Order.Side.BUY else Order.Side.BUY
            pretrade.check_venue_interval(maker, security, side=side, now=now)
        except pretrade.HoldingPeriod as exc:
            raise RfqAnswerNotFirm() from exc
        others = list(
            RfqAnswer.objects.filter(request=rfq, status=RfqAnswer.Status.FIRM).exclude(pk=answer.pk).order_by("id")
        )
        book = Book(now=now, security=security)
        value = notional(answer.price, rfq.quantity)
        if rfq.side == Order.Side.BUY:
            pretrade.check_quantity(security, rfq.quantity)
            pretrade.check_investor(
                account=investor,
                security=security,
                side="buy",
                quantity=rfq.quantity,
                available_shares=None,
                now=now,
                seller=maker,
                actor=actor,
            )
            book.cash = cash_lock([investor.pk])
            book.positions = positions_lock(security.pk, [a.account_id for a in others])
            buyer_fee = commission(investor, value)
            row = book.cash[investor.pk]
            pretrade.check_cash(row.available, value + buyer_fee, what="trade", row=row)
            book.reserve_cash(investor.pk, value + buyer_fee)
            fill = Fill(None, None, rfq.quantity, answer.price, investor, maker, buyer_fee, ZERO)
        else:
            # The market maker buys: a holder like any other.
            pretrade.check_holder_room(maker, security, seller=investor, quantity=rfq.quantity)
            book.cash = cash_lock([a.account_id for a in others])
            book.reserve_sale(investor, rfq.quantity, actor=actor, what="trade")
            fill = Fill(
                None, None, rfq.quantity, answer.price, maker, investor, ZERO, seller_commission(investor, value)
            )
        # The market maker's reservation stays: it is now the trade's settlement obligation.
        for other in others:
            _answer_release(book, rfq, other, RfqAnswer.Status.RELEASED)
        book.fills.append(fill)
        (trade,) = book.write()
        Trade.objects.filter(pk=trade.pk).update(mode=Trade.Mode.RFQ)
        trade.mode = Trade.Mode.RFQ
        if others:
            RfqAnswer.objects.bulk_update(others, ["status", "closed_at"])
        answer.status, answer.closed_at, answer.trade = RfqAnswer.Status.ACCEPTED, now, trade
        answer.save(update_fields=["status", "closed_at", "trade"])
        rfq.status, rfq.closed_at = RfqRequest.Status.ACCEPTED, now
        rfq.save(update_fields=["status", "closed_at"])
        return RfqAcceptance(request=rfq, answer=answer, trade=trade)


def _close(rfq: RfqRequest, answers: list[RfqAnswer], *, now: dt.datetime, answer_status: str) -> None:
    """Release ``answers`` (firm ones of ``rfq``, locked request) in the global lock order."""
    if not answers:
        return
    security = lock_security(rfq.security.code)
    book = Book(now=now, security=security)
    if rfq.side == Order.Side.BUY:
        book.positions = positions_lock(security.pk, [a.account_id for a in answers])
    else:
        book.cash = cash_lock([a.account_id for a in answers])
    for answer in answers:
        _answer_release(book, rfq, answer, answer_status)
    book.write()
    RfqAnswer.objects.bulk_update(answers, ["status", "closed_at"])


def _firm_answers(rfq: RfqRequest) -> list[RfqAnswer]:
    return list(RfqAnswer.objects.filter(request=rfq, status=RfqAnswer.Status.FIRM).order_by("id"))


def rfq_cancel(*, actor: User, rfq_id: int) -> RfqRequest:
    """The investor (or its broker's staff) withdraws an open request; firm answers are released."""
    with transaction.atomic():
        now = timezone.now()
        rfq = _lock_request(rfq_id)
        if rfq is None or not pretrade.may_act_for(actor, rfq.account):
            raise err.NotFound(_("No such request for quote."))
        if rfq.status != RfqRequest.Status.OPEN:
            raise RfqNotOpen()
        _close(rfq, _firm_answers(rfq), now=now, answer_status=RfqAnswer.Status.RELEASED)
        rfq.status, rfq.closed_at = RfqRequest.Status.CANCELLED, now
        rfq.save(update_fields=["status", "closed_at"])
        return rfq


def rfqs_close_frozen(*, account_id: int | None = None, now: dt.datetime | None = None) -> tuple[int, int]:
    """Cancel the open requests of frozen accounts and release the firm answers of frozen market makers: neither can
    trade while the account is frozen, and an answer holds its market maker's cash or shares (a frozen investor's
    request holds the answers of others). As ``rfqs_expire``: one transaction per request, locks in the global
    order; idempotent. For the beat (``supervision.tasks.cancel_frozen_orders``) over every account, and for one
    account (``account_id``) once its freeze's approval commits (``supervision.services.freeze_approve``), closed
    at ``now``, the approval's moment. Returns (requests cancelled, answers released)."""
    # A restricted account (a trading restriction) is closed out as a frozen one is.
    blocked = Q(account__frozen=True) | Q(account__trading_restricted=True)
    if account_id is not None:
        blocked &= Q(account_id=account_id)
    asking = RfqRequest.objects.filter(blocked, status=RfqRequest.Status.OPEN).values_list("pk", flat=True)
    answered = RfqAnswer.objects.filter(blocked, status=RfqAnswer.Status.FIRM).values_list("request_id", flat=True)

    def frozen(rfq: RfqRequest) -> tuple[bool, Callable[[RfqAnswer], bool]]:
        accounts = _answering(rfq) | {rfq.account_id}
        held = set(
            Account.objects.filter(Q(frozen=True) | Q(trading_restricted=True), pk__in=accounts).values_list(
                "pk", flat=True
            )
        )
        return rfq.account_id in held, lambda a: a.account_id in held

    return _close_each(
        set(asking) | set(answered),
        unfit=frozen,
        request_status=RfqRequest.Status.CANCELLED,
        answer_status=RfqAnswer.Status.RELEASED,
        now=now or timezone.now(),
    )


def _request_fits(security: Security) -> bool:
    return security.status != Security.Status.DELISTED and profile.mode_allowed(security, profile.RFQ)


def rfqs_close_unfit(*, security_id: int | None = None, now: dt.datetime | None = None) -> tuple[int, int]:
    """Cancel the open requests whose security no longer trades by request for quote (delisted, the mode switched
    off by it or the venue), releasing their firm answers, and release the firm answers whose price no longer fits
    the tick or the band (found by a probe: a market maker's answer kept 820.00 reserved after the mode was
    switched off, and could not be accepted). As ``rfqs_expire``: one transaction per request, locks in the global
    order; idempotent. Run after a security's change commits (``security_id``) and by the beat. Returns (requests
    cancelled, answers released)."""
    securities = Security.objects.all() if security_id is None else Security.objects.filter(pk=security_id)
    unfit_securities = {s.pk for s in securities if not _request_fits(s)}
    requests = set(
        RfqRequest.objects.filter(status=RfqRequest.Status.OPEN, security_id__in=unfit_securities).values_list(
            "pk", flat=True
        )
    )
    firm = RfqAnswer.objects.filter(status=RfqAnswer.Status.FIRM).select_related("request__security")
    if security_id is not None:
        firm = firm.filter(request__security_id=security_id)
    requests |= {a.request_id for a in firm if not pretrade.price_fits(a.request.security, a.price)}

    def unfit(rfq: RfqRequest) -> tuple[bool, Callable[[RfqAnswer], bool]]:
        if rfq.status != RfqRequest.Status.OPEN:
            return False, lambda _a: False
        security = Security.objects.get(pk=rfq.security_id)
        return not _request_fits(security), lambda a: not pretrade.price_fits(security, a.price)

    return _close_each(
        requests,
        unfit=unfit,
        request_status=RfqRequest.Status.CANCELLED,
        answer_status=RfqAnswer.Status.RELEASED,
        now=now or timezone.now(),
    )


def _answering(rfq: RfqRequest) -> set[int]:
    return set(RfqAnswer.objects.filter(request=rfq, status=RfqAnswer.Status.FIRM).values_list("account_id", flat=True))


def rfqs_expire(*, now: dt.datetime | None = None) -> tuple[int, int]:
    """Close the requests past their expiry and the firm answers past theirs, releasing what they hold.

    One transaction per request, locks in the global order; idempotent (a closed request or answer is not
    open any more, so a second run finds nothing). Returns (requests expired, answers expired).
    """
    now = now or timezone.now()
    due_requests = set(
        RfqRequest.objects.filter(status=RfqRequest.Status.OPEN, expires_at__lte=now).values_list("pk", flat=True)
    )
    due_answers = set(
        RfqAnswer.objects.filter(status=RfqAnswer.Status.FIRM, expires_at__lte=now).values_list("request_id", flat=True)
    )
    return _close_each(
        due_requests | due_answers,
        unfit=lambda rfq: (rfq.expires_at <= now, lambda a: a.expires_at <= now),
        request_status=RfqRequest.Status.EXPIRED,
        answer_status=RfqAnswer.Status.EXPIRED,
        now=now,
    )


def _close_each(
    rfq_ids: set[int],
    *,
    unfit: Callable[[RfqRequest], tuple[bool, Callable[[RfqAnswer], bool]]],
    request_status: str,
    answer_status: str,
    now: dt.datetime,
) -> tuple[int, int]:
    """Close what no longer fits of the requests ``rfq_ids`` (found without locks), the shape of every close the
    system makes by itself (expiry, a freeze, a change of the security or the venue): each request in a
    transaction of its own, in pk order, locked (request, then security, then balances: the global order) and
    judged again under the lock by ``unfit``, which says whether the request itself no longer fits (an open one
    then closes with ``request_status`` and all its firm answers are released with ``answer_status``) and, when
    it does not, which of its firm answers no longer fit (released with ``answer_status``). Idempotent: what is
    closed is not open any more. Returns (requests closed, answers closed)."""
    requests_closed = answers_closed = 0
    for rfq_id in sorted(rfq_ids):
        with transaction.atomic():
            rfq = _lock_request(rfq_id)
            if rfq is None:  # pragma: no cover - requests are never deleted
                continue
            whole, answer_unfit = unfit(rfq)
            if rfq.status == RfqRequest.Status.OPEN and whole:
                answers = _firm_answers(rfq)
                _close(rfq, answers, now=now, answer_status=answer_status)
                rfq.status, rfq.closed_at = request_status, now
                rfq.save(update_fields=["status", "closed_at"])
                requests_closed += 1
            else:
                answers = [a for a in _firm_answers(rfq) if answer_unfit(a)]
                _close(rfq, answers, now=now, answer_status=answer_status)
            answers_closed += len(answers)
    return requests_closed, answers_closed
