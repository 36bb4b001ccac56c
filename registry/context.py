"""What every page shows of the market: the kill switch, when it is on (a template context processor)."""

from __future__ import annotations

from . import profile
from .models import MarketState


def market_state(request) -> dict:
    """The halted market's state for the banner of every signed-in page (the login page asks nothing).

    An error page for a request refused before the authentication middleware ran (a bad Host header) has no
    ``request.user``: it is a page for no one signed in."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    # Read once a request: a view that renders a fragment a row (render_to_string with the request, as the RFQ
    # lists do) runs the context processors for each, and the banner needs the state as the request began.
    if not hasattr(request, "_market_halt"):
        request._market_halt = MarketState.objects.filter(id=1, halted=True).first()
    return {"market_halt": request._market_halt}


def venue_profile(request) -> dict:
    """The venue rule profile in force, for the footer of every page."""
    return {"venue_profile": profile.current()}
