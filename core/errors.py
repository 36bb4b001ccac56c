"""Domain errors. Each has a stable ``code``; the API and the pages show ``message``.

One handler (``core.api.errors``) turns them into ``{"code", "message"}``
JSON with the class's HTTP status; forms show the message.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    code = "domain_error"
    status = 400
    default_message = _("The request cannot be carried out.")

    def __init__(self, message: str | None = None, **context: object) -> None:
        self.message = str(message if message is not None else self.default_message)
        self.context = context
        super().__init__(self.message)


def _error(name: str, code: str, message: str, status: int = 400) -> type[DomainError]:
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
    code = "invalid_input"
    default_message = _("The input is not valid.")


UnknownSecurity = _error("UnknownSecurity", "unknown_security", _("No such security."), 404)
SecurityNotListed = _error("SecurityNotListed", "security_not_listed", _("The security is not listed."), 409)
SecurityHalted = _error("SecurityHalted", "security_halted", _("Trading in this security is halted."), 409)
ModeDisabled = _error("ModeDisabled", "trading_mode_disabled", _("This trading mode is off for the security."), 409)
MarketClosed = _error("MarketClosed", "market_closed", _("The market is closed."), 409)
PriceOffTick = _error("PriceOffTick", "price_off_tick", _("The price is not a multiple of the tick size."))
PriceOutOfBand = _error("PriceOutOfBand", "price_out_of_band", _("The price is outside the price band."))
QuantityNotInLots = _error(
    "QuantityNotInLots", "quantity_not_in_lots", _("The quantity is not a whole number of lots.")
)
InsufficientCash = _error("InsufficientCash", "insufficient_cash", _("Not enough available cash."), 409)
InsufficientShares = _error("InsufficientShares", "insufficient_shares", _("Not enough available shares."), 409)
SelfTrade = _error("SelfTrade", "self_trade", _("The order would trade against your own quote."), 409)
IdempotencyConflict = _error(
    "IdempotencyConflict",
    "client_order_id_reused",
    _("This client_order_id was already used for a different order."),
    409,
)
OrderNotOpen = _error("OrderNotOpen", "order_not_open", _("The order is no longer open."), 409)
CrossedQuote = _error("CrossedQuote", "crossed_quote", _("The bid must be below the ask."))
NoAccount = _error("NoAccount", "no_trading_account", _("This user has no trading account."), 403)
