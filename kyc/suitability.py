"""Suitability and the regional rule pack, checked at order entry (DESIGN.md §2, §7).

Each rejection has its own code and a message an investor understands:
KYC approved and not expired; for buys, investor level ≥ security risk and the
qualified-investor rule, and the holder cap counted per real identity (all
accounts of one ID number count once); for sells, the minimum holding period.
Sells are otherwise always allowed, so an investor can exit.

Runs inside the order's transaction, after the security row lock: the holder
count cannot change under it.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.db.models import Sum
from django.utils.translation import gettext_lazy as _

from exchange.exceptions import DomainError
from exchange.models import Account, Security, Trade

from .models import KycProfile


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
    """The moment ``days`` working days (Monday to Friday) before ``now``."""
    moment = now
    while days > 0:
        moment -= dt.timedelta(days=1)
        if moment.weekday() < 5:
            days -= 1
    return moment


def _holder_identities(security_id: int) -> set[str]:
    """Who holds the security, one entry per real identity: settled holdings and pending buys."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT DISTINCT COALESCE(k.identity, 'account:' || a.id) FROM ("
            "  SELECT account_id FROM settlement_position WHERE security_id = %s AND total > 0"
            "  UNION SELECT buyer_id FROM exchange_trade WHERE security_id = %s AND status IN ('matched', 'held')"
            ") h JOIN exchange_account a ON a.id = h.account_id LEFT JOIN kyc_kycprofile k ON k.user_id = a.owner_id",
            [security_id, security_id],
        )
        return {row[0] for row in cur.fetchall()}


def check_order(
    *, account: Account, security: Security, side: str, quantity: int, available_shares: int | None, now: dt.datetime
) -> None:
    """Raise the first rule the order breaks. Only investor accounts are subject to KYC and suitability."""
    if account.kind != Account.Kind.INVESTOR:
        return
    profile = (
        KycProfile.objects.filter(user_id=account.owner_id)
        .only("state", "expires_at", "risk_level", "qualified_investor", "identity")
        .first()
    )
    if profile is None or profile.state in (
        KycProfile.State.DRAFT,
        KycProfile.State.SUBMITTED,
        KycProfile.State.REJECTED,
    ):
        raise KycNotApproved()
    if profile.state == KycProfile.State.EXPIRED or profile.expires_at is None or profile.expires_at <= now:
        raise KycExpired()
    if side == "buy":
        if profile.risk_level < security.risk_rating:
            raise Unsuitable(
                _("Your investor level is C%(level)s; %(code)s is rated R%(risk)s, so you may not buy it.")
                % {"level": profile.risk_level, "code": security.code, "risk": security.risk_rating}
            )
        if security.qualified_only and not profile.qualified_investor:
            raise NotQualified()
        holders = _holder_identities(security.pk)
        if profile.identity not in holders and len(holders) >= security.max_holders:
            raise HolderCapReached(
                _("%(code)s already has %(n)s holders, its maximum; new holders cannot buy.")
                % {"code": security.code, "n": len(holders)}
            )
    elif security.min_holding_days and available_shares is not None:
        since = trading_days_back(now, security.min_holding_days)
        recent = (
            Trade.objects.filter(
                buyer=account, security=security, status=Trade.Status.SETTLED, matched_at__gt=since
            ).aggregate(q=Sum("quantity"))["q"]
            or 0
        )
        if quantity > available_shares - recent:
            raise HoldingPeriod(
                _("%(recent)s of your shares were bought within the last %(days)s trading days and cannot be sold yet.")
                % {"recent": recent, "days": security.min_holding_days}
            )
