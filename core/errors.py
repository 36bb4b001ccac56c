"""Domain errors. Each has a stable ``code``; the API and the pages show ``message``.

One handler (``core.api.errors``) turns them into ``{"code", "message"}``
JSON with the class's HTTP status; forms show the message.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import IntegrityError
from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    code = "domain_error"
    status = 400
    default_message = _("The request cannot be carried out.")

    def __init__(self, message: str | None = None, **context: object) -> None:
        self.message = str(message if message is not None else self.default_message)
        self.context = context
        super().__init__(self.message)


def error_class(name: str, code: str, message: str, status: int = 400) -> type[DomainError]:
    return type(name, (DomainError,), {"code": code, "status": status, "default_message": message})


class NotFound(DomainError):
    code = "not_found"
    status = 404
    default_message = _("Not found.")


class PermissionDenied(DomainError):
    code = "permission_denied"
    status = 403
    default_message = _("You are not allowed to do this.")


class InvalidInput(DomainError):
    """Input a service refuses. ``field`` names the one input field at fault: the API answers it in ``fields`` as
    it answers a serializer's refusal of that field (``core.api.errors``), and a page's form puts it on that field
    (``exc.fields``, as a service naming several sets it)."""

    code = "invalid_input"
    default_message = _("The input is not valid.")

    def __init__(self, message: str | None = None, *, field: str | None = None, **context: object) -> None:
        super().__init__(message, **context)
        if field is not None:
            self.fields = {field: self.message}


AccountFrozen = error_class("AccountFrozen", "account_frozen", _("This account is frozen by a legal order."), 409)
# A trading restriction (``supervision``): the account may not trade; its assets stay its own.
TradingRestricted = error_class(
    "TradingRestricted",
    "trading_restricted",
    _("A regulator has restricted this account's trading; it cannot trade."),
    409,
)
# The database's refusal of a trade one of whose accounts was frozen after the request read it: either party's,
# so the message names neither (a path that can tell its own account's raises AccountFrozen instead).
TradePartyFrozen = error_class(
    "TradePartyFrozen",
    "account_frozen",
    _("An account in this trade was frozen by a legal order as the trade was made; nothing was done."),
    409,
)
UnknownSecurity = error_class("UnknownSecurity", "unknown_security", _("No such security."), 404)
UnknownAccount = error_class("UnknownAccount", "unknown_account", _("No account has that code."), 404)
SecurityNotListed = error_class("SecurityNotListed", "security_not_listed", _("The security is not listed."), 409)
SecurityHalted = error_class("SecurityHalted", "security_halted", _("Trading in this security is halted."), 409)
ModeDisabled = error_class(
    "ModeDisabled", "trading_mode_disabled", _("This trading mode is off for the security."), 409
)
MarketClosed = error_class("MarketClosed", "market_closed", _("The market is closed."), 409)
MarketHalted = error_class("MarketHalted", "market_halted", _("Trading is halted across the market."), 409)
ReasonRequired = error_class("ReasonRequired", "reason_required", _("Give a reason."))
ReasonTooLong = error_class("ReasonTooLong", "reason_too_long", _("The reason is longer than 500 characters."))

# What the database refuses by a named constraint of its own (a trigger's ``RAISE … USING CONSTRAINT``), as the
# domain error a service would have raised had it seen the state first: the name, not the message's text, decides.
_REFUSED_BY_CONSTRAINT: dict[str, type[DomainError]] = {
    # exchange migration 0020: a trade of an account frozen after the request read it.
    "trade_no_frozen_account": TradePartyFrozen,
    # exchange migration 0027: an order, quote, request, answer or proposal of an account frozen or restricted after
    # the request read it (the service reads the account again to say why, with the regulator's reason).
    "account_frozen_may_not_trade": AccountFrozen,
    "account_restricted_may_not_trade": TradingRestricted,
}


def refusal_of(exc: IntegrityError) -> DomainError | None:
    """The domain error for a refusal by one of the database's named constraints above, else None."""
    diag = getattr(exc.__cause__, "diag", None)
    error = _REFUSED_BY_CONSTRAINT.get(getattr(diag, "constraint_name", None) or "")
    return error() if error is not None else None


@contextmanager
def database_refusals() -> Iterator[None]:
    """Turn a refusal by one of the database's named constraints into its domain error (a 409 on the API, a form
    error on a page), whichever path wrote the row. Use inside the transaction: the error leaves through the
    caller's ``atomic`` block, which rolls back."""
    try:
        yield
    except IntegrityError as exc:
        refusal = refusal_of(exc)
        if refusal is None:
            raise
        raise refusal from exc


# The longest reason a privileged action takes (a hold, a refusal, a halt); the API, the forms and the
# services agree on it.
REASON_MAX_LENGTH = 500


def reason_checked(reason: str | None) -> str:
    """The reason of a privileged action, trimmed: ReasonRequired when blank, ReasonTooLong beyond the limit."""
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired()
    if len(reason) > REASON_MAX_LENGTH:
        raise ReasonTooLong()
    return reason


PriceOffTick = error_class("PriceOffTick", "price_off_tick", _("The price is not a multiple of the tick size."))
PriceOutOfBand = error_class("PriceOutOfBand", "price_out_of_band", _("The price is outside the price band."))
QuantityNotInLots = error_class(
    "QuantityNotInLots", "quantity_not_in_lots", _("The quantity is not a whole number of lots.")
)
InsufficientCash = error_class("InsufficientCash", "insufficient_cash", _("Not enough available cash."), 409)
InsufficientShares = error_class("InsufficientShares", "insufficient_shares", _("Not enough available shares."), 409)
SelfTrade = error_class("SelfTrade", "self_trade", _("The order would trade against your own quote."), 409)
IdempotencyConflict = error_class(
    "IdempotencyConflict",
    "client_order_id_reused",
    _("This client_order_id was already used for a different order."),
    409,
)
# The same for a request for quote or a negotiated proposal, whose key is client_request_id.
RequestIdConflict = error_class(
    "RequestIdConflict",
    "client_request_id_reused",
    _("This client_request_id was already used for a different request."),
    409,
)
OrderNotOpen = error_class("OrderNotOpen", "order_not_open", _("The order is no longer open."), 409)
CrossedQuote = error_class("CrossedQuote", "crossed_quote", _("The bid must be below the ask."))
CrossesMarket = error_class(
    "CrossesMarket",
    "crosses_market",
    _(
        "The quote would lock or cross another market maker's quote: a bid must be below the best ask, an ask above "
        "the best bid."
    ),
    409,
)
NoAccount = error_class("NoAccount", "no_trading_account", _("This user has no trading account."), 403)

# Two-person decisions (supervision's proposals, the depository's issuances): one definition for both.
NotProposed = error_class("NotProposed", "not_proposed", _("This proposal has already been decided."), 409)
SameProposer = error_class(
    "SameProposer", "maker_checker", _("A second person must approve: you proposed this yourself."), 403
)
