"""Requests for quote at the counter: broker staff ask, accept and cancel for a client."""

from __future__ import annotations

from exchange.rfq_views import rfq_counter_page

from . import selectors
from .views import _client_row, staff_page


@staff_page
def client_rfqs(request, code: str):
    account = selectors.client_get(request.user, code)
    return rfq_counter_page(request, account=account, extra={"client": _client_row(account)})
