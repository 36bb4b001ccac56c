"""Negotiated transfer (协议转让, DESIGN.md §2): two named parties agree a trade.

* ``negotiated_propose``: one party enters security, side, quantity, price and the counterparty's account
  code. Its own side is reserved at once (cash with its broker's fee, as a buy order; or shares) after the
  pre-trade checks of its side. It gets a random confirmation code, shown once; only its SHA-256 is kept.
  Idempotent on ``(account, client_request_id)``: a retry returns the first proposal (without its code).
* ``negotiated_confirm``: the counterparty (or its broker's staff) confirms with the code before the
  proposal expires; its side is checked and reserved and the trade is written at once, a normal trade
  (``Trade.mode`` negotiated) with its TRADE entry, which seals and settles like any other. Every pre-trade
  check runs again for both parties (``exchange.pretrade``), each party pays its own broker's fee.
* ``negotiated_withdraw``: either party, before confirmation, releases the proposer's reservation.
* ``negotiated_expire``: the beat task closes proposals past their expiry and releases what they hold.

Locks as every trading write: the security row first (which serialises two confirmations of one proposal),
then the proposal row, then cash rows, then positions, by account pk. A refused request changes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import NoReturn

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from balances.services import cash_lock, positions_lock
from core import errors as err
from core.audit import audit_record
from core.errors import DomainError
from core.idempotency import made_before, made_once
from core.models import Account, User
from core.money import ZERO, notional
from ledger.services import entries_write
from registry import calendar, profile
from registry.models import Security

from .. import hooks, pretrade
from ..entries import TradeEntry
from ..models import NegotiatedTrade, Trade
from .book import TRADE_ID_DRAWN, Book, commission, lock_security, seller_commission
from .inputs import parse_price, parse_quantity


class UnknownCounterparty(DomainError):
    code = "unknown_counterparty"
    status = 400
    default_message = _("There is no trading account with this code.")


class WrongCode(DomainError):
    code = "wrong_confirmation_code"
    status = 403
    default_message = _("The confirmation code is wrong.")


MAX_WRONG_CODES = NegotiatedTrade.MAX_WRONG_CODES


class ProposalExpired(DomainError):
    code = "proposal_expired"
    status = 409
    default_message = _("This proposal has expired.")


class ProposalNotOpen(DomainError):
    code = "proposal_not_open"
    status = 409
    default_message = _("This proposal is no longer open.")


CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
CODE_LENGTH = 8


def code_new() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def code_hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


@dataclass(frozen=True)
class NegotiatedRequest:
    security: str
    side: str
    quantity: int
    price: Decimal
    counterparty: str
    client_request_id: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "counterparty", Account.typed_code(self.counterparty))


def expiry(now: dt.datetime, ttl: int | None = None) -> dt.datetime:
    """``ttl`` (default ``NEGOTIATED_TTL``) seconds from now, but not past the end of the session in progress."""
    expires = now + dt.timedelta(seconds=settings.NEGOTIATED_TTL if ttl is None else ttl)
    end = calendar.session_end(now)
    return expires if end is None else min(expires, end)


def _same_request(p: NegotiatedTrade, req: NegotiatedRequest) -> bool:
    return (
        p.security.code == req.security
        and p.side == req.side
        and p.quantity == req.quantity
        and p.price == req.price
        and p.counterparty.code == req.counterparty
    )


def _existing(account: Account, req: NegotiatedRequest) -> NegotiatedTrade | None:
    rows = NegotiatedTrade.objects.select_related("security", "counterparty").filter(
        proposer=account, client_request_id=req.client_request_id
    )
    return made_before(rows, lambda p: _same_request(p, req))


def negotiated_propose(
    *, actor: User, account: Account, request: NegotiatedRequest, ip: str | None = None, ttl: int | None = None
) -> tuple[NegotiatedTrade, str | None, bool]:
    """Propose a negotiated trade. Returns (proposal, code, created); the code is None for a retry.

    ``ttl``: seconds it waits (``NEGOTIATED_TTL`` by default; the demo data's proposal waits longer)."""
    if ttl is not None and ttl <= 0:
        raise err.InvalidInput(gettext("The proposal must wait a positive time."))
    pretrade.check_may_act(actor, account)
    if request.side not in NegotiatedTrade.Side.values:
        raise err.InvalidInput(gettext('side must be "buy" or "sell".'))
    if not request.client_request_id or len(request.client_request_id) > 64:
        raise err.InvalidInput(gettext("client_request_id must be 1 to 64 characters."))
    parse_quantity(request.quantity)
    parse_price(request.price)
    if not isinstance(request.counterparty, str) or not request.counterparty:
        raise UnknownCounterparty()

    def first() -> tuple[NegotiatedTrade, None] | None:
        existing = _existing(account, request)
        return None if existing is None else (existing, None)  # a retry is not told the code again

    (proposal, code), created = made_once(
        lambda: _propose(actor=actor, account=account, req=request, ip=ip, ttl=ttl),
        index="negotiated_client_request_unique",
        first=first,
        refused=lambda exc: pretrade.check_not_blocked_since_read(account, exc),
    )
    return proposal, code, created


def _propose(*, actor: User, account: Account, req: NegotiatedRequest, ip: str | None, ttl: int | None):
    now = timezone.now()
    counterparty = (
        Account.objects.select_related("broker")
        .filter(code=req.counterparty, kind__in=[Account.Kind.INVESTOR, Account.Kind.MARKET_MAKER])
        .first()
    )
    if counterparty is None:
        raise UnknownCounterparty()
    if counterparty.pk == account.pk:
        raise err.SelfTrade(gettext("You cannot propose a trade to your own account."))
    security = lock_security(req.security)
    pretrade.check_tradable(security, now=now, mode=profile.NEGOTIATED)
    pretrade.check_price(security, req.price)
    pretrade.check_not_one_person(account, counterparty, security)
    if req.side == NegotiatedTrade.Side.BUY:
        pretrade.check_quantity(security, req.quantity)  # a sale's, once its holding is known
    book = Book(now=now, security=security)
    proposal = NegotiatedTrade(
        security=security,
        side=req.side,
        quantity=req.quantity,
        price=req.price,
        proposer=account,
        counterparty=counterparty,
        client_request_id=req.client_request_id,
        proposed_by=actor,
        proposed_at_counter=actor.pk != account.owner_id,
        created_at=now,
        expires_at=expiry(now, ttl),
    )
    if req.side == NegotiatedTrade.Side.BUY:
        proposal.reserved_cash = book.reserve_purchase(
            account, req.price, req.quantity, actor=actor, seller=counterparty, what="trade"
        )
    else:
        # All the shares held free may be sold at once, odd lot included, as an order may (found by a probe:
        # under a profile without orders, shares out of lots could never be sold).
        book.reserve_sale(account, req.quantity, actor=actor, what="trade")
        # The buyer, the counterparty, who could only be refused at its confirmation: said now, on the
        # counterparty, naming the rule but not its level (``pretrade.check_counterparty_may_buy``).
        pretrade.check_counterparty_may_buy(counterparty, security, now=now)
    code = code_new()
    proposal.code_hash = code_hash(code)
    with err.database_refusals():  # the account frozen or restricted while this waited (exchange 0027)
        proposal.save(force_insert=True)
    book.write()
    hooks.negotiated_proposed.fire(proposal_id=proposal.pk)
    audit_record(
        actor=actor,
        action="negotiated.propose",
        target=f"negotiated:{proposal.pk}",
        ip=ip,
        detail={"security": security.code, "side": req.side, "quantity": req.quantity, "price": str(req.price)},
    )
    return proposal, code


def _visible(actor: User, proposal_id: int) -> NegotiatedTrade:
    p = (
        NegotiatedTrade.objects.select_related("security", "proposer__broker", "counterparty__broker")
        .filter(pk=proposal_id)
        .first()
    )
    if p is None or not (pretrade.may_act_for(actor, p.proposer) or pretrade.may_act_for(actor, p.counterparty)):
        raise err.NotFound(gettext("No such proposal."))
    return p


def _lock(p: NegotiatedTrade) -> Security:
    """The security row, then the proposal's row, locked; the proposal re-read under them."""
    security = lock_security(p.security.code)
    fresh = NegotiatedTrade.objects.select_for_update().get(pk=p.pk)
    # Every column the services change, so that no write starts from what was read before the lock (concurrent
    # wrong codes each counted from a stale count, and thirty of them counted two).
    p.status, p.reserved_cash, p.expires_at = fresh.status, fresh.reserved_cash, fresh.expires_at
    p.wrong_codes, p.closed_at, p.closed_by_id, p.trade_id = (
        fresh.wrong_codes,
        fresh.closed_at,
        fresh.closed_by_id,
        fresh.trade_id,
    )
    return security


def _release(book: Book, p: NegotiatedTrade) -> None:
    if p.side == NegotiatedTrade.Side.BUY:
        book.reserve_cash(p.proposer_id, -p.reserved_cash)
        p.reserved_cash = ZERO
    else:
        book.reserve_shares(p.proposer_id, -p.quantity)


def _close(
    p: NegotiatedTrade, security: Security, *, status: str, actor: User | None, now: dt.datetime, also: tuple = ()
) -> None:
    book = Book(now=now, security=security)
    if p.side == NegotiatedTrade.Side.BUY:
        book.cash = cash_lock([p.proposer_id])
    else:
        book.positions = positions_lock(security.pk, [p.proposer_id])
    _release(book, p)
    p.status = status
    p.closed_at = now
    p.closed_by = actor
    p.save(update_fields=["status", "reserved_cash", "closed_at", "closed_by", "closed_at_counter", *also])
    book.write()
    hooks.negotiated_ended.fire(proposal_id=p.pk)


def negotiated_withdraw(*, actor: User, proposal_id: int, ip: str | None = None) -> NegotiatedTrade:
    """Either party withdraws an open proposal; the proposer's reservation is released."""
    p = _visible(actor, proposal_id)
    with transaction.atomic():
        security = _lock(p)
        if p.status != NegotiatedTrade.Status.PROPOSED:
            raise ProposalNotOpen(
                gettext("This proposal is %(status)s; it can no longer be withdrawn.")
                % {"status": str(NegotiatedTrade.Status(p.status).label).lower()}  # mid-sentence
            )
        p.closed_at_counter = actor.pk not in (p.proposer.owner_id, p.counterparty.owner_id)
        _close(p, security, status=NegotiatedTrade.Status.WITHDRAWN, actor=actor, now=timezone.now())
        audit_record(actor=actor, action="negotiated.withdraw", target=f"negotiated:{p.pk}", ip=ip)
    return p


def _blocked_as(*, restricted: bool) -> str:
    """Why an account's proposals were withdrawn, as their audit records say it: frozen (which also stops its
    trading), or its trading restricted (a regulator's act, not a legal order's freeze)."""
    return "restricted from trading by a regulator" if restricted else "frozen by a legal order"


def negotiated_withdraw_locked(
    account: Account, securities: list[Security], *, now: dt.datetime, restricted: bool = False
) -> int:
    """Withdraw the open proposals ``account`` made, releasing what they hold (its own cash or shares), with no
    actor: for a whole-account freeze (``supervision.services.freeze_approve``; found by a probe: a frozen
    account's proposal kept its shares reserved, out of the freeze's reach, and its withdrawal after the
    approval left them free). Only those in ``securities``, whose rows the caller's transaction holds (in pk
    order, taken before any balance row: ``negotiated_securities``); one made since in another security is the
    caller's to find (the approval starts again; the beat takes it next time). The audit record says why: the account
    is frozen, or (``restricted``) its trading restricted. Returns how many."""
    withdrawn = 0
    proposals = NegotiatedTrade.objects.select_related("security", "proposer__broker", "counterparty__broker")
    mine = proposals.filter(proposer=account, status=NegotiatedTrade.Status.PROPOSED, security__in=securities)
    for p in mine.order_by("id"):
        security = _lock(p)  # the security's lock is the caller's already: the proposal's row, re-read
        if p.status != NegotiatedTrade.Status.PROPOSED:
            continue
        _close(p, security, status=NegotiatedTrade.Status.WITHDRAWN, actor=None, now=now)
        _withdrawn_audited(p, f"the proposer's account is {_blocked_as(restricted=restricted)}")
        withdrawn += 1
    return withdrawn


def _withdrawn_audited(p: NegotiatedTrade, reason: str) -> None:
    """The audit record of a proposal the system withdrew, as one after too many wrong codes has."""
    audit_record(
        actor=None,
        username="system",
        action="negotiated.withdraw",
        target=f"negotiated:{p.pk}",
        detail={"reason": reason},
    )


def _close_each(
    pks: list[int],
    *,
    closes: Callable[[NegotiatedTrade, Security], bool],
    status: str,
    reason: str | Callable[[NegotiatedTrade], str] | None,
    now: dt.datetime,
) -> int:
    """Close the open proposals ``pks`` (found without locks) that ``closes`` still holds of, re-read under the
    locks (the proposal and its locked security), with ``status``, releasing what their proposers reserved; with no
    actor, and an audit record of ``reason`` when given (a callable: what it answers of the proposal, under the
    locks). Each in a transaction of its own, locked as a party's withdrawal is (security, proposal, balances), in
    pk order: the shape of every close the system makes by itself (the beat's and a security change's). Returns how
    many."""
    closed = 0
    for pk in sorted(pks):
        with transaction.atomic():
            p = NegotiatedTrade.objects.select_related("security", "proposer__broker", "counterparty").get(pk=pk)
            security = _lock(p)
            if p.status != NegotiatedTrade.Status.PROPOSED or not closes(p, security):
                continue
            _close(p, security, status=status, actor=None, now=now)
            if reason is not None:
                _withdrawn_audited(p, reason(p) if callable(reason) else reason)
            closed += 1
    return closed


def negotiated_withdraw_to_frozen(*, now: dt.datetime | None = None) -> int:
    """Withdraw the open proposals made to a frozen account, releasing what their proposers reserved: the
    counterparty can no longer confirm them, and the proposer's cash or shares would stay held until they expired.
    With no actor; the proposer is told only that it was withdrawn (the freeze is not theirs to learn). Each in a
    transaction of its own, locked as a party's withdrawal is (security, proposal, balances). For the beat
    (``supervision.tasks.cancel_frozen_orders``); idempotent. Returns how many."""
    # A restricted counterparty (a trading restriction) can no more confirm than a frozen one.
    blocked = Q(frozen=True) | Q(trading_restricted=True)
    to_frozen = NegotiatedTrade.objects.filter(
        Q(counterparty__frozen=True) | Q(counterparty__trading_restricted=True),
        status=NegotiatedTrade.Status.PROPOSED,
    )
    return _close_each(
        list(to_frozen.values_list("pk", flat=True)),
        closes=lambda p, _security: Account.objects.filter(blocked, pk=p.counterparty_id).exists(),
        status=NegotiatedTrade.Status.WITHDRAWN,
        # Which it was, frozen or restricted (a restriction is not a legal order's freeze), read under the locks.
        reason=lambda p: f"the counterparty's account is {_blocked_as(restricted=not _frozen(p.counterparty_id))}",
        now=now or timezone.now(),
    )


def _frozen(account_id: int) -> bool:
    return Account.objects.filter(pk=account_id, frozen=True).exists()


def proposal_fits(security: Security, price: Decimal) -> bool:
    """Whether a proposal at ``price`` could still be confirmed as the security now stands: listed, negotiated
    transfer allowed by it and by the venue, the price on its tick and inside its band. A halt is not a misfit: it
    ends."""
    return (
        security.status != Security.Status.DELISTED
        and profile.mode_allowed(security, profile.NEGOTIATED)
        and pretrade.price_fits(security, price)
    )


def negotiated_withdraw_unfit(*, security_id: int | None = None, now: dt.datetime | None = None) -> int:
    """Withdraw the open proposals that can no longer be confirmed since their security changed (delisted,
    negotiated transfer switched off, a tick or band their price no longer fits), releasing what their proposers
    reserved, as a change cancels the orders it strands (found by a probe: 100 shares stayed reserved until the
    proposal expired, days later). With no actor; both parties are told it was withdrawn. Each in a transaction of
    its own, locked as a party's withdrawal is. Run after a security's change commits (``security_id``) and by the
    beat (``exchange.tasks.close_unfit``, for a change of the venue's profile); idempotent. Returns how many."""
    open_ = NegotiatedTrade.objects.filter(status=NegotiatedTrade.Status.PROPOSED)
    if security_id is not None:
        open_ = open_.filter(security_id=security_id)
    candidates = open_.select_related("security").only("pk", "price", "security")
    return _close_each(
        [p.pk for p in candidates if not proposal_fits(p.security, p.price)],
        closes=lambda p, security: not proposal_fits(security, p.price),
        status=NegotiatedTrade.Status.WITHDRAWN,
        reason="its security changed and it can no longer be confirmed",
        now=now or timezone.now(),
    )


def negotiated_securities(account: Account) -> set[int]:
    """The securities of the open proposals ``account`` made (what ``negotiated_withdraw_locked`` locks)."""
    return set(
        NegotiatedTrade.objects.filter(proposer=account, status=NegotiatedTrade.Status.PROPOSED).values_list(
            "security_id", flat=True
        )
    )


def negotiated_expire(*, now: dt.datetime | None = None) -> int:
    """Close the proposals past their expiry and release what they hold. Idempotent; returns how many."""
    now = now or timezone.now()
    due = NegotiatedTrade.objects.filter(status=NegotiatedTrade.Status.PROPOSED, expires_at__lte=now)
    return _close_each(
        list(due.values_list("id", flat=True)),
        closes=lambda p, _security: p.expires_at <= now,
        status=NegotiatedTrade.Status.EXPIRED,
        reason=None,
        now=now,
    )


def negotiated_confirm(*, actor: User, proposal_id: int, code: str, ip: str | None = None) -> NegotiatedTrade:
    """The counterparty confirms with the code: its side is checked and reserved, and the trade is written."""
    p = _visible(actor, proposal_id)
    if not pretrade.may_act_for(actor, p.counterparty):
        raise err.PermissionDenied(gettext("Only the counterparty confirms a proposal."))
    if actor.pk == p.proposed_by_id:
        # Staff who proposed for one client cannot confirm for the other: the code stands for the counterparty's
        # consent, and moving assets takes two people (DESIGN §1).
        raise err.PermissionDenied(
            gettext("You entered this proposal: another person, the counterparty or its broker's staff, confirms it.")
        )
    if not isinstance(code, str) or not code.strip():
        raise err.InvalidInput(gettext("Enter the confirmation code."))
    try:
        wrong = _confirm(p, actor=actor, code=code, ip=ip)
    except ProposerCannotTrade:
        raise
    except DomainError as exc:
        # The counterparty's own freeze or restriction approved since its account was read (a whole-account freeze
        # then reads as too little cash or too few shares): its own refusal, with the regulator's reason, as an
        # order's (found by a race test).
        pretrade.check_not_blocked_since_read(p.counterparty, exc)
        raise
    if wrong:
        if p.status == NegotiatedTrade.Status.WITHDRAWN:
            raise WrongCode(
                gettext("The confirmation code is wrong, %(n)s times: the proposal is withdrawn. Ask for a new one.")
                % {"n": MAX_WRONG_CODES}
            )
        raise WrongCode(
            gettext("The confirmation code is wrong; %(left)s more tries before the proposal is withdrawn.")
            % {"left": MAX_WRONG_CODES - p.wrong_codes}
        )
    return p


def _confirm(p: NegotiatedTrade, *, actor: User, code: str, ip: str | None) -> bool:
    """``negotiated_confirm``'s transaction: the trade written, or a wrong code counted (True)."""
    with transaction.atomic():
        security = _lock(p)
        now = timezone.now()  # the trade's moment, under the lock, as an order's (exchange.services.orders)
        if p.status != NegotiatedTrade.Status.PROPOSED:
            raise ProposalNotOpen(
                gettext("This proposal is %(status)s; it can no longer be confirmed.")
                % {"status": str(NegotiatedTrade.Status(p.status).label).lower()}  # mid-sentence
            )
        if p.expires_at <= now:
            raise ProposalExpired()
        wrong = not hmac.compare_digest(code_hash(code), p.code_hash)
        if wrong:
            # Counted, not rolled back: the try is kept, and the last one allowed withdraws the proposal.
            p.wrong_codes += 1
            audit_record(
                actor=actor, action="negotiated.confirm", outcome="refused", target=f"negotiated:{p.pk}", ip=ip
            )
            if p.wrong_codes < MAX_WRONG_CODES:
                p.save(update_fields=["wrong_codes"])
            else:
                # The last try and the withdrawal in one update: the database never sees an open proposal
                # without tries left.
                _close(p, security, status=NegotiatedTrade.Status.WITHDRAWN, actor=None, now=now, also=("wrong_codes",))
                audit_record(
                    actor=None,
                    username="system",
                    action="negotiated.withdraw",
                    target=f"negotiated:{p.pk}",
                    detail={"reason": f"{MAX_WRONG_CODES} wrong confirmation codes"},
                )
        else:
            trade = _trade(p, security, actor=actor, now=now)
            p.status = NegotiatedTrade.Status.CONFIRMED
            p.trade = trade
            p.reserved_cash = ZERO
            p.closed_at = now
            p.closed_by = actor
            p.closed_at_counter = actor.pk != p.counterparty.owner_id
            p.save(update_fields=["status", "trade", "reserved_cash", "closed_at", "closed_by", "closed_at_counter"])
            audit_record(
                actor=actor, action="negotiated.confirm", target=f"negotiated:{p.pk}", ip=ip, detail={"trade": trade.pk}
            )
    return wrong


ProposerCannotTrade = err.error_class(
    "ProposerCannotTrade",
    "proposer_cannot_trade",
    _(
        "The proposer's account cannot make this trade now: a rule of the market refuses it on the proposer's side."
        " Nothing changed; the proposal stays open until it is withdrawn or expires."
    ),
    409,
)


@contextmanager
def _the_proposers(checked: bool = True):
    """A refusal of the proposer's account (``checked``: the check inside is of it), met by the counterparty's
    confirmation, as ``ProposerCannotTrade``."""
    try:
        yield
    except DomainError as exc:
        if not checked:
            raise
        raise ProposerCannotTrade() from exc


def _trade(p: NegotiatedTrade, security: Security, *, actor: User, now: dt.datetime) -> Trade:
    """Every pre-trade check for both parties, the counterparty's reservation, the trade and its entry."""
    proposer_buys = p.side == NegotiatedTrade.Side.BUY
    buyer, seller = (p.proposer, p.counterparty) if proposer_buys else (p.counterparty, p.proposer)
    pretrade.check_may_act(actor, p.counterparty)  # also: the counterparty's account is not frozen
    with _the_proposers():
        pretrade.check_account_not_frozen(p.proposer)
    pretrade.check_tradable(security, now=now, mode=profile.NEGOTIATED)
    pretrade.check_price(security, p.price)
    pretrade.check_not_one_person(p.proposer, p.counterparty, security)

    book = Book(now=now, security=security)
    book.cash = cash_lock([buyer.pk])
    book.positions = positions_lock(security.pk, [seller.pk])
    value = notional(p.price, p.quantity)
    buyer_fee = commission(buyer, value)
    seller_fee = seller_commission(seller, value)

    # The proposer's own shares are already reserved for this sale: they count as available to it.
    seller_available = book.positions[seller.pk].available + (0 if proposer_buys else p.quantity)
    pretrade.check_quantity(security, p.quantity, whole_holding=seller_available)
    # A refusal of the confirming side's own account speaks to its owner, or names the client to its staff; one
    # of the proposer's account is ``proposer_cannot_trade``, which tells the confirming party nothing of the
    # proposer's KYC, level, holdings or freeze (found by a tester: it read "Your investor level is …" of the
    # other party).
    with _the_proposers(proposer_buys):
        pretrade.check_investor(
            account=buyer,
            security=security,
            side="buy",
            quantity=p.quantity,
            available_shares=None,
            now=now,
            seller=seller,
            actor=None if proposer_buys else actor,
        )
    with _the_proposers(not proposer_buys):
        pretrade.check_investor(
            account=seller,
            security=security,
            side="sell",
            quantity=p.quantity,
            available_shares=seller_available,
            now=now,
            actor=actor if proposer_buys else None,
        )
    if proposer_buys:
        # Usually nothing: the proposal reserved exactly this, unless the broker's fee changed since.
        top_up = value + buyer_fee - p.reserved_cash
        if top_up > 0:
            with _the_proposers():
                pretrade.check_cash(book.cash[buyer.pk].available, top_up, what="trade", row=book.cash[buyer.pk])
        book.reserve_cash(buyer.pk, top_up)
        pretrade.check_shares(
            book.positions[seller.pk].available, p.quantity, what="trade", row=book.positions[seller.pk]
        )
        book.reserve_shares(seller.pk, p.quantity)
    else:
        pretrade.check_cash(book.cash[buyer.pk].available, value + buyer_fee, what="trade", row=book.cash[buyer.pk])
        book.reserve_cash(buyer.pk, value + buyer_fee)

    with connection.cursor() as cur:
        cur.execute(f"SELECT {TRADE_ID_DRAWN}")
        trade_id = cur.fetchone()[0]
    (entry,) = entries_write(
        [
            TradeEntry(
                trade_id=trade_id,
                security=security.code,
                price=p.price,
                quantity=p.quantity,
                buyer=buyer.code,
                seller=seller.code,
                buyer_fee=buyer_fee,
                seller_fee=seller_fee,
                buy_order_id=None,
                sell_order_id=None,
                quote_id=None,
                matched_at=now,
            )
        ],
        recorded_at=now,
    )
    try:
        # A party frozen since the proposal was read: the database refuses the trade (found by a review: a 500).
        # In a savepoint of its own, so that whose account it was can be read after the refusal.
        with transaction.atomic(), err.database_refusals():
            trade = Trade.objects.create(
                id=trade_id,
                security=security,
                price=p.price,
                quantity=p.quantity,
                buyer=buyer,
                seller=seller,
                buyer_fee=buyer_fee,
                seller_fee=seller_fee,
                mode=Trade.Mode.NEGOTIATED,
                entry=entry,
                matched_at=now,
            )
    except err.TradePartyFrozen as refused:
        _refused_for_a_freeze(p, refused)
    book.write()
    return trade


def _refused_for_a_freeze(p: NegotiatedTrade, refused: DomainError) -> NoReturn:
    """The database's refusal of the trade for a frozen or restricted party, as the confirming party may read it: its
    own account's trading restriction as the service's own check says it (``trading_restricted``, with the
    restriction's reason, as the order path does: found by a review, it read "…was frozen by a legal order…"), its
    own freeze as the generic refusal, the proposer's either as ``proposer_cannot_trade``, the answer the service's
    own check gives (found by a review: ``account_frozen`` told the counterparty, who knows its own account is free,
    that the proposer was frozen: a legal order's secret)."""
    blocked = {
        pk: frozen
        for pk, frozen in Account.objects.filter(
            Q(frozen=True) | Q(trading_restricted=True), pk__in=[p.proposer_id, p.counterparty_id]
        ).values_list("pk", "frozen")
    }
    if p.counterparty_id not in blocked and p.proposer_id in blocked:
        raise ProposerCannotTrade() from refused
    if blocked.get(p.counterparty_id) is False:  # restricted, not frozen
        try:
            pretrade.check_account_not_frozen(Account.objects.get(pk=p.counterparty_id))
        except err.TradingRestricted as own:
            raise own from refused
    raise refused


def negotiated_visible(user: User):
    """Proposals the user may see: its own account's (either party), its broker's clients', all for supervisors."""
    from ..selectors import _visible_accounts_q

    qs = NegotiatedTrade.objects.select_related(
        "security", "proposer__broker", "counterparty__broker", "trade"
    ).order_by("-id")
    q = _visible_accounts_q(user, "proposer")
    return qs if q is None else qs.filter(q | _visible_accounts_q(user, "counterparty"))
