"""The pre-trade checks of an order, run without placing it: what the order ticket shows before submitting.

It runs the rules of ``exchange.pretrade`` (their functions as they are, in their documented order) on rows
read without locks, and collects every rule the order breaks instead of stopping at the first: who acts, the
market for the security, tick and band, lots, the investor's KYC and suitability (risk level,
qualified-only, holder cap, holding interval) and the available cash or shares. It writes nothing. The
order itself is still checked under its locks when placed (``exchange.services.order_place``): this is a
forecast, the service decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import timezone

from balances.models import CashBalance, Position
from core import errors as err
from core.errors import DomainError
from core.models import Account, User
from core.money import ZERO, notional
from registry.models import Security

from . import pretrade
from .services.book import buy_reservation, commission, seller_commission

_SECURITY = (
    "SELECT s.*, COALESCE(m.halted, false) AS market_halted, m.reason AS market_halt_reason"
    " FROM exchange_security s LEFT JOIN registry_marketstate m ON m.id = 1 WHERE s.code = %s"
)


@dataclass
class Precheck:
    """What would refuse the order (``problems``, DomainErrors in rule order) and what it would cost."""

    problems: list[DomainError] = field(default_factory=list)
    value: Decimal = ZERO  # limit × quantity
    fee: Decimal = ZERO  # the broker's commission on that value (a buy pays it on top, a sell has it deducted)
    total: Decimal = ZERO  # a buy's cash reserved (value + fee), a sell's proceeds (value − fee)
    available: Decimal | int | None = None  # cash (buy) or shares (sell) available now

    @property
    def ok(self) -> bool:
        return not self.problems


def order_precheck_of(*, actor: User, account: Account, order: Mapping) -> Precheck:
    """``order_precheck`` of an order as a ticket's form or the API's input has it, checked for its types
    (``security``, ``side``, ``quantity``, ``limit_price``; the rest is not read)."""
    return order_precheck(
        actor=actor,
        account=account,
        security_code=order["security"],
        side=order["side"],
        quantity=order["quantity"],
        limit_price=order["limit_price"],
    )


def order_precheck(
    *, actor: User, account: Account, security_code: str, side: str, quantity: int, limit_price: Decimal
) -> Precheck:
    """Every pre-trade rule the order (``side`` "buy" or "sell", whole shares, a positive price) would break."""
    result = Precheck()
    now = timezone.now()

    def check(fn, *args, **kwargs) -> None:
        try:
            fn(*args, **kwargs)
        except DomainError as exc:
            result.problems.append(exc)

    check(pretrade.check_may_act, actor, account)
    security = next(iter(Security.objects.raw(_SECURITY, [security_code])), None)
    if security is None:
        result.problems.append(err.UnknownSecurity())
        return result
    check(pretrade.check_tradable, security, now=now)
    check(pretrade.check_price, security, limit_price)
    result.value = notional(limit_price, quantity)
    if side == "buy":
        check(pretrade.check_quantity, security, quantity)
        check(
            pretrade.check_investor,
            account=account,
            security=security,
            side=side,
            quantity=quantity,
            available_shares=None,
            now=now,
            actor=actor,
        )
        result.fee = commission(account, result.value)
        result.total = buy_reservation(account, limit_price, quantity)
        cash = CashBalance.objects.filter(account=account).first()
        result.available = cash.available if cash else ZERO
        check(pretrade.check_cash, result.available, result.total, row=cash)
    else:
        position = Position.objects.filter(account=account, security=security).first()
        result.available = position.available if position else 0
        check(pretrade.check_quantity, security, quantity, whole_holding=result.available)
        check(
            pretrade.check_investor,
            account=account,
            security=security,
            side=side,
            quantity=quantity,
            available_shares=result.available,
            now=now,
            actor=actor,
        )
        result.fee = seller_commission(account, result.value)
        result.total = result.value - result.fee
        check(pretrade.check_shares, result.available, quantity, row=position)
    return result
