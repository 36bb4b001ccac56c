"""Reads that may lag go to a streaming replica (``DATABASE_REPLICA_URL``, ``core.db.replica``); nothing else does.

Here the ``replica`` alias is a test mirror of ``default`` (Django's ``TEST: {"MIRROR": "default"}``): its own
connection to the test database, so the tests commit their data (``transaction=True``) and count the queries
each connection runs. A real hot standby (pg_basebackup -R, another port) is not started by the suite; the
routing was shown on one by hand (docs/operations.md, "Several machines", says how to set one up).
"""

from __future__ import annotations

import copy
import logging

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.db import base as db_base
from core.db import replica
from core.db.base import ServerBusy
from core.models import AuditEvent, Role
from ledger import selectors as ledger_selectors
from ledger.models import Leaf
from ledger.services import block_seal
from registry import services as registry
from tests.conftest import api_for, build_market, log_in, order_body

# The alias as settings make it from DATABASE_REPLICA_URL, but a mirror of the test database. Added when this
# module is collected, before the test databases are set up; inert elsewhere: nothing reads it while
# DATABASE_REPLICA_URL is unset, which the tests below set.
if replica.REPLICA not in django_settings.DATABASES:
    _mirror = copy.deepcopy(django_settings.DATABASES[DEFAULT_DB_ALIAS])
    _mirror["TEST"] = {**_mirror.get("TEST", {}), "MIRROR": DEFAULT_DB_ALIAS, "NAME": None}
    django_settings.DATABASES[replica.REPLICA] = _mirror

pytestmark = pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, replica.REPLICA])

LOGGER = "core.db.replica"
AUDIT = AuditEvent._meta.db_table


@pytest.fixture
def on_replica(settings):
    """The replica configured, usable, checked again on every read (no wait between checks)."""
    settings.DATABASE_REPLICA_URL = "postgres://the-test-mirror"
    settings.DATABASE_REPLICA_MAX_LAG = 30
    settings.DATABASE_REPLICA_CHECK_EVERY = 0
    replica.forget()
    yield
    replica.forget()
    connections[replica.REPLICA].close()


@pytest.fixture
def replica_unreachable(on_replica):
    """The replica's server is not there: its settings name a port nothing listens on."""
    conn = connections[replica.REPLICA]
    conn.close()
    kept = conn.settings_dict
    conn.settings_dict = {**kept, "HOST": "127.0.0.1", "PORT": "1"}  # a copy: the mirror shares default's dict
    yield
    conn.close()
    conn.settings_dict = kept


@pytest.fixture
def ledger_market():
    """A market with records on the audit trail and two sealed blocks."""
    market = build_market()
    operator = market.user(Role.EXCHANGE_OPERATOR)
    registry.security_halt(actor=operator, code=market.security.code, reason="pending announcement")
    block_seal()
    registry.security_resume(actor=operator, code=market.security.code, reason="announced")
    block_seal()
    return market


def _selects(queries, table: str) -> list[str]:
    """The reads of ``table`` (a plain SELECT, or an iterator's server-side cursor over one)."""
    reads = ("SELECT", "DECLARE")
    return [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(reads) and f'"{table}"' in q["sql"]]


def _writes(queries) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]


def _client_of(market, role: str) -> Client:
    client = Client()
    log_in(client, market.user(role))
    return client


def _captured(fn):
    """(what ``fn`` returned, the primary's queries, the replica's queries) while it ran."""
    with (
        CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as primary,
        CaptureQueriesContext(connections[replica.REPLICA]) as copy_,
    ):
        result = fn()
    return result, primary.captured_queries, copy_.captured_queries


# --------------------------------------------------------------------------
# What reads the replica


def test_the_audit_trail_page_its_csv_and_its_api_read_the_replica_and_the_export_record_goes_to_the_primary(
    ledger_market, on_replica
):
    # given an auditor and the halt and resume on the trail
    client = _client_of(ledger_market, Role.AUDITOR)
    api = api_for(ledger_market.user(Role.AUDITOR))
    exports_before = AuditEvent.objects.filter(action="audit_export").count()

    # when the auditor opens the trail, downloads it as CSV and lists it through the API
    page, page_primary, page_replica = _captured(lambda: client.get("/audit/", {"action": "security_"}))
    csv, csv_primary, csv_replica = _captured(lambda: client.get("/audit/", {"format": "csv"}))
    listed, api_primary, api_replica = _captured(lambda: api.get("/api/v1/audit/", {"action": "security_halt"}))

    # then the records were read on the replica, not on the primary, and the pages hold them
    assert page.status_code == 200 and "security_halt" in page.content.decode()
    assert _selects(page_replica, AUDIT) and not _selects(page_primary, AUDIT)
    assert csv.status_code == 200 and "security_resume" in csv.content.decode("utf-8-sig")
    assert _selects(csv_replica, AUDIT)
    assert not [q for q in _selects(csv_primary, AUDIT) if "audit_export" not in q]
    assert listed.status_code == 200 and [r["action"] for r in listed.json()["results"]] == ["security_halt"]
    assert _selects(api_replica, AUDIT) and not _selects(api_primary, AUDIT)
    # and the export's own record was written on the primary, nothing on the replica
    assert AuditEvent.objects.filter(action="audit_export").count() == exports_before + 1
    assert not _writes(page_replica + csv_replica + api_replica)
    assert any(f'"{AUDIT}"' in q for q in _writes(csv_primary))


def test_the_ledger_explorer_blocks_and_a_block_and_the_regulatory_feed_read_the_replica(ledger_market, on_replica):
    # given a supervisor, a regulator and two sealed blocks
    client = _client_of(ledger_market, Role.AUDITOR)
    api = api_for(ledger_market.user(Role.REGULATOR))
    leaves = Leaf.objects.count()

    # when they open the list of blocks, block 1 and the feed
    blocks, blocks_primary, blocks_replica = _captured(lambda: client.get("/ledger/"))
    block, block_primary, block_replica = _captured(lambda: client.get("/ledger/blocks/1/"))
    feed, feed_primary, feed_replica = _captured(lambda: api.get("/api/v1/regulatory-feed/"))

    # then each was read on the replica, none of it on the primary
    assert blocks.status_code == 200 and block.status_code == 200 and feed.status_code == 200
    assert _selects(blocks_replica, "ledger_block") and not _selects(blocks_primary, "ledger_block")
    assert _selects(block_replica, "ledger_leaf") and _selects(block_replica, "ledger_block")
    assert not _selects(block_primary, "ledger_leaf") and not _selects(block_primary, "ledger_block")
    assert _selects(feed_replica, "ledger_leaf") and not _selects(feed_primary, "ledger_leaf")
    body = feed.json()
    assert len({r["leaf_index"] for r in body["results"]}) == leaves
    assert body["tree_size"] == leaves and body["next_after"] == leaves - 1


def test_a_block_the_replica_does_not_hold_yet_is_read_on_the_primary(ledger_market, on_replica, monkeypatch):
    # given a replica that has not replayed block 1 yet (just sealed)
    real = ledger_selectors.block_at_height

    def lagging(height, *, using=DEFAULT_DB_ALIAS):
        return None if using == replica.REPLICA and height >= 1 else real(height, using=using)

    monkeypatch.setattr(ledger_selectors, "block_at_height", lagging)
    client = _client_of(ledger_market, Role.AUDITOR)

    # when a supervisor opens block 1
    block, primary, copy_ = _captured(lambda: client.get("/ledger/blocks/1/"))

    # then the page is the block's, with its leaves, read on the primary: not a 404, not an empty block
    assert block.status_code == 200
    assert block.context["ledger_block"].height == 1 and block.context["entries"]
    assert _selects(primary, "ledger_leaf") and not _selects(copy_, "ledger_leaf")


@pytest.mark.usefixtures("shanghai_day_held")  # the fixture's blocks and the day exported one day
def test_the_feed_export_reads_the_replica_and_the_primary_when_the_replica_lacks_part_of_the_day(
    ledger_market, on_replica, tmp_path, monkeypatch
):
    # given a day with two sealed blocks
    from auditing import feed

    day = timezone.localtime(Leaf.objects.select_related("entry").first().entry.recorded_at).date()
    out = tmp_path / "feed" / "day.jsonl"

    # when the day is exported with the replica usable
    (_, primary, copy_) = _captured(lambda: call_command("regulatory_feed_export", date=str(day), out=str(out)))

    # then it was read on the replica and holds every sealed leaf
    whole = out.read_text()
    assert _selects(copy_, "ledger_leaf") and len(whole.splitlines()) >= Leaf.objects.count()
    assert not [q for q in _selects(primary, "ledger_leaf") if "COUNT" not in q.upper()]

    # when the replica holds only the first leaf of the day (lagging)
    real = feed.sealed_between

    def lagging(start, end, *, using=DEFAULT_DB_ALIAS):
        leaves = real(start, end, using=using)
        return iter(list(leaves)[:1]) if using == replica.REPLICA else leaves

    monkeypatch.setattr(feed, "sealed_between", lagging)
    out.unlink()
    call_command("regulatory_feed_export", date=str(day), out=str(out))

    # then the file is the whole day, read again on the primary, and no partial copy is left beside it
    assert out.read_text() == whole
    assert sorted(p.name for p in out.parent.iterdir()) == ["day.jsonl"]


# --------------------------------------------------------------------------
# What never reads it


def test_an_order_a_read_of_ones_own_order_and_verify_now_never_touch_the_replica(trading_market, on_replica):
    # given an investor who can trade, and a supervisor
    market, investor = trading_market
    api = api_for(investor.owner)
    supervisor = _client_of(market, Role.AUDITOR)

    # when the investor places an order, then lists their orders (their write must be in it), and the
    # supervisor runs "verify now" (a write of its record, after reads)
    placed, _, placed_replica = _captured(lambda: api.post("/api/v1/orders/", order_body(market), format="json"))
    mine, _, mine_replica = _captured(lambda: api.get("/api/v1/orders/"))
    verified, _, verify_replica = _captured(lambda: supervisor.post("/ledger/verify/"))

    # then all of it ran on the primary
    assert placed.status_code == 201, placed.content
    assert [o["client_order_id"] for o in mine.json()["results"]] == ["api-1"]
    assert verified.status_code == 200
    assert placed_replica == [] and mine_replica == [] and verify_replica == []


@pytest.fixture
def trading_market():
    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    return market, market.investor(cash="50000", shares=500)


def test_a_read_inside_a_transaction_on_the_primary_stays_on_the_primary(on_replica):
    # given the replica usable
    assert replica.read_alias() == replica.REPLICA

    # when a read is asked for inside a transaction, then it is the primary's
    with transaction.atomic():
        assert replica.read_alias() == DEFAULT_DB_ALIAS
        assert replica.replica_read(lambda alias: alias) == DEFAULT_DB_ALIAS
    assert replica.read_alias() == replica.REPLICA


def test_without_database_replica_url_every_read_is_the_primarys(ledger_market, settings):
    # given no DATABASE_REPLICA_URL (the alias this module adds stays unused)
    settings.DATABASE_REPLICA_URL = ""
    client = _client_of(ledger_market, Role.AUDITOR)

    # when the routed pages are opened
    (responses, primary, copy_) = _captured(lambda: [client.get("/audit/"), client.get("/ledger/")])

    # then they read the primary only, and not even the replica's lag was asked
    assert [r.status_code for r in responses] == [200, 200]
    assert copy_ == [] and _selects(primary, AUDIT) and _selects(primary, "ledger_block")
    assert replica.read_alias() == DEFAULT_DB_ALIAS


# --------------------------------------------------------------------------
# A replica that is down or behind


def test_a_replica_that_cannot_be_reached_leaves_the_pages_and_the_feed_on_the_primary_logged_once(
    ledger_market, replica_unreachable, caplog
):
    # given a replica whose server does not answer
    client = _client_of(ledger_market, Role.AUDITOR)
    api = api_for(ledger_market.user(Role.REGULATOR))

    # when the trail, the blocks and the feed are read, twice
    with caplog.at_level(logging.WARNING, logger=LOGGER), CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as q:
        responses = [
            client.get("/audit/"),
            client.get("/ledger/"),
            api.get("/api/v1/regulatory-feed/"),
            client.get("/audit/"),
        ]

    # then every answer is a 200 read on the primary
    assert [r.status_code for r in responses] == [200, 200, 200, 200]
    assert "security_halt" in responses[0].content.decode()
    assert len(responses[2].json()["results"]) == Leaf.objects.count()
    assert _selects(q.captured_queries, AUDIT) and _selects(q.captured_queries, "ledger_leaf")
    # and the replica's absence was logged once, not on every read
    logged = [r for r in caplog.records if r.name == LOGGER]
    assert len(logged) == 1 and "cannot be read" in logged[0].getMessage()


def test_a_replica_that_fails_after_its_check_passed_is_read_again_on_the_primary(
    ledger_market, replica_unreachable, monkeypatch, caplog
):
    # given a replica that passed its last check (it lagged 0 s) but is gone by the time of the read
    monkeypatch.setattr(replica, "replica_lag", lambda alias=replica.REPLICA: 0.0)
    client = _client_of(ledger_market, Role.AUDITOR)

    # when the trail is read
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        response = client.get("/audit/", {"action": "security_halt"})

    # then it is a 200, read again on the primary, and the failure logged
    assert response.status_code == 200 and "security_halt" in response.content.decode()
    assert [r for r in caplog.records if r.name == LOGGER and "failed" in r.getMessage()]


@pytest.mark.parametrize("lag", [120.0, None], ids=["lags-120-s", "replayed-nothing"])
def test_a_replica_behind_by_more_than_the_limit_is_not_read_until_it_catches_up(
    ledger_market, on_replica, monkeypatch, caplog, lag
):
    # given a replica 120 s behind (or one that has replayed nothing yet), with a limit of 30 s
    lags = [lag]
    monkeypatch.setattr(replica, "replica_lag", lambda alias=replica.REPLICA: lags[0])
    client = _client_of(ledger_market, Role.AUDITOR)

    # when the trail is read
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        behind, behind_primary, behind_replica = _captured(lambda: client.get("/audit/"))
        # and again once the replica has caught up
        lags[0] = 0.5
        caught_up, _, caught_up_replica = _captured(lambda: client.get("/audit/"))

    # then behind, the trail was the primary's; caught up, the replica's again; each change logged once
    assert behind.status_code == 200 and _selects(behind_primary, AUDIT)
    assert not _selects(behind_replica, AUDIT)
    assert caught_up.status_code == 200 and _selects(caught_up_replica, AUDIT)
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(messages) == 2 and "used again" in messages[1]
    assert ("lags 120.0 s" if lag else "replayed no transaction") in messages[0]


def test_the_replica_is_checked_at_most_every_few_seconds(on_replica, settings, monkeypatch):
    # given checks at most every 60 s, and a replica that lags 0 s
    settings.DATABASE_REPLICA_CHECK_EVERY = 60
    asked = []
    monkeypatch.setattr(replica, "replica_lag", lambda alias=replica.REPLICA: asked.append(1) or 0.0)

    # when reads ask for the alias three times
    aliases = [replica.read_alias() for _ in range(3)]

    # then the lag was asked once, and the answer kept
    assert aliases == [replica.REPLICA] * 3 and len(asked) == 1


def test_the_lag_query_runs_on_postgresql(on_replica):
    # given the test mirror (a server not in recovery): when its lag is asked, then it is 0
    assert replica.replica_lag() == 0.0


# --------------------------------------------------------------------------
# The connection cap


def test_the_replica_has_its_own_connection_cap_so_a_request_holding_the_primary_still_reads_it(on_replica, settings):
    # given a cap of one connection a process, the primary's connection open, a short wait for a slot
    settings.DB_MAX_CONNECTIONS, settings.DB_CONNECTION_WAIT = 1, 0.5
    connections.close_all()
    db_base._by_alias.clear()
    primary = connections[DEFAULT_DB_ALIAS]
    copy_ = connections[replica.REPLICA]
    try:
        primary.ensure_connection()

        # when the same thread opens the replica's connection
        copy_.ensure_connection()

        # then it opened (its own slot), not a 503 after waiting for the primary's
        with copy_.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
    except ServerBusy:  # pragma: no cover - what the shared cap did
        pytest.fail("the replica waited for the primary's slot")
    finally:
        copy_.close()
        primary.close()
        db_base._by_alias.clear()
