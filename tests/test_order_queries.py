"""What an order costs the database through the API: a guard on the hot path's round trips (issue 15)."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from core.tokens import token_issue
from exchange.models import Order, Trade
from tests.conftest import order_body, snapshot

pytestmark = pytest.mark.django_db

# Token and account (2); the security's row lock, the crossing quotes, the investor's profile with whether
# their identity holds the security already, the cash row lock (4); then every write in one round trip: the
# order, its TRADE entry and the trade inserted, the quote and the cash row updated (1). Measured in issue 15
# before any change: 11, with nothing per fill beyond the trade's rows; 12 once the KYC look-up was split in
# two to prepare its profile part. Then the crossing read drew every key the writes need (the order's id, each
# quote's trade and entry ids), so the five writes went as one round trip (core.prepared.Batch), and the
# holder probe joined the profile's prepared statement (a probe per account a generic plan keeps): 7. The
# market switch's gate (registry.gate) goes in the security lock's round trip: still 7.
MAX_STATEMENTS_PER_FILLED_ORDER = 7
# The reads and writes every order makes are prepared once per session (core.prepared), then only executed.
PREPARED_READS = {"account_of", "lock_security", "crossing_asks", "investor_profile", "cash_lock"}
PREPARED_WRITES = [
    "insert_exchange_order_with_pk",
    "insert_ledger_entry_with_pk",
    "insert_exchange_trade_with_pk",
    "update_exchange_quote",
    "update_settlement_cashbalance",
]


def _executed(sql: str) -> list[str]:
    """The prepared statements a round trip executes, in order, by name (the checksums ending it left out)."""
    return [re.sub(r"(_[0-9a-f]{8})+$", "", part.split("(")[0].rstrip("; ")) for part in sql.split("EXECUTE ")[1:]]


def test_a_filled_buy_through_the_api_takes_seven_statements_its_writes_in_one(market):
    # given a market maker's quote and an investor with an API token, its first order placed (warm caches)
    mm = market.market_maker(cash="10000000", shares=1_000_000)
    market.quote(mm, "9.90", "10.10", ask_qty=100_000)
    buyer = market.investor(cash="1000000")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=buyer.owner).key}")
    assert client.post("/api/v1/orders/", order_body(market, client_order_id="warm"), format="json").status_code == 201

    # when the investor places a buy that fills
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/api/v1/orders/", order_body(market, client_order_id="measured"), format="json")

    # then it filled, in at most seven statements (the test's savepoint aside: a request's transaction)
    assert response.status_code == 201
    assert Order.objects.get(client_order_id="measured").status == "filled" and Trade.objects.count() == 2
    statements = [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]
    assert len(statements) <= MAX_STATEMENTS_PER_FILLED_ORDER, "\n".join(s[:120] for s in statements)
    # and the reads were prepared statements, the security's lock after the market gate in its round trip
    # (registry.gate), the writes one round trip of prepared statements, the last
    reads = [_executed(s) for s in statements[:-1] if s.startswith("EXECUTE ")]
    assert {names[-1] for names in reads} == PREPARED_READS
    assert [names for names in reads if len(names) > 1] == [["market_gate_shared", "lock_security"]]
    assert _executed(statements[-1]) == PREPARED_WRITES


@pytest.mark.django_db(transaction=True)
def test_a_retried_order_first_in_a_new_session_changes_nothing_and_the_next_order_fills(market):
    # given an investor whose order filled, and a new database session: nothing prepared in it yet
    mm = market.market_maker(cash="10000000", shares=1_000_000)
    market.quote(mm, "9.90", "10.10", ask_qty=100_000)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=market.investor(cash='1000000').owner).key}")
    first = client.post("/api/v1/orders/", order_body(market, client_order_id="once"), format="json")
    assert first.status_code == 201
    connection.close()
    before = snapshot()
    # when the same order is sent again: its writes' round trip, which prepares them in this new session, is
    # refused by the unique client_order_id
    with CaptureQueriesContext(connection) as queries:
        retry = client.post("/api/v1/orders/", order_body(market, client_order_id="once"), format="json")
    (refused,) = [q["sql"] for q in queries if q["sql"].startswith("PREPARE insert_exchange_order_with_pk")]
    assert refused.count("PREPARE ") == len(PREPARED_WRITES) and _executed(refused) == PREPARED_WRITES
    # then the first order is the answer and nothing changed
    assert retry.status_code == 200 and retry.json()["id"] == first.json()["id"]
    assert snapshot() == before
    # and the session's next order settles the doubt in one read, then only executes the writes, and fills
    with CaptureQueriesContext(connection) as queries:
        after = client.post("/api/v1/orders/", order_body(market, client_order_id="next"), format="json")
    assert after.status_code == 201 and after.json()["status"] == "filled"
    assert Trade.objects.filter(buy_order_id=after.json()["id"], quantity=100).count() == 1
    sent = [q["sql"] for q in queries]
    assert sum("pg_prepared_statements" in sql for sql in sent) == 1
    assert not any(sql.startswith("PREPARE insert_") for sql in sent)
    assert any(_executed(sql) == PREPARED_WRITES for sql in sent)
