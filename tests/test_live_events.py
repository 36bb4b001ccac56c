"""Live updates without polling (issue 14 item 7): server-sent events over Redis pub/sub. The market watch's
rows arrive in the page's language, a party hears of their trade, and nothing is published for a rollback."""

from __future__ import annotations

import http.client
import json
import queue
import socket
import threading
import urllib.parse
import urllib.request
from decimal import Decimal

import pytest
from django.db import transaction
from django.test import Client

from core import coalesce, events
from core.tasks import publish_built
from exchange.services import OrderRequest, order_place
from tests.conftest import build_market

pytestmark = pytest.mark.django_db(transaction=True)


class Listener:
    """An open ``GET /events/`` of one signed-in user, read line by line in a thread."""

    def __init__(self, base: str, user, language: str = "zh-hans") -> None:
        client = Client()
        client.force_login(user)
        cookie = f"sessionid={client.cookies['sessionid'].value}; django_language={language}"
        connection = http.client.HTTPConnection(urllib.parse.urlsplit(base).netloc, timeout=20)
        connection.request("GET", "/events/", headers={"Cookie": cookie, "Accept-Language": language})
        self.socket = connection.sock
        self.response = connection.getresponse()
        assert self.response.status == 200
        assert self.response.headers["Content-Type"].startswith("text/event-stream")
        self.events: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        assert self.next("hello", timeout=10) is not None

    def _read(self) -> None:
        name = None
        try:
            for raw in self.response:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: ") and name:
                    self.events.put((name, json.loads(line[6:])))
                    name = None
        except (OSError, AttributeError, ValueError):  # closed by the test
            pass

    def close(self) -> None:
        # The socket shut first: the reading thread's read ends at once (closing the response alone waits for it,
        # that is for the server to end the stream, LIVE_STREAM_SECONDS later).
        self.socket.shutdown(socket.SHUT_RDWR)
        self.response.close()

    def next(self, name: str, timeout: float = 5.0):
        while True:
            try:
                got, data = self.events.get(timeout=timeout)
            except queue.Empty:
                return None
            if got == name:
                return data


@pytest.fixture
def market_setup(settings):
    settings.LIVE_STREAM_SECONDS = 8
    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    return market, mm


def buy(market, investor, qty=100, coid="live-1"):
    return order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest(market.security.code, "buy", qty, Decimal("10.10"), "IOC", coid),
    )


def test_a_party_hears_of_their_trade_and_everyone_gets_the_market_rows(live_server, market_setup):
    market, mm = market_setup
    investor = market.investor(cash="100000")
    bystander = market.investor(cash="10")
    mine = Listener(live_server.url, investor.owner)
    english = Listener(live_server.url, bystander.owner, language="en")
    # when the investor's order trades with the market maker
    order, _ = buy(market, investor)
    trade = order.buy_trades.get()
    # then the investor's stream says so at once, with the trade's id
    assert mine.next("trade") == {"ids": [trade.pk], "what": "matched"}
    # and the market's publication (the coalescing task) reaches both, each in its own language
    assert publish_built("market") >= 2
    rows = {r["code"]: r for r in mine.next("market")["rows"]}
    assert rows[market.security.code]["status_label"] == "挂牌"
    english_rows = {r["code"]: r for r in english.next("market")["rows"]}
    assert english_rows[market.security.code]["status_label"] == "Listed"
    # and the bystander heard nothing of the investor's trade
    assert english.next("trade", timeout=1) is None
    mine.close()
    english.close()


def test_nothing_is_published_for_a_transaction_that_rolls_back(live_server, market_setup):
    market, _ = market_setup
    investor = market.investor(cash="100000")
    mine = Listener(live_server.url, investor.owner)
    with pytest.raises(RuntimeError), transaction.atomic():
        buy(market, investor, coid="live-rolled-back")
        raise RuntimeError("rolled back")
    assert mine.next("trade", timeout=1.5) is None
    assert not investor.orders.exists()
    mine.close()


def test_the_stream_needs_a_login(live_server):
    request = urllib.request.Request(f"{live_server.url}/events/")
    with urllib.request.urlopen(request, timeout=5) as response:  # redirected to the login page
        assert "text/event-stream" not in response.headers["Content-Type"]
        assert "/login/" in response.url


def test_coalesced_publication_queues_once_per_window(market_setup, settings, monkeypatch):
    queued = []
    monkeypatch.setattr(publish_built, "apply_async", lambda *a, **kw: queued.append(kw["countdown"]))
    coalesce.forget()
    events.redis_client().delete(events.django_cache.make_key("sse-pending:market"))
    market, _ = market_setup
    investor = market.investor(cash="100000")
    # when three orders commit within one window
    for i in range(3):
        buy(market, investor, coid=f"burst-{i}")
    # then one publication is queued, to run when the window ends
    assert queued == [settings.LIVE_COALESCE]


def test_settlement_and_notifications_reach_the_partys_stream(live_server, market_setup):
    from ledger.services import block_seal
    from notifications.models import Notification
    from notifications.services import event_notify
    from settlement.services import trade_settle

    market, _ = market_setup
    investor = market.investor(cash="100000")
    mine = Listener(live_server.url, investor.owner)
    order, _ = buy(market, investor, coid="live-settle")
    trade = order.buy_trades.get()
    assert mine.next("trade")["what"] == "matched"
    # when the block is sealed and the trade settles
    block_seal()
    assert trade_settle(trade_id=trade.pk)
    # then the investor's stream hears of it
    assert mine.next("trade") == {"ids": [trade.pk], "what": "settled"}
    # and a notification written for them brings the bell's new count
    written = event_notify(event="trades_settled", facts={"trade_ids": [trade.pk]})
    assert written and mine.next("notification") == {
        "unread": Notification.objects.filter(user=investor.owner, read_at__isnull=True).count()
    }
    mine.close()


def test_staff_get_no_stream_and_their_idle_timer_is_not_reset(market_setup):
    from core.middleware import LAST_ACTIVITY
    from core.models import Role
    from tests.conftest import log_in

    market, _ = market_setup
    client = Client()
    log_in(client, market.user(Role.DEPOSITORY_OPERATOR))
    session = client.session
    session[LAST_ACTIVITY] = before = session[LAST_ACTIVITY] - 60
    session.save()
    # when a staff page asks for the stream
    response = client.get("/events/")
    # then there is none (their pages poll, and their session still ends when left alone)
    assert response.status_code == 204
    assert client.session[LAST_ACTIVITY] == before


def test_a_process_serves_at_most_its_share_of_streams_and_the_pages_beyond_it_poll(
    market_setup, settings, monkeypatch
):
    from core import event_views
    from tests.conftest import log_in

    market, _ = market_setup
    # (streams of earlier tests on the live server may still be open until they time out: count from none)
    monkeypatch.setattr(event_views, "_slots", event_views._Slots())
    settings.LIVE_MAX_STREAMS = 2
    clients = []
    for _ in range(3):
        client = Client()
        log_in(client, market.investor(cash="100").owner)
        clients.append(client)

    # given two pages with their stream open (one sending, one not started yet)
    first, second = clients[0].get("/events/"), clients[1].get("/events/")
    assert first.status_code == second.status_code == 200
    assert first["Content-Type"] == "text/event-stream"
    assert next(iter(first.streaming_content)).startswith(b"retry: 3000\n")

    # when a third page asks for one
    third = clients[2].get("/events/")

    # then it gets none (204: its EventSource does not reconnect, and it polls)
    assert third.status_code == 204
    assert event_views._slots.open == 2

    # and once a page goes (the server closes its response, even one that never sent a byte), a page gets its slot
    second.close()
    assert event_views._slots.open == 1
    again = clients[2].get("/events/")
    assert again.status_code == 200
    first.close()
    again.close()
    assert event_views._slots.open == 0


def test_a_stream_gives_its_slot_back_once_however_often_it_is_closed_or_if_it_is_dropped(settings):
    import gc

    from core import event_views

    settings.LIVE_MAX_STREAMS = 3
    # given a stream of an earlier pool still open (an earlier test's, collected at any time)
    earlier = event_views._Slots()
    assert earlier.take()
    stray = event_views._Stream(["market:en"], earlier)
    # and three slots of a pool of its own taken by three streams
    slots = event_views._Slots()
    assert all(slots.take() for _ in range(3))
    kept, dropped, unstarted = (event_views._Stream(["market:en"], slots) for _ in range(3))
    assert not slots.take()

    # when one is closed twice, one dropped without being closed, and one closed before it started, and the
    # earlier stream is dropped meanwhile
    kept.close()
    kept.close()
    del dropped, stray
    gc.collect()
    unstarted.close()

    # then each gave back exactly its own slot, to the pool it took it from
    assert slots.open == 0
    assert earlier.open == 0


def test_a_halt_and_a_resume_are_published_to_the_open_market_watches(market_setup, settings, monkeypatch):
    from core.models import Role
    from registry import services as registry_services

    queued = []
    monkeypatch.setattr(publish_built, "apply_async", lambda *a, **kw: queued.append(a[0]))
    market, _ = market_setup
    operator = market.user(Role.EXCHANGE_OPERATOR)
    # when the operator halts the market, then the market rows are published (an open watch shows it at once)
    for switch in (registry_services.market_halt, registry_services.market_resume):
        coalesce.forget()
        events.redis_client().delete(events.django_cache.make_key("sse-pending:market"))
        switch(actor=operator, reason="Systems incident")
    # and a security's halt too
    coalesce.forget()
    events.redis_client().delete(events.django_cache.make_key("sse-pending:market"))
    registry_services.security_halt(actor=operator, code=market.security.code, reason="Pending announcement")
    assert queued == [("market",)] * 3


def test_a_stream_passes_on_frames_as_published_and_reads_the_release_befores_messages(settings):
    # Given an open stream on a channel (no page: the stream's own bytes)
    stream = events.stream(["market:en"], seconds=5, heartbeat=5)
    assert next(stream).startswith(b"retry: 3000\n")
    client = events.redis_client()
    name = events.channel("market:en")
    # When this release publishes a frame, and a process of the release before (a rolling upgrade) its message
    client.publish(name, events.sse("market", json.dumps({"rows": [1]})))
    client.publish(name, json.dumps({"event": "market", "data": {"rows": [2]}}))
    try:
        # Then the page gets both as whole server-sent events, the first byte for byte as published
        assert next(stream) == b'event: market\ndata: {"rows": [1]}\n\n'
        assert next(stream) == b'event: market\ndata: {"rows": [2]}\n\n'
    finally:
        stream.close()
