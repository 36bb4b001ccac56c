"""Negotiated transfer at the counter: broker staff propose, confirm and withdraw for a client; every action is
recorded as counter-entered (``NegotiatedTrade.proposed_at_counter`` / ``closed_at_counter``)."""

from __future__ import annotations

from exchange.negotiated_views import negotiated_page

from . import selectors
from .views import _client_row, staff_page


@staff_page
def client_negotiated(request, code: str):
    account = selectors.client_get(request.user, code)
    return negotiated_page(
        request,
        account=account,
        template="exchange/negotiated_counter.html",
        extra={"client": _client_row(account)},
    )
