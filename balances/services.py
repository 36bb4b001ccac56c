"""Balance writes: locking, deposits, withdrawals, issuance.

Every function here that changes a balance writes its ledger entry in the same
transaction. Locks are taken in the global order documented in
``balances.models``.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from django.db import connection, transaction
from django.utils.translation import gettext as _

from core.audit import audit_record
from core.errors import InsufficientCash, InvalidInput, NotFound, PermissionDenied
from core.models import Account, Broker, Role, User
from core.money import money, to_decimal
from ledger.services import entry_write
from registry.models import Security

from .entries import Deposit, Issue, ShareAmount, Withdrawal
from .models import CashBalance, Position


@transaction.atomic
def account_open(*, kind: str, name: str, owner: User | None = None, broker: Broker | None = None) -> Account:
    """Open an account with an empty cash balance. Its code is derived from its kind and pk."""
    prefix = {Account.Kind.INVESTOR: "INV", Account.Kind.MARKET_MAKER: "MM", Account.Kind.FEE: "FEE"}[kind]
    account = Account.objects.create(kind=kind, name=name, owner=owner, broker=broker, code=f"tmp-{prefix}")
    account.code = f"{prefix}{account.pk:06d}"
    account.save(update_fields=["code"])
    CashBalance.objects.create(account=account)
    return account


def cash_lock(account_ids: Iterable[int]) -> dict[int, CashBalance]:
    """Lock the cash rows of ``account_ids`` in pk order, creating missing rows."""
    ids = sorted(set(account_ids))
    if not ids:
        return {}

    def lock() -> dict[int, CashBalance]:
        # Written out: it runs inside the security lock on every order, and the
        # ORM's SQL building costs more CPU than the statement (make bench).
        rows = CashBalance.objects.raw(
            "SELECT * FROM settlement_cashbalance WHERE account_id = ANY(%s) ORDER BY account_id FOR UPDATE", [ids]
        )
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


def cash_deposit(
    *, actor: User, account: Account, amount: Decimal, reference: str = "", ip: str | None = None
) -> CashBalance:
    """Credit cash received at the counter. Broker staff of the account's broker only."""
    return _cash_move(actor=actor, account=account, amount=amount, reference=reference, ip=ip, entry=Deposit)


def cash_withdraw(
    *, actor: User, account: Account, amount: Decimal, reference: str = "", ip: str | None = None
) -> CashBalance:
    """Pay out available cash. Broker staff of the account's broker only."""
    return _cash_move(actor=actor, account=account, amount=amount, reference=reference, ip=ip, entry=Withdrawal)


@transaction.atomic
def _cash_move(
    *, actor: User, account: Account, amount: Decimal, reference: str, ip: str | None, entry: type[Deposit]
) -> CashBalance:
    _require_cash_officer(actor, account)
    value = _positive_amount(amount)
    cash = cash_lock([account.pk])[account.pk]
    paying_out = entry is Withdrawal
    if paying_out and cash.available < value:
        raise InsufficientCash()
    cash.total += -value if paying_out else value
    cash.save(update_fields=["total"])
    entry_write(entry(account=account.code, amount=value, currency="CNY", reference=reference))
    action = "cash_withdraw" if paying_out else "cash_deposit"
    audit_record(actor=actor, action=action, target=account.code, ip=ip, detail={"amount": str(value)})
    return cash


@transaction.atomic
def securities_issue(
    *, actor: User, security_code: str, allocations: list[tuple[Account, int]], reference: str = ""
) -> Security:
    """Register an issuance: give initial holders their shares. Depository operators only."""
    if actor.role != Role.DEPOSITORY_OPERATOR:
        raise PermissionDenied(_("Only the depository registers issuances."))
    security = Security.objects.select_for_update().filter(code=security_code).first()
    if security is None:
        raise NotFound(_("No such security."))
    if not allocations:
        raise InvalidInput(_("An issuance needs at least one holder."))
    for _account, qty in allocations:
        if not isinstance(qty, int) or isinstance(qty, bool) or qty <= 0:
            raise InvalidInput(_("Each allocation must be a positive whole number of shares."))
    merged: dict[int, int] = {}
    accounts = {}
    for account, qty in allocations:
        merged[account.pk] = merged.get(account.pk, 0) + qty
        accounts[account.pk] = account
    positions = positions_lock(security.pk, merged)
    for account_id, qty in merged.items():
        pos = positions[account_id]
        pos.total += qty
        pos.save(update_fields=["total"])
    total = sum(merged.values())
    security.issued_quantity += total
    security.save(update_fields=["issued_quantity"])
    entry_write(
        Issue(
            security=security.code,
            quantity=total,
            allocations=[ShareAmount(account=accounts[a].code, quantity=q) for a, q in sorted(merged.items())],
            reference=reference,
        )
    )
    audit_record(actor=actor, action="securities_issue", target=security.code, detail={"quantity": total})
    return security
