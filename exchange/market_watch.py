"""The market watch: every listed security's band and best prices, and the session, as the page shows them.

One builder for the page (``exchange.views.market``), the JSON it polls (``market/data/``) and what
``exchange.live`` pushes to open pages, so the three never differ. Labels in the active language; amounts
grouped by thousands (``core.money``'s text forms).
"""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext

from core.money import amount_text, percent_text, shares_text
from registry import calendar, profile
from registry.models import MarketState, Security

from . import selectors
from .models import DayClose


def status_of(security: Security, market: MarketState | None) -> tuple[str, str, str]:
    """A security's status as the market shows it: (status, label, halt reason). A listed security of a halted
    market is halted, with the market's reason."""
    if market is not None and market.halted and security.status == Security.Status.LISTED:
        return Security.Status.HALTED, gettext("Halted (whole market)"), market.reason
    return security.status, security.get_status_display(), security.halt_reason


def rows() -> list[dict]:
    """A row a security. A halted one (by itself or with the whole market, the kill switch) says so in its status
    and shows no quotes: none of them can trade until it resumes."""
    best = selectors.best_prices()
    market = MarketState.objects.filter(id=1).first()
    out = []
    for security in selectors.securities_listed():
        status, label, _reason = status_of(security, market)
        # The ways the venue's rules and the security allow; without market making no quote can trade, so none
        # is shown (found by a tester: old quotes' bid and ask under cn-regional-2017).
        modes = profile.trading_modes(security)
        market_making = profile.MARKET_MAKING in modes
        book = {} if status == Security.Status.HALTED or not market_making else best.get(security.pk, {})
        out.append(
            {
                "code": security.code,
                "name": security.name,
                "risk": f"R{security.risk_rating}",
                "reference_price": amount_text(security.reference_price),
                "band": f"{amount_text(security.band_low)} – {amount_text(security.band_high)}",
                "band_pct": f"±{percent_text(security.band_pct)}%",
                "status": status,
                "status_label": label,
                "bid": amount_text(book.get("bid")) or None,
                "bid_size": shares_text(book.get("bid_size")) if book.get("bid") is not None else None,
                "ask": amount_text(book.get("ask")) or None,
                "ask_size": shares_text(book.get("ask_size")) if book.get("ask") is not None else None,
                "modes": modes,
                "market_making": market_making,
            }
        )
    return out


def session() -> dict:
    """Whether the calendar has the market open, the next session when it is closed, the last day closed."""
    is_open = calendar.market_is_open()
    next_open = None if is_open else calendar.next_open()
    last = DayClose.objects.order_by("-date").values_list("date", flat=True).first()
    return {
        "open": is_open,
        "next_open": next_open.astimezone(calendar.SHANGHAI).strftime("%Y-%m-%d %H:%M") if next_open else None,
        "last_close": last.isoformat() if last else None,
    }


def payload() -> dict:
    """The rows and the session, with the time they were read."""
    return {"as_of": timezone.now().isoformat(), "rows": rows(), "market": session()}
