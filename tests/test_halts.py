"""Halts: one security, or the whole market (the kill switch); HALT and RESUME on the ledger (DESIGN.md §6)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.utils import translation

from core import errors as err
from core.models import AuditEvent, Role
from exchange import market_watch
from exchange.models import Order, Trade
from exchange.services import OrderRequest, order_place
from ledger.models import Entry
from ledger.services import block_seal
from ledger.verification import ledger_verify
from registry import services
from registry.models import MarketState, Security
from settlement.models import Settlement
from settlement.services import trade_settle
from settlement.tasks import sweep
from tests.conftest import api_for, log_in, snapshot

D = Decimal


@pytest.fixture
def book(market):
    """A 9.90 / 10.10 quote, a funded investor, and the exchange operator."""
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="50000")
    operator = market.user(Role.EXCHANGE_OPERATOR)
    return market, mm, investor, operator


def buy(market, investor, coid, price="10.10", tif="IOC"):
    return order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest(market.security.code, "buy", 100, D(price), tif, coid),
    )[0]


def payloads(kind):
    return [
        json.loads(bytes(c))["payload"]
        for c in Entry.objects.filter(kind=kind).order_by("id").values_list("canonical", flat=True)
    ]


def test_a_halted_security_refuses_orders_and_quotes_and_keeps_resting_orders_for_after_resume(book):
    market, mm, investor, operator = book
    resting = buy(market, investor, "rest", price="10.00", tif="DAY")
    assert resting.status == Order.Status.OPEN

    # when the operator halts the security with a reason
    security = services.security_halt(actor=operator, code=market.security.code, reason="Pending announcement")

    # then it is halted, on the ledger and in the audit trail
    assert security.status == Security.Status.HALTED
    assert payloads("HALT") == [
        {
            "scope": "security",
            "security": market.security.code,
            "reason": "Pending announcement",
            "at": payloads("HALT")[0]["at"],
        }
    ]
    assert AuditEvent.objects.filter(action="security_halt", target=market.security.code, actor=operator).exists()

    # and a new order or quote is refused with its own code, changing nothing; the resting order stays
    before = snapshot()
    with pytest.raises(err.SecurityHalted):
        buy(market, investor, "during")
    with pytest.raises(err.SecurityHalted):
        market.quote(mm, "9.95", "10.00")
    assert snapshot() == before
    assert Order.objects.get(pk=resting.pk).status == Order.Status.OPEN

    # when it resumes, a quote crossing the resting order fills it
    services.security_resume(actor=operator, code=market.security.code, reason="Announcement published")
    assert Security.objects.get(pk=market.security.pk).status == Security.Status.LISTED
    assert [p["reason"] for p in payloads("RESUME")] == ["Announcement published"]
    market.quote(mm, "9.90", "10.00")
    assert Order.objects.get(pk=resting.pk).status == Order.Status.FILLED


@pytest.mark.parametrize(
    ("who", "reason", "error"),
    [
        ("investor", "x", err.PermissionDenied),
        ("regulator", "x", err.PermissionDenied),
        ("operator", "  ", err.ReasonRequired),
        ("operator", "x" * 501, err.ReasonTooLong),
    ],
)
def test_a_halt_by_someone_else_or_without_a_reason_changes_nothing(book, who, reason, error):
    market, _mm, investor, operator = book
    actor = {"investor": investor.owner, "regulator": market.user(Role.REGULATOR), "operator": operator}[who]
    before = snapshot()
    with pytest.raises(error):
        services.security_halt(actor=actor, code=market.security.code, reason=reason)
    with pytest.raises(error):
        services.market_halt(actor=actor, reason=reason)
    assert snapshot() == before
    assert not Entry.objects.filter(kind__in=["HALT", "RESUME"]).exists()


def test_halting_twice_or_resuming_what_runs_is_refused(book):
    market, _mm, _investor, operator = book
    with pytest.raises(services.SecurityNotHalted):
        services.security_resume(actor=operator, code=market.security.code, reason="r")
    with pytest.raises(services.MarketNotHalted):
        services.market_resume(actor=operator, reason="r")
    services.security_halt(actor=operator, code=market.security.code, reason="r")
    services.market_halt(actor=operator, reason="r")
    with pytest.raises(services.SecurityAlreadyHalted):
        services.security_halt(actor=operator, code=market.security.code, reason="again")
    with pytest.raises(services.MarketAlreadyHalted):
        services.market_halt(actor=operator, reason="again")
    assert Entry.objects.filter(kind="HALT").count() == 2


def test_the_kill_switch_stops_trading_and_pauses_settlement_until_resume_then_each_trade_settles_once(book):
    market, _mm, investor, operator = book
    # given two trades matched and sealed
    buy(market, investor, "t1"), buy(market, investor, "t2")
    block_seal()
    trades = list(Trade.objects.order_by("id"))
    assert len(trades) == 2

    # when the market is halted
    services.market_halt(actor=operator, reason="Systems incident")

    # then orders are refused everywhere, and the sealed trades do not settle (sealing goes on)
    before = snapshot()
    with pytest.raises(err.MarketHalted):
        buy(market, investor, "t3")
    assert snapshot() == before
    assert [trade_settle(trade_id=t.pk) for t in trades] == [False, False]
    assert sweep() == 0
    assert block_seal() is not None  # the HALT entry is sealed
    assert not Settlement.objects.exists()

    # when it resumes, the sweep settles each waiting trade once, and again settles nothing
    services.market_resume(actor=operator, reason="Incident closed")
    assert sweep() == 2
    assert sweep() == 0
    assert sorted(Settlement.objects.values_list("trade_id", flat=True)) == [t.pk for t in trades]
    assert set(Trade.objects.values_list("status", flat=True)) == {Trade.Status.SETTLED}
    block_seal()
    assert ledger_verify().ok
    assert [p["scope"] for p in payloads("HALT") + payloads("RESUME")] == ["market", "market"]


def test_the_api_halts_and_resumes_and_shows_the_market(book):
    market, _mm, investor, operator = book
    staff, client = api_for(operator), api_for(investor.owner)
    code = market.security.code

    # the operator halts a security: 200 with the security, now halted; an investor's order is refused by name
    halted = staff.post(f"/api/v1/securities/{code}/halt/", {"reason": "Pending news"}, format="json")
    assert (halted.status_code, halted.json()["code"], halted.json()["status"]) == (200, code, "halted")
    order = client.post(
        "/api/v1/orders/",
        {
            "security": code,
            "side": "buy",
            "quantity": 100,
            "limit_price": "10.10",
            "time_in_force": "IOC",
            "client_order_id": "api-1",
        },
        format="json",
    )
    assert (order.status_code, order.json()["code"]) == (409, "security_halted")
    resumed = staff.post(f"/api/v1/securities/{code}/resume/", {"reason": "News out"}, format="json")
    assert resumed.json()["status"] == "listed"

    # the market switch, seen by anyone signed in
    assert client.get("/api/v1/market/").json()["state"] == "open"
    off = staff.post("/api/v1/market/halt/", {"reason": "Drill"}, format="json").json()
    assert (off["state"], off["halted_reason"], off["profile"]) == ("halted", "Drill", "open")
    assert client.get("/api/v1/market/").json()["state"] == "halted"
    assert client.post("/api/v1/market/resume/", {"reason": "mine"}, format="json").status_code == 403
    assert staff.post("/api/v1/market/resume/", {"reason": "Drill over"}, format="json").json()["state"] == "open"
    assert MarketState.objects.get().halted is False

    # bad input is a 4xx that changes nothing
    assert staff.post(f"/api/v1/securities/{code}/halt/", {}, format="json").status_code == 400
    assert staff.post("/api/v1/securities/NOPE/halt/", {"reason": "r"}, format="json").status_code == 404
    assert client.post(f"/api/v1/securities/{code}/halt/", {"reason": "r"}, format="json").status_code == 403
    assert Security.objects.get(code=code).status == Security.Status.LISTED


def test_halting_the_market_on_the_console_says_it_once_in_the_banner(book, client):
    # given the operator on the console
    market, _mm, _investor, operator = book
    log_in(client, operator)
    client.cookies["django_language"] = "en"

    # when they halt the whole market
    page = client.post("/operations/market/halt/", {"reason": "Drill"}, follow=True).content.decode()

    # then the banner says it, with the reason, and no message says it again; the market is halted
    assert 'id="market-halt"' in page and "Drill" in page
    assert page.count("settlement is paused") == 1, page
    assert MarketState.objects.get().halted is True

    # and resuming it says so, once the banner is gone
    resumed = client.post("/operations/market/resume/", {"reason": "Drill over"}, follow=True).content.decode()
    assert "The market trades again; settlement catches up." in resumed and 'id="market-halt"' not in resumed


def test_every_page_says_plainly_that_the_market_is_halted(book, client):
    market, _mm, investor, operator = book
    client.force_login(investor.owner)
    assert "market-halt" not in client.get("/").content.decode()

    services.market_halt(actor=operator, reason="Systems incident")

    for path in ("/", "/orders/new/"):
        page = client.get(path, HTTP_ACCEPT_LANGUAGE="en").content.decode()
        assert "Trading is halted across the market; settlement is paused." in page and "Systems incident" in page
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "全市场已暂停交易" in page


def test_the_market_watch_shows_a_halt_in_each_row_and_no_quotes_to_trade(book):
    market, _mm, _investor, operator = book
    code = market.security.code
    with translation.override("en"):
        # given a quoted security on the watch
        (row,) = market_watch.rows()
        assert (row["status"], row["bid"], row["ask"]) == ("listed", "9.90", "10.10")
        # when the whole market halts, then every row says so and shows no quote (none can trade)
        services.market_halt(actor=operator, reason="Systems incident")
        (row,) = market_watch.rows()
        assert (row["status"], row["status_label"], row["bid"], row["ask"]) == (
            "halted",
            "Halted (whole market)",
            None,
            None,
        )
        # and after the resume, the quotes are back; a halt of the security alone hides them too
        services.market_resume(actor=operator, reason="Fixed")
        assert market_watch.rows()[0]["ask"] == "10.10"
        services.security_halt(actor=operator, code=code, reason="Pending announcement")
        (row,) = market_watch.rows()
        assert (row["status"], row["bid"], row["ask"]) == ("halted", None, None)


def test_the_security_page_shows_a_market_halt_with_no_quotes_and_no_buy_or_sell(book, client):
    # (found by a probe: under the halt banner the security page said "Listed", "Market open", with live quotes
    # and Buy and Sell buttons)
    market, _mm, investor, operator = book
    code = market.security.code
    client.force_login(investor.owner)
    page = client.get(f"/securities/{code}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f"/orders/new/?security={code}&amp;side=buy" in page and "10.10" in page

    # when the whole market halts
    services.market_halt(actor=operator, reason="Systems incident")

    # then the page and its polled data say the security is halted with the market's reason, and offer nothing
    page = client.get(f"/securities/{code}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Halted (whole market)" in page and "Systems incident" in page and "Market open" not in page
    assert f"/orders/new/?security={code}" not in page and "No ask" in page and "No bid" in page
    data = client.get(f"/market/securities/{code}/data/", HTTP_ACCEPT_LANGUAGE="en").json()
    assert (data["status"], data["status_label"], data["halt_reason"]) == (
        "halted",
        "Halted (whole market)",
        "Systems incident",
    )
    # and after the resume it trades again
    services.market_resume(actor=operator, reason="Fixed")
    page = client.get(f"/securities/{code}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f"/orders/new/?security={code}&amp;side=buy" in page and "Halted (whole market)" not in page


def test_the_operator_halts_and_resumes_on_the_console_and_the_ticket_gives_the_reason(book, client):
    market, _mm, investor, operator = book
    code = market.security.code

    # the console is the operator's alone
    log_in(client, investor.owner)
    assert client.get("/operations/").status_code == 403
    client.logout()
    log_in(client, operator)
    console = client.get("/operations/").content.decode()
    assert code in console
    # the kill switch asks before it stops the whole market (found by a probe: one click halted it)
    switch = console.split('id="market-switch"', 1)[1].split("</section>", 1)[0]
    assert "data-confirm=" in switch.split("operations/market/halt/", 1)[1].split(">", 1)[0]

    # a halt without a reason changes nothing and says why
    page = client.post(f"/operations/securities/{code}/halt/", {"reason": " "}, follow=True, HTTP_ACCEPT_LANGUAGE="en")
    assert "Give a reason." in page.content.decode()
    assert Security.objects.get(code=code).status == Security.Status.LISTED

    # a halt with a reason; the investor's ticket is refused with that reason
    client.post(f"/operations/securities/{code}/halt/", {"reason": "Pending announcement"})
    assert Security.objects.get(code=code).halt_reason == "Pending announcement"
    with pytest.raises(err.SecurityHalted, match="Pending announcement"):
        buy(market, investor, "ticket")
    # and the security's page says it is halted, with the reason, and offers no Buy or Sell
    client.logout()
    log_in(client, investor.owner)
    halted_page = client.get(f"/securities/{code}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    session = halted_page.split('id="security-session"', 1)[1].split("</p>", 1)[0]
    assert "status-halted" in session and "Pending announcement" in session and "Market open" not in session
    assert f"/orders/new/?security={code}&amp;side=buy" not in halted_page
    client.logout()
    log_in(client, operator)

    # resume, and the market switch both ways
    client.post(f"/operations/securities/{code}/resume/", {"reason": "Announcement out"})
    client.post("/operations/market/halt/", {"reason": "Drill"})
    with pytest.raises(err.MarketHalted, match="Drill"):
        buy(market, investor, "ticket")
    client.post("/operations/market/resume/", {"reason": "Drill over"})
    assert buy(market, investor, "ticket").status == Order.Status.FILLED
    assert [p["reason"] for p in payloads("HALT")] == ["Pending announcement", "Drill"]


def test_each_switch_writes_its_own_entry_audit_record_and_market_event(book, monkeypatch):
    """The security's switch and the market's (the operator's, and the exchange's own while the ledger is held)
    write through one path: each keeps its entry's payload, its audit record (action, target, actor, detail) and
    the market watches' event."""
    market, _mm, _investor, operator = book
    code = market.security.code
    told = []
    monkeypatch.setattr(services.events, "publish_coalesced", told.append)

    # when each switch is made in turn
    services.security_halt(actor=operator, code=code, reason="s-halt", ip="10.0.0.1")
    services.security_resume(actor=operator, code=code, reason="s-resume", ip="10.0.0.2")
    services.market_halt(actor=operator, reason="m-halt", ip="10.0.0.3")
    services.market_resume(actor=operator, reason="m-resume", ip="10.0.0.4")
    assert services.market_halt_while_ledger_held("sealer held") is True

    # then the entries say scope, security and reason
    entries = list(Entry.objects.filter(kind__in=["HALT", "RESUME"]).order_by("id"))
    said = [(e.kind, json.loads(bytes(e.canonical))["payload"]) for e in entries]
    assert [(kind, {k: v for k, v in p.items() if k != "at"}) for kind, p in said] == [
        ("HALT", {"scope": "security", "security": code, "reason": "s-halt"}),
        ("RESUME", {"scope": "security", "security": code, "reason": "s-resume"}),
        ("HALT", {"scope": "market", "security": None, "reason": "m-halt"}),
        ("RESUME", {"scope": "market", "security": None, "reason": "m-resume"}),
        ("HALT", {"scope": "market", "security": None, "reason": services.LEDGER_HELD_REASON}),
    ]
    state = MarketState.objects.get(id=1)
    assert state.halted and state.reason == services.LEDGER_HELD_REASON

    # and one audit record each, aimed at the security's code or at nothing, naming its entry
    records = list(
        AuditEvent.objects.filter(action__in=["security_halt", "security_resume", "market_halt", "market_resume"])
        .order_by("id")
        .values_list("action", "target", "actor_id", "actor_username", "outcome", "ip", "detail")
    )
    reasons = ["s-halt", "s-resume", "m-halt", "m-resume", services.LEDGER_HELD_REASON]
    ips = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", None]
    actors = [(operator.pk, operator.username)] * 4 + [(None, "")]
    assert records == [
        (action, target, actor, username, "ok", ip, {"reason": reason, "entry": entry.pk})
        for action, target, (actor, username), ip, reason, entry in zip(
            ["security_halt", "security_resume", "market_halt", "market_resume", "market_halt"],
            [code, code, "", "", ""],
            actors,
            ips,
            reasons,
            entries,
            strict=True,
        )
    ]
    # and the open market watches are told of each
    assert told == ["market"] * 5

    # and a switch that changes nothing is refused with its own code, writing nothing
    before = snapshot()
    codes = []
    for call in (
        lambda: services.market_halt(actor=operator, reason="again"),
        lambda: services.security_resume(actor=operator, code=code, reason="again"),
    ):
        with pytest.raises(err.DomainError) as refused:
            call()
        codes.append((refused.value.code, refused.value.status))
    assert codes == [("market_already_halted", 409), ("security_not_halted", 409)]
    assert services.market_halt_while_ledger_held("again") is False
    assert snapshot() == before
    assert told == ["market"] * 5
