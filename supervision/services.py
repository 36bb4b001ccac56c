"""Writes of supervision: judicial freezes, forced transfers and corrections (DESIGN.md §6).

Maker-checker: a regulator proposes; a *different* regulator approves or
rejects (corrections are also proposed by the exchange or the depository);
the proposer may withdraw. PostgreSQL refuses a decision by the proposer
(``supervision.models``), so a bug here cannot let one person act alone. The
approval applies the effect, writes the ledger entry and the audit record in
one transaction; a refusal changes nothing.

Decisions:

* A freeze of more than is free freezes what is free and says so (the entry's
  ``shortfall``): a court's order binds what the account holds now, and a
  partial freeze is better evidence than none. Reserved assets (open orders,
  trades waiting to settle) are not taken from their obligations. Shares under
  lock-up are the account's but cannot move: a freeze of shares takes those it
  lacked for that reason as their lock-up ends (``unmet_quantity``,
  ``unlock_claims_take``), and a whole-account freeze every share a lock-up of
  the account releases, on the UNLOCK entry.
* A whole-account freeze sets ``Account.frozen`` (no orders, quotes,
  withdrawals), pulls the account's quotes (a market maker's firm offers: a
  frozen account's quote never fills, ``exchange.services.orders``) and then
  freezes every free asset of the account, what the quotes held included.
  Resting orders placed before it stay; their fills settle as usual.
* A trading restriction is a freeze of kind ``trading`` that holds nothing: its
  approval closes the account's quotes, orders and proposals as a
  whole-account freeze does and sets ``Account.trading_restricted`` (not
  ``frozen``, which also stops withdrawals); the assets stay the account's.
  One model for both: the same legal act, life and readers, minus the assets.
* Release (and expiry, by the beat task) frees exactly what the freeze still
  holds: one person (a regulator) releases, since releasing moves and blocks
  nothing; not while a forced transfer of the freeze waits for approval (expiry
  waits for it too).
* A forced transfer consumes frozen assets of one freeze; the receiver gets
  them free, after the holder cap and the receiver's KYC are checked (at the
  proposal and again at the approval).
* A correction debits the available balance first and then the frozen assets
  of the debited account (freezes exist to keep assets for such orders); when
  both are short it is refused: freeze first.

Lock order (``balances.models``): security row, then cash rows by account
pk, then positions by account pk; the proposal row is locked first of all.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from balances.entries import CashAmount, FrozenAtUnlock, ShareAmount
from balances.services import MAX_AMOUNT, ClaimsMoved, cash_lock, positions_lock
from core import errors as err
from core.audit import audit_record
from core.idempotency import key_checked, made_before
from core.models import Account, Role, User
from core.money import ZERO, amount_text, money, notional, shares_text
from exchange import pretrade
from exchange.models import NegotiatedTrade, Order, Quote, Trade
from exchange.selectors import security_as_of
from exchange.services import (
    negotiated_securities,
    negotiated_withdraw_locked,
    orders_cancel_locked,
    quotes_pull_locked,
    rfqs_close_frozen,
)
from exchange.services.book import buy_reservation, commission, seller_commission
from kyc.models import KycProfile
from ledger.models import Leaf
from ledger.services import entry_write
from registry import gate
from registry import profile as venue_profile
from registry.models import Security

from . import hooks
from .entries import (
    CorrectionEntry,
    ForcedTransferEntry,
    FreezeEntry,
    FrozenUse,
    SecurityQuantity,
    UnfreezeEntry,
)
from .models import Correction, ForcedTransfer, Freeze
from .selectors import corrected_terms

# What makes two freeze proposals the same request (a retry with its client_request_id).
FREEZE_TERMS = (
    "account_id",
    "kind",
    "security_id",
    "amount",
    "quantity",
    "legal_reference",
    "legal_authority",
    "legal_document",
    "legal_date",
    "reason",
    "expires_at",
)

NotProposed, SameProposer = err.NotProposed, err.SameProposer
FreezeNotActive = err.error_class("FreezeNotActive", "freeze_not_active", _("The freeze is not active."), 409)
NotEnoughFrozen = err.error_class("NotEnoughFrozen", "not_enough_frozen", _("The freeze does not hold that much."), 409)
ReceiverNotEligible = err.error_class(
    "ReceiverNotEligible", "receiver_not_eligible", _("The receiving account cannot take these assets."), 409
)
TradeNotSettled = err.error_class(
    "TradeNotSettled", "trade_not_settled", _("Only a settled trade can be corrected."), 409
)
ForcedTransferPending = err.error_class(
    "ForcedTransferPending",
    "forced_transfer_pending",
    _("A forced transfer of this freeze is waiting for approval: decide or withdraw it first."),
    409,
)
CorrectionPending = err.error_class(
    "CorrectionPending", "correction_pending", _("A correction of this trade is already waiting for approval."), 409
)
CorrectionUnavailable = err.error_class(
    "CorrectionUnavailable",
    "correction_assets_unavailable",
    _("The assets the correction takes back are no longer available; freeze them first."),
    409,
)
CorrectionOverCap = err.error_class(
    "CorrectionOverCap",
    "correction_holder_cap",
    _("The correction would take the security past its maximum number of holders."),
    409,
)

REGULATORS = frozenset({Role.REGULATOR})
CORRECTION_PROPOSERS = frozenset({Role.REGULATOR, Role.DEPOSITORY_OPERATOR, Role.EXCHANGE_OPERATOR})

log = logging.getLogger(__name__)


def _require(actor: User, roles: frozenset[str], message: str) -> None:
    if actor.role not in roles:
        raise err.PermissionDenied(message)


def _text(value: str, what: str, limit: int, *, field: str) -> str:
    text = (value or "").strip()
    if not text:
        raise err.InvalidInput(gettext("%(what)s is required.") % {"what": what}, field=field)
    if len(text) > limit:
        raise err.InvalidInput(
            gettext("%(what)s is too long (at most %(n)s characters).") % {"what": what, "n": limit}, field=field
        )
    return text


def _account(code: str) -> Account:
    account = Account.objects.filter(code=Account.typed_code(code or "")).first()
    if account is None:
        raise err.UnknownAccount(gettext("No such account: %(codes)s.") % {"codes": code})
    return account


def _security(code: str) -> Security:
    security = Security.objects.filter(code=(code or "").strip()).first()
    if security is None:
        raise err.UnknownSecurity()
    return security


def _amount(value) -> Decimal:
    amount = _positive(value)
    if money(amount) != amount:
        raise err.InvalidInput(gettext("The amount must be positive, with at most two decimal places."), field="amount")
    return amount


def _positive(value, field: str = "amount") -> Decimal:
    """A positive number below MAX_AMOUNT, with any decimals (``_amount`` allows two); ``field``: the input's name,
    for the error."""
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        raise err.InvalidInput(gettext("The amount is not a number."), field=field) from None
    # The range first: quantizing a number too large for the context (1E+30) raises InvalidOperation.
    if not amount.is_finite() or amount <= 0 or amount >= MAX_AMOUNT:
        raise err.InvalidInput(gettext("The amount must be positive, with at most two decimal places."), field=field)
    return amount


def _quantity(value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= 10**12:
        raise err.InvalidInput(gettext("The quantity must be a positive whole number of shares."), field="quantity")
    return value


def _legal(reference: str, authority: str, document: str, date: dt.date | None) -> dict:
    """The legal order: its reference as one text, or built from the court, the document number and the date."""
    if date is not None and (not isinstance(date, dt.date) or date > timezone.localdate()):
        raise err.InvalidInput(gettext("The legal order's date cannot be in the future."), field="legal_date")
    authority = (authority or "").strip()
    document = (document or "").strip()
    if len(authority) > 200 or len(document) > 100:
        too_long = "legal_authority" if len(authority) > 200 else "legal_document"
        raise err.InvalidInput(gettext("The court or the document number is too long."), field=too_long)
    if not (reference or "").strip():
        reference = " ".join(p for p in (authority, document, str(date or "")) if p)
    return {
        "legal_reference": _text(reference, gettext("The legal order's reference"), 300, field="legal_reference"),
        "legal_authority": authority,
        "legal_document": document,
        "legal_date": date,
    }


def _retried(model, actor: User, key: str, terms: dict):
    """The proposal ``actor`` made before with the API client's ``key`` (a retry), or None: the same terms, or
    ``RequestIdConflict`` when the key was used for other ones (``core.idempotency``)."""
    if not key:
        return None
    rows = model.objects.filter(proposed_by=actor, client_request_id=key)
    return made_before(rows, lambda first: all(getattr(first, name) == value for name, value in terms.items()))


def _locked(model, pk: int):
    row = model.objects.select_for_update().filter(pk=pk).first()
    if row is None:
        raise err.NotFound(gettext("No such proposal."))
    return row


def _decide(row, actor: User, approvers: frozenset[str]) -> None:
    _require(actor, approvers, gettext("Your role may not decide this proposal."))
    if row.status != "proposed":
        raise NotProposed()
    if row.proposed_by_id == actor.pk:
        raise SameProposer()


# --------------------------------------------------------------------------
# Freezes


def freeze_propose(**kwargs) -> Freeze:
    """Propose a judicial freeze of cash (``amount``), shares (``security``, ``quantity``) or a whole account, or a
    restriction of the account's trading (``trading``: no assets frozen): ``freeze_propose_once``'s freeze."""
    return freeze_propose_once(**kwargs)[0]


def freeze_propose_once(
    *,
    actor: User,
    account: str,
    security: str | None = None,
    amount=None,
    quantity=None,
    whole_account: bool = False,
    trading: bool = False,
    legal_reference: str = "",
    legal_authority: str = "",
    legal_document: str = "",
    legal_date: dt.date | None = None,
    reason: str,
    expires_at: dt.datetime | None = None,
    client_request_id: str = "",
    ip: str | None = None,
) -> tuple[Freeze, bool]:
    """The proposed freeze, and whether this call proposed it: with an API client's ``client_request_id``, a
    retry returns the freeze proposed first (``False``), whatever became of it since; the key used for another
    freeze is a ``RequestIdConflict``."""
    _require(actor, REGULATORS, gettext("Only regulators freeze assets."))
    client_request_id = key_checked(client_request_id)
    target = _account(account)
    given = [amount is not None, quantity is not None or security is not None, bool(whole_account), bool(trading)]
    if sum(given) != 1:
        raise err.InvalidInput(
            gettext(
                "Freeze either an amount of cash, a quantity of one security or the whole account, or restrict the"
                " account's trading."
            )
        )
    legal = _legal(legal_reference, legal_authority, legal_document, legal_date)
    reason = err.reason_checked(reason)
    now = timezone.now()
    if expires_at is not None and expires_at <= now:
        raise err.InvalidInput(gettext("The expiry must be in the future."), field="expires_at")
    freeze = Freeze(
        account=target,
        **legal,
        reason=reason,
        expires_at=expires_at,
        proposed_by=actor,
        proposed_at=now,
    )
    if amount is not None:
        freeze.kind, freeze.amount = Freeze.Kind.CASH, _amount(amount)
    elif whole_account:
        freeze.kind = Freeze.Kind.ACCOUNT
    elif trading:
        freeze.kind = Freeze.Kind.TRADING
    else:
        if security is None:
            raise err.InvalidInput(gettext("A freeze of shares names the security."), field="security")
        freeze.kind, freeze.security, freeze.quantity = Freeze.Kind.SHARES, _security(security), _quantity(quantity)
    terms = {name: getattr(freeze, name) for name in FREEZE_TERMS}
    if first := _retried(Freeze, actor, client_request_id, terms):
        return first, False
    freeze.client_request_id = client_request_id
    try:
        with transaction.atomic():
            freeze.save()
            audit_record(
                actor=actor,
                action="freeze_propose",
                target=target.code,
                ip=ip,
                detail={"freeze": freeze.pk, "kind": freeze.kind, "reason": reason, "legal": legal["legal_reference"]},
            )
    except IntegrityError as exc:  # the same key sent twice at once: the other one proposed it
        if "freeze_request_once" not in str(exc):
            raise
        return _retried(Freeze, actor, client_request_id, terms), False
    return freeze, True


class _QuotesMoved(Exception):
    """A market maker published a quote, or the account placed an order, in a security the approval had not
    locked, while it waited: try again."""


QuotesKeptMoving = err.error_class(
    "QuotesKeptMoving",
    "quotes_kept_moving",
    _("The account kept publishing quotes or placing orders while the freeze was approved: approve it again."),
    409,
)


def freeze_approve(*, actor: User, freeze_id: int, ip: str | None = None) -> Freeze:
    """A second regulator approves: the freeze holds what is free of what it asks, on the ledger.

    A whole-account freeze pulls the account's quotes under the locks of their securities, read before they are
    locked; a quote published in another security meanwhile (seen once the market maker's cash row is locked,
    which every publication takes) makes the approval start again, up to three times (found by a review)."""
    _require(actor, REGULATORS, gettext("Your role may not decide this proposal."))  # before any lookup
    for _attempt in range(3):
        try:
            return _freeze_approve(actor=actor, freeze_id=freeze_id, ip=ip)
        except _QuotesMoved:
            continue
    raise QuotesKeptMoving()


def _trading_close(account: Account, freeze: Freeze, now: dt.datetime) -> tuple[list[int], int, int, int]:
    """Close what the account trades with, for a whole-account freeze or a trading restriction: its quotes pulled,
    its open orders cancelled (``closed_by`` the freeze's kind, with its number) and its negotiated proposals
    withdrawn, what they held free again; under the locks of their securities and of its holdings', taken in pk
    order. Returns (the securities locked, quotes pulled, orders cancelled, proposals withdrawn)."""
    quoted = set(
        Quote.objects.filter(account=account, status=Quote.Status.ACTIVE).values_list("security_id", flat=True)
    )
    ordered = set(
        Order.objects.filter(account=account, status__in=Order.OPEN_STATUSES).values_list("security_id", flat=True)
    )
    proposed = negotiated_securities(account)
    if proposed:
        # Withdrawing a proposal takes the market switch's gate (``lock_security``): shared here, before any row, as
        # every order takes it.
        gate.share()
    security_ids = sorted(
        set(account.positions.filter(total__gt=0).values_list("security_id", flat=True)) | quoted | ordered | proposed
    )
    securities = list(Security.objects.select_for_update(no_key=True).filter(pk__in=security_ids).order_by("pk"))
    # A frozen account trades no more: its quotes are pulled (found by a probe: a frozen market maker's ask went on
    # filling) and its open orders cancelled (found by a review: a resting order filled after the freeze and its
    # proceeds arrived free).
    pulled = quotes_pull_locked(account, [s for s in securities if s.pk in quoted], now=now)
    closed_by = Order.ClosedBy.TRADE_RESTRICTED if freeze.kind == Freeze.Kind.TRADING else Order.ClosedBy.ACCOUNT_FROZEN
    cancelled = orders_cancel_locked(
        account,
        [s for s in securities if s.pk in ordered],
        closed_by=closed_by,
        reason=str(freeze.pk),  # the sentence is written in each reader's language
        now=now,  # the freeze's moment: its notice counts these, not the beat's later ones
    )
    # Its negotiated proposals too, which hold its cash or shares (found by a probe). Its requests for quote and
    # firm answers are closed once the approval commits (``_rfqs_close_after``), each in a transaction of its own
    # and the request-first lock order, which this transaction (securities first) cannot keep; the proposals made
    # to it are the beat's (``exchange.services.negotiated_withdraw_to_frozen``).
    withdrawn = negotiated_withdraw_locked(
        account,
        [s for s in securities if s.pk in proposed],
        now=now,
        restricted=freeze.kind == Freeze.Kind.TRADING,
    )
    if Quote.objects.filter(account=account, status=Quote.Status.ACTIVE).exists():
        raise _QuotesMoved  # published meanwhile in a security not locked here: roll back, again
    return security_ids, pulled, cancelled, withdrawn


def _freeze_approve(*, actor: User, freeze_id: int, ip: str | None) -> Freeze:
    with transaction.atomic():
        freeze = _locked(Freeze, freeze_id)
        _decide(freeze, actor, REGULATORS)
        account = Account.objects.get(pk=freeze.account_id)
        now = timezone.now()
        cash_held, shares_held, shortfall, pulled, cancelled, withdrawn = ZERO, [], "", 0, 0, 0
        if freeze.kind == Freeze.Kind.TRADING:
            # A trading restriction: the account's quotes, orders and proposals are closed as a whole-account
            # freeze closes them (what they held is free again), and nothing of its own is frozen.
            security_ids, pulled, cancelled, withdrawn = _trading_close(account, freeze, now)
            cash_lock([account.pk])
            for security_id in security_ids:
                positions_lock(security_id, [account.pk])
            # An order placed meanwhile in a security not locked here (seen now that the cash and every holding's
            # row are locked, which any order of the account would wait for): roll back, again.
            if Order.objects.filter(account=account, status__in=Order.OPEN_STATUSES).exists() or negotiated_securities(
                account
            ):
                raise _QuotesMoved
            # ``trading_restricted`` is set by the database as the freeze turns active (supervision 0004).
        elif freeze.kind == Freeze.Kind.SHARES:
            Security.objects.select_for_update(no_key=True).filter(pk=freeze.security_id).first()
            pos = positions_lock(freeze.security_id, [account.pk])[account.pk]
            held = min(freeze.quantity, max(pos.available, 0))
            pos.frozen += held
            pos.save(update_fields=["frozen"])
            freeze.held_quantity = held
            # What is under lock-up now it takes when the lock-up ends (``unlock_claims_take``); what is reserved
            # or missing, it does not (a sale's shares leave the account: the court orders a further freeze).
            freeze.unmet_quantity = min(freeze.quantity - held, max(pos.locked, 0))
            shares_held = [SecurityQuantity(freeze.security.code, held)] if held else []
            if held < freeze.quantity:
                shortfall = gettext("%(n)s of %(asked)s shares were free and are frozen.") % {
                    "n": held,
                    "asked": freeze.quantity,
                }
        else:
            security_ids = []
            if freeze.kind == Freeze.Kind.ACCOUNT:
                security_ids, pulled, cancelled, withdrawn = _trading_close(account, freeze, now)
            cash = cash_lock([account.pk])[account.pk]
            wanted = freeze.amount if freeze.kind == Freeze.Kind.CASH else cash.available
            cash_held = min(wanted, max(cash.available, ZERO))
            cash.frozen += cash_held
            cash.save(update_fields=["frozen"])
            freeze.held_amount = cash_held
            if freeze.kind == Freeze.Kind.CASH and cash_held < freeze.amount:
                shortfall = gettext("%(n)s of %(asked)s CNY were free and are frozen.") % {
                    "n": amount_text(cash_held),
                    "asked": amount_text(freeze.amount),
                }
            parts = {}
            for security_id in security_ids:
                pos = positions_lock(security_id, [account.pk])[account.pk]
                held = max(pos.available, 0)
                if held:
                    pos.frozen += held
                    pos.save(update_fields=["frozen"])
                    parts[pos.security.code] = held
                    shares_held.append(SecurityQuantity(pos.security.code, held))
            if freeze.kind == Freeze.Kind.ACCOUNT:
                # An order placed meanwhile in a security not locked here (seen now that the cash and every
                # holding's row are locked, which any order of the account would wait for): roll back, again.
                if Order.objects.filter(
                    account=account, status__in=Order.OPEN_STATUSES
                ).exists() or negotiated_securities(account):
                    raise _QuotesMoved
                freeze.parts = parts  # ``frozen`` is set by the database as the freeze turns active (supervision 0004)
        entry = entry_write(
            FreezeEntry(
                freeze=freeze.pk,
                account=account.code,
                scope=freeze.kind,
                cash=cash_held,
                shares=shares_held,
                shortfall=shortfall,
                legal_reference=freeze.legal_reference,
                legal_authority=freeze.legal_authority,
                legal_document=freeze.legal_document,
                legal_date=freeze.legal_date,
                reason=freeze.reason,
                expires_at=freeze.expires_at,
                proposed_by=freeze.proposed_by.username,
                approved_by=actor.username,
                at=now,
            ),
            recorded_at=now,
        )
        freeze.status, freeze.decided_by, freeze.decided_at, freeze.entry = Freeze.Status.ACTIVE, actor, now, entry.pk
        freeze.save()
        audit_record(
            actor=actor,
            action="freeze_approve",
            target=account.code,
            ip=ip,
            detail={
                "freeze": freeze.pk,
                "entry": entry.pk,
                "shortfall": shortfall,
                "quotes_pulled": pulled,
                "orders_cancelled": cancelled,
                "proposals_withdrawn": withdrawn,
            },
        )
        freeze.shortfall = shortfall
        if freeze.kind in (Freeze.Kind.ACCOUNT, Freeze.Kind.TRADING):
            # Before the notice is queued (callbacks run in order), so that it counts them.
            transaction.on_commit(_rfqs_close_after(account.pk, now), robust=True)
        hooks.freeze_changed.fire(freeze_id=freeze.pk, event="frozen")
        return freeze


def _rfqs_close_after(account_id: int, now: dt.datetime):
    """Once a freeze of the whole account or a trading restriction commits: its requests for quote cancelled and
    its firm answers released at once, at the approval's moment (found by a review: they waited up to a minute
    for the beat, and the notice did not count them). Should it fail, the beat's ``rfqs_close_frozen`` closes
    them still."""

    def after_commit() -> None:
        rfqs_close_frozen(account_id=account_id, now=now)

    return after_commit


def _proposal_close(model, *, actor: User, pk: int, reason: str, ip, action: str, withdraw: bool, approvers):
    """Reject (one of ``approvers``) or withdraw (the proposer, of a role in ``approvers``) a proposal. The role
    first, before any lookup: a role that may not close proposals learns nothing of which exist or are open."""
    _require(actor, approvers, gettext("Your role may not decide this proposal."))
    reason = err.reason_checked(reason)
    with transaction.atomic():
        row = _locked(model, pk)
        if row.status != "proposed":
            raise NotProposed()
        if withdraw:
            if row.proposed_by_id != actor.pk:
                raise err.PermissionDenied(gettext("Only the proposer withdraws a proposal."))
            row.status = "withdrawn"
        else:
            _decide(row, actor, approvers)
            row.status, row.decided_by, row.decided_at = "rejected", actor, timezone.now()
        row.decision_reason = reason
        row.save()
        target, detail = _proposal_subject(row)
        audit_record(actor=actor, action=action, target=target, ip=ip, detail={**detail, "reason": reason})
        return row


def _proposal_subject(row) -> tuple[str, dict]:
    """What a proposal's records name, as its proposal and approval do: the account (a freeze, a forced
    transfer's sender) or the trade (a correction), with the proposal's own number in the detail, so that an
    account's or a trade's evidence finds its rejections and withdrawals too."""
    if isinstance(row, Freeze):
        return Account.objects.get(pk=row.account_id).code, {"freeze": row.pk}
    if isinstance(row, ForcedTransfer):
        return Freeze.objects.select_related("account").get(pk=row.freeze_id).account.code, {"transfer": row.pk}
    return str(row.trade_id), {"correction": row.pk}


def proposal_audit_name(model: type[Freeze] | type[ForcedTransfer] | type[Correction]) -> Callable[[int], str | None]:
    """How a refused request about the proposal of ``model`` numbered in its address is named on the audit trail
    (``core.audit_actions.register_proposal_target_name``): as its done records name it (``_proposal_subject``),
    or None where no proposal has that number."""

    def name(pk: int) -> str | None:
        row = model.objects.filter(pk=pk).first()
        return _proposal_subject(row)[0] if row is not None else None

    return name


def freeze_reject(*, actor: User, freeze_id: int, reason: str, ip: str | None = None) -> Freeze:
    return _proposal_close(
        Freeze, actor=actor, pk=freeze_id, reason=reason, ip=ip, action="freeze_reject", withdraw=False,
        approvers=REGULATORS,
    )  # fmt: skip


def freeze_withdraw(*, actor: User, freeze_id: int, reason: str, ip: str | None = None) -> Freeze:
    return _proposal_close(
        Freeze, actor=actor, pk=freeze_id, reason=reason, ip=ip, action="freeze_withdraw", withdraw=True,
        approvers=REGULATORS,
    )  # fmt: skip


def _unfreeze(freeze: Freeze, *, actor: User | None, reason: str, cause: str, now: dt.datetime) -> Freeze:
    """Free what ``freeze`` (locked, active) still holds; write UNFREEZE. Inside a transaction."""
    account = Account.objects.get(pk=freeze.account_id)
    shares: list[SecurityQuantity] = []
    held_shares: dict[int, int] = {}
    if freeze.kind == Freeze.Kind.SHARES and freeze.held_quantity:
        held_shares[freeze.security_id] = freeze.held_quantity
    elif freeze.kind == Freeze.Kind.ACCOUNT:
        codes = {s.code: s.pk for s in Security.objects.filter(code__in=list(freeze.parts))}
        held_shares = {codes[c]: q for c, q in freeze.parts.items() if q}
    list(Security.objects.select_for_update(no_key=True).filter(pk__in=sorted(held_shares)).order_by("pk"))
    if freeze.held_amount:
        cash = cash_lock([account.pk])[account.pk]
        cash.frozen -= freeze.held_amount
        cash.save(update_fields=["frozen"])
    for security_id, qty in sorted(held_shares.items()):
        pos = positions_lock(security_id, [account.pk])[account.pk]
        pos.frozen -= qty
        pos.save(update_fields=["frozen"])
        shares.append(SecurityQuantity(pos.security.code, qty))
    entry = entry_write(
        UnfreezeEntry(
            freeze=freeze.pk,
            account=account.code,
            cash=freeze.held_amount,
            shares=shares,
            cause=cause,
            reason=reason,
            by=actor.username if actor else None,
            at=now,
        ),
        recorded_at=now,
    )
    freeze.status = Freeze.Status.RELEASED if cause == "released" else Freeze.Status.EXPIRED
    # Nor does it wait for shares under lock-up any more (found by a review: a released freeze still said so).
    freeze.held_amount, freeze.held_quantity, freeze.unmet_quantity = ZERO, 0, 0
    if freeze.kind == Freeze.Kind.ACCOUNT:
        freeze.parts = {}
    freeze.ended_by, freeze.ended_at, freeze.end_reason, freeze.end_entry = actor, now, reason, entry.pk
    freeze.save()
    # The account's ``frozen`` or ``trading_restricted`` follows as the database sets it from its active freezes
    # (supervision 0004): another whole-account freeze or restriction in force keeps it.
    hooks.freeze_changed.fire(freeze_id=freeze.pk, event=cause)
    return freeze


def _unlock_claimants(security_id: int, account_ids):
    """The active freezes with a claim on shares of ``security_id`` a lock-up of ``account_ids`` releases: a freeze
    of those shares that still lacks some (``unmet_quantity``), and a whole-account freeze."""
    return (
        Freeze.objects.filter(status=Freeze.Status.ACTIVE, account_id__in=list(account_ids))
        .filter(Q(kind=Freeze.Kind.SHARES, security_id=security_id, unmet_quantity__gt=0) | Q(kind=Freeze.Kind.ACCOUNT))
        .order_by("pk")
    )


def unlock_claims_lock(security_id: int, account_ids: list[int]) -> frozenset[int]:
    """Lock the freezes with a claim on the shares about to be released (before the security's row)."""
    return frozenset(f.pk for f in _unlock_claimants(security_id, account_ids).select_for_update())


def unlock_claims_take(
    security: Security, released: dict[int, int], locked: frozenset[int]
) -> dict[int, list[FrozenAtUnlock]]:
    """What the freezes of each account take of the shares of ``security`` its lock-ups release (``released``:
    {account id: shares}), the security and the positions locked: first each freeze of these shares, oldest
    first, up to what it still lacks; then the oldest whole-account freeze, all that is left (it holds every
    asset of the account). Records it on the freezes' rows. A freeze that was ordered to hold more than was
    free and locked together (the rest reserved for a sale) does not take more than the locked shares were."""
    taken: dict[int, list[FrozenAtUnlock]] = {}
    now = timezone.now()
    claimants = list(_unlock_claimants(security.pk, released))
    if any(f.pk not in locked for f in claimants):
        raise ClaimsMoved()  # approved meanwhile: its row was not locked first
    left = dict(released)
    account_frozen: set[int] = set()
    for freeze in sorted(claimants, key=lambda f: (f.kind != Freeze.Kind.SHARES, f.pk)):
        if not left[freeze.account_id]:
            continue
        if freeze.kind == Freeze.Kind.SHARES:
            q = min(freeze.unmet_quantity, left[freeze.account_id])
            freeze.held_quantity += q
            freeze.unmet_quantity -= q
            freeze.save(update_fields=["held_quantity", "unmet_quantity"])
        elif freeze.account_id in account_frozen:
            continue
        else:
            account_frozen.add(freeze.account_id)
            q = left[freeze.account_id]
            freeze.parts = {**freeze.parts, security.code: int(freeze.parts.get(security.code, 0)) + q}
            freeze.save(update_fields=["parts"])
        left[freeze.account_id] -= q
        taken.setdefault(freeze.account_id, []).append(FrozenAtUnlock(freeze=freeze.pk, quantity=q))
        hooks.freeze_changed.fire(
            freeze_id=freeze.pk, event="unlock_taken", security=security.code, quantity=q, at=now.isoformat()
        )
    return taken


def _transfers_pending(freeze: Freeze) -> list[int]:
    """The forced transfers of ``freeze`` (locked) waiting for approval. A proposal made while the freeze is locked
    waits for its lock (its row's key refers to the freeze, and ``_locked`` takes it FOR UPDATE), so the list is
    whole: a transfer committed before the lock is here, one proposed after it finds the freeze ended."""
    return list(
        ForcedTransfer.objects.filter(freeze=freeze, status=ForcedTransfer.Status.PROPOSED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def freeze_release(*, actor: User, freeze_id: int, reason: str, ip: str | None = None) -> Freeze:
    """A regulator releases an active freeze: exactly what it holds is free again (UNFREEZE).

    Not while a forced transfer of it waits for approval (found by a probe: the release won, and the court's
    transfer was refused on approval for want of the assets it had to move): it is decided or withdrawn first."""
    _require(actor, REGULATORS, gettext("Only regulators release freezes."))
    reason = err.reason_checked(reason)
    with transaction.atomic():
        freeze = _locked(Freeze, freeze_id)
        if freeze.status != Freeze.Status.ACTIVE:
            raise FreezeNotActive()
        if pending := _transfers_pending(freeze):
            if len(pending) == 1:
                message = gettext(
                    "Forced transfer %(transfers)s of freeze %(id)s is waiting for approval: it must be approved, "
                    "rejected or withdrawn before the freeze is released."
                )
            else:
                message = gettext(
                    "Forced transfers %(transfers)s of freeze %(id)s are waiting for approval: they must be "
                    "approved, rejected or withdrawn before the freeze is released."
                )
            raise ForcedTransferPending(message % {"transfers": ", ".join(str(pk) for pk in pending), "id": freeze.pk})
        now = timezone.now()
        _unfreeze(freeze, actor=actor, reason=reason, cause="released", now=now)
        audit_record(
            actor=actor,
            action="freeze_release",
            target=freeze.account.code,
            ip=ip,
            detail={"freeze": freeze.pk, "entry": freeze.end_entry, "reason": reason},
        )
        return freeze


def freezes_expire(*, now: dt.datetime | None = None) -> int:
    """Release the active freezes whose expiry has passed (UNFREEZE, cause expired). Idempotent.

    A freeze with a forced transfer waiting for approval stays until the transfer is decided or withdrawn (the
    court's order to move the assets came within the freeze's term; the approver decides it on the assets the
    freeze holds), and expires at the first run after that; the skip is logged each run."""
    now = now or timezone.now()
    expired = 0
    for pk in Freeze.objects.filter(status=Freeze.Status.ACTIVE, expires_at__lte=now).values_list("pk", flat=True):
        with transaction.atomic():
            freeze = _locked(Freeze, pk)
            if freeze.status != Freeze.Status.ACTIVE:
                continue
            if pending := _transfers_pending(freeze):
                log.info("freeze %s not expired: forced transfers %s wait for approval", freeze.pk, pending)
                continue
            _unfreeze(freeze, actor=None, reason="expired", cause="expired", now=now)
            audit_record(
                actor=None,
                action="freeze_expire",
                target=freeze.account.code,
                detail={"freeze": freeze.pk, "entry": freeze.end_entry},
            )
            expired += 1
    return expired


def frozen_orders_cancel() -> int:
    """Cancel what a frozen account still has open: an order or a negotiated proposal made in the last instant of
    a whole-account freeze's approval, in a security whose holding appeared after the approval read the holdings
    (so not locked by it), and committed after the approval's last look. Neither can trade (the crossing queries
    skip a frozen account's orders, a proposal's confirmation refuses it, and the database refuses its trade), but
    it would hold its cash or shares, and rest in the book until its day ended. The beat runs this every minute
    (``supervision.tasks.cancel_frozen_orders``); idempotent. Each account in one transaction, its securities
    locked in pk order before its balances, as the approval does. Returns how many orders and proposals it
    closed."""
    closed = 0
    blocked = Q(frozen=True) | Q(trading_restricted=True)  # a trading restriction closes them as a freeze does
    open_orders = Order.objects.filter(
        Q(account__frozen=True) | Q(account__trading_restricted=True), status__in=Order.OPEN_STATUSES
    )
    proposing = Account.objects.filter(
        blocked, negotiated_proposed__status=NegotiatedTrade.Status.PROPOSED
    ).values_list("pk", flat=True)
    for account_id in sorted(set(open_orders.values_list("account_id", flat=True)) | set(proposing)):
        with transaction.atomic():
            account = Account.objects.get(pk=account_id)
            freeze = (
                Freeze.objects.filter(
                    account=account, kind__in=[Freeze.Kind.ACCOUNT, Freeze.Kind.TRADING], status=Freeze.Status.ACTIVE
                )
                .order_by("-id")
                .first()
            )
            if freeze is None:  # released since the read above: the account trades again
                continue
            ordered = set(open_orders.filter(account=account).values_list("security_id", flat=True))
            security_ids = sorted(ordered | negotiated_securities(account))
            securities = list(
                Security.objects.select_for_update(no_key=True).filter(pk__in=security_ids).order_by("pk")
            )
            account.refresh_from_db(fields=["frozen", "trading_restricted"])
            if not (account.frozen or account.trading_restricted):
                continue
            cancelled = orders_cancel_locked(
                account,
                [s for s in securities if s.pk in ordered],
                closed_by=(
                    Order.ClosedBy.TRADE_RESTRICTED
                    if freeze.kind == Freeze.Kind.TRADING
                    else Order.ClosedBy.ACCOUNT_FROZEN
                ),
                reason=str(freeze.pk),
            )
            # A frozen account's are audited as frozen, though it be restricted too; a restricted one's as restricted.
            withdrawn = negotiated_withdraw_locked(
                account, securities, now=timezone.now(), restricted=not account.frozen
            )
            if cancelled or withdrawn:
                audit_record(
                    actor=None,
                    action="frozen_orders_cancel",
                    target=account.code,
                    detail={"freeze": freeze.pk, "orders_cancelled": cancelled, "proposals_withdrawn": withdrawn},
                )
            closed += cancelled + withdrawn
    return closed


def frozen_reason(account_id: int, security_id: int | None) -> str | None:
    """The reason of the latest active freeze holding that asset of the account (``-1``: a whole-account
    freeze; ``-2``: a trading restriction), as the refusal of an order or a withdrawal names it."""
    active = Freeze.objects.filter(account_id=account_id, status=Freeze.Status.ACTIVE).order_by("-id")
    if security_id == -1:
        active = active.filter(kind=Freeze.Kind.ACCOUNT)
    elif security_id == -2:
        active = active.filter(kind=Freeze.Kind.TRADING)
    elif security_id is None:
        active = active.filter(Q(kind=Freeze.Kind.CASH) | Q(kind=Freeze.Kind.ACCOUNT, held_amount__gt=0))
    else:
        code = Security.objects.filter(pk=security_id).values_list("code", flat=True).first()
        active = active.filter(Q(kind=Freeze.Kind.SHARES, security_id=security_id) | Q(parts__has_key=code or ""))
    return active.values_list("reason", flat=True).first()


def _held(freeze: Freeze, security: Security | None) -> Decimal | int:
    if security is None:
        return freeze.held_amount
    if freeze.kind == Freeze.Kind.SHARES:
        return freeze.held_quantity if freeze.security_id == security.pk else 0
    return int(freeze.parts.get(security.code, 0))


def _not_enough_frozen(freeze: Freeze, held, security: Security | None) -> err.DomainError:
    """A transfer of more than the freeze holds, refused with what it does hold: "The freeze does not hold that
    much." left the regulator to look the figure up elsewhere (found by a walk)."""
    return NotEnoughFrozen(
        gettext("Freeze %(id)s holds %(what)s now: a forced transfer takes at most that.")
        % {"id": freeze.pk, "what": _what(held, security)}
    )


def _what(q, security: Security | None) -> str:
    """An amount of cash or a quantity of shares as a sentence names it: "1,000.00 CNY", "1,000 shares of 830001"."""
    if security is None:
        return gettext("%(amount)s CNY") % {"amount": amount_text(q)}
    return gettext("%(n)s shares of %(code)s") % {"n": shares_text(q), "code": security.code}


def _transfers_promised(freezes: list[Freeze]) -> dict[tuple[int, int | None], tuple[Decimal | int, list[int]]]:
    """What the forced transfers of ``freezes`` (locked) waiting for approval will take from each: {(freeze,
    security or None for cash): (amount or quantity, [transfer ids])}."""
    promised: dict[tuple[int, int | None], tuple[Decimal | int, list[int]]] = {}
    pending = ForcedTransfer.objects.filter(
        freeze_id__in=[f.pk for f in freezes], status=ForcedTransfer.Status.PROPOSED
    ).order_by("pk")
    for transfer in pending:
        key = (transfer.freeze_id, transfer.security_id)
        what = transfer.amount if transfer.security_id is None else transfer.quantity
        kept, ids = promised.get(key, (0, []))
        promised[key] = (kept + (what or 0), [*ids, transfer.pk])
    return promised


def _consume(freeze: Freeze, security: Security | None, q) -> None:
    """Lower what ``freeze`` (locked) holds by ``q``; a freeze of cash or shares emptied is consumed, unless it still
    waits for shares under lock-up (``unmet_quantity``): it takes them as their lock-up ends (found by a review: a
    transfer of the free part used the freeze up, and the locked shares came out free)."""
    if security is None:
        freeze.held_amount -= q
    elif freeze.kind == Freeze.Kind.SHARES:
        freeze.held_quantity -= q
    else:
        freeze.parts = {**freeze.parts, security.code: int(freeze.parts.get(security.code, 0)) - q}
    empty = not freeze.held_amount and not freeze.held_quantity and not any(freeze.parts.values())
    if freeze.kind != Freeze.Kind.ACCOUNT and empty and not freeze.unmet_quantity:
        freeze.status = Freeze.Status.CONSUMED
    freeze.save()


# --------------------------------------------------------------------------
# Forced transfers


def forced_transfer_propose(**kwargs) -> ForcedTransfer:
    """Propose a forced transfer of what a freeze holds: ``forced_transfer_propose_once``'s transfer."""
    return forced_transfer_propose_once(**kwargs)[0]


def _transfer_retried(actor: User, key: str, *, freeze_id, receiver, security, amount, quantity, legal, reason):
    """``forced_transfer_propose_once``'s retry: the transfer ``actor`` proposed before with ``key``, its terms
    read as a new proposal's are (a bad one refused as it would be), or None."""
    if not key or not ForcedTransfer.objects.filter(proposed_by=actor, client_request_id=key).exists():
        return None
    to = _account(receiver)
    sec = _security(security) if quantity is not None and security is not None else None
    q = _amount(amount) if amount is not None else _quantity(quantity)
    terms = {
        "freeze_id": freeze_id,
        "receiver_id": to.pk,
        "security_id": sec.pk if sec else None,
        "amount": q if sec is None else None,
        "quantity": q if sec is not None else None,
        **_legal(*legal),
        "reason": err.reason_checked(reason),
    }
    return _retried(ForcedTransfer, actor, key, terms)


def forced_transfer_propose_once(
    *,
    actor: User,
    freeze_id: int,
    receiver: str,
    security: str | None = None,
    amount=None,
    quantity=None,
    legal_reference: str = "",
    legal_authority: str = "",
    legal_document: str = "",
    legal_date: dt.date | None = None,
    reason: str,
    client_request_id: str = "",
    ip: str | None = None,
) -> tuple[ForcedTransfer, bool]:
    """The proposed transfer, and whether this call proposed it: with an API client's ``client_request_id``, a
    retry returns the transfer proposed first (``False``), whatever became of it or its freeze since; the key used
    for another transfer is a ``RequestIdConflict``."""
    _require(actor, REGULATORS, gettext("Only regulators order forced transfers."))
    client_request_id = key_checked(client_request_id)
    terms = {
        "freeze_id": freeze_id,
        "receiver": receiver,
        "security": security,
        "amount": amount,
        "quantity": quantity,
        "legal": (legal_reference, legal_authority, legal_document, legal_date),
        "reason": reason,
    }
    if first := _transfer_retried(actor, client_request_id, **terms):
        return first, False
    freeze = Freeze.objects.filter(pk=freeze_id).select_related("account").first()
    if freeze is None:
        raise err.NotFound(gettext("No such freeze."))
    if freeze.status != Freeze.Status.ACTIVE:
        raise FreezeNotActive()
    to = _account(receiver)
    if to.pk == freeze.account_id:
        raise err.InvalidInput(gettext("The receiver must be another account."), field="receiver")
    if (amount is None) == (quantity is None):
        raise err.InvalidInput(gettext("Transfer either an amount of cash or a quantity of shares."))
    if quantity is not None and security is None:
        raise err.InvalidInput(gettext("A transfer of shares names the security."), field="security")
    if amount is not None and security:
        raise err.InvalidInput(gettext("A transfer of cash names no security."), field="security")
    sec = _security(security) if quantity is not None else None
    q = _amount(amount) if amount is not None else _quantity(quantity)
    held = _held(freeze, sec)
    if sec is not None and not held:
        # (found by a probe: another security than the freeze's was told "The freeze does not hold that much.")
        raise err.InvalidInput(
            gettext("Freeze %(id)s holds no shares of %(code)s.") % {"id": freeze.pk, "code": sec.code},
            field="security",
        )
    if q > held:
        raise _not_enough_frozen(freeze, held, sec)
    # A receiver that cannot take the assets now (a fee account, no approved KYC, a new holder at the cap) is
    # refused here too, not left for the approver to find (found by a probe); the approval checks again, as the
    # receiver's KYC and the holders may change meanwhile.
    holds_now = 1 if sec is None else to.positions.filter(security=sec).values_list("total", flat=True).first() or 0
    _receiver_checks(to, sec, holds_now, sender=freeze.account, quantity=q)
    legal = _legal(legal_reference, legal_authority, legal_document, legal_date)
    reason = err.reason_checked(reason)
    with transaction.atomic():
        # The freeze's row, locked as its release locks it: a release committed since the checks above read it
        # refuses this proposal, and a release after it finds this transfer waiting (found by a review: a transfer
        # proposed in the instant of a release was stored against a released freeze).
        if Freeze.objects.select_for_update().filter(pk=freeze.pk).values_list("status", flat=True).get() != (
            Freeze.Status.ACTIVE
        ):
            raise FreezeNotActive()
        # The same key sent twice at once: the other one, which held the freeze's lock, proposed it (its transfer
        # now keeps what it takes, which this one would be refused for).
        if first := _transfer_retried(actor, client_request_id, **terms):
            return first, False
        # What the freeze's other transfers waiting for approval will take is not there for this one (found by a
        # review: two transfers of 1,000 from a freeze of 1,300 were both proposed, and the second approved failed).
        freeze.refresh_from_db()  # what it holds now, under its lock (a correction may have drawn on it)
        held = _held(freeze, sec)
        if q > held:
            raise _not_enough_frozen(freeze, held, sec)
        kept, waiting = _transfers_promised([freeze]).get((freeze.pk, sec.pk if sec else None), (0, []))
        if kept and q > held - kept:
            raise NotEnoughFrozen(
                ngettext(
                    "Freeze %(id)s holds %(held)s, of which forced transfer %(transfers)s, waiting for approval, "
                    "takes %(kept)s: at most %(left)s is left for another.",
                    "Freeze %(id)s holds %(held)s, of which forced transfers %(transfers)s, waiting for approval, "
                    "take %(kept)s: at most %(left)s is left for another.",
                    len(waiting),
                )
                % {
                    "id": freeze.pk,
                    "held": _what(held, sec),
                    "kept": _what(kept, sec),
                    "left": _what(max(held - kept, 0), sec),
                    "transfers": ", ".join(str(pk) for pk in waiting),
                }
            )
        transfer = ForcedTransfer.objects.create(
            freeze=freeze,
            receiver=to,
            security=sec,
            amount=q if sec is None else None,
            quantity=q if sec is not None else None,
            **legal,
            reason=reason,
            proposed_by=actor,
            proposed_at=timezone.now(),
            client_request_id=client_request_id,
        )
        audit_record(
            actor=actor,
            action="forced_transfer_propose",
            target=freeze.account.code,
            ip=ip,
            detail={"transfer": transfer.pk, "freeze": freeze.pk, "receiver": to.code},
        )
    return transfer, True


def _receiver_checks(
    receiver: Account, security: Security | None, holds_now: int, *, sender: Account | None = None, quantity: int = 0
) -> None:
    if receiver.kind == Account.Kind.FEE:
        raise ReceiverNotEligible(gettext("A fee account cannot receive a forced transfer."))
    if receiver.kind == Account.Kind.INVESTOR:
        profile = KycProfile.objects.filter(user_id=receiver.owner_id).first()
        ok = profile is not None and profile.state == KycProfile.State.APPROVED
        if not ok or (profile.expires_at and profile.expires_at <= timezone.now()):
            raise ReceiverNotEligible(
                gettext("%(account)s has no approved KYC; it cannot receive assets.") % {"account": receiver.code}
            )
    # The cap as every other path counts it (found by a probe: by account, where the register counts real
    # identities, and against the security's own cap, where the venue profile may set a lower one).
    if security is not None and holds_now == 0 and pretrade.new_holder(receiver, security.pk) is not None:
        holders, cap = pretrade.holder_count(security.pk), venue_profile.max_holders(security)
        # A transfer of all the sender's real person holds swaps one holder for another: the count stays, as a sale
        # out to a newcomer at the cap may (found by a probe: at the cap, a court's transfer of a debtor's whole
        # holding to a creditor was refused, though the register would keep the same number of holders).
        leaves = sender is not None and pretrade.identity_holding(sender, security.pk) <= quantity
        if holders > cap or (holders == cap and not leaves):
            raise ReceiverNotEligible(
                gettext("%(code)s already has %(n)s holders, its maximum; %(account)s cannot become one.")
                % {"code": security.code, "n": holders, "account": receiver.code}
            )


def forced_transfer_approve(*, actor: User, transfer_id: int, ip: str | None = None) -> ForcedTransfer:
    _require(actor, REGULATORS, gettext("Your role may not decide this proposal."))  # before any lookup
    with transaction.atomic():
        transfer = _locked(ForcedTransfer, transfer_id)
        _decide(transfer, actor, REGULATORS)
        freeze = _locked(Freeze, transfer.freeze_id)
        if freeze.status != Freeze.Status.ACTIVE:
            # Say what became of it: a freeze used up by an earlier transfer, released or expired since the proposal.
            raise FreezeNotActive(
                gettext("Freeze %(id)s is %(status)s: nothing frozen is left for this transfer to move.")
                % {"id": freeze.pk, "status": str(Freeze.Status(freeze.status).label).lower()}
            )
        sec = (
            Security.objects.select_for_update(no_key=True).filter(pk=transfer.security_id).first()
            if transfer.security_id
            else None
        )
        q = transfer.amount if sec is None else transfer.quantity
        held = _held(freeze, sec)
        if q > held:
            raise _not_enough_frozen(freeze, held, sec)
        sender, receiver = freeze.account, transfer.receiver
        if sec is None:
            rows = cash_lock([sender.pk, receiver.pk])
            holds_now = 1
        else:
            rows = positions_lock(sec.pk, [sender.pk, receiver.pk])
            holds_now = rows[receiver.pk].total
        _receiver_checks(receiver, sec, holds_now, sender=sender, quantity=q)
        rows[sender.pk].total -= q
        rows[sender.pk].frozen -= q
        rows[receiver.pk].total += q
        for row in rows.values():
            row.save(update_fields=["total", "frozen"])
        _consume(freeze, sec, q)
        now = timezone.now()
        entry = entry_write(
            ForcedTransferEntry(
                transfer=transfer.pk,
                freeze=freeze.pk,
                sender=sender.code,
                receiver=receiver.code,
                security=sec.code if sec else None,
                amount=q if sec is None else None,
                quantity=q if sec is not None else None,
                legal_reference=transfer.legal_reference,
                legal_authority=transfer.legal_authority,
                legal_document=transfer.legal_document,
                legal_date=transfer.legal_date,
                reason=transfer.reason,
                proposed_by=transfer.proposed_by.username,
                approved_by=actor.username,
                at=now,
            ),
            recorded_at=now,
        )
        transfer.status, transfer.decided_by, transfer.decided_at = ForcedTransfer.Status.EXECUTED, actor, now
        transfer.entry = entry.pk
        transfer.save()
        audit_record(
            actor=actor,
            action="forced_transfer_approve",
            target=sender.code,
            ip=ip,
            detail={"transfer": transfer.pk, "entry": entry.pk, "receiver": receiver.code},
        )
        hooks.assets_moved.fire(what="transfer", pk=transfer.pk)
        return transfer


def forced_transfer_reject(*, actor: User, transfer_id: int, reason: str, ip: str | None = None) -> ForcedTransfer:
    return _proposal_close(
        ForcedTransfer, actor=actor, pk=transfer_id, reason=reason, ip=ip, action="forced_transfer_reject",
        withdraw=False, approvers=REGULATORS,
    )  # fmt: skip


def forced_transfer_withdraw(*, actor: User, transfer_id: int, reason: str, ip: str | None = None) -> ForcedTransfer:
    return _proposal_close(
        ForcedTransfer, actor=actor, pk=transfer_id, reason=reason, ip=ip, action="forced_transfer_withdraw",
        withdraw=True, approvers=REGULATORS,
    )  # fmt: skip


# --------------------------------------------------------------------------
# Corrections


def _terms(trade: Trade) -> tuple[Decimal, int, Decimal, Decimal]:
    """The trade's effective terms: the last executed correction's, else its own (price, qty, fees)."""
    return _terms_of([trade])[trade.pk]


def _terms_of(trades: list[Trade]) -> dict[int, tuple[Decimal, int, Decimal, Decimal]]:
    """Each trade's effective terms (``_terms``), their last executed corrections read in one query."""
    last = corrected_terms([t.pk for t in trades])
    terms = {}
    for trade in trades:
        t = last.get(trade.pk)
        terms[trade.pk] = (
            (trade.price, trade.quantity, trade.buyer_fee, trade.seller_fee)
            if t is None
            else (Decimal(t["price"]), int(t["quantity"]), Decimal(t["buyer_fee"]), Decimal(t["seller_fee"]))
        )
    return terms


def _corrected_fee(trade: Trade, side: str, fee: Decimal, new_value: Decimal, new_quantity: int) -> Decimal:
    """The fee ``side`` pays on the trade at its corrected value (``fee``: what it pays now).

    The commission is the order's, on its filled value, with one minimum an order (``Book.fill_buy_order``): a fill
    of a larger order paid what it added to its order's commission, often nothing. So the corrected fill pays what
    the order's commission on its corrected value adds to what its other fills pay (each at its effective terms,
    corrections included). Recomputed as if the fill stood alone, a correction in the buyer's favour charged the
    minimum again (found by a review). A trade of no order (an accepted answer to a request for quote, a negotiated
    transfer) is its own: its commission on its own value; a quote's side pays none. Today's fee schedule."""
    account, order_id = (trade.buyer, trade.buy_order_id) if side == "buy" else (trade.seller, trade.sell_order_id)
    charge = commission if side == "buy" else seller_commission
    if not new_quantity:
        return ZERO
    if order_id is None:  # a quote's side pays nothing; an answer's or a transfer's investor its own commission
        return charge(account, new_value) if fee else ZERO
    others_value, others_fee = ZERO, ZERO
    filter_ = {"buy_order_id": order_id} if side == "buy" else {"sell_order_id": order_id}
    others = list(Trade.objects.filter(**filter_).exclude(pk=trade.pk))
    for price, qty, buyer_fee, seller_fee in _terms_of(others).values():
        others_value += notional(price, qty)
        others_fee += buyer_fee if side == "buy" else seller_fee
    return max(charge(account, others_value + new_value) - others_fee, ZERO)


def _correction_price_check(trade: Trade, price: Decimal) -> None:
    """A corrected trade is one the market could have made: its price on the tick and in the band of the trade's
    own day (around that day's reference price, whatever the reference is now). The trade's own price is always
    one (a correction of the quantity alone), whatever the tick or band since."""
    if price == trade.price:
        return
    pretrade.check_price(security_as_of(trade.security, trade.matched_at), price)  # the band and tick it traded in


def correction_propose(
    *, actor: User, trade_id: int, new_price, new_quantity, reason: str, ip: str | None = None
) -> Correction:
    """Propose to correct a settled trade to ``new_price`` × ``new_quantity`` (quantity 0 reverses it)."""
    _require(actor, CORRECTION_PROPOSERS, gettext("Your role may not propose corrections."))
    trade = Trade.objects.filter(pk=trade_id).select_related("security").first()
    if trade is None:
        raise err.NotFound(gettext("No such trade."))
    if trade.status != Trade.Status.SETTLED:
        raise TradeNotSettled()
    if not isinstance(new_quantity, int) or isinstance(new_quantity, bool) or not 0 <= new_quantity <= 10**12:
        raise err.InvalidInput(
            gettext("The new quantity must be a whole number of shares, 0 to reverse the trade."), field="new_quantity"
        )
    # A reversal reads no price: without one, it keeps the trade's (stored, as every correction stores its terms).
    if new_price is None and new_quantity:
        raise err.InvalidInput(
            gettext("Give the new price: only a reversal (quantity 0) takes none."), field="new_price"
        )
    price = trade.price if new_price is None else _positive(new_price, "new_price")
    # In the lots of the trade's own day (the trade's own quantity always is), whatever the lot since.
    then = security_as_of(trade.security, trade.matched_at)
    if new_quantity and new_quantity != trade.quantity and new_quantity % then.lot_size:
        # The lot named: "a whole number of lots" left the proposer to find the lot of the trade's day (a walk).
        raise err.InvalidInput(
            gettext("The new quantity must be a whole number of lots of %(lot)s shares.")
            % {"lot": shares_text(then.lot_size)},
            field="new_quantity",
        )
    if new_quantity:
        # A reversal trades nothing: its price is not read. A price off the tick is told so (10.005 on a tick of
        # 0.01), before the column's two decimals are checked.
        _correction_price_check(trade, price)
    if money(price) != price:  # a reversal's price is stored, though not read
        raise err.InvalidInput(gettext("The price must have at most two decimal places."), field="new_price")
    current_price, current_qty, _bf, _sf = _terms(trade)
    if (price, new_quantity) == (current_price, current_qty) or (new_quantity == 0 and current_qty == 0):
        raise err.InvalidInput(gettext("The correction changes nothing."))
    reason = err.reason_checked(reason)
    # The proposal and its audit record in one transaction (found by a review: they were two, so a proposal could
    # stand unrecorded).
    with transaction.atomic():
        try:
            # One open correction per trade: PostgreSQL's partial unique index decides, also between two at once.
            with transaction.atomic():
                correction = Correction.objects.create(
                    trade=trade,
                    new_price=price,
                    new_quantity=new_quantity,
                    reason=reason,
                    proposed_by=actor,
                    proposed_at=timezone.now(),
                )
        except IntegrityError as exc:
            raise CorrectionPending() from exc
        audit_record(
            actor=actor,
            action="correction_propose",
            target=str(trade.pk),
            ip=ip,
            detail={"correction": correction.pk, "price": str(price), "quantity": new_quantity},
        )
    return correction


def _open_buy_order(trade: Trade) -> Order | None:
    """The trade's buy order if it is still open (read under the security's lock, as every change of an order is
    made under it), else None."""
    if trade.buy_order_id is None:
        return None
    return Order.objects.filter(pk=trade.buy_order_id, status__in=Order.OPEN_STATUSES).first()


def _open_orders_follow(
    trade: Trade, open_buy: Order | None, cash_rows: dict, *, value: Decimal, buyer_fee: Decimal, seller_fee: Decimal
) -> None:
    """The trade's orders still open count the correction (its ``value`` and fees' differences) in what their fills
    so far cost and paid: an order's later fills pay what they add to the order's commission on its filled value
    (``Book.fill_buy_order``). Left as matched, a fill reversed kept counting: the order's next fill paid nothing,
    its first fill's minimum having been given back (found by a review). A buy order's reservation is what its rest
    may still cost at its new sums, the difference moved in its buyer's reserved cash (``cash_rows``, locked), so its
    fills never need more than it holds (found by a review: a fill needed cash the buyer no longer had free, and the
    order stopped filling). An order no longer open stays as matched, as the trade's row does."""
    now = timezone.now()
    if trade.sell_order_id is not None and (value or seller_fee):
        Order.objects.filter(pk=trade.sell_order_id, status__in=Order.OPEN_STATUSES).update(
            filled_value=F("filled_value") + value, fees=F("fees") + seller_fee, updated_at=now
        )
    if open_buy is None or not (value or buyer_fee):
        return
    open_buy.filled_value += value
    open_buy.fees += buyer_fee
    reserved = buy_reservation(
        trade.buyer,
        open_buy.limit_price,
        open_buy.remaining_quantity,
        filled_value=open_buy.filled_value,
        fees=open_buy.fees,
    )
    row = cash_rows[open_buy.account_id]
    more = reserved - open_buy.reserved_cash
    if more > max(row.available, ZERO):
        raise CorrectionUnavailable(
            gettext(
                "%(account)s's open order %(order)s would need %(amount)s CNY more reserved for its commission after "
                "the correction, and the account has not that much free: cancel the order first."
            )
            % {"account": trade.buyer.code, "order": open_buy.pk, "amount": amount_text(more)}
        )
    row.reserved += more
    row.save(update_fields=["reserved"])
    open_buy.reserved_cash, open_buy.updated_at = reserved, now
    open_buy.save(update_fields=["filled_value", "fees", "reserved_cash", "updated_at"])


def _fee_account(account: Account) -> Account | None:
    return Account.objects.filter(kind=Account.Kind.FEE, broker_id=account.broker_id).first()


def correction_approve(*, actor: User, correction_id: int, ip: str | None = None) -> Correction:
    """A regulator (not the proposer) approves: each account's cash and shares move by the difference between
    the corrected and the current terms, fees included, in one transaction with the CORRECTION entry."""
    _require(actor, REGULATORS, gettext("Your role may not decide this proposal."))  # before any lookup
    with transaction.atomic():
        correction = _locked(Correction, correction_id)
        _decide(correction, actor, REGULATORS)
        trade = Trade.objects.select_related("security", "buyer__broker", "seller__broker").get(pk=correction.trade_id)
        # Proposal rows first (the correction, then the freezes it may draw on), then the global order.
        freezes = list(
            Freeze.objects.select_for_update()
            .filter(account_id__in=[trade.buyer_id, trade.seller_id], status=Freeze.Status.ACTIVE)
            .order_by("id")
        )
        # What forced transfers of those freezes, waiting for approval, will take: the court's order comes first,
        # so the correction draws only on the rest (found by a review: it could empty a freeze a transfer waited
        # for). A transfer proposed from now on waits for the freezes' locks (``_transfers_pending``).
        promised = _transfers_promised(freezes)
        security = Security.objects.select_for_update(no_key=True).get(pk=trade.security_id)
        price, qty, buyer_fee, seller_fee = _terms(trade)
        new_value = notional(correction.new_price, correction.new_quantity)
        new_buyer_fee = _corrected_fee(trade, "buy", buyer_fee, new_value, correction.new_quantity)
        new_seller_fee = _corrected_fee(trade, "sell", seller_fee, new_value, correction.new_quantity)
        old_value = notional(price, qty)
        cash: dict[int, Decimal] = {}

        def add(account: Account | None, amount: Decimal) -> None:
            if account is not None and amount:
                cash[account.pk] = cash.get(account.pk, ZERO) + amount

        # The difference: new legs − current legs (a buyer pays value + fee, a seller gets value − fee).
        add(trade.buyer, -(new_value + new_buyer_fee - old_value - buyer_fee))
        add(trade.seller, new_value - new_seller_fee - (old_value - seller_fee))
        add(_fee_account(trade.buyer), new_buyer_fee - buyer_fee)
        add(_fee_account(trade.seller), new_seller_fee - seller_fee)
        shares = {trade.buyer_id: correction.new_quantity - qty, trade.seller_id: qty - correction.new_quantity}
        shares = {k: v for k, v in shares.items() if v}
        accounts = {a.pk: a for a in Account.objects.filter(pk__in=[*cash, *shares])}
        open_buy = _open_buy_order(trade)
        cash_rows = cash_lock([*cash, *([trade.buyer_id] if open_buy else [])])
        pos_rows = positions_lock(security.pk, shares)
        used: list[FrozenUse] = []

        def debit(account_id: int, row, need, sec: Security | None) -> None:
            """Take ``need`` from the row: available first, then what freezes of the account hold."""
            from_free = min(need, max(row.available, 0))
            rest = need - from_free
            waiting: list[int] = []  # the transfers that kept back what the correction needed
            if rest:
                for freeze in freezes:
                    if freeze.account_id != account_id or freeze.status != Freeze.Status.ACTIVE:
                        continue
                    kept, transfers = promised.get((freeze.pk, sec.pk if sec else None), (0, []))
                    take = min(rest, max(_held(freeze, sec) - kept, 0))
                    if take < rest and kept:
                        waiting += transfers
                    if take:
                        _consume(freeze, sec, take)
                        row.frozen -= take
                        rest -= take
                        used.append(
                            FrozenUse(
                                freeze=freeze.pk,
                                account=accounts[account_id].code,
                                amount=take if sec is None else None,
                                quantity=take if sec is not None else None,
                            )
                        )
                    if not rest:
                        break
            if rest:
                values = {
                    "account": accounts[account_id].code,
                    "need": _what(need, sec),
                    "transfers": ", ".join(str(pk) for pk in sorted(set(waiting))),
                }
                if waiting:
                    raise CorrectionUnavailable(
                        ngettext(
                            "%(account)s no longer has the %(need)s the correction takes back apart from what forced "
                            "transfer %(transfers)s, waiting for approval, takes from its freeze: decide the transfer "
                            "first.",
                            "%(account)s no longer has the %(need)s the correction takes back apart from what forced "
                            "transfers %(transfers)s, waiting for approval, take from its freezes: decide the "
                            "transfers first.",
                            len(set(waiting)),
                        )
                        % values
                    )
                # What to do where the holder has sold or paid away what the correction takes back (found by a
                # walk: "freeze it first" helped only before that).
                raise CorrectionUnavailable(
                    gettext(
                        "%(account)s no longer has the %(need)s the correction takes back. It can be approved once "
                        "the account holds them again (a freeze of them keeps them for it), or rejected."
                    )
                    % values
                )
            row.total -= need

        for account_id, delta in sorted(cash.items()):
            row = cash_rows[account_id]
            if delta < 0:
                debit(account_id, row, -delta, None)
            else:
                row.total += delta
            row.save(update_fields=["total", "frozen"])
        _open_orders_follow(
            trade, open_buy, cash_rows,
            value=new_value - old_value, buyer_fee=new_buyer_fee - buyer_fee, seller_fee=new_seller_fee - seller_fee,
        )  # fmt: skip
        # An account that holds none now and gets shares back (a reversed sale) may become a holder again: the cap
        # is counted before and after the moves, under the security's lock (found by a review: a reversal could
        # take a security past its cap). A correction that only swaps one holder for another passes.
        receivers = [a for a, d in shares.items() if d > 0 and pos_rows[a].total == 0]
        holders_before = pretrade.holder_count(security.pk) if receivers else 0
        for account_id, delta in sorted(shares.items()):
            row = pos_rows[account_id]
            if delta < 0:
                debit(account_id, row, -delta, security)
            else:
                row.total += delta
            row.save(update_fields=["total", "frozen"])
        if receivers:
            holders, cap = pretrade.holder_count(security.pk), venue_profile.max_holders(security)
            if holders > holders_before and holders > cap:
                raise CorrectionOverCap(
                    gettext(
                        "%(account)s would hold %(code)s again and make %(n)s holders, above its maximum of %(cap)s;"
                        " the correction cannot go through until a holder leaves."
                    )
                    % {"account": accounts[receivers[0]].code, "code": security.code, "n": holders, "cap": cap}
                )
        leaf = Leaf.objects.filter(entry_id=trade.entry_id).values_list("leaf_index", "block__height").first()
        now = timezone.now()
        entry = entry_write(
            CorrectionEntry(
                correction=correction.pk,
                trade_id=trade.pk,
                trade_leaf=leaf[0] if leaf else None,
                trade_block=leaf[1] if leaf else None,
                security=security.code,
                before_price=price,
                before_quantity=qty,
                after_price=correction.new_price,
                after_quantity=correction.new_quantity,
                cash=[CashAmount(accounts[a].code, d) for a, d in sorted(cash.items())],
                shares=[ShareAmount(accounts[a].code, d) for a, d in sorted(shares.items())],
                frozen_used=used,
                reason=correction.reason,
                proposed_by=correction.proposed_by.username,
                approved_by=actor.username,
                at=now,
            ),
            recorded_at=now,
        )
        correction.legs = {
            "terms": {
                "price": str(correction.new_price),
                "quantity": correction.new_quantity,
                "buyer_fee": str(new_buyer_fee),
                "seller_fee": str(new_seller_fee),
            },
            "cash": {accounts[a].code: str(d) for a, d in cash.items()},
            "shares": {accounts[a].code: d for a, d in shares.items()},
        }
        correction.status, correction.decided_by, correction.decided_at = Correction.Status.EXECUTED, actor, now
        correction.entry = entry.pk
        correction.save()
        audit_record(
            actor=actor,
            action="correction_approve",
            target=str(trade.pk),
            ip=ip,
            detail={"correction": correction.pk, "entry": entry.pk},
        )
        hooks.assets_moved.fire(what="correction", pk=correction.pk)
        return correction


def correction_reject(*, actor: User, correction_id: int, reason: str, ip: str | None = None) -> Correction:
    return _proposal_close(
        Correction, actor=actor, pk=correction_id, reason=reason, ip=ip, action="correction_reject",
        withdraw=False, approvers=REGULATORS,
    )  # fmt: skip


def correction_withdraw(*, actor: User, correction_id: int, reason: str, ip: str | None = None) -> Correction:
    return _proposal_close(
        Correction, actor=actor, pk=correction_id, reason=reason, ip=ip, action="correction_withdraw",
        withdraw=True, approvers=CORRECTION_PROPOSERS,
    )  # fmt: skip


def corrected_quantities(trade_ids: list[int]) -> dict[int, int]:
    """The quantity each corrected trade of ``trade_ids`` stands at now: its last executed correction's (0:
    reversed). Trades never corrected are left out."""
    rows = (
        Correction.objects.filter(trade_id__in=trade_ids, status=Correction.Status.EXECUTED)
        .order_by("trade_id", "-id")
        .distinct("trade_id")
        .values_list("trade_id", "new_quantity")
    )
    return dict(rows)


# The kind of the notes ``trade_corrections`` gives (registered with it: ``exchange.selectors.trade_note_kinds``).
CORRECTION_NOTE = "correction"


def trade_corrections(trade_ids: list[int]) -> dict[int, list[dict]]:
    """The executed corrections of trades, as notes beside them on the trade page and API."""
    notes: dict[int, list[dict]] = {}
    rows = Correction.objects.filter(trade_id__in=trade_ids, status=Correction.Status.EXECUTED).order_by("id")
    for c in rows:
        text = (
            gettext("Reversed by correction %(n)s: %(reason)s")
            if c.new_quantity == 0
            else gettext("Corrected to %(qty)s @ %(price)s by correction %(n)s: %(reason)s")
        ) % {"n": c.pk, "reason": c.reason, "qty": shares_text(c.new_quantity), "price": amount_text(c.new_price)}
        notes.setdefault(c.trade_id, []).append({"kind": CORRECTION_NOTE, "text": text, "entry": c.entry})
    return notes
