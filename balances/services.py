"""Balance writes: locking, deposits, withdrawals, issuance.

Every function here that changes a balance writes its ledger entry in the same
transaction. Locks are taken in the global order documented in
``balances.models``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core import crypto
from core import errors as err
from core.audit import audit_record
from core.errors import InsufficientCash, InvalidInput, NotFound, PermissionDenied
from core.models import Account, Broker, Role, User
from core.money import money, to_decimal
from core.names import mask_name
from core.prepared import Statement
from ledger.models import Entry
from ledger.services import entries_write, entry_write
from registry import profile as venue_profile
from registry.calendar import SHANGHAI
from registry.models import Security

from . import hooks
from .entries import Allocation, Deposit, FrozenAtUnlock, Issue, Unlock, Withdrawal
from .models import CashBalance, IssuanceProposal, LockUp, Position

log = logging.getLogger(__name__)

MAX_ISSUED = 10**15
HolderCapExceeded = err.error_class(
    "HolderCapExceeded",
    "holder_cap_exceeded",
    gettext_lazy("The issuance would exceed the security's holder cap."),
    409,
)

NotQualifiedHolder = err.error_class(
    "NotQualifiedHolder",
    "not_qualified_investor",
    gettext_lazy("Only qualified investors may be new holders of this security."),
    409,
)


@transaction.atomic
def account_open(*, kind: str, name: str, owner: User | None = None, broker: Broker | None = None) -> Account:
    """Open an account with an empty cash balance. Its code is derived from its kind and pk.

    An investor's ``name`` is their real name: it is stored encrypted, and the account's plain name is its
    mask (``core.names``)."""
    prefix = {Account.Kind.INVESTOR: "INV", Account.Kind.MARKET_MAKER: "MM", Account.Kind.FEE: "FEE"}[kind]
    holder = None
    if kind == Account.Kind.INVESTOR:
        name, holder = mask_name(name), crypto.ring().encrypt(name.strip())
    account = Account.objects.create(
        kind=kind, name=name, holder_name_enc=holder, owner=owner, broker=broker, code=f"tmp-{prefix}"
    )
    account.code = f"{prefix}{account.pk:06d}"
    account.save(update_fields=["code"])
    CashBalance.objects.create(account=account)
    if kind == Account.Kind.FEE:
        hooks.fee_account_opened.fire(account_id=account.pk, broker_id=account.broker_id)
    return account


_CASH_FIELDS = [f.attname for f in CashBalance._meta.concrete_fields]
_CASH_LOCK = Statement(
    "cash_lock",
    f"SELECT {', '.join(_CASH_FIELDS)} FROM settlement_cashbalance WHERE account_id = ANY($1)"
    " ORDER BY account_id FOR UPDATE",
    ["bigint[]"],
)


def cash_lock(account_ids: Iterable[int]) -> dict[int, CashBalance]:
    """Lock the cash rows of ``account_ids`` in pk order, creating missing rows."""
    ids = sorted(set(account_ids))
    if not ids:
        return {}

    def lock() -> dict[int, CashBalance]:
        # Written out and prepared (core.prepared): it runs inside the security lock on every order, and
        # building the ORM's SQL, then planning it, costs more CPU than the statement (make bench).
        with connection.cursor() as cur:
            _CASH_LOCK.execute(cur, [ids])
            rows = [CashBalance.from_db("default", _CASH_FIELDS, row) for row in cur.fetchall()]
        return {row.account_id: row for row in rows}

    # account_open creates the cash row, so it is nearly always there: lock first,
    # and only when some row is missing insert it and lock again (one statement
    # less on every order, inside the security lock).
    rows = lock()
    if len(rows) == len(ids):
        return rows
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO settlement_cashbalance (account_id, total, reserved, frozen) "
            "SELECT unnest(%s::bigint[]), 0, 0, 0 ON CONFLICT DO NOTHING",
            [ids],
        )
    return lock()


def positions_lock(security_id: int, account_ids: Iterable[int]) -> dict[int, Position]:
    """Lock the positions of ``account_ids`` in ``security_id`` in account-pk order, creating empty ones."""
    ids = sorted(set(account_ids))
    if not ids:
        return {}
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO settlement_position (account_id, security_id, total, reserved, frozen, locked) "
            "SELECT unnest(%s::bigint[]), %s, 0, 0, 0, 0 ON CONFLICT DO NOTHING",
            [ids, security_id],
        )
    rows = (
        Position.objects.select_for_update().filter(security_id=security_id, account_id__in=ids).order_by("account_id")
    )
    return {row.account_id: row for row in rows}


def positions_lock_many(pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], Position]:
    """Lock the positions of ``(security_id, account_id)`` pairs in (security, account pk) order, creating empty
    ones: what ``positions_lock`` does for one security, for a batch of several in two statements."""
    keys = sorted(set(pairs))
    if not keys:
        return {}
    securities, accounts = [s for s, _ in keys], [a for _, a in keys]
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO settlement_position (account_id, security_id, total, reserved, frozen, locked) "
            "SELECT t.a, t.s, 0, 0, 0, 0 FROM unnest(%s::bigint[], %s::bigint[]) AS t(a, s) ON CONFLICT DO NOTHING",
            [accounts, securities],
        )
    rows = Position.objects.raw(
        "SELECT p.* FROM settlement_position p JOIN unnest(%s::bigint[], %s::bigint[]) AS t(a, s) "
        "ON p.account_id = t.a AND p.security_id = t.s ORDER BY p.security_id, p.account_id FOR UPDATE OF p",
        [accounts, securities],
    )
    return {(row.security_id, row.account_id): row for row in rows}


def _require_cash_officer(actor: User, account: Account) -> None:
    """Broker staff move their own clients' cash; the depository moves member firms' own cash."""
    if account.broker_id is None:
        if actor.role != Role.DEPOSITORY_OPERATOR:
            raise PermissionDenied(_("Only the depository moves a member firm's own cash."))
    elif actor.role != Role.BROKER_STAFF or actor.broker_id != account.broker_id:
        raise PermissionDenied(_("Only staff of the account's broker can move its cash."))


# Far below what the balance columns hold (MONEY: 18 digits before the point), so that no single
# amount can overflow a total: a larger one is bad input, not a database error.
MAX_AMOUNT = Decimal(10) ** 15


def _positive_amount(amount: Decimal | int | str) -> Decimal:
    try:
        value = to_decimal(amount)
        exact = value.is_finite() and money(value) == value
    except ArithmeticError as exc:  # decimal.InvalidOperation, also from quantizing a huge value
        raise InvalidInput(_("The amount is not a number.")) from exc
    if not exact or value <= 0:
        raise InvalidInput(_("The amount must be positive, with at most two decimal places."))
    if value >= MAX_AMOUNT:
        raise InvalidInput(_("The amount is too large."))
    return value


CashLimitExceeded = err.error_class(
    "CashLimitExceeded",
    "cash_movement_limit",
    gettext_lazy("The amount is above the limit of one cash movement."),
    400,
)
SecondPersonRequired = err.error_class(
    "SecondPersonRequired",
    "second_person_required",
    gettext_lazy("A movement of this size needs a second staff member's approval."),
    403,
)


def cash_movement_limit(account: Account) -> Decimal:
    """The largest single deposit or withdrawal for ``account``: its broker's limit under the global ceiling."""
    ceiling = Decimal(settings.CASH_MOVEMENT_MAX)
    if account.broker_id is None:
        return ceiling
    limit = Broker.objects.values_list("cash_movement_limit", flat=True).get(pk=account.broker_id)
    return min(limit, ceiling)


def cash_approval_threshold(account: Account) -> Decimal | None:
    """Above this amount a second staff member approves (None: no threshold, the depository's own accounts)."""
    if account.broker_id is None:
        return None
    return Broker.objects.values_list("cash_approval_threshold", flat=True).get(pk=account.broker_id)


def cash_amount_checked(account: Account, amount: Decimal | int | str) -> Decimal:
    """A positive amount of at most two decimals within the account's limit per movement, or InvalidInput /
    CashLimitExceeded."""
    value = _positive_amount(amount)
    limit = cash_movement_limit(account)
    if value > limit:
        raise CashLimitExceeded(
            _("At most %(limit)s CNY can be deposited or withdrawn at once.") % {"limit": f"{limit:,.2f}"}
        )
    return value


def cash_needs_second_person(account: Account, value: Decimal) -> bool:
    threshold = cash_approval_threshold(account)
    return threshold is not None and value > threshold


def cash_deposit(
    *,
    actor: User,
    account: Account,
    amount: Decimal,
    reference: str = "",
    ip: str | None = None,
    proposed_by: User | None = None,
) -> CashBalance:
    """Credit cash received at the counter. Broker staff of the account's broker only; above the broker's
    threshold ``actor`` approves what another staff member (``proposed_by``) proposed."""
    return _cash_move(
        actor=actor, account=account, amount=amount, reference=reference, ip=ip, entry=Deposit, proposed_by=proposed_by
    )


def cash_withdraw(
    *,
    actor: User,
    account: Account,
    amount: Decimal,
    reference: str = "",
    ip: str | None = None,
    proposed_by: User | None = None,
) -> CashBalance:
    """Pay out available cash. Broker staff of the account's broker only; two people above the threshold."""
    return _cash_move(
        actor=actor,
        account=account,
        amount=amount,
        reference=reference,
        ip=ip,
        entry=Withdrawal,
        proposed_by=proposed_by,
    )


def _require_second_person(actor: User, account: Account, value: Decimal, proposed_by: User | None) -> None:
    """Above the broker's threshold the move is one staff member's proposal approved by another."""
    if not cash_needs_second_person(account, value):
        return
    if proposed_by is None or proposed_by.pk == actor.pk:
        raise SecondPersonRequired(
            _("Above %(threshold)s CNY a second staff member must approve the movement.")
            % {"threshold": f"{cash_approval_threshold(account):,.2f}"}
        )
    if proposed_by.role != Role.BROKER_STAFF or proposed_by.broker_id != account.broker_id:
        raise PermissionDenied(_("Only staff of the account's broker can move its cash."))


@transaction.atomic
def _cash_move(
    *,
    actor: User,
    account: Account,
    amount: Decimal,
    reference: str,
    ip: str | None,
    entry: type[Deposit],
    proposed_by: User | None = None,
) -> CashBalance:
    _require_cash_officer(actor, account)
    value = cash_amount_checked(account, amount)
    _require_second_person(actor, account, value, proposed_by)
    paying_out = entry is Withdrawal
    cash = cash_lock([account.pk])[account.pk]
    # Read under the cash row's lock, which a whole-account freeze's approval takes too: read before it, a freeze
    # approved while the withdrawal waited for the row went unseen, and cash that arrived after it (a deposit, a
    # sale's proceeds) was paid out of the frozen account (found by forcing the interleaving).
    if paying_out and Account.objects.filter(pk=account.pk, frozen=True).exists():
        raise err.AccountFrozen(_("This account is frozen by a legal order; nothing can be paid out."))
    if paying_out and cash.available < value:
        raise InsufficientCash()
    cash.total += -value if paying_out else value
    cash.save(update_fields=["total"])
    written = entry_write(entry(account=account.code, amount=value, currency="CNY", reference=reference))
    action = "cash_withdraw" if paying_out else "cash_deposit"
    detail = {"amount": str(value), "entry": written.pk}
    if proposed_by is not None:
        detail["proposed_by"] = proposed_by.username
    audit_record(actor=actor, action=action, target=account.code, ip=ip, detail=detail)
    moved = hooks.cash_withdrawn if paying_out else hooks.cash_deposited
    moved.fire(entry_id=written.pk, account_id=account.pk, amount=str(value))
    return cash


@dataclass(frozen=True)
class Holding:
    """One holder of an issuance: ``quantity`` shares, ``locked_quantity`` of them locked up until ``locked_until``."""

    account: Account
    quantity: int
    locked_quantity: int = 0
    locked_until: dt.date | None = None


# How holders of a security are counted for its cap; the trading app registers the count per real identity
# (``exchange.pretrade.holder_count``). Without it, every account holding shares counts once.
holder_counter: list[Callable[[int], int]] = []
holder_counter_many: list[Callable[[list[int]], dict[int, int]]] = []  # the same, of many securities in one query
# Which of these accounts are investor accounts whose owner is not a qualified investor: ``kyc`` registers its
# reader (it sits above this app). Without one, no account is taken for unqualified.
unqualified_reader: list[Callable[[list[int]], set[int]]] = []


def register_unqualified_reader(fn: Callable[[list[int]], set[int]]) -> None:
    if fn not in unqualified_reader:
        unqualified_reader.append(fn)


def check_qualified_holders(security: Security, holdings: list[Holding], held: dict[int, int]) -> None:
    """Where the security or the venue's profile lets only qualified investors buy it (``qualified_only``: the
    security's switch, or cn-regional-2017's individuals), an issuance does not make an unqualified investor a new
    holder: a placement with investors is an offer, which those rules keep for qualified ones, as a purchase.
    ``held``: each account's shares before it (``{account id: total}``). Not refused: shares to those who hold the
    security already (bonus shares, a rights issue), and the security's first issuance, which registers the
    holders the company already has (its founders and original shareholders), not investors it is offered to."""
    if not venue_profile.qualified_only(security) or not security.issued_quantity or not unqualified_reader:
        return
    newcomers = [h.account.pk for h in holdings if held.get(h.account.pk, 0) <= 0]
    refused = unqualified_reader[0](newcomers) if newcomers else set()
    if refused:
        codes = sorted(h.account.code for h in holdings if h.account.pk in refused)
        raise NotQualifiedHolder(
            _(
                "Only qualified investors may be new holders of %(code)s (the venue's rules, %(profile)s, or the"
                " security's own); not qualified: %(accounts)s. Shares to existing holders, and the security's first"
                " issuance (the registration of its holders), are not refused."
            )
            % {
                "code": security.code,
                "accounts": ", ".join(codes[:10]) + ("…" if len(codes) > 10 else ""),
                "profile": venue_profile.current().name,
            }
        )


def holders_counted(security_id: int) -> int:
    """The security's holders as its cap counts them (per real person when the trading app is there)."""
    if holder_counter:
        return holder_counter[0](security_id)
    return Position.objects.filter(security_id=security_id, total__gt=0).count()


def holders_counted_many(security_ids: list[int]) -> dict[int, int]:
    """``holders_counted`` of each of the securities, read at once."""
    if holder_counter_many:
        return holder_counter_many[0](security_ids)
    counts = dict(
        Position.objects.filter(security_id__in=security_ids, total__gt=0)
        .order_by()
        .values_list("security_id")
        .annotate(n=Count("id"))
    )
    return {pk: counts.get(pk, 0) for pk in security_ids}


def _whole(value, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(_("%(what)s must be a whole number of shares.") % {"what": what})
    return value


def _holding_checked(h: Holding, today: dt.date) -> Holding:
    if _whole(h.quantity, _("Quantity")) <= 0:
        raise InvalidInput(_("Each allocation must be a positive whole number of shares."))
    locked = _whole(h.locked_quantity or 0, _("Locked quantity"))
    if not 0 <= locked <= h.quantity:
        raise InvalidInput(_("The locked quantity must be between 0 and the quantity issued to the holder."))
    if locked and h.locked_until is None:
        raise InvalidInput(_("A lock-up needs the date it ends."))
    if locked and not today < h.locked_until <= today + dt.timedelta(days=3660):
        raise InvalidInput(_("A lock-up ends after today and within ten years."))
    if not locked and h.locked_until is not None:
        raise InvalidInput(_("A lock-up date needs a locked quantity."))
    return Holding(h.account, h.quantity, locked, h.locked_until if locked else None)


def shanghai_today(now: dt.datetime | None = None) -> dt.date:
    return (now or timezone.now()).astimezone(SHANGHAI).date()


def issuance_checked(
    *, actor: User, allocations: list[Holding] | list[tuple[Account, int]], reference: str = ""
) -> list[Holding]:
    """What an issuance is checked for whatever the moment (a proposal, and its approval again): the actor is a
    depository operator, the reference fits, each holder is named once with a positive whole number of shares and
    a lock-up that holds together, no fee account holds shares. The holdings, checked. The security is checked by
    ``security_issuable``; the holder cap and the issued total when the shares are issued (``securities_issue``)."""
    if actor.role != Role.DEPOSITORY_OPERATOR:
        raise PermissionDenied(_("Only the depository registers issuances."))
    if len(reference) > 200:
        raise InvalidInput(_("The reference is too long (at most 200 characters)."))
    holdings = [a if isinstance(a, Holding) else Holding(*a) for a in allocations]
    if not holdings:
        raise InvalidInput(_("An issuance needs at least one holder."))
    if len(holdings) > 1000:
        raise InvalidInput(_("At most 1,000 holders per issuance."))
    today = shanghai_today()
    holdings = [_holding_checked(h, today) for h in holdings]
    if len({h.account.pk for h in holdings}) != len(holdings):
        raise InvalidInput(_("Name each account once per issuance."))
    if any(h.account.kind == Account.Kind.FEE for h in holdings):
        raise InvalidInput(_("A fee account cannot hold shares."))
    return holdings


def security_issuable(security: Security | None) -> Security:
    """The security shares may be issued in: one that exists and is not delisted."""
    if security is None:
        raise NotFound(_("No such security."))
    if security.status == Security.Status.DELISTED:
        raise InvalidInput(_("The security is delisted."))
    return security


@transaction.atomic
def securities_issue(
    *,
    actor: User,
    security_code: str,
    allocations: list[Holding] | list[tuple[Account, int]],
    reference: str = "",
    ip: str | None = None,
    proposal: IssuanceProposal | None = None,
) -> Entry:
    """Issue shares (the initial issuance, a placement, bonus shares): each holder's shares, some possibly under
    lock-up, with the ISSUE entry. The register may not exceed the security's holder cap.

    People do not call this alone: a depository operator proposes an issuance and another approves it
    (``balances.issuances``), whose approval calls this with the ``proposal`` it carries out (named in the audit
    record, with its proposer, and in the ISSUE entry, with its proposer and its approver, ``actor``). Without one
    it is one person's issuance, for code that sets a market up (the tests' fixtures, the demo, the bench)."""
    holdings = issuance_checked(actor=actor, allocations=allocations, reference=reference)
    security = security_issuable(Security.objects.select_for_update(no_key=True).filter(code=security_code).first())
    holdings.sort(key=lambda h: h.account.pk)
    positions = positions_lock(security.pk, [h.account.pk for h in holdings])
    check_qualified_holders(security, holdings, {pk: pos.total for pk, pos in positions.items()})
    holders_before = holders_counted(security.pk)
    for h in holdings:
        pos = positions[h.account.pk]
        pos.total += h.quantity
        if h.locked_quantity:
            pos.locked += h.locked_quantity
            pos.locked_until = min(filter(None, [pos.locked_until, h.locked_until]))
        pos.save(update_fields=["total", "locked", "locked_until"])
    total = sum(h.quantity for h in holdings)
    if security.issued_quantity + total > MAX_ISSUED:
        raise InvalidInput(_("The issued total would be too large."))
    # The cap in force: the venue's rule profile may be stricter than the security's own (found by a probe: an
    # issue under cn-regional-2017 made 206 holders of a security set to 500). Only new holders are refused: once
    # the cap was lowered below the holders, an issue to those who hold already stays possible (found by a probe).
    holders = holders_counted(security.pk)
    if holders > holders_before and holders > (cap := venue_profile.max_holders(security)):
        raise HolderCapExceeded(
            _("%(code)s would have %(n)s holders; its cap is %(cap)s.")
            % {"code": security.code, "n": holders, "cap": cap}
        )
    security.issued_quantity += total
    security.save(update_fields=["issued_quantity"])
    entry = entry_write(
        Issue(
            security=security.code,
            quantity=total,
            allocations=[
                Allocation(
                    account=h.account.code,
                    quantity=h.quantity,
                    locked_quantity=h.locked_quantity or None,
                    locked_until=h.locked_until,
                )
                for h in holdings
            ],
            reference=reference,
            **(
                {
                    "issuance": proposal.pk,
                    "proposed_by": proposal.proposed_by.username,
                    "approved_by": actor.username,
                }
                if proposal
                else {}
            ),
        )
    )
    LockUp.objects.bulk_create(
        LockUp(
            account=h.account,
            security=security,
            quantity=h.locked_quantity,
            until=h.locked_until,
            issue_entry=entry.pk,
        )
        for h in holdings
        if h.locked_quantity
    )
    audit_record(
        actor=actor,
        action="securities_issue",
        target=security.code,
        ip=ip,
        detail={
            "quantity": total,
            "holders": len(holdings),
            "reference": reference,
            "entry": entry.pk,
            **({"issuance": proposal.pk, "proposed_by": proposal.proposed_by.username} if proposal else {}),
        },
    )
    return entry


@dataclass(frozen=True)
class UnlockClaims:
    """Who may take shares a lock-up releases, before they are free: judicial freezes of the account
    (``supervision`` registers them; this app cannot import it).

    ``lock(security_id, account_ids)`` locks the claims' rows, before the security's row (the lock order: a
    proposal's row first of all), and returns their ids; ``take(security, released, locked)``, with the security
    and the positions locked, says what each claim takes of ``released`` ({account id: shares}) and records it on
    its own rows: {account id: [FrozenAtUnlock]}. It raises ``ClaimsMoved`` when a claim it did not lock has
    appeared meanwhile (the release is then done again)."""

    lock: Callable[[int, list[int]], frozenset[int]]
    take: Callable[[Security, dict[int, int], frozenset[int]], dict[int, list[FrozenAtUnlock]]]


class ClaimsMoved(Exception):
    """A claim on released shares appeared between its lock and the security's: roll back and release again."""


_unlock_claims: list[UnlockClaims] = []


def register_unlock_claims(claims: UnlockClaims) -> None:
    if claims not in _unlock_claims:
        _unlock_claims.append(claims)


def lockups_release(*, now: dt.datetime | None = None) -> int:
    """Release every lock-up whose date has come (Asia/Shanghai), each with an UNLOCK entry. Idempotent:
    a released lock-up is skipped, and concurrent runs serialise on the security row. Returns how many.

    What a freeze of the account claims of the released shares (``UnlockClaims``) goes from ``locked`` straight to
    ``frozen``, in the same transaction, and the UNLOCK entry says so (``frozen``): a court's freeze of shares that
    were under lock-up when it was approved, or of the whole account, holds them the moment they could be sold."""
    now = now or timezone.now()
    today = shanghai_today(now)
    released = 0
    due = LockUp.objects.filter(released_at__isnull=True, until__lte=today)
    for security_id in sorted(set(due.values_list("security_id", flat=True))):
        for _attempt in range(5):
            try:
                released += _lockups_release_security(security_id, due, now)
                break
            except ClaimsMoved:
                continue
        else:  # freezes approved at every try: this security waits for the next run, the others go on
            log.warning("the lock-ups of security %s wait: freezes of its holders kept changing", security_id)
    return released


def _lockups_release_security(security_id: int, due, now: dt.datetime) -> int:
    with transaction.atomic():
        accounts = sorted(set(due.filter(security_id=security_id).values_list("account_id", flat=True)))
        locked_claims = _claims_lock(security_id, accounts)
        security = Security.objects.select_for_update(no_key=True).get(pk=security_id)
        lockups = list(due.filter(security_id=security_id).select_related("account").order_by("id"))
        if not lockups:
            return 0
        positions = positions_lock(security_id, [lock.account_id for lock in lockups])
        freed: dict[int, int] = {}
        for lock in lockups:
            lock.released_at = now
            positions[lock.account_id].locked -= lock.quantity
            freed[lock.account_id] = freed.get(lock.account_id, 0) + lock.quantity
        taken: dict[int, list[FrozenAtUnlock]] = {}
        for claims in _unlock_claims:
            for account_id, takes in claims.take(security, freed, locked_claims).items():
                taken.setdefault(account_id, []).extend(takes)
                freed[account_id] -= sum(t.quantity for t in takes)
                positions[account_id].frozen += sum(t.quantity for t in takes)
        LockUp.objects.bulk_update(lockups, ["released_at"])
        for account_id, pos in positions.items():
            pos.locked_until = (
                LockUp.objects.filter(account_id=account_id, security_id=security_id, released_at__isnull=True)
                .order_by("until")
                .values_list("until", flat=True)
                .first()
            )
            pos.save(update_fields=["locked", "frozen", "locked_until"])
        entries_write(
            [
                Unlock(
                    security=security.code,
                    account=lock.account.code,
                    quantity=lock.quantity,
                    until=lock.until,
                    lockup=lock.pk,
                    frozen=_share_out(taken, lock),
                )
                for lock in lockups
            ],
            recorded_at=now,
        )
        return len(lockups)


def _claims_lock(security_id: int, account_ids: list[int]) -> frozenset[int]:
    return frozenset().union(*(claims.lock(security_id, account_ids) for claims in _unlock_claims))


def _share_out(taken: dict[int, list[FrozenAtUnlock]], lock: LockUp) -> list[FrozenAtUnlock] | None:
    """What the freezes took of one lock-up's shares, from what they took of the account's lock-ups released
    together (the first lock-up's shares first): consumes ``taken``."""
    left, out = lock.quantity, []
    takes = taken.get(lock.account_id, [])
    while left and takes:
        first = takes[0]
        q = min(left, first.quantity)
        out.append(FrozenAtUnlock(freeze=first.freeze, quantity=q))
        left -= q
        if q == first.quantity:
            takes.pop(0)
        else:
            takes[0] = FrozenAtUnlock(freeze=first.freeze, quantity=first.quantity - q)
    return out or None
