"""The trading calendar with holidays, the holidays' API and pages, and the end of day (DAY expiry, closing prices,
the CLOSE entry)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from balances.replay import replay_check
from core.models import AuditEvent, Role
from exchange.models import DayClose, Order, Quote, Trade
from exchange.services import OrderRequest, day_close, order_place
from exchange.tasks import end_of_day
from ledger.models import Entry
from ledger.services import block_seal
from ledger.verification import ledger_verify
from registry import calendar
from registry.calendar import SHANGHAI
from registry.models import Holiday, Security
from tests.conftest import api_for, build_market, cash_of, log_in, snapshot
from tests.test_concurrency import run_concurrently

D = Decimal


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def _fresh_memo():
    calendar.holidays_forget()
    yield
    calendar.holidays_forget()


@pytest.fixture
def closed_calendar(settings):
    settings.MARKET_ALWAYS_OPEN = False


def holiday(day: dt.date, name: str = "Holiday") -> Holiday:
    # Fixed past or future dates for the calendar's arithmetic; the service's own rules are tested below.
    from core.models import User

    operator = User.objects.filter(role=Role.EXCHANGE_OPERATOR).first() or User.objects.create_user(
        username="cal-operator", password="pw-test-2026", role=Role.EXCHANGE_OPERATOR
    )
    row = Holiday.objects.create(date=day, name=name, created_by=operator, created_at=timezone.now())
    calendar.holidays_forget()
    return row


def next_weekday(after: dt.date, n: int = 1) -> dt.date:
    """The n-th Monday-to-Friday date after ``after``."""
    day = after
    while n:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            n -= 1
    return day


# --------------------------------------------------------------------------
# The calendar


def test_a_friday_before_a_monday_holiday(db, closed_calendar):
    # given Monday 15 March 2027 is a holiday
    holiday(dt.date(2027, 3, 15), "Test holiday")
    friday_after_close, monday_ten = at(2027, 3, 12, 16, 0), at(2027, 3, 15, 10, 0)

    # then the Friday evening's next session is Tuesday morning, and Monday is closed all day
    assert calendar.next_open(friday_after_close) == at(2027, 3, 16, 9, 30)
    assert not calendar.market_is_open(monday_ten)
    assert calendar.session_now(monday_ten) is None
    assert calendar.last_close(monday_ten) == at(2027, 3, 12, 15, 0)
    assert calendar.last_close(at(2027, 3, 16, 10, 0)) == at(2027, 3, 12, 15, 0)
    # and the Friday itself and the Tuesday trade as usual
    assert calendar.market_is_open(at(2027, 3, 12, 10, 0)) and calendar.market_is_open(at(2027, 3, 16, 13, 0))
    assert calendar.session_now(at(2027, 3, 16, 13, 0)) == "afternoon"


def test_the_chinese_new_year_week(db, closed_calendar):
    # given the Spring Festival week, Monday 8 to Friday 12 February 2027
    for day in range(8, 13):
        holiday(dt.date(2027, 2, day), "Spring Festival")

    # then no day of it trades, and the week's neighbours close and open around it
    for day in range(6, 15):
        assert not calendar.market_is_open(at(2027, 2, day, 10, 0))
    assert calendar.next_open(at(2027, 2, 5, 15, 30)) == at(2027, 2, 15, 9, 30)
    assert calendar.last_close(at(2027, 2, 15, 9, 0)) == at(2027, 2, 5, 15, 0)
    assert calendar.market_is_open(at(2027, 2, 15, 9, 30))

    # and the minimum holding period counts trading days only
    from exchange.pretrade import trading_days_back

    assert trading_days_back(at(2027, 2, 16, 10, 0), 2).date() == dt.date(2027, 2, 5)


def test_the_demo_setting_keeps_the_market_open_on_a_holiday_but_the_day_still_closes(db, settings):
    settings.MARKET_ALWAYS_OPEN = True
    holiday(dt.date(2027, 3, 15))
    assert calendar.market_is_open(at(2027, 3, 15, 10, 0))
    assert calendar.next_open(at(2027, 3, 15, 10, 0)) is None
    assert calendar.last_close(at(2027, 3, 15, 16, 0)) == at(2027, 3, 12, 15, 0)


# --------------------------------------------------------------------------
# Holidays: the service and the API


@pytest.fixture
def operator(db):
    from core.models import User

    return User.objects.create_user(username="operator-cal", password="pw-test-2026", role=Role.EXCHANGE_OPERATOR)


def test_the_operator_adds_and_removes_a_future_holiday_and_everyone_sees_the_list(market, operator):
    day = next_weekday(calendar.today(), 3)
    investor = market.investor()
    api = api_for(operator)

    response = api.post(
        "/api/v1/calendar/holidays/", {"date": day.isoformat(), "name": "  Founders' Day "}, format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["date"] == day.isoformat() and response.json()["name"] == "Founders' Day"
    listed = api_for(investor.owner).get("/api/v1/calendar/holidays/")
    assert listed.status_code == 200 and [h["date"] for h in listed.json()] == [day.isoformat()]
    assert day in calendar.holidays()
    assert AuditEvent.objects.filter(action="holiday_add", target=day.isoformat(), actor=operator).exists()

    response = api.delete(f"/api/v1/calendar/holidays/{day.isoformat()}/")

    assert response.status_code == 204
    assert not Holiday.objects.exists() and day not in calendar.holidays()
    assert AuditEvent.objects.filter(action="holiday_remove", target=day.isoformat(), actor=operator).exists()
    # a holiday is not a ledger fact
    assert not Entry.objects.filter(kind="CLOSE").exists()


def _bad_holiday_bodies():
    return [
        ("bad date", lambda today: {"date": "2027-02-30", "name": "x"}, 400, "invalid_input"),
        ("not a date", lambda today: {"date": "tomorrow", "name": "x"}, 400, "invalid_input"),
        ("no name", lambda today: {"date": next_weekday(today, 2).isoformat(), "name": ""}, 400, "invalid_input"),
        (
            "long name",
            lambda today: {"date": next_weekday(today, 2).isoformat(), "name": "x" * 101},
            400,
            "invalid_input",
        ),
        (
            "past",
            # a weekday a week or more ago: a weekend day would be refused first, as a weekend
            lambda today: {"date": next_weekday(today - dt.timedelta(days=10)).isoformat(), "name": "x"},
            409,
            "holiday_not_future",
        ),
        ("today", lambda today: {"date": today.isoformat(), "name": "x"}, None, None),
        ("year 9999", lambda today: {"date": "9999-12-31", "name": "x"}, 400, "holiday_too_far"),
        (
            "six years ahead",
            lambda today: {"date": next_weekday(dt.date(today.year + 6, 1, 1)).isoformat(), "name": "x"},
            400,
            "holiday_too_far",
        ),
        ("duplicate", lambda today: {"date": next_weekday(today, 5).isoformat(), "name": "x"}, 409, "holiday_exists"),
    ]


@pytest.mark.parametrize("case", _bad_holiday_bodies(), ids=lambda c: c[0])
@pytest.mark.usefixtures("shanghai_day_held")  # the bodies' dates and the service's today one day
def test_a_bad_holiday_is_refused_and_changes_nothing(market, operator, case):
    _name, body_for, status, code = case
    today = calendar.today()
    existing = holiday(next_weekday(today, 5), "Existing")
    body = body_for(today)
    if _name == "today":
        # today is refused as not future on a weekday, as a weekend on a Saturday or Sunday
        status, code = (409, "holiday_not_future") if today.weekday() < 5 else (400, "holiday_on_weekend")
    before = list(Holiday.objects.values_list("date", "name"))

    response = api_for(operator).post("/api/v1/calendar/holidays/", body, format="json")

    assert (response.status_code, response.json()["code"]) == (status, code), response.content
    assert response.json()["message"]
    assert list(Holiday.objects.values_list("date", "name")) == before == [(existing.date, "Existing")]


def test_a_weekend_holiday_is_refused(market, operator):
    today = calendar.today()  # read once: two readings a Shanghai midnight apart made a Sunday
    saturday = today + dt.timedelta(days=(5 - today.weekday()) % 7 or 7)
    response = api_for(operator).post(
        "/api/v1/calendar/holidays/", {"date": saturday.isoformat(), "name": "x"}, format="json"
    )
    assert (response.status_code, response.json()["code"]) == (400, "holiday_on_weekend")
    assert not Holiday.objects.exists()


@pytest.mark.parametrize("role", [Role.INVESTOR, Role.BROKER_STAFF, Role.DEPOSITORY_OPERATOR, Role.MARKET_MAKER])
def test_only_exchange_operators_change_holidays(market, role):
    day = next_weekday(calendar.today(), 3)
    kept = holiday(next_weekday(calendar.today(), 4))
    user = market.user(role, broker=market.broker if role == Role.BROKER_STAFF else None)
    api = api_for(user)

    assert api.get("/api/v1/calendar/holidays/").status_code == 200
    response = api.post("/api/v1/calendar/holidays/", {"date": day.isoformat(), "name": "x"}, format="json")
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    response = api.delete(f"/api/v1/calendar/holidays/{kept.date.isoformat()}/")
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    assert list(Holiday.objects.values_list("date", flat=True)) == [kept.date]


def test_removing_is_for_future_holidays_that_exist(market, operator):
    today = calendar.today()  # read once: two readings a Shanghai midnight apart made a Sunday
    past = holiday(today - dt.timedelta(days=28 + today.weekday()))  # a Monday in the past
    api = api_for(operator)

    for path, status, code in [
        (f"/api/v1/calendar/holidays/{past.date.isoformat()}/", 409, "holiday_not_future"),
        (f"/api/v1/calendar/holidays/{next_weekday(calendar.today(), 2).isoformat()}/", 404, "holiday_not_found"),
        ("/api/v1/calendar/holidays/2027-13-01/", 400, "invalid_input"),
    ]:
        response = api.delete(path)
        assert (response.status_code, response.json()["code"]) == (status, code), path
    assert list(Holiday.objects.values_list("date", flat=True)) == [past.date]


def test_the_market_api_knows_the_holidays(market, closed_calendar):
    # given Monday 15 March 2027 is a holiday, asked on that Monday at 10:00
    holiday(dt.date(2027, 3, 15))
    with mock.patch("django.utils.timezone.now", return_value=at(2027, 3, 15, 10, 0)):
        body = api_for(market.investor().owner).get("/api/v1/market/").json()
    assert body["state"] == "closed" and body["session"] is None
    assert dt.datetime.fromisoformat(body["next_open"]) == at(2027, 3, 16, 9, 30)
    assert {"state", "profile", "session", "next_open", "halted_reason", "changed_at"} <= set(body)


def test_an_order_asks_the_database_nothing_about_holidays(trading, closed_calendar):
    # given a session in progress (the next weekday at 10:00) and a holiday on the calendar
    market, _mm, investor = trading
    day = next_weekday(calendar.today(), 1)
    holiday(next_weekday(day, 3))
    now = at(day.year, day.month, day.day, 10, 0)

    def buy(coid):
        return order_place(
            placed_by=investor.owner,
            account=investor,
            request=OrderRequest(market.security.code, "buy", 100, D("10.10"), "IOC", coid),
        )

    with mock.patch("django.utils.timezone.now", return_value=now):
        buy("warm")  # the memo is loaded at most once a minute
        with CaptureQueriesContext(connection) as queries:
            order, _ = buy("measured")

    assert order.status == Order.Status.FILLED
    assert not [q["sql"] for q in queries.captured_queries if "registry_holiday" in q["sql"]]


# --------------------------------------------------------------------------
# End of day

WEDNESDAY = dt.date(2026, 12, 2)
AFTER_CLOSE = at(2026, 12, 2, 16, 0)


def _buy(market, investor, price, coid, tif="IOC", security=None):
    order, _ = order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest((security or market.security).code, "buy", 100, D(price), tif, coid),
    )
    return order


@pytest.fixture
def day(trading):
    """Wednesday's market: S traded at 10.10 then 10.00 (last); T traded at 12.90 with a bid at 7.00 left below its
    new band; U did not trade; a DAY buy of S rests from the morning, another from after the close."""
    market, mm, investor = trading
    t = market.new_security("T" + market.security.code)
    u = market.new_security("U" + market.security.code)
    market.issue(mm, 10_000, security=t)
    market.quote(mm, "7.00", "12.90", security=t)
    _buy(market, investor, "10.10", "s1")
    market.quote(mm, "9.80", "10.00")
    _buy(market, investor, "10.00", "s2")
    _buy(market, investor, "12.90", "t1", security=t)
    Trade.objects.update(matched_at=at(2026, 12, 2, 10, 0))
    morning = _buy(market, investor, "9.50", "day-morning", tif="DAY")
    evening = _buy(market, investor, "9.50", "day-evening", tif="DAY")
    Order.objects.filter(pk=morning.pk).update(created_at=at(2026, 12, 2, 11, 0))
    Order.objects.filter(pk=evening.pk).update(created_at=at(2026, 12, 2, 15, 30))
    return market, mm, investor, t, u, morning, evening


def test_the_close_sets_closing_prices_and_writes_one_close_entry(day):
    market, mm, investor, t, u, _morning, _evening = day
    s = market.security
    mm_cash_reserved = cash_of(mm).reserved
    bid_t = Quote.objects.get(security=t, side="bid", status="active")
    positions_before = snapshot()["settlement_position"]

    # when the end of day runs after Wednesday's close
    assert day_close(now=AFTER_CLOSE) == [WEDNESDAY]

    # then the traded securities close at their last trade, the untraded one unchanged, and the bands follow
    prices = dict(Security.objects.values_list("code", "reference_price"))
    assert (prices[s.code], prices[t.code], prices[u.code]) == (D("10.00"), D("12.90"), D("10.00"))
    assert (Security.objects.get(pk=t.pk).band_low, Security.objects.get(pk=t.pk).band_high) == (D("9.03"), D("16.77"))
    # T's bid at 7.00, now below the band, is pulled and exactly its cash released; the ask stays
    assert Quote.objects.get(pk=bid_t.pk).status == Quote.Status.PULLED
    assert Quote.objects.filter(security=t, side="ask", status="active").exists()
    assert cash_of(mm).reserved == mm_cash_reserved - D("7.00") * 1000
    # one CLOSE entry that says it all
    (entry,) = Entry.objects.filter(kind="CLOSE")
    payload = json.loads(bytes(entry.canonical))["payload"]
    last_s = Trade.objects.filter(security=s).order_by("-id").first()
    last_t = Trade.objects.get(security=t)
    assert payload["date"] == "2026-12-02"
    assert {row["code"]: row for row in payload["securities"]} == {
        s.code: {
            "code": s.code,
            "close": "10.00",
            "previous_reference": "10.00",
            "traded": True,
            "last_trade_id": last_s.pk,
            "pulled_quote_ids": [],
        },
        t.code: {
            "code": t.code,
            "close": "12.90",
            "previous_reference": "10.00",
            "traded": True,
            "last_trade_id": last_t.pk,
            "pulled_quote_ids": [bid_t.pk],
        },
        u.code: {
            "code": u.code,
            "close": "10.00",
            "previous_reference": "10.00",
            "traded": False,
            "last_trade_id": None,
            "pulled_quote_ids": [],
        },
    }
    assert DayClose.objects.get().entry_id == entry.pk
    # and nothing that is not the close's changed: holdings stay
    assert snapshot()["settlement_position"] == positions_before


def test_day_orders_expire_at_the_close_and_release_exactly_their_reservation(day):
    market, _mm, investor, _t, _u, morning, evening = day
    reserved_before = cash_of(investor).reserved
    total_before = cash_of(investor).total

    day_close(now=AFTER_CLOSE)

    assert Order.objects.get(pk=morning.pk).status == Order.Status.EXPIRED
    assert Order.objects.get(pk=morning.pk).reserved_cash == 0
    assert cash_of(investor).reserved == reserved_before - morning.reserved_cash
    assert cash_of(investor).total == total_before
    # the order placed after the close belongs to Thursday: it rests with its reservation
    assert Order.objects.get(pk=evening.pk).status == Order.Status.OPEN
    assert Order.objects.get(pk=evening.pk).reserved_cash == evening.reserved_cash


def test_the_close_happens_once_and_the_ledger_checks_pass(day):
    day_close(now=AFTER_CLOSE)
    before = snapshot()

    # when it runs again, later that evening and the next morning
    assert day_close(now=AFTER_CLOSE + dt.timedelta(hours=1)) == []
    assert day_close(now=at(2026, 12, 3, 9, 0)) == []

    # then nothing changed, and the chain and the balances agree with the CLOSE entry in them
    assert snapshot() == before
    assert DayClose.objects.count() == 1
    block_seal()
    assert ledger_verify().ok
    assert replay_check() == []


def test_missed_days_are_closed_in_order_skipping_holidays(day):
    # given Wednesday closed, then the beat down until Tuesday morning with Friday a holiday
    holiday(dt.date(2026, 12, 4), "Test holiday")
    day_close(now=AFTER_CLOSE)
    market = day[0]
    Trade.objects.filter(security=market.security).update(matched_at=at(2026, 12, 7, 10, 0))  # a Monday trade

    assert day_close(now=at(2026, 12, 8, 9, 0)) == [dt.date(2026, 12, 3), dt.date(2026, 12, 7)]

    payloads = [json.loads(bytes(e.canonical))["payload"] for e in Entry.objects.filter(kind="CLOSE").order_by("id")]
    assert [p["date"] for p in payloads] == ["2026-12-02", "2026-12-03", "2026-12-07"]
    thursday = {r["code"]: r for r in payloads[1]["securities"]}
    assert thursday[market.security.code]["traded"] is False


def test_the_beat_task_is_thin_and_idempotent(day):
    with mock.patch("django.utils.timezone.now", return_value=AFTER_CLOSE):
        assert end_of_day() == 1
        assert end_of_day() == 0
    assert Entry.objects.filter(kind="CLOSE").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_close_the_day_once():
    # given a traded security and two workers starting the end of day together
    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="50000")
    _buy(market, investor, "10.10", "race")
    Trade.objects.update(matched_at=at(2026, 12, 2, 10, 0))

    results = run_concurrently([lambda: day_close(now=AFTER_CLOSE), lambda: day_close(now=AFTER_CLOSE)])

    assert sorted(results, key=len) == [[], [WEDNESDAY]]
    assert DayClose.objects.count() == 1 and Entry.objects.filter(kind="CLOSE").count() == 1
    assert Security.objects.get(pk=market.security.pk).reference_price == D("10.10")


@pytest.mark.django_db(transaction=True)
def test_two_workers_with_no_security_close_the_day_once():
    results = run_concurrently([lambda: day_close(now=AFTER_CLOSE), lambda: day_close(now=AFTER_CLOSE)])
    assert sorted(results, key=len) == [[], [WEDNESDAY]]
    assert DayClose.objects.count() == 1


# --------------------------------------------------------------------------
# Pages


def test_the_market_watch_shows_the_next_session_when_closed(trading, client, closed_calendar):
    # given the coming Saturday, with the Monday after it a holiday (dates near today: the login must not expire)
    market, _mm, investor = trading
    today = calendar.today()
    saturday = today + dt.timedelta(days=(5 - today.weekday()) % 7 or 7)
    holiday(saturday + dt.timedelta(days=2))
    tuesday = saturday + dt.timedelta(days=3)
    client.force_login(investor.owner)

    with mock.patch("django.utils.timezone.now", return_value=at(saturday.year, saturday.month, saturday.day, 10, 0)):
        page = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
        data = client.get("/market/data/").json()
        zh = client.get("/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert f"Market closed — next session {tuesday.isoformat()} 09:30 (Asia/Shanghai)" in page
    assert data["market"]["next_open"] == f"{tuesday.isoformat()} 09:30" and data["market"]["open"] is False
    assert "休市" in zh and f"{tuesday.isoformat()} 09:30" in zh

    with mock.patch("django.utils.timezone.now", return_value=at(tuesday.year, tuesday.month, tuesday.day, 10, 0)):
        page = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Market closed" not in page


def test_the_market_watch_shows_the_last_close(day, client):
    market, _mm, investor, *_ = day
    day_close(now=AFTER_CLOSE)
    client.force_login(investor.owner)
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Close of 2026-12-02" in page


def test_the_operator_keeps_holidays_on_the_console(market, operator, client):
    day = next_weekday(calendar.today(), 3)
    log_in(client, operator)

    en = {"follow": True, "HTTP_ACCEPT_LANGUAGE": "en"}
    page = client.post("/operations/holidays/", {"date": day.isoformat(), "name": "Founders' Day"}, **en)
    assert "Founders&#x27; Day" in page.content.decode() and Holiday.objects.filter(date=day).exists()

    # a refused holiday comes back (400) with the reason beside the form and what was typed still in it
    page = client.post("/operations/holidays/", {"date": day.isoformat(), "name": "Again"}, **en)
    html = page.content.decode()
    assert page.status_code == 400 and 'id="holiday-error"' in html and "already a holiday" in html
    assert f'value="{day.isoformat()}"' in html and 'value="Again"' in html
    page = client.post("/operations/holidays/", {"date": "not-a-date", "name": "Typed <b>"}, **en)
    html = page.content.decode()
    assert page.status_code == 400 and "YYYY-MM-DD" in html and 'value="Typed &lt;b&gt;"' in html
    assert list(Holiday.objects.values_list("name", flat=True)) == ["Founders' Day"]
    # the refusal's address reloaded (the language switch does): the console, not a 405
    assert client.get("/operations/holidays/")["Location"] == "/operations/"

    client.post(f"/operations/holidays/{day.isoformat()}/remove/")
    assert not Holiday.objects.exists()


def test_a_holiday_on_the_last_weekday_of_the_fifth_year_ahead_is_kept(market, operator):
    # given the end of the horizon: the last weekday of the fifth year from now
    last = dt.date(calendar.today().year + 5, 12, 31)
    while last.weekday() >= 5:
        last -= dt.timedelta(days=1)

    # when the operator adds it
    response = api_for(operator).post(
        "/api/v1/calendar/holidays/", {"date": last.isoformat(), "name": "Far"}, format="json"
    )

    # then it is kept, the one holiday there is
    assert response.status_code == 201, response.content
    assert list(Holiday.objects.values_list("date", "name")) == [(last, "Far")]
