"""The API's message rates per participant (core.api.throttles): trading writes, other writes and reads per user,
requests without a login per address. Each test sets low rates of its own; the defaults are never reached here."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
import redis
from django.core.cache import caches
from rest_framework.test import APIClient

from core.api import throttles
from core.models import ApiToken
from exchange.models import Order

from .conftest import CountingRedis, api_for, cash_of, order_body, position_of, snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_counts(monkeypatch):
    """The counts live in Redis, which outlives a test (and user ids repeat from one test database to the next);
    and no pause after an earlier test's Redis failure."""
    monkeypatch.setattr(throttles, "_paused_until", float("-inf"))
    cache = caches["default"]
    client = cache._cache.get_client(write=True)
    if keys := list(client.scan_iter(match=cache.make_key("throttle:*"), count=1000)):
        client.delete(*keys)


def _refused(answer, *, at_most: int) -> None:
    """A 429 throttled in the API's error form, saying when to come back: within the window (``at_most`` s)."""
    assert answer.status_code == 429, answer.content
    body = answer.json()
    assert set(body) == {"code", "message"} and body["code"] == "throttled"
    # in the API's default language (Chinese; English with Accept-Language: en), saying nothing was done
    assert "本次请求未执行任何操作" in body["message"] and f"{answer['Retry-After']} 秒后重试" in body["message"]
    assert 1 <= int(answer["Retry-After"]) <= at_most


def test_a_users_orders_over_the_trading_rate_are_refused_and_place_nothing(trading, settings):
    # Given a trading rate of two a minute, and two investors with cash
    market, mm, investor = trading
    settings.API_RATE_TRADING = "2/minute"
    other = market.investor(cash="50000")
    api, others = api_for(investor.owner), api_for(other.owner)

    # when the first investor places two orders, then a third
    placed = [api.post("/api/v1/orders/", order_body(market, client_order_id=f"t-{i}"), format="json") for i in (1, 2)]
    before, cash, shares = snapshot(), cash_of(investor), position_of(investor, market.security)
    third = api.post("/api/v1/orders/", order_body(market, client_order_id="t-3"), format="json")

    # then the two are placed, and the third is a 429 throttled with its Retry-After that wrote nothing: no order,
    # the same cash and shares, not a row of the business tables changed
    assert [p.status_code for p in placed] == [201, 201], placed[0].content
    _refused(third, at_most=60)
    message = third.json()["message"]
    assert "交易请求（订单、报价、询价、协议转让）过多" in message and "2/minute" in message
    assert not Order.objects.filter(client_order_id="t-3").exists()
    assert snapshot() == before
    assert (cash_of(investor).total, cash_of(investor).reserved) == (cash.total, cash.reserved)
    position = position_of(investor, market.security)
    assert (position.total, position.reserved) == (shares.total, shares.reserved)
    # and a cancel, a quote or a batch counts against the same rate: refused as well
    assert api.delete("/api/v1/orders/1/").status_code == 429
    assert api.post("/api/v1/orders/batch/", {"orders": [order_body(market)]}, format="json").status_code == 429
    # and another investor is not held back, nor the first one's reads
    assert others.post("/api/v1/orders/", order_body(market, client_order_id="o-1"), format="json").status_code == 201
    assert api.get("/api/v1/orders/").status_code == 200


def test_a_market_makers_quotes_count_as_trading(trading, settings):
    # Given a trading rate of one a minute and a market maker
    market, mm, _ = trading
    settings.API_RATE_TRADING = "1/minute"
    api = api_for(mm.owner)
    quote = {"security": market.security.code, "bid_price": "9.80", "bid_quantity": 100, "ask_price": "10.20"}
    quote["ask_quantity"] = 100

    # when it publishes a quote, then another
    first, second = (api.post("/api/v1/quotes/", quote, format="json") for _ in range(2))

    # then the second is refused, and pulling its quotes too
    assert first.status_code in (200, 201), first.content
    _refused(second, at_most=60)
    assert api.delete("/api/v1/quotes/").status_code == 429


def test_other_writes_count_against_their_own_rate(market, settings):
    # Given a rate of one write a minute, a trading rate untouched, and a client of the broker's counter
    settings.API_RATE_WRITE = "1/minute"
    client = market.investor()
    staff = api_for(market.staff)
    url = f"/api/v1/counter/clients/{client.code}/deposit/"

    # when staff deposit for the client twice
    first = staff.post(url, {"amount": "100.00"}, format="json")
    second = staff.post(url, {"amount": "100.00"}, format="json")

    # then the second is refused and deposits nothing
    assert first.status_code == 200, first.content
    _refused(second, at_most=60)
    assert "写入请求过多" in second.json()["message"]
    assert cash_of(client).total == Decimal("100.00")
    # and another staff member of the broker deposits
    assert api_for(market.checker).post(url, {"amount": "1.00"}, format="json").status_code == 200
    assert cash_of(client).total == Decimal("101.00")


def test_reads_count_against_their_own_rate_whether_by_token_or_session(market, settings):
    # Given a rate of two reads a minute, and an investor with a login token and a web session
    settings.API_RATE_READ = "2/minute"
    investor = market.investor()
    user = investor.owner
    token = APIClient().post(
        "/api/v1/auth/token/", {"username": user.username, "password": "pw-test-2026"}, format="json"
    )
    by_token = APIClient(HTTP_AUTHORIZATION=f"Token {token.json()['token']}")
    by_session = APIClient()
    by_session.force_login(user)

    # when the investor reads its account by token, by session, then by token again
    answers = [by_token.get("/api/v1/account/"), by_session.get("/api/v1/account/"), by_token.get("/api/v1/account/")]

    # then the two logins share the one count: the third is refused
    assert [a.status_code for a in answers[:2]] == [200, 200]
    _refused(answers[2], at_most=60)
    assert "读取请求过多" in answers[2].json()["message"]
    # and another user reads
    assert api_for(market.investor().owner).get("/api/v1/account/").status_code == 200


def test_requests_without_a_login_count_per_address(market, settings):
    # Given a rate of two requests a minute without a login, and a user
    settings.API_RATE_ANON = "2/minute"
    user = market.user()
    login = {"username": user.username, "password": "pw-test-2026"}
    here, there = {"REMOTE_ADDR": "203.0.113.21"}, {"REMOTE_ADDR": "198.51.100.21"}

    # when one address logs in twice, then a third time
    first, second = (APIClient().post("/api/v1/auth/token/", login, format="json", **here) for _ in range(2))
    tokens = ApiToken.objects.filter(user=user).count()
    third = APIClient().post("/api/v1/auth/token/", login, format="json", **here)

    # then the third is refused and issues no token; the ledger's public reads from there are refused as well
    assert (first.status_code, second.status_code) == (200, 200)
    _refused(third, at_most=60)
    assert "未登录的请求过多" in third.json()["message"]
    assert ApiToken.objects.filter(user=user).count() == tokens == 2
    assert APIClient().get("/api/v1/ledger/keys/", **here).status_code == 429
    # and another address logs in
    assert APIClient().post("/api/v1/auth/token/", login, format="json", **there).status_code == 200


def test_an_ipv6_client_counts_per_64_and_cannot_dodge_by_changing_its_address(market, settings):
    # Given a rate of two requests a minute without a login, and a client holding the /64 2001:db8:1:2::/64
    settings.API_RATE_ANON = "2/minute"
    own = ["2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2:abcd::9"]

    # when it reads the ledger's keys from one of its addresses, then another, then a third
    answers = [APIClient().get("/api/v1/ledger/keys/", REMOTE_ADDR=address) for address in own]

    # then the third is refused: the /64 is one client's, one count
    assert [a.status_code for a in answers[:2]] == [200, 200]
    _refused(answers[2], at_most=60)
    # and the next /64 is another client's, and an IPv4 address sent as IPv6 (::ffff:a.b.c.d) is that address
    assert APIClient().get("/api/v1/ledger/keys/", REMOTE_ADDR="2001:db8:1:3::1").status_code == 200
    v4 = {"REMOTE_ADDR": "192.0.2.8"}
    assert [APIClient().get("/api/v1/ledger/keys/", **v4).status_code for _ in range(2)] == [200, 200]
    assert APIClient().get("/api/v1/ledger/keys/", REMOTE_ADDR="::ffff:192.0.2.8").status_code == 429


def test_the_ledgers_tiles_are_not_counted(market, settings):
    # Given a rate of one request a minute without a login, spent by an address
    settings.API_RATE_ANON = "1/minute"
    here = {"REMOTE_ADDR": "203.0.113.40"}
    assert APIClient().get("/api/v1/ledger/keys/", **here).status_code == 200
    assert APIClient().get("/api/v1/ledger/keys/", **here).status_code == 429

    # when a replica or a CDN there reads the checkpoint and a tile, again and again
    answers = [APIClient().get(path, **here).status_code for path in ["/ledger/checkpoint", "/ledger/tile/0/000"] * 3]

    # then none is refused: tiles are files a static server may serve in the application's place
    assert 429 not in answers


def test_the_limit_resets_when_its_window_ends(trading, settings):
    # Given a trading rate of one a second, spent
    market, _, investor = trading
    settings.API_RATE_TRADING = "1/second"
    api = api_for(investor.owner)
    assert api.post("/api/v1/orders/", order_body(market, client_order_id="r-1"), format="json").status_code == 201
    refused = api.post("/api/v1/orders/", order_body(market, client_order_id="r-2"), format="json")
    _refused(refused, at_most=1)

    # when the Retry-After it gave has passed
    time.sleep(int(refused["Retry-After"]) + 0.05)

    # then the order is placed
    assert api.post("/api/v1/orders/", order_body(market, client_order_id="r-3"), format="json").status_code == 201
    assert Order.objects.filter(account=investor).count() == 2


def test_a_throttle_check_is_one_redis_round_trip(market, monkeypatch):
    # Given the cache's Redis client, counted
    cache = caches["default"]
    counting = CountingRedis(cache._cache.get_client(write=True))
    monkeypatch.setattr(cache._cache, "get_client", lambda *args, **kwargs: counting)
    monkeypatch.setattr(throttles, "_clients", {cache: counting})
    api = api_for(market.investor().owner)

    def round_trips() -> int:
        counting.round_trips = 0
        assert api.get("/api/v1/account/").status_code == 200
        return counting.round_trips

    # when one read is made with the throttle, and one without
    counted = round_trips()
    with monkeypatch.context() as m:
        m.setattr(throttles.ApiRateThrottle, "allow_request", lambda self, request, view: True)
        uncounted = round_trips()

    # then the throttle added one round trip
    assert counted - uncounted == 1


def test_a_batch_counts_as_the_orders_it_carries(trading, settings):
    # Given a trading rate of 30 orders a minute, and a funded investor
    market, _, investor = trading
    settings.API_RATE_TRADING = "30/minute"
    api = api_for(investor.owner)

    def batch(prefix: str, n: int):
        orders = [order_body(market, client_order_id=f"{prefix}-{i}", quantity=100) for i in range(n)]
        return api.post("/api/v1/orders/batch/", {"orders": orders}, format="json")

    # when it sends a batch of 20 orders, then another of 20
    first = batch("a", 20)
    before = snapshot()
    second = batch("b", 20)

    # then the first is placed, and the second (40 orders in the minute, over 30) is refused whole and writes nothing
    assert first.status_code == 200 and len(first.json()["results"]) == 20, first.content
    _refused(second, at_most=60)
    assert snapshot() == before and not Order.objects.filter(client_order_id__startswith="b-").exists()


def test_a_batch_larger_than_the_whole_rate_counts_as_the_rate(trading, settings):
    # Given a trading rate of 10 a minute (below a batch's 25 orders: such a batch must still be able to pass)
    market, _, investor = trading
    settings.API_RATE_TRADING = "10/minute"
    api = api_for(investor.owner)
    orders = [order_body(market, client_order_id=f"c-{i}") for i in range(25)]

    # when it sends the batch into an empty window, then one more order
    placed = api.post("/api/v1/orders/batch/", {"orders": orders}, format="json")
    more = api.post("/api/v1/orders/", order_body(market, client_order_id="c-more"), format="json")

    # then the batch passed and used the whole window
    assert placed.status_code == 200, placed.content
    _refused(more, at_most=60)


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b'{"orders": [', "application/json", 400, "malformed_json"),
        (b'{"orders": [], "orders": []}', "application/json", 400, "duplicate_key"),
        (b"orders=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (b'{"orders": ["' + b"x" * (6 * 1024 * 1024) + b'"]}', "application/json", 413, "request_too_large"),
    ],
    ids=["malformed", "duplicate-key", "form", "too-large"],
)
def test_a_batch_whose_body_cannot_be_read_counts_as_one_and_answers_its_error(
    trading, settings, body, content_type, status, code
):
    # Given a trading rate of two a minute (the batch's weight is read from its body, before the view)
    market, _, investor = trading
    settings.API_RATE_TRADING = "2/minute"
    api = api_for(investor.owner)

    # when the investor sends two batches whose body cannot be read, then an order
    sent = [api.post("/api/v1/orders/batch/", body, content_type=content_type) for _ in range(2)]
    before = snapshot()
    third = api.post("/api/v1/orders/", order_body(market, client_order_id="after-bad"), format="json")

    # then each bad batch is answered with its own error (not a missing field's), and each counted: the order is
    # over the rate and refused, writing nothing (uncounted, a runaway client's bad bodies were never limited)
    assert [(s.status_code, s.json()["code"]) for s in sent] == [(status, code)] * 2, sent[0].content
    _refused(third, at_most=60)
    assert snapshot() == before and not Order.objects.filter(client_order_id="after-bad").exists()
    # and a third bad batch is refused as over the rate too
    _refused(api.post("/api/v1/orders/batch/", body, content_type=content_type), at_most=60)


def test_a_batch_the_view_refuses_as_too_long_counts_as_one(trading, settings):
    # Given a trading rate of 5 a minute, and a batch of 101 orders (the view takes at most 100)
    market, _, investor = trading
    settings.API_RATE_TRADING = "5/minute"
    api = api_for(investor.owner)
    orders = [order_body(market, client_order_id=f"long-{i}") for i in range(101)]

    # when it is sent, and then one order
    refused = api.post("/api/v1/orders/batch/", {"orders": orders}, format="json")
    one = api.post("/api/v1/orders/", order_body(market, client_order_id="after-long"), format="json")

    # then the batch is the view's 400, counted as one request: the order after it is placed
    assert refused.status_code == 400, refused.content
    assert one.status_code == 201, one.content


def test_redis_unreachable_lets_the_request_through(trading, monkeypatch, settings):
    # Given a trading rate of one a minute, spent, and then Redis out of reach
    market, _, investor = trading
    settings.API_RATE_TRADING = "1/minute"
    api = api_for(investor.owner)
    assert api.post("/api/v1/orders/", order_body(market, client_order_id="u-1"), format="json").status_code == 201

    def unreachable(*args, **kwargs):
        raise redis.ConnectionError("gone")

    monkeypatch.setattr(throttles, "_counted", unreachable)

    # when the investor orders again
    answer = api.post("/api/v1/orders/", order_body(market, client_order_id="u-2"), format="json")

    # then trading did not stop with the cache
    assert answer.status_code == 201, answer.content


def test_redis_unreachable_a_batch_whose_body_cannot_be_read_still_answers_its_error(trading, monkeypatch):
    # Given Redis out of reach
    _, _, investor = trading

    def unreachable(*args, **kwargs):
        raise redis.ConnectionError("gone")

    monkeypatch.setattr(throttles, "_counted", unreachable)
    before = snapshot()

    # when the investor sends a batch that is not valid JSON
    answer = api_for(investor.owner).post("/api/v1/orders/batch/", b'{"orders": [', content_type="application/json")

    # then the answer names the body's fault, not a missing "orders" (DRF empties the body after a failed parse),
    # and nothing was written
    assert (answer.status_code, answer.json()["code"]) == (400, "malformed_json"), answer.content
    assert snapshot() == before


def test_after_a_redis_failure_requests_go_through_uncounted_for_a_pause(trading, monkeypatch, settings, caplog):
    # Given a Redis that does not answer (each try would wait for the client's socket timeout)
    market, _, investor = trading
    monkeypatch.setattr(throttles, "_paused_until", float("-inf"))
    tries = []

    def silent(*args, **kwargs):
        tries.append(1)
        raise redis.TimeoutError("Timeout reading from socket")

    monkeypatch.setattr(throttles, "_counted", silent)
    api = api_for(investor.owner)

    # when the investor reads three times
    with caplog.at_level("WARNING", logger=throttles.log.name):
        answers = [api.get("/api/v1/account/").status_code for _ in range(3)]

    # then all were answered, Redis was tried once and the warning written once
    assert answers == [200, 200, 200]
    assert len(tries) == 1
    assert sum("API rates not counted" in r.getMessage() for r in caplog.records) == 1

    # and once the pause is over, it is tried again
    monkeypatch.setattr(throttles, "_paused_until", float("-inf"))
    assert api.get("/api/v1/account/").status_code == 200
    assert len(tries) == 2


def test_a_count_left_without_an_expiry_gets_one(market, settings):
    # Given a user's read count in Redis with no expiry (left by anything but the script's own first request)
    user = market.investor().owner
    cache = caches["default"]
    client = cache._cache.get_client(write=True)
    key = cache.make_key(f"throttle:read:{user.pk}")
    client.set(key, 10**6)
    settings.API_RATE_READ = "5/minute"

    # when the user reads
    answer = api_for(user).get("/api/v1/account/")

    # then it is refused for the window only: the count now expires within it
    assert answer.status_code == 429
    assert 0 < client.pttl(key) <= 60_000


def test_a_throttled_answer_is_the_one_the_schema_documents(trading, settings):
    # Given the schema, and a trading rate spent
    import json

    import jsonschema

    market, _, investor = trading
    settings.API_RATE_TRADING = "1/minute"
    api = api_for(investor.owner)
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    api.post("/api/v1/orders/", order_body(market, client_order_id="s-1"), format="json")

    # when an order is refused
    answer = api.post("/api/v1/orders/", order_body(market, client_order_id="s-2"), format="json")

    # then its 429, body and Retry-After are documented for the operation
    documented = schema["paths"]["/api/v1/orders/"]["post"]["responses"]["429"]
    assert answer.status_code == 429 and "Retry-After" in documented["headers"]
    body_schema = {**documented["content"]["application/json"]["schema"], "components": schema["components"]}
    assert list(jsonschema.Draft202012Validator(body_schema).iter_errors(json.loads(answer.content))) == []


def test_the_defaults_are_far_above_a_benchmark_client():
    # (make bench: 8 clients on 2 cores, one investor token each, about 200 orders/s in all and 900 pings/s on a
    # fast machine: 25 orders and 110 reads a second a token). The project's settings, not the tests' (conftest
    # lifts the rates: tests send many requests a second from one address)
    import config.settings as defaults

    def per_second(rate: str) -> float:
        count, seconds = throttles.ApiRateThrottle.parse_rate(None, rate)
        return count / seconds

    assert per_second(defaults.API_RATE_TRADING) >= 4 * 25
    assert per_second(defaults.API_RATE_READ) >= 2.5 * 110
    assert per_second(defaults.API_RATE_WRITE) >= 100
    assert per_second(defaults.API_RATE_ANON) >= 50


@pytest.mark.parametrize("value", ["0/second", "00/minute", "ten/second", "10/week", "10", "-1/second", "１０/second"])
def test_a_rate_that_is_not_one_is_refused_at_start(monkeypatch, value):
    # (0 means "off" for other settings here: as a rate it refused every request, the login too)
    from config.settings import env_rate

    monkeypatch.setenv("API_RATE_ANON", value)
    with pytest.raises(RuntimeError, match="is not a rate"):
        env_rate("API_RATE_ANON", "50/second")
    monkeypatch.setenv("API_RATE_ANON", " 1/day ")
    assert env_rate("API_RATE_ANON", "50/second") == "1/day"
