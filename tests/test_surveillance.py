"""Market surveillance (issue 11 item 6): each rule fires on its case and stays quiet on its twin; the engine
runs once per sealed block and a second run writes nothing; the regulator works the alerts and edits the rules
(API and pages), each move and note kept in the alert's append-only history; everyone else gets 403 and nothing
changes."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from balances.services import cash_deposit
from core.models import AuditEvent, Role
from core.roles import STAFF_ROLES
from demo.onboarding import approved_investor
from exchange.models import Trade
from exchange.services import OrderRequest, order_cancel, order_place
from ledger import hooks
from ledger.models import Leaf
from ledger.services import block_seal
from registry import disclosures
from surveillance import rules, services, tasks
from surveillance.models import Alert, AlertEvent, Rule, ScannedBlock
from surveillance.rehearsal import crossed_trade_write
from tests.conftest import api_for, log_in

D = Decimal
_ids = itertools.count(70_000)


@pytest.fixture(autouse=True)
def _rules(db):
    services.rules_seed()


def seal_and_scan() -> tuple[int, int]:
    """Seal what waits and scan the new block: (height, alerts written)."""
    result = block_seal()
    assert result is not None
    return result.block.height, services.block_scan(height=result.block.height)


def alerts(code: str) -> list[Alert]:
    return list(Alert.objects.filter(rule__code=code).order_by("id"))


def twin_investors(market, *, same_identity: bool):
    """Two approved investors of ``market``'s broker: one person with two accounts, or two people."""
    seq = next(_ids)
    first = approved_investor(
        username=f"twin{seq}a", broker=market.broker, maker=market.staff, checker=market.checker, seq=seq
    )
    second = approved_investor(
        username=f"twin{seq}b",
        broker=market.broker,
        maker=market.staff,
        checker=market.checker,
        seq=seq if same_identity else next(_ids),
    )
    return first, second


def buy(market, investor, price: str, quantity: int = 100, *, security=None, coid=None):
    code = (security or market.security).code
    return order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest(code, "buy", quantity, D(price), "IOC", coid or f"c{next(_ids)}"),
    )[0]


def settings_of(code: str, **thresholds) -> None:
    rule = Rule.objects.get(code=code)
    Rule.objects.filter(pk=rule.pk).update(thresholds={**rule.thresholds, **thresholds})


# --------------------------------------------------------------------------
# The rules


@pytest.mark.parametrize("same_identity", [True, False])
def test_a_trade_between_two_accounts_of_one_identity_is_a_wash_trade(market, same_identity):
    seller, buyer = twin_investors(market, same_identity=same_identity)
    market.issue(seller, 1000)
    cash_deposit(actor=market.staff, account=buyer, amount=D("5000"))

    # when the two accounts trade with each other and the block is sealed and scanned
    trade = crossed_trade_write(
        security_code=market.security.code, buyer=buyer, seller=seller, price=D("10.00"), quantity=100
    )
    # (a negotiated transfer, as two investors may trade: it read "market_making", which never pairs investors)
    assert trade.mode == "negotiated" and Trade.objects.get(pk=trade.pk).mode == "negotiated"
    height, _written = seal_and_scan()

    # then one wash-trade alert names both accounts, the trade and its leaf, if and only if they are one person
    if not same_identity:
        assert alerts("wash_trade") == []
        return
    [alert] = alerts("wash_trade")
    leaf = Leaf.objects.get(entry_id=trade.entry_id).leaf_index
    assert (alert.block_height, alert.key, alert.accounts, alert.trades, alert.leaves, alert.state) == (
        height,
        f"trade:{trade.pk}",
        [buyer.code, seller.code],
        [trade.pk],
        [leaf],
        Alert.State.NEW,
    )
    assert alert.security_id == market.security.pk
    # and it carries no personal data: neither the name nor the identity index
    assert "Investor" not in str(alert.detail) and "identity" not in alert.detail


@pytest.mark.parametrize(("max_holders", "venue_cap", "fires"), [(4, None, True), (5, None, False), (200, 4, True)])
def test_a_holder_cap_reaching_90_percent_raises_an_alert(market, monkeypatch, max_holders, venue_cap, fires):
    # (and against the venue profile's cap where it is the lower: the rule read the security's alone)
    from registry import profile

    if venue_cap is not None:
        monkeypatch.setattr(profile, "max_holders", lambda security: min(security.max_holders, venue_cap))
    security = market.new_security("HC1", max_holders=max_holders)
    mm = market.market_maker(shares=0)
    market.issue(mm, 10_000, security=security)
    market.quote(mm, "9.90", "10.10", security=security)
    for holder in (market.investor(), market.investor()):
        market.issue(holder, 100, security=security)
    buyer = market.investor(cash="5000")

    # when a fourth identity buys (the market maker, two holders, the buyer)
    buy(market, buyer, "10.10", security=security)
    seal_and_scan()

    # then 4 holders of a cap of 4 (100 %) fire; 4 of 5 (80 %) do not
    found = alerts("holder_cap")
    if not fires:
        assert found == []
        return
    [alert] = found
    assert (alert.key, alert.accounts, alert.detail) == (
        "security:HC1",
        [buyer.code],
        {"holders": 4, "max_holders": 4},
    )
    assert alert.trades == list(Trade.objects.filter(security=security).values_list("id", flat=True))


@pytest.mark.parametrize(("ask", "fires"), [("13.00", True), ("12.99", True), ("12.98", False)])
def test_a_price_within_a_tick_of_the_band_edge_raises_an_alert(market, ask, fires):
    mm = market.market_maker()
    market.quote(mm, "9.90", ask)
    investor = market.investor(cash="5000")

    # when the investor buys at the ask (band 7.00 … 13.00, one tick is 0.01)
    buy(market, investor, ask)
    seal_and_scan()

    found = alerts("band_edge")
    if not fires:
        assert found == []
        return
    [alert] = found
    assert alert.accounts == [investor.code]
    assert alert.detail == {"price": ask, "band_low": "7.00", "band_high": "13.00", "edge": "high"}


@pytest.mark.parametrize(("ask", "reference", "fires"), [("13.00", "20.00", True), ("10.00", "7.70", False)])
def test_the_band_edge_is_judged_by_the_band_the_trade_was_made_in(market, ask, reference, fires):
    # (found by a probe: the rule read the band at the scan; a change of the reference price before it took the
    # alert from a trade at the edge, and raised one for a trade mid-band)
    from core.models import Role
    from registry.listing import security_change

    mm = market.market_maker()
    market.quote(mm, "9.90", ask)
    investor = market.investor(cash="5000")
    buy(market, investor, ask)  # in the band 7.00 … 13.00
    operator = market.user(Role.EXCHANGE_OPERATOR)
    # when the operator moves the reference price before the block is scanned
    security_change(actor=operator, code=market.security.code, data={"reference_price": reference}, reason="x")
    seal_and_scan()
    # then the trade at the edge of its band raises the alert, with that band, and the one mid-band none
    found = alerts("band_edge")
    assert len(found) == (1 if fires else 0)
    if fires:
        assert found[0].detail == {"price": ask, "band_low": "7.00", "band_high": "13.00", "edge": "high"}


@pytest.mark.parametrize("history", [False, True])
def test_a_days_value_ten_times_the_usual_raises_an_alert(market, history):
    settings_of("value_spike", minimum_value="1000.00")
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10", ask_qty=5000)
    investor = market.investor(cash="50000")
    if history:
        # a trade of 10,100 CNY five days ago: a daily average of 505 over 20 days, so 1,010 today is only 2×
        old = buy(market, investor, "10.10", 1000)
        Trade.objects.filter(buy_order=old).update(matched_at=old.created_at - dt.timedelta(days=5))
        seal_and_scan()
        Alert.objects.all().delete()

    # when the investor trades 1,010 CNY today
    buy(market, investor, "10.10", 100)
    seal_and_scan()

    found = alerts("value_spike")
    if history:
        assert found == []
        return
    [alert] = found
    assert alert.accounts == [investor.code]
    assert (alert.detail["value"], alert.detail["daily_average"]) == ("1010.00", "0.00")
    assert alert.security_id == market.security.pk  # its one security


def test_a_value_spike_across_securities_says_several_securities(market):
    # (as an order burst does: it said "—", naming nothing)
    settings_of("value_spike", minimum_value="1000.00")
    other = market.new_security("VS2")
    mm = market.market_maker()
    market.issue(mm, 10_000, security=other)
    market.quote(mm, "9.90", "10.10")
    market.quote(mm, "9.90", "10.10", security=other)
    investor = market.investor(cash="50000")

    # when the investor trades 1,010 CNY in each of two securities today
    buy(market, investor, "10.10", 100)
    buy(market, investor, "10.10", 100, security=other)
    seal_and_scan()

    # then the alert names no one security, and both codes
    [alert] = alerts("value_spike")
    assert (alert.security_id, alert.detail["securities"]) == (None, sorted([market.security.code, other.code]))
    assert alert.detail["value"] == "2020.00"


@pytest.mark.parametrize(("cancels", "fires"), [(10, True), (9, False)])
def test_a_burst_of_orders_and_cancels_raises_an_alert(market, cancels, fires):
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="20000")
    seal_and_scan()

    # when the investor places 10 resting orders and cancels `cancels` of them within seconds
    burst(market, investor, [market.security] * 10, cancels=cancels)
    seal_and_scan()

    # then 20 orders and cancels fire (the default is 20 within 60 s); 19 do not
    found = alerts("order_burst")
    if not fires:
        assert found == []
        return
    [alert] = found
    assert (alert.key, alert.accounts, alert.detail) == (
        f"account:{investor.code}",
        [investor.code],
        {"events": 20, "window_seconds": 60},
    )
    assert alert.security_id == market.security.pk  # the one security of its orders


def burst(market, investor, securities, *, cancels: int) -> None:
    """``investor`` places one resting DAY order in each of ``securities`` and cancels the first ``cancels``; then
    an entry, so that a block is sealed."""
    for i, security in enumerate(securities):
        order = order_place(
            placed_by=investor.owner,
            account=investor,
            request=OrderRequest(security.code, "buy", 100, D("9.00"), "DAY", f"burst{next(_ids)}"),
        )[0]
        if i < cancels:
            order_cancel(actor=investor.owner, order_id=order.pk)
    cash_deposit(actor=market.staff, account=investor, amount=D("1"))


def test_a_burst_across_securities_says_several_securities(client, market):
    # given an investor with cash, and a second security
    other = market.new_security("OB2")
    investor = market.investor(cash="20000")
    seal_and_scan()

    # when its burst of 20 orders and cancels is in two securities
    burst(market, investor, [market.security, other] * 5, cancels=10)
    seal_and_scan()

    # then the alert names no one security, and both securities' codes in its detail
    [alert] = alerts("order_burst")
    codes = sorted([market.security.code, other.code])
    assert (alert.security_id, alert.detail) == (None, {"events": 20, "window_seconds": 60, "securities": codes})
    # and the API says so: no `security`, several `securities`
    row = api_for(market.user(Role.REGULATOR)).get(f"/api/v1/alerts/{alert.pk}/").json()
    assert (row["security"], row["securities"]) == (None, codes)
    # and the pages too, in both languages: the list, and the alert's page with the codes (not among the figures)
    log_in(client, market.user(Role.AUDITOR))
    for language, words in (("en", "Several securities"), ("zh-hans", "多只证券")):
        client.cookies["django_language"] = language
        listing = client.get("/surveillance/?rule=order_burst").content.decode()
        assert f"<td>{words}</td>" in listing.split(f'data-id="{alert.pk}"', 1)[1].split("</tr>", 1)[0]
        page = client.get(f"/surveillance/alerts/{alert.pk}/").content.decode()
        security = page.split('id="alert-security">', 1)[1].split("</dd>", 1)[0]
        assert security == f'{words}: <span class="code">{codes[0]}</span>, <span class="code">{codes[1]}</span>'
        assert "[&#x27;" not in page  # the list is not printed among the figures


def test_the_api_names_the_one_security_of_an_alert(market):
    alert = wash_alert(market)
    row = api_for(market.user(Role.AUDITOR)).get(f"/api/v1/alerts/{alert.pk}/").json()
    assert (row["security"], row["securities"]) == (market.security.code, [market.security.code])


@pytest.mark.parametrize("same_security", [True, False])
def test_trading_just_before_a_disclosure_raises_an_alert(market, same_security):
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="5000")
    trade_order = buy(market, investor, "10.10")
    seal_and_scan()
    other = market.new_security("OTH1")
    publisher = market.user(Role.EXCHANGE_OPERATOR)

    # when a document of the security (or of another one) is published within 24 hours of the trade
    document = disclosures.disclosure_publish(
        actor=publisher,
        code=(market.security if same_security else other).code,
        kind="announcement",
        title="Profit warning",
        filename="n.txt",
        content=b"Profit warning\n",
    )
    height, _written = seal_and_scan()

    found = alerts("pre_disclosure")
    if not same_security:
        assert found == []
        return
    [alert] = found
    trade = Trade.objects.get(buy_order=trade_order)
    assert (alert.block_height, alert.key, alert.accounts, alert.trades) == (
        height,
        f"disclosure:{document.pk}:account:{investor.code}",
        [investor.code],
        [trade.pk],
    )
    assert alert.detail["net_quantity"] == 100 and alert.detail["title"] == "Profit warning"


# --------------------------------------------------------------------------
# The engine


def wash_alert(market) -> Alert:
    """One wash-trade alert, as the demo raises it."""
    seller, buyer = twin_investors(market, same_identity=True)
    market.issue(seller, 1000)
    cash_deposit(actor=market.staff, account=buyer, amount=D("5000"))
    crossed_trade_write(security_code=market.security.code, buyer=buyer, seller=seller, price=D("10.00"), quantity=100)
    seal_and_scan()
    return Alert.objects.get(rule__code="wash_trade")


def test_a_second_run_over_a_block_writes_nothing_new(market):
    alert = wash_alert(market)
    before = list(Alert.objects.values())

    # when the block is scanned again (a retried or duplicated task)
    written = tasks.scan_block(alert.block_height)

    # then nothing is written, and the alert is unchanged
    assert written == 0
    assert list(Alert.objects.values()) == before


def test_a_sealed_block_queues_its_scan(market, monkeypatch):
    queued = []
    monkeypatch.setattr(tasks.scan_block, "delay", queued.append)
    seller, buyer = twin_investors(market, same_identity=True)
    market.issue(seller, 1000)
    cash_deposit(actor=market.staff, account=buyer, amount=D("5000"))
    crossed_trade_write(security_code=market.security.code, buyer=buyer, seller=seller, price=D("10.00"), quantity=100)
    height = block_seal().block.height

    # when the ledger runs its after-seal hooks (as ledger.tasks.seal does after the sealing commit)
    assert tasks.block_sealed in hooks.after_seal
    tasks.block_sealed(height)

    # then the block's scan is queued, and the queued task raises the alert
    assert queued == [height]
    assert Alert.objects.count() == 0
    assert tasks.scan_block(queued[0]) == 1
    assert [a.rule.code for a in Alert.objects.all()] == ["wash_trade"]


def _sealed_unscanned(market) -> int:
    """A block with a wash trade in it, sealed, whose scan task was lost (never ran)."""
    seller, buyer = twin_investors(market, same_identity=True)
    market.issue(seller, 1000)
    cash_deposit(actor=market.staff, account=buyer, amount=D("5000"))
    crossed_trade_write(security_code=market.security.code, buyer=buyer, seller=seller, price=D("10.00"), quantity=100)
    return block_seal().block.height


def test_beats_sweep_scans_a_sealed_block_whose_scan_was_lost(market, monkeypatch):
    # Given a sealed block whose scan task was lost with Redis's queue, and blocks before it scanned
    height = _sealed_unscanned(market)
    ScannedBlock.objects.bulk_create(
        [ScannedBlock(height=h, scanned_at=timezone.now()) for h in range(height)], ignore_conflicts=True
    )
    assert Alert.objects.count() == 0
    # When beat's sweep runs once the block's own scan had its time (the grace, here none)
    monkeypatch.setattr(services, "SWEEP_GRACE_SECONDS", 0)
    scanned = tasks.scan_missed()
    # Then that block is scanned: its alert raised, the block recorded as scanned
    assert scanned == 1
    assert [(a.rule.code, a.block_height) for a in Alert.objects.all()] == [("wash_trade", height)]
    assert ScannedBlock.objects.filter(height=height).exists()
    # and a second sweep finds nothing more to do, and writes nothing
    before = list(Alert.objects.values())
    assert tasks.scan_missed() == 0
    assert list(Alert.objects.values()) == before


def test_the_sweep_leaves_a_scanned_block_alone(market, monkeypatch):
    # Given a block scanned by the task its seal queued
    height = _sealed_unscanned(market)
    assert tasks.scan_block(height) == 1
    assert ScannedBlock.objects.filter(height=height).exists()
    scans = []
    monkeypatch.setattr(services, "block_scan", lambda *, height: scans.append(height))
    monkeypatch.setattr(services, "SWEEP_GRACE_SECONDS", 0)
    # When beat's sweep runs
    done = services.missed_scan()
    # Then it scans nothing again (the blocks below it were sealed by the market's set-up and scanned or not,
    # they are the only others it may take)
    assert height not in scans
    assert done == len(scans)


def test_the_sweep_leaves_a_block_just_sealed_to_its_own_scan(market, monkeypatch):
    # Given a block sealed just now, its scan task still on its way
    fresh = _sealed_unscanned(market)
    scans = []
    monkeypatch.setattr(services, "block_scan", lambda *, height: scans.append(height))
    # When beat's sweep runs
    done = services.missed_scan()
    # Then it leaves the block to its own task: nothing scanned, nothing recorded, no alert
    assert fresh not in scans and done == len(scans)
    assert not ScannedBlock.objects.filter(height=fresh).exists()
    assert Alert.objects.filter(block_height=fresh).count() == 0


def test_the_sweep_runs_every_minute_in_the_background():
    from django.conf import settings

    entry = next(e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "surveillance.tasks.scan_missed")
    assert entry["schedule"] <= 60
    assert (
        settings.CELERY_TASK_ROUTES["surveillance.tasks.scan_missed"]["priority"] == settings.CELERY_BACKGROUND_PRIORITY
    )


def test_a_disabled_rule_raises_nothing(market):
    Rule.objects.filter(code="wash_trade").update(enabled=False)
    seller, buyer = twin_investors(market, same_identity=True)
    market.issue(seller, 1000)
    cash_deposit(actor=market.staff, account=buyer, amount=D("5000"))
    crossed_trade_write(security_code=market.security.code, buyer=buyer, seller=seller, price=D("10.00"), quantity=100)
    seal_and_scan()
    assert alerts("wash_trade") == []


# --------------------------------------------------------------------------
# The API and the pages


UNCHANGED_EN = "Send a note, or a new state, or both: nothing was changed."
UNCHANGED_ZH = "请提交说明或新状态（或两者）：未作任何更改。"


def alert_state() -> list:
    """The alerts as the regulator works them, and their histories."""
    return [
        *Alert.objects.order_by("id").values_list("state", "note", "updated_by_id", "updated_at"),
        *AlertEvent.objects.order_by("id").values_list("alert_id", "from_state", "to_state", "note", "by_id", "at"),
    ]


def rule_state() -> list:
    return list(Rule.objects.order_by("id").values_list("code", "enabled", "thresholds", "updated_by_id"))


def test_the_regulator_lists_filters_reviews_and_closes_an_alert(market):
    alert = wash_alert(market)
    regulator = market.user(Role.REGULATOR)
    client = api_for(regulator)

    # the list, filtered by state and by rule
    body = client.get("/api/v1/alerts/", {"state": "new", "rule": "wash_trade"}).json()
    assert body["count"] == 1
    [row] = body["results"]
    assert (row["id"], row["rule"], row["accounts"], row["trades"], row["leaves"], row["state"]) == (
        alert.pk,
        "wash_trade",
        alert.accounts,
        alert.trades,
        alert.leaves,
        "new",
    )
    assert client.get("/api/v1/alerts/", {"state": "closed"}).json()["count"] == 0
    assert client.get("/api/v1/alerts/", {"rule": "band_edge"}).json()["count"] == 0
    # an unknown rule or state is a bad filter, a 400 naming it, not "no such rule" nor an empty list
    for params in ({"rule": "bogus"}, {"state": "open"}):
        refused = client.get("/api/v1/alerts/", params)
        assert refused.status_code == 400, params
        assert next(iter(params)) in str(refused.json()) or refused.json()["code"] == "unknown_alert_state"

    # under review, then closed with a note
    response = client.patch(f"/api/v1/alerts/{alert.pk}/", {"state": "under_review"}, format="json")
    assert response.status_code == 200 and response.json()["state"] == "under_review"
    # an alert moves on only: under review, it cannot be made new again (found by a walk-through)
    backwards = client.patch(f"/api/v1/alerts/{alert.pk}/", {"state": "new"}, format="json")
    assert backwards.status_code == 409 and backwards.json()["code"] == "alert_backwards"
    assert Alert.objects.get(pk=alert.pk).state == "under_review"
    response = client.patch(
        f"/api/v1/alerts/{alert.pk}/", {"state": "closed", "note": "Same family, explained"}, format="json"
    )
    assert response.status_code == 200
    assert (response.json()["state"], response.json()["note"], response.json()["updated_by"]) == (
        "closed",
        "Same family, explained",
        regulator.username,
    )
    changes = AuditEvent.objects.filter(action="alert_change", actor=regulator, target=f"alert:{alert.pk}")
    assert changes.filter(outcome="ok").count() == 2
    # (the backward step is on the trail too, as refused, under the same action and alert: core.audit_actions)
    assert list(changes.filter(outcome="refused").values_list("detail__code", flat=True)) == ["alert_backwards"]

    # a closed alert stays closed
    before = alert_state()
    response = client.patch(f"/api/v1/alerts/{alert.pk}/", {"state": "new"}, format="json")
    assert (response.status_code, response.json()["code"]) == (409, "alert_closed")
    assert alert_state() == before


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"state": "closed"}, 400, "note_required"),
        ({"state": "closed", "note": "   "}, 400, "note_required"),
        ({"state": "done", "note": "x"}, 400, "unknown_alert_state"),
        ({"state": "closed", "note": "x" * 2001}, 400, "invalid_input"),
        ({}, 400, "alert_unchanged"),
        ({"note": ""}, 400, "alert_unchanged"),
        ({"state": "new"}, 400, "alert_unchanged"),
        ("not an object", 400, "invalid_input"),
    ],
)
def test_a_bad_alert_change_is_refused_and_changes_nothing(market, body, status, code):
    alert = wash_alert(market)
    client = api_for(market.user(Role.REGULATOR))
    before, audits = alert_state(), AuditEvent.objects.exclude(outcome="refused").count()
    response = client.patch(f"/api/v1/alerts/{alert.pk}/", body, format="json")
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert alert_state() == before and AuditEvent.objects.exclude(outcome="refused").count() == audits
    assert client.patch("/api/v1/alerts/999999/", {"state": "new"}, format="json").status_code == 404
    assert client.get("/api/v1/alerts/", {"state": "bogus"}).status_code == 400


def test_the_regulator_edits_a_threshold_and_the_next_block_uses_it(market):
    regulator = market.user(Role.REGULATOR)
    client = api_for(regulator)
    rules = {r["code"]: r for r in client.get("/api/v1/alerts/rules/").json()}
    assert rules["band_edge"]["thresholds"] == {"ticks": 1} and len(rules) == 7
    assert rules["split_view"]["thresholds"] == {}  # raised by a witness's refusal, not by a block scan

    # when the band-edge rule is widened to 20 ticks
    response = client.patch("/api/v1/alerts/rules/band_edge/", {"thresholds": {"ticks": 20}}, format="json")
    assert response.status_code == 200 and response.json()["thresholds"] == {"ticks": 20}
    event = AuditEvent.objects.get(action="surveillance_rule_change", target="band_edge")
    assert (event.actor, event.detail) == (
        regulator,
        {
            "before": {"enabled": True, "thresholds": {"ticks": 1}},
            "after": {"enabled": True, "thresholds": {"ticks": 20}},
        },
    )

    # then a trade at 12.90 (10 ticks from the 13.00 edge) fires
    mm = market.market_maker()
    market.quote(mm, "9.90", "12.90")
    buy(market, market.investor(cash="5000"), "12.90")
    seal_and_scan()
    assert len(alerts("band_edge")) == 1


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("band_edge", {"thresholds": {"ticks": -1}}, 400),
        ("band_edge", {"thresholds": {"ticks": "1.5"}}, 400),
        ("band_edge", {"thresholds": {"ticks": 1.0}}, 400),
        ("band_edge", {"thresholds": {"ticks": "many"}}, 400),
        ("band_edge", {"thresholds": {"ticks": 1, "extra": 2}}, 400),
        ("band_edge", {"thresholds": {}}, 400),
        ("value_spike", {"thresholds": {"multiple": "NaN", "lookback_days": 20, "minimum_value": "1"}}, 400),
        ("value_spike", {"thresholds": {"multiple": "3", "lookback_days": 20, "minimum_value": "0.001"}}, 400),
        ("band_edge", {"enabled": "maybe"}, 400),
        ("band_edge", {}, 400),
        ("no_such_rule", {"enabled": False}, 404),
    ],
)
def test_a_bad_threshold_is_refused_and_changes_nothing(market, path, body, status):
    client = api_for(market.user(Role.REGULATOR))
    before, audits = rule_state(), AuditEvent.objects.exclude(outcome="refused").count()
    response = client.patch(f"/api/v1/alerts/rules/{path}/", body, format="json")
    assert response.status_code == status, response.json()
    assert set(response.json()) >= {"code", "message"}
    assert rule_state() == before and AuditEvent.objects.exclude(outcome="refused").count() == audits


RULE_UNCHANGED_EN = (
    "Send enabled, or thresholds, or both, with a value the rule does not have yet: nothing was changed."
)
RULE_UNCHANGED_ZH = "请提交 enabled 或 thresholds（或两者），且须与规则现有的值不同：未作任何更改。"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"enabled": True},
        {"thresholds": {"ticks": 1}},
        {"thresholds": {"ticks": "1"}},
        {"enabled": True, "thresholds": {"ticks": 1}},
    ],
    ids=["empty", "same-enabled", "same-thresholds", "same-thresholds-as-text", "same-both"],
)
@pytest.mark.parametrize(
    ("language", "message"), [("en", RULE_UNCHANGED_EN), ("zh-hans", RULE_UNCHANGED_ZH)], ids=["en", "zh"]
)
def test_a_rule_change_that_changes_nothing_is_refused_and_writes_nothing(market, body, language, message):
    # (found by a probe: an empty body said only "The input is not valid.", the same values answered 200 and wrote
    # an audit record of a change)
    # given the band-edge rule as seeded: enabled, 1 tick
    client = api_for(market.user(Role.REGULATOR))
    before, audits = rule_state(), AuditEvent.objects.exclude(outcome="refused").count()
    assert Rule.objects.filter(code="band_edge", enabled=True, thresholds={"ticks": 1}).exists()

    # when the regulator sends a change that changes nothing (nothing, or the values the rule already has)
    response = client.patch("/api/v1/alerts/rules/band_edge/", body, format="json", HTTP_ACCEPT_LANGUAGE=language)

    # then it is a 400 naming what may be sent, in the reader's language
    assert (response.status_code, response.json()) == (400, {"code": "rule_unchanged", "message": message})
    # and the rule is as it was, with no audit record of a change
    assert rule_state() == before and AuditEvent.objects.exclude(outcome="refused").count() == audits
    assert not AuditEvent.objects.filter(action="surveillance_rule_change").exclude(outcome="refused").exists()


def test_the_rules_page_says_a_save_that_changes_nothing_changed_nothing(client, market):
    log_in(client, market.user(Role.REGULATOR))
    client.cookies["django_language"] = "en"
    before = rule_state()

    # when the regulator saves the holder-cap rule as it is
    response = client.post("/surveillance/rules/holder_cap/", {"enabled": "on", "t_percent_of_max": "90"}, follow=True)

    # then the page says nothing was changed, not that the rule is saved, and nothing was written
    page = response.content.decode()
    assert "is as it was: nothing was changed." in page and "is saved." not in page
    assert rule_state() == before
    assert not AuditEvent.objects.filter(action="surveillance_rule_change").exclude(outcome="refused").exists()


def test_a_refused_rule_change_keeps_what_was_typed_and_reads_its_bounds_grouped(client, market):
    # (found by a walk: a figure out of range came back as a message over the stored figure, the typed one gone,
    # and the bounds read "(0 – 1000000000000)", twelve zeros to count)
    log_in(client, market.user(Role.REGULATOR))
    client.cookies["django_language"] = "en"
    before = rule_state()

    # when the regulator sets the value-spike rule's minimum value past its bound, and switches the rule off
    body = {"t_multiple": "12", "t_lookback_days": "30", "t_minimum_value": "2000000000000"}
    response = client.post("/surveillance/rules/value_spike/", body)

    # then the page is the rules page again, refused, saying the bounds grouped by thousands
    assert response.status_code == 400
    page = response.content.decode()
    assert "Minimum value of the day (CNY): Between 0 and 1,000,000,000,000." in page
    assert "(0 – 1,000,000,000,000)" in page and "1000000000000)" not in page
    # and the rule's form holds what was typed, switched off as sent; the other rules show what is stored
    assert 'name="t_minimum_value" value="2000000000000" required aria-invalid="true"' in page
    assert '<p class="error">Between 0 and 1,000,000,000,000.</p>' in page  # under the field, which is marked
    assert 'name="t_lookback_days" value="30"' in page and 'name="t_multiple" value="12"' in page
    form = page.split('id="rule-value_spike"')[1].split("</form>")[0]
    assert 'name="enabled" checked' not in form
    assert 'name="t_percent_of_max" value="90"' in page
    # and nothing was changed or recorded as changed
    assert rule_state() == before
    assert not AuditEvent.objects.filter(action="surveillance_rule_change", outcome="ok").exists()


@pytest.mark.parametrize("role", sorted(set(Role.values) - {Role.REGULATOR}))
def test_only_the_regulator_changes_alerts_and_rules_and_only_regulators_and_auditors_read(market, role):
    alert = wash_alert(market)
    user = market.investor().owner if role == Role.INVESTOR else market.user(role)
    client = api_for(user)
    before, rules_before = alert_state(), rule_state()

    patch = client.patch(f"/api/v1/alerts/{alert.pk}/", {"state": "closed", "note": "x"}, format="json")
    rule = client.patch("/api/v1/alerts/rules/band_edge/", {"enabled": False}, format="json")
    assert (patch.status_code, rule.status_code) == (403, 403)
    assert patch.json()["code"] == "permission_denied"
    assert alert_state() == before and rule_state() == rules_before
    # nor do they reopen a closed alert
    services.alert_change(actor=market.user(Role.REGULATOR), alert_id=alert.pk, state="closed", note="Explained")
    before = alert_state()
    reopen = client.post(f"/api/v1/alerts/{alert.pk}/reopen/", {"note": "Look again"}, format="json")
    assert (reopen.status_code, reopen.json()["code"]) == (403, "permission_denied")
    assert alert_state() == before
    assert not AuditEvent.objects.filter(action="alert_reopen", outcome="ok").exists()
    # a staff member's attempt is on the trail as refused, under the action it attempted (core.audit_actions)
    attempts = AuditEvent.objects.filter(action="alert_reopen", outcome="refused", target=f"alert:{alert.pk}")
    assert attempts.count() == (1 if role in STAFF_ROLES else 0)
    reads = [
        client.get(p).status_code for p in ("/api/v1/alerts/", f"/api/v1/alerts/{alert.pk}/", "/api/v1/alerts/rules/")
    ]
    assert reads == ([200, 200, 200] if role == Role.AUDITOR else [403, 403, 403])


def test_the_console_pages_for_the_regulator_and_the_auditor(client, market):
    alert = wash_alert(market)
    regulator = market.user(Role.REGULATOR)
    log_in(client, regulator)
    page = client.get("/surveillance/?state=new&rule=wash_trade")
    assert page.status_code == 200 and f'data-id="{alert.pk}"' in page.content.decode()
    # its time as every other page writes it: Beijing time, year first
    beijing = timezone.localtime(alert.created_at, ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M:%S")
    assert beijing in page.content.decode()
    detail = client.get(f"/surveillance/alerts/{alert.pk}/").content.decode()
    assert f'href="/ledger/entries/{alert.leaves[0]}/"' in detail and 'id="alert-change"' in detail
    assert client.get("/surveillance/rules/").status_code == 200

    # closing without a note is a form error; with one, it closes
    client.post(f"/surveillance/alerts/{alert.pk}/change/", {"state": "closed", "note": ""})
    assert Alert.objects.get(pk=alert.pk).state == Alert.State.NEW
    client.post(f"/surveillance/alerts/{alert.pk}/change/", {"state": "closed", "note": "Explained"})
    assert Alert.objects.get(pk=alert.pk).state == Alert.State.CLOSED

    # a bad threshold on the rules page is a form error and changes nothing; a good one is saved
    before = rule_state()
    response = client.post("/surveillance/rules/holder_cap/", {"enabled": "on", "t_percent_of_max": "150"}, follow=True)
    body = response.content.decode()
    error = body.split("msg-error")[-1].split("</", 1)[0]  # the newest message: the threshold's
    with translation.override(response.headers.get("Content-Language", "zh-hans")):
        label = str(rules.THRESHOLDS["holder_cap"]["percent_of_max"].label)
    assert label in error and "percent_of_max" not in error and rule_state() == before
    client.post("/surveillance/rules/holder_cap/", {"enabled": "on", "t_percent_of_max": "80"})
    assert Rule.objects.get(code="holder_cap").thresholds == {"percent_of_max": 80}

    # in Chinese too
    client.cookies["django_language"] = "zh-hans"
    assert "监控" in client.get("/surveillance/").content.decode()


def test_an_alert_leads_to_its_trades_its_security_and_what_the_regulator_does_about_its_accounts(client, market):
    # (found by a probe: the accounts, the trade and the security of an alert were plain text, so a regulator
    # copied the codes by hand into the reveal, the freeze and the audit pages)
    alert = wash_alert(market)
    (trade_id,) = alert.trades
    log_in(client, market.user(Role.REGULATOR))
    before = (AuditEvent.objects.filter(action="identity_reveal").count(), list(Alert.objects.values()))

    # when the regulator opens the alert
    page = client.get(f"/surveillance/alerts/{alert.pk}/").content.decode()

    # then its trade and its security are links, and each account leads to its identity reveal (a search, not a
    # reveal: that stays a recorded step with a reason), to a freeze proposal with the account filled in, and to
    # its audit trail
    assert f'href="/trades/{trade_id}/"' in page and f'href="/securities/{market.security.code}/"' in page
    for code in alert.accounts:
        assert f'href="/kyc/reveal/?q={code}"' in page
        assert f'href="/supervision/?account={code}#freeze-new"' in page
        assert f'href="/settlement/?account={code}#instruction-new"' in page
        assert f'href="/audit/?target={code}"' in page
    # and the freeze form opens with that account in it, nothing proposed
    console = client.get(f"/supervision/?account={alert.accounts[0]}").content.decode()
    assert f'value="{alert.accounts[0]}"' in console.split('name="freeze-account"', 1)[1].split(">", 1)[0]
    monitor = client.get(f"/settlement/?account={alert.accounts[0]}").content.decode()
    assert f'value="{alert.accounts[0]}"' in monitor.split('name="account"', 1)[1].split(">", 1)[0]
    assert (AuditEvent.objects.filter(action="identity_reveal").count(), list(Alert.objects.values())) == before

    # and an auditor, who reveals and freezes nothing, is led to the audit trail alone
    auditor = Client()
    log_in(auditor, market.user(Role.AUDITOR))
    read = auditor.get(f"/surveillance/alerts/{alert.pk}/").content.decode()
    assert f'href="/audit/?target={alert.accounts[0]}"' in read
    assert (
        "/kyc/reveal/?q=" not in read and "/supervision/?account=" not in read and "/settlement/?account=" not in read
    )


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.EXCHANGE_OPERATOR, Role.BROKER_STAFF])
def test_the_console_refuses_changes_from_others(client, market, role):
    alert = wash_alert(market)
    log_in(client, market.user(role))
    before, rules_before = alert_state(), rule_state()
    assert client.post(f"/surveillance/alerts/{alert.pk}/change/", {"state": "closed", "note": "x"}).status_code == 403
    assert client.post("/surveillance/rules/band_edge/", {"t_ticks": "5"}).status_code == 403
    assert alert_state() == before and rule_state() == rules_before
    # nor reopen a closed alert
    services.alert_change(actor=market.user(Role.REGULATOR), alert_id=alert.pk, state="closed", note="Explained")
    before = alert_state()
    assert client.post(f"/surveillance/alerts/{alert.pk}/reopen/", {"note": "Look again"}).status_code == 403
    assert alert_state() == before
    expected = 200 if role == Role.AUDITOR else 403
    assert client.get("/surveillance/").status_code == expected
    assert client.get(f"/surveillance/alerts/{alert.pk}/").status_code == expected


@pytest.mark.parametrize(
    ("role", "expected"),
    [(Role.REGULATOR, 301), (Role.AUDITOR, 301), (Role.EXCHANGE_OPERATOR, 403), (Role.BROKER_STAFF, 403), (None, 302)],
)
def test_the_natural_address_of_the_alert_list_leads_to_it_for_those_who_may_read_it(client, market, role, expected):
    # (found by a probe: /surveillance/alerts/ was a 404, the list being at /surveillance/)
    alert = wash_alert(market)
    if role is not None:
        log_in(client, market.user(role))
    before = alert_state()

    # when someone types /surveillance/alerts/, with a filter
    response = client.get("/surveillance/alerts/?state=new&rule=wash_trade")

    # then a reader is sent on for good to the list, the filter kept; anyone else is refused as the list refuses
    list_status = client.get("/surveillance/").status_code
    assert (response.status_code, list_status) == (expected, {301: 200}.get(expected, expected))
    if expected == 301:
        assert response.headers["Location"] == "/surveillance/?state=new&rule=wash_trade"
        assert f'data-id="{alert.pk}"' in client.get(response.headers["Location"]).content.decode()
        assert client.get("/surveillance/alerts/").headers["Location"] == "/surveillance/"
    elif expected == 302:
        assert response.headers["Location"].startswith(reverse("login"))
    # and one alert's page is where it was; nothing changed
    assert client.get(f"/surveillance/alerts/{alert.pk}/").status_code == (200 if expected == 301 else expected)
    assert alert_state() == before


# --------------------------------------------------------------------------
# An alert's history


def history(alert: Alert) -> list[tuple]:
    return list(alert.events.order_by("id").values_list("from_state", "to_state", "note", "by__username"))


def test_every_move_and_note_of_an_alert_is_kept_in_its_history(market):
    # given an alert, and two regulators
    alert = wash_alert(market)
    first, second = market.user(Role.REGULATOR), market.user(Role.REGULATOR)

    # when one takes it under review with a note, the other adds a note, and the first closes it
    services.alert_change(actor=first, alert_id=alert.pk, state="under_review", note="Asked the broker")
    services.alert_change(actor=second, alert_id=alert.pk, state=None, note="Broker says: same family")
    services.alert_change(actor=first, alert_id=alert.pk, state="closed", note="Explained")

    # then the history keeps each step with its note and author, oldest first, and the alert's note is the latest
    assert history(alert) == [
        ("new", "under_review", "Asked the broker", first.username),
        ("under_review", "under_review", "Broker says: same family", second.username),
        ("under_review", "closed", "Explained", first.username),
    ]
    assert Alert.objects.get(pk=alert.pk).note == "Explained"
    # and each step is on the audit trail too, by the same regulator
    audits = AuditEvent.objects.filter(action="alert_change", target=f"alert:{alert.pk}").order_by("id")
    assert [a.actor_id for a in audits] == [first.pk, second.pk, first.pk]


def test_the_api_shows_an_alerts_history_in_its_detail_not_in_the_list(market):
    alert = wash_alert(market)
    regulator = market.user(Role.REGULATOR)
    client = api_for(regulator)
    assert client.get(f"/api/v1/alerts/{alert.pk}/").json()["history"] == []

    # when the regulator reviews it, then closes it (a PATCH answers with the history too)
    client.patch(f"/api/v1/alerts/{alert.pk}/", {"state": "under_review", "note": "Looking"}, format="json")
    closed = client.patch(f"/api/v1/alerts/{alert.pk}/", {"state": "closed", "note": "Explained"}, format="json")

    # then the detail lists both steps, oldest first, and `note` still reads the latest note
    body = client.get(f"/api/v1/alerts/{alert.pk}/").json()
    assert closed.json()["history"] == body["history"]
    assert [(h["from_state"], h["to_state"], h["note"], h["by"]) for h in body["history"]] == [
        ("new", "under_review", "Looking", regulator.username),
        ("under_review", "closed", "Explained", regulator.username),
    ]
    assert all(h["at"] for h in body["history"]) and body["note"] == "Explained"
    # and an auditor reads it as well; the list stays as it was, without the history
    assert api_for(market.user(Role.AUDITOR)).get(f"/api/v1/alerts/{alert.pk}/").json()["history"] == body["history"]
    assert "history" not in client.get("/api/v1/alerts/").json()["results"][0]


@pytest.mark.parametrize(
    "body", [{}, {"state": "new"}, {"state": "new", "note": "  "}, {"note": ""}], ids=["empty", "same", "blank", "none"]
)
@pytest.mark.parametrize(("language", "message"), [("en", UNCHANGED_EN), ("zh-hans", UNCHANGED_ZH)], ids=["en", "zh"])
def test_a_change_that_changes_nothing_is_refused_and_writes_nothing(market, body, language, message):
    # (found by a probe: it answered 200 as if it had worked, and an empty body said only "invalid input")
    alert = wash_alert(market)
    client = api_for(market.user(Role.REGULATOR))
    before, audits = alert_state(), AuditEvent.objects.exclude(outcome="refused").count()

    # when the regulator sends a change that changes nothing (nothing, or a new alert "moved" to new, no note)
    response = client.patch(f"/api/v1/alerts/{alert.pk}/", body, format="json", HTTP_ACCEPT_LANGUAGE=language)

    # then it is a 400 naming what may be sent, as the alert page says, in the reader's language
    assert (response.status_code, response.json()) == (400, {"code": "alert_unchanged", "message": message})
    # and no history, no audit record of a change, no change
    assert alert_state() == before and AuditEvent.objects.exclude(outcome="refused").count() == audits
    assert AlertEvent.objects.count() == 0 and Alert.objects.get(pk=alert.pk).state == Alert.State.NEW


def test_closing_an_alert_without_a_note_says_why_once_beside_the_note(client, market):
    # given a regulator on a new alert's page
    alert = wash_alert(market)
    log_in(client, market.user(Role.REGULATOR))
    client.cookies["django_language"] = "en"
    before = alert_state()

    # when they close it without a note
    refused = client.post(f"/surveillance/alerts/{alert.pk}/change/", {"state": "closed", "note": ""}, follow=True)

    # then the page says why once, beside the note, and no message above the page says it again; nothing changed
    page = refused.content.decode()
    said = refused.context["change_error"]
    assert refused.status_code == 400 and said
    assert page.count(said) == 1 and 'id="alert-change-error"' in page and "msg-error" not in page
    assert alert_state() == before


def test_the_alert_page_refuses_a_forged_save_that_changes_nothing(client, market):
    alert = wash_alert(market)
    log_in(client, market.user(Role.REGULATOR))
    client.cookies["django_language"] = "en"
    before = alert_state()

    # when a forged form "moves" the new alert to new without a note (the page does not offer it)
    refused = client.post(f"/surveillance/alerts/{alert.pk}/change/", {"state": "new", "note": ""}, follow=True)

    # then the page says what may be sent, not that the alert is updated, and nothing changed
    page = refused.content.decode()
    assert UNCHANGED_EN in page and "The alert is updated." not in page
    assert alert_state() == before


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE surveillance_alertevent SET note = 'rewritten'",
        "DELETE FROM surveillance_alertevent",
        "TRUNCATE surveillance_alertevent",
    ],
)
def test_an_alerts_history_cannot_be_rewritten(market, sql):
    # given an alert closed with a note (committed)
    alert = wash_alert(market)
    services.alert_change(actor=market.user(Role.REGULATOR), alert_id=alert.pk, state="closed", note="Explained")
    before = alert_state()

    # when raw SQL rewrites or removes its history, then PostgreSQL refuses and the history is as it was
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
        cur.execute(sql)
    assert alert_state() == before


@pytest.mark.parametrize(
    ("from_state", "to_state", "note"),
    [("new", "new", ""), ("new", "closed", ""), ("closed", "under_review", ""), ("new", "open", "x")],
)
def test_the_database_refuses_a_history_step_that_says_nothing_or_closes_or_reopens_without_a_note(
    market, from_state, to_state, note
):
    alert = wash_alert(market)
    regulator = market.user(Role.REGULATOR)
    with pytest.raises(DatabaseError), transaction.atomic():
        AlertEvent.objects.create(
            alert=alert, from_state=from_state, to_state=to_state, note=note, by=regulator, at=timezone.now()
        )
    assert not AlertEvent.objects.exists()


def test_the_alert_page_shows_its_history_in_both_languages(client, market):
    # given an alert reviewed with a note, then closed with another
    alert = wash_alert(market)
    regulator = market.user(Role.REGULATOR)
    services.alert_change(actor=regulator, alert_id=alert.pk, state="under_review", note="Asked the broker")
    services.alert_change(actor=regulator, alert_id=alert.pk, state="closed", note="Same family, explained")
    log_in(client, market.user(Role.AUDITOR))

    # when the page is read in English and in Chinese
    client.cookies["django_language"] = "en"
    english = client.get(f"/surveillance/alerts/{alert.pk}/").content.decode()
    client.cookies["django_language"] = "zh-hans"
    chinese = client.get(f"/surveillance/alerts/{alert.pk}/").content.decode()

    # then both list the two steps, each note under its table, named by its heading
    for page, title in ((english, "History"), (chinese, "处理记录")):
        table = page.split('id="alert-history"', 1)[1].split("</table>", 1)[0]
        assert f'<h2 id="alert-history-title">{title}</h2>' in page
        assert 'aria-labelledby="alert-history-title"' in page.split('id="alert-history"', 1)[0].rsplit("<table", 1)[1]
        assert table.count('<tr data-from="') == 2
        assert table.index("Asked the broker") < table.index("Same family, explained")
        assert regulator.username in table
    assert "Under review" in english and "核查中" in chinese.split('id="alert-history"', 1)[1]


# --------------------------------------------------------------------------
# Reopening a closed alert


def closed_alert(market) -> tuple[Alert, object]:
    """A wash-trade alert reviewed and closed by a regulator, and that regulator."""
    alert = wash_alert(market)
    regulator = market.user(Role.REGULATOR)
    services.alert_change(actor=regulator, alert_id=alert.pk, state="under_review", note="Asked the broker")
    services.alert_change(actor=regulator, alert_id=alert.pk, state="closed", note="Same family, explained")
    return Alert.objects.get(pk=alert.pk), regulator


def test_the_regulator_reopens_a_closed_alert_with_a_note(market):
    # given an alert closed by one regulator
    alert, closer = closed_alert(market)
    other = market.user(Role.REGULATOR)
    client = api_for(other)

    # when another regulator reopens it, saying why
    response = client.post(f"/api/v1/alerts/{alert.pk}/reopen/", {"note": "New trades, same accounts"}, format="json")

    # then it is under review again, its note is the reopening's, and the history keeps the closing note too
    assert response.status_code == 200
    body = response.json()
    assert (body["state"], body["note"], body["updated_by"]) == (
        "under_review",
        "New trades, same accounts",
        other.username,
    )
    assert history(alert) == [
        ("new", "under_review", "Asked the broker", closer.username),
        ("under_review", "closed", "Same family, explained", closer.username),
        ("closed", "under_review", "New trades, same accounts", other.username),
    ]
    assert [h["note"] for h in body["history"]][-2:] == ["Same family, explained", "New trades, same accounts"]
    # and the reopening is on the audit trail, like the other alert actions
    event = AuditEvent.objects.get(action="alert_reopen", target=f"alert:{alert.pk}")
    assert (event.actor, event.outcome, event.detail) == (
        other,
        "ok",
        {
            "before": {"state": "closed", "note": "Same family, explained"},
            "after": {"state": "under_review", "note": "New trades, same accounts"},
        },
    )
    # and it is worked as any open alert: closed again with a note
    again = client.patch(f"/api/v1/alerts/{alert.pk}/", {"state": "closed", "note": "Referred"}, format="json")
    assert (again.status_code, again.json()["state"], len(again.json()["history"])) == (200, "closed", 4)


@pytest.mark.parametrize(
    ("body", "code"),
    [({}, "note_required"), ({"note": "  "}, "note_required"), ({"note": "x" * 2001}, "invalid_input"),
     ({"note": "x", "state": "new"}, "invalid_input"), ("not an object", "invalid_input")],
)  # fmt: skip
def test_a_reopen_without_a_good_note_is_refused_and_changes_nothing(market, body, code):
    alert, _regulator = closed_alert(market)
    client = api_for(market.user(Role.REGULATOR))
    before, audits = alert_state(), AuditEvent.objects.exclude(outcome="refused").count()

    response = client.post(f"/api/v1/alerts/{alert.pk}/reopen/", body, format="json")

    assert (response.status_code, response.json()["code"]) == (400, code)
    assert alert_state() == before and AuditEvent.objects.exclude(outcome="refused").count() == audits
    assert Alert.objects.get(pk=alert.pk).state == Alert.State.CLOSED


@pytest.mark.parametrize("state", ["new", "under_review"])
def test_reopening_an_alert_that_is_not_closed_is_refused_and_changes_nothing(market, state):
    # given an open alert
    alert = wash_alert(market)
    regulator = market.user(Role.REGULATOR)
    if state == "under_review":
        services.alert_change(actor=regulator, alert_id=alert.pk, state=state, note="Looking")
    client = api_for(regulator)
    before, audits = alert_state(), AuditEvent.objects.exclude(outcome="refused").count()

    # when a regulator "reopens" it
    response = client.post(f"/api/v1/alerts/{alert.pk}/reopen/", {"note": "Again"}, format="json")

    # then it is a 409 saying the alert is not closed, and nothing changed
    assert (response.status_code, response.json()["code"]) == (409, "alert_not_closed")
    assert alert_state() == before and AuditEvent.objects.exclude(outcome="refused").count() == audits
    assert client.post("/api/v1/alerts/999999/reopen/", {"note": "x"}, format="json").status_code == 404


def test_a_closed_alert_is_still_not_moved_by_a_change_only_reopened(market):
    alert, regulator = closed_alert(market)
    client = api_for(regulator)
    before = alert_state()
    for body in ({"state": "under_review", "note": "x"}, {"note": "one more thought"}):
        response = client.patch(f"/api/v1/alerts/{alert.pk}/", body, format="json")
        assert (response.status_code, response.json()["code"]) == (409, "alert_closed")
        assert "重新打开" in response.json()["message"]  # it says how: reopen
    assert alert_state() == before


def test_the_alert_page_reopens_a_closed_alert_for_the_regulator_only(client, market):
    alert, _closer = closed_alert(market)
    regulator = market.user(Role.REGULATOR)
    log_in(client, regulator)
    client.cookies["django_language"] = "en"

    # given the closed alert's page: a labelled reopen form, and no change form
    page = client.get(f"/surveillance/alerts/{alert.pk}/").content.decode()
    assert 'id="alert-reopen"' in page and 'id="alert-change"' not in page
    assert '<label for="alert-reopen-note">Why reopen it (required)</label>' in page

    # when the regulator sends it without a note, then the page says why and nothing changed
    before = alert_state()
    refused = client.post(f"/surveillance/alerts/{alert.pk}/reopen/", {"note": "  "}, follow=True)
    assert "Reopening an alert needs a note saying why." in refused.content.decode()
    assert alert_state() == before

    # when with a note, then the alert is under review, and the page shows the change form and the history
    done = client.post(f"/surveillance/alerts/{alert.pk}/reopen/", {"note": "New trades"}, follow=True).content.decode()
    assert Alert.objects.get(pk=alert.pk).state == Alert.State.UNDER_REVIEW
    assert "The alert is reopened." in done and 'id="alert-change"' in done and 'id="alert-reopen"' not in done
    assert 'data-from="closed" data-to="under_review"' in done

    # and reopening it again (it is open now) is refused on the page, in Chinese too, and changes nothing
    client.cookies["django_language"] = "zh-hans"
    before = alert_state()
    again = client.post(f"/surveillance/alerts/{alert.pk}/reopen/", {"note": "Again"}, follow=True).content.decode()
    assert "只有已关闭的预警才能重新打开" in again and alert_state() == before

    # and an auditor sees the closed alert's history but no reopen form
    services.alert_change(actor=regulator, alert_id=alert.pk, state="closed", note="Referred")
    client.logout()
    log_in(client, market.user(Role.AUDITOR))
    page = client.get(f"/surveillance/alerts/{alert.pk}/").content.decode()
    assert 'id="alert-reopen"' not in page and page.count('<tr data-from="') == 4


def test_the_alert_page_adds_a_note_alone_and_refuses_an_empty_save(client, market):
    # (found by a helper: the page's state list never held the current state, so a note alone could not be added
    # there, only through the API)
    alert = wash_alert(market)
    regulator = market.user(Role.REGULATOR)
    log_in(client, regulator)
    client.cookies["django_language"] = "en"
    # given the new alert's page: its first state choice keeps the state
    page = client.get(f"/surveillance/alerts/{alert.pk}/").content.decode()
    assert '<option value="">Keep “New” (add a note)</option>' in page

    # when the regulator saves neither a state nor a note, then the page says so and nothing changed
    before = alert_state()
    refused = client.post(f"/surveillance/alerts/{alert.pk}/change/", {"state": "", "note": " "}, follow=True)
    assert "Write a note, or choose a new state: nothing was changed." in refused.content.decode()
    assert alert_state() == before

    # when they save a note alone, then the alert keeps its state and its history has the note
    client.post(f"/surveillance/alerts/{alert.pk}/change/", {"state": "", "note": "Asked the broker"})
    alert.refresh_from_db()
    assert (alert.state, alert.note) == (Alert.State.NEW, "Asked the broker")
    step = AlertEvent.objects.filter(alert=alert).latest("id")
    assert (step.from_state, step.to_state, step.note, step.by_id) == ("new", "new", "Asked the broker", regulator.pk)
