"""What an order costs the database through the API: a guard on the hot path's round trips (issue 15)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from exchange.models import Order, Trade
from tests.conftest import order_body

pytestmark = pytest.mark.django_db

# Token and account (2); the security's row lock, the crossing quotes, the investor's profile, whether
# their identity holds the security already, the cash row lock (5); the order, its TRADE entry and the
# trade inserted (3); the quote and the cash row updated (2). Measured in issue 15 before any change: 11,
# with nothing per fill beyond the trade's rows. The KYC look-up was then split in two, its profile part
# prepared and the holder probe planned each time (see exchange.pretrade): one round trip more, and a fifth
# of its PostgreSQL time (1.2 ms to 0.25 ms an order, pg_stat_statements under make bench).
MAX_STATEMENTS_PER_FILLED_ORDER = 12
# The reads and inserts every order makes are prepared once per session (core.prepared), then only executed.
PREPARED = {
    "account_of",
    "lock_security",
    "crossing_asks",
    "kyc_profile",
    "cash_lock",
    "insert_exchange_order",
    "insert_ledger_entry",
    "insert_exchange_trade_with_pk",
}


def test_a_filled_buy_through_the_api_takes_twelve_statements_mostly_prepared(market):
    # given a market maker's quote and an investor with an API token, its first order placed (warm caches)
    mm = market.market_maker(cash="10000000", shares=1_000_000)
    market.quote(mm, "9.90", "10.10", ask_qty=100_000)
    buyer = market.investor(cash="1000000")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=buyer.owner).key}")
    assert client.post("/api/v1/orders/", order_body(market, client_order_id="warm"), format="json").status_code == 201

    # when the investor places a buy that fills
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/api/v1/orders/", order_body(market, client_order_id="measured"), format="json")

    # then it filled, in at most twelve statements (the test's savepoint aside: a request's transaction)
    assert response.status_code == 201
    assert Order.objects.get(client_order_id="measured").status == "filled" and Trade.objects.count() == 2
    statements = [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]
    assert len(statements) <= MAX_STATEMENTS_PER_FILLED_ORDER, "\n".join(s[:120] for s in statements)
    assert {s.split()[1].split("(")[0] for s in statements if s.startswith("EXECUTE ")} == PREPARED
