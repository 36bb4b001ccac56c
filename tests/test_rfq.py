"""Request for quote (issue 12 item 3): request, firm answers with reservations, acceptance, cancel, expiry."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from core import errors as err
from core.models import Role
from exchange.models import RfqAnswer, RfqRequest, Trade
from exchange.services import rfq as svc
from exchange.services.rfq import RfqRequestInput
from ledger.services import block_seal
from ledger.verification import ledger_verify
from settlement.services import trade_settle
from tests.conftest import account_flags_set, api_for, cash_of, position_of, snapshot

pytestmark = pytest.mark.django_db


def rfq_snapshot() -> dict:
    out = snapshot()
    with connection.cursor() as cur:
        for table in ("exchange_rfqrequest", "exchange_rfqanswer"):
            cur.execute(f"SELECT * FROM {table} ORDER BY 1")
            out[table] = cur.fetchall()
    return out


@pytest.fixture
def desk(market):
    """Two market makers (cash and shares) and an investor with cash and 1,000 shares: (market, mm1, mm2, inv)."""
    return market, market.market_maker(), market.market_maker(), market.investor(cash="50000", shares=1000)


def ask(market, investor, side="buy", quantity=100, key="r1"):
    rfq, created = svc.rfq_request(
        requested_by=investor.owner,
        account=investor,
        request=RfqRequestInput(market.security.code, side, quantity, key),
    )
    return rfq


def answer(mm, rfq, price="10.00", seconds=30):
    return svc.rfq_answer(user=mm.owner, rfq_id=rfq.pk, price=Decimal(price), valid_seconds=seconds)


def test_an_investor_buys_at_the_best_answer_and_the_other_answer_is_released(desk):
    market, mm1, mm2, inv = desk
    sec = market.security
    mm1_shares, mm2_shares = position_of(mm1, sec).reserved, position_of(mm2, sec).reserved
    # given a buy request for 100 answered by two market makers
    rfq = ask(market, inv)
    assert rfq.status == RfqRequest.Status.OPEN and cash_of(inv).reserved == 0
    a1, a2 = answer(mm1, rfq, "10.10"), answer(mm2, rfq, "10.00")
    # then each answer reserves its market maker's 100 shares while firm
    assert position_of(mm1, sec).reserved == mm1_shares + 100
    assert position_of(mm2, sec).reserved == mm2_shares + 100
    mm_cash = (cash_of(mm1).reserved, cash_of(mm2).reserved)

    # when the investor accepts the cheaper one
    result = svc.rfq_accept(actor=inv.owner, rfq_id=rfq.pk, answer_id=a2.pk)

    # then one trade at 10.00 for 100: the investor holds value + fee (1,000 + 5 minimum) reserved
    trade = result.trade
    assert (trade.price, trade.quantity, trade.buyer_id, trade.seller_id) == (Decimal("10.00"), 100, inv.pk, mm2.pk)
    assert (trade.buyer_fee, trade.seller_fee, trade.quote_id, trade.buy_order_id) == (Decimal("5.00"), 0, None, None)
    assert cash_of(inv).reserved == Decimal("1005.00")
    # the winner's shares stay reserved as the obligation, the other answer's are released
    assert position_of(mm2, sec).reserved == mm2_shares + 100
    assert position_of(mm1, sec).reserved == mm1_shares
    a1.refresh_from_db(), a2.refresh_from_db(), rfq.refresh_from_db()
    assert (a1.status, a2.status, a2.trade_id) == ("released", "accepted", trade.pk)
    assert rfq.status == RfqRequest.Status.ACCEPTED and rfq.closed_at is not None
    # and nothing else moved: no cash of the market makers, no other trade
    assert (cash_of(mm1).reserved, cash_of(mm2).reserved) == mm_cash
    assert Trade.objects.count() == 1
    # a retry of the same acceptance returns it and changes nothing
    before = rfq_snapshot()
    assert svc.rfq_accept(actor=inv.owner, rfq_id=rfq.pk, answer_id=a2.pk).trade.pk == trade.pk
    assert rfq_snapshot() == before


def test_an_investor_sells_the_market_maker_reserves_cash_then_the_trade_seals_settles_verifies_and_replays(desk):
    market, mm1, mm2, inv = desk
    sec = market.security
    mm_cash = cash_of(mm1).reserved
    inv_total, mm_total = cash_of(inv).total, cash_of(mm1).total
    rfq = ask(market, inv, side="sell", quantity=200)
    a1 = answer(mm1, rfq, "9.90")
    assert cash_of(mm1).reserved == mm_cash + Decimal("1980.00")
    result = svc.rfq_accept(actor=inv.owner, rfq_id=rfq.pk, answer_id=a1.pk)
    assert position_of(inv, sec).reserved == 200
    assert result.trade.seller_fee == Decimal("5.00") and result.trade.buyer_fee == 0

    # when the trade is sealed and settled
    block_seal()
    assert trade_settle(trade_id=result.trade.pk)
    # then cash and shares moved like any trade, and the ledger checks pass
    assert cash_of(inv).total == inv_total + Decimal("1975.00")
    assert cash_of(mm1).total == mm_total - Decimal("1980.00")
    assert cash_of(mm1).reserved == mm_cash
    assert position_of(inv, sec).total == 800 and position_of(inv, sec).reserved == 0
    assert ledger_verify().ok
    call_command("ledger_replay", "--check")


def test_firm_answers_pass_the_replay_check(desk):
    market, mm1, mm2, inv = desk
    answer(mm1, ask(market, inv, key="b"), "10.00")
    answer(mm2, ask(market, inv, side="sell", key="s"), "9.90")
    call_command("ledger_replay", "--check")


def test_an_answer_accepted_after_its_expiry_fails_and_nothing_changes(desk):
    market, mm1, mm2, inv = desk
    rfq = ask(market, inv)
    a1 = answer(mm1, rfq, "10.00", seconds=5)
    RfqAnswer.objects.filter(pk=a1.pk).update(
        created_at=timezone.now() - dt.timedelta(seconds=10), expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    before = rfq_snapshot()
    with pytest.raises(svc.RfqAnswerExpired):
        svc.rfq_accept(actor=inv.owner, rfq_id=rfq.pk, answer_id=a1.pk)
    assert rfq_snapshot() == before


def test_past_its_expiry_an_answer_and_a_request_read_expired_before_the_sweep_closes_them(desk, client):
    # (found by a probe: an answer valid for 2 s still read "firm" 3 s later, until the 5-second sweep came)
    market, mm1, _mm2, inv = desk
    rfq = ask(market, inv)
    a1 = answer(mm1, rfq, "10.00", seconds=5)
    # given an answer past its expiry that the sweep has not closed yet
    RfqAnswer.objects.filter(pk=a1.pk).update(
        created_at=timezone.now() - dt.timedelta(seconds=10), expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    before = rfq_snapshot()
    # when the investor and the market maker read it
    seen = api_for(inv.owner).get(f"/api/v1/rfqs/{rfq.pk}/").json()
    mine = api_for(mm1.owner).get(f"/api/v1/rfqs/{rfq.pk}/").json()
    # then it reads expired, and the request still open
    assert [a["status"] for a in seen["answers"]] == ["expired"] == [a["status"] for a in mine["answers"]]
    assert seen["status"] == "open"
    client.force_login(inv.owner)
    html = client.get("/rfqs/data/").json()["requests"][0]["html"]
    assert f'name="answer" value="{a1.pk}"' not in html and "已过期" in html
    # and reading changed nothing: the sweep closes them and releases what they hold
    assert rfq_snapshot() == before
    # and past the request's own expiry, the request reads expired too
    RfqRequest.objects.filter(pk=rfq.pk).update(
        created_at=timezone.now() - dt.timedelta(seconds=20), expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert api_for(inv.owner).get(f"/api/v1/rfqs/{rfq.pk}/").json()["status"] == "expired"
    assert RfqRequest.objects.get(pk=rfq.pk).status == "open" and RfqAnswer.objects.get(pk=a1.pk).status == "firm"


def test_a_market_maker_replaces_its_answer_and_its_reservation(desk):
    market, mm1, mm2, inv = desk
    rfq = ask(market, inv, side="sell")
    base = cash_of(mm1).reserved
    first = answer(mm1, rfq, "9.80")
    second = answer(mm1, rfq, "9.90")
    first.refresh_from_db()
    assert first.status == "replaced" and second.status == "firm"
    assert cash_of(mm1).reserved == base + Decimal("990.00")


def test_cancel_releases_every_answer_and_the_request_takes_no_more(desk):
    market, mm1, mm2, inv = desk
    sec = market.security
    rfq = ask(market, inv)
    shares = position_of(mm1, sec).reserved
    answer(mm1, rfq)
    svc.rfq_cancel(actor=inv.owner, rfq_id=rfq.pk)
    rfq.refresh_from_db()
    assert rfq.status == "cancelled" and position_of(mm1, sec).reserved == shares
    assert set(rfq.answers.values_list("status", flat=True)) == {"released"}
    before = rfq_snapshot()
    with pytest.raises(svc.RfqNotOpen):
        answer(mm2, rfq)
    with pytest.raises(svc.RfqNotOpen):
        svc.rfq_cancel(actor=inv.owner, rfq_id=rfq.pk)
    assert rfq_snapshot() == before


def test_the_expiry_task_closes_expired_answers_and_requests_and_releases_them(desk):
    market, mm1, mm2, inv = desk
    sec = market.security
    shares1, shares2 = position_of(mm1, sec).reserved, position_of(mm2, sec).reserved
    rfq = ask(market, inv)
    short, long_ = answer(mm1, rfq, seconds=5), answer(mm2, rfq, seconds=60)
    # when the first answer's time has passed
    later = short.expires_at + dt.timedelta(seconds=1)
    assert svc.rfqs_expire(now=later) == (0, 1)
    short.refresh_from_db(), long_.refresh_from_db()
    assert (short.status, long_.status) == ("expired", "firm")
    assert position_of(mm1, sec).reserved == shares1 and position_of(mm2, sec).reserved == shares2 + 100
    # when the request's own time has passed, it closes with its last answer; a second run finds nothing
    rfq.refresh_from_db()
    assert svc.rfqs_expire(now=rfq.expires_at) == (1, 1)
    rfq.refresh_from_db()
    assert rfq.status == "expired" and position_of(mm2, sec).reserved == shares2
    assert svc.rfqs_expire(now=rfq.expires_at) == (0, 0)
    # an unanswered request expires too
    lone = ask(market, inv, key="lone")
    assert svc.rfqs_expire(now=lone.expires_at) == (1, 0)


def test_a_request_is_idempotent_on_its_client_request_id(desk):
    market, mm1, mm2, inv = desk
    first = ask(market, inv)
    assert ask(market, inv).pk == first.pk and RfqRequest.objects.count() == 1
    with pytest.raises(err.RequestIdConflict):
        ask(market, inv, quantity=200)


@pytest.mark.parametrize(
    ("setup", "side", "quantity", "error"),
    [
        (lambda m: setattr(m.security, "mode_rfq", False), "buy", 100, err.ModeDisabled),
        (lambda m: setattr(m.security, "status", "halted"), "buy", 100, err.SecurityHalted),
        (lambda m: setattr(m.security, "risk_rating", 5), "buy", 100, "unsuitable_risk_level"),
        (lambda m: setattr(m.security, "qualified_only", True), "buy", 100, "not_qualified_investor"),
        (lambda m: setattr(m.security, "lot_size", 100), "buy", 150, err.QuantityNotInLots),
        (lambda m: None, "sell", 5000, err.InsufficientShares),
    ],
)
def test_pre_trade_refusals_of_a_request_change_nothing(market, setup, side, quantity, error):
    inv = market.investor(cash="50000", shares=1000, level=4)
    setup(market)
    market.security.save()
    before = rfq_snapshot()
    with pytest.raises(err.DomainError) as caught:
        ask(market, inv, side=side, quantity=quantity)
    if isinstance(error, str):
        assert caught.value.code == error
    else:
        assert isinstance(caught.value, error)
    assert rfq_snapshot() == before


def test_acceptance_checks_cash_and_frozen_accounts_and_changes_nothing(market):
    mm = market.market_maker()
    poor = market.investor(cash="500")
    rfq = ask(market, poor)
    a = answer(mm, rfq, "10.00")
    before = rfq_snapshot()
    with pytest.raises(err.InsufficientCash):
        svc.rfq_accept(actor=poor.owner, rfq_id=rfq.pk, answer_id=a.pk)
    assert rfq_snapshot() == before
    account_flags_set(poor.pk, frozen=True)
    poor.refresh_from_db()
    with pytest.raises(err.AccountFrozen):
        svc.rfq_accept(actor=poor.owner, rfq_id=rfq.pk, answer_id=a.pk)
    assert rfq_snapshot() == before


def test_a_market_maker_frozen_since_it_answered_is_not_named_to_the_investor(market):
    mm = market.market_maker()
    investor = market.investor(cash="5000")
    rfq = ask(market, investor)
    a = answer(mm, rfq, "10.00")
    # given the market maker's account frozen since it answered, its answer not yet released (the approval's
    # release or the beat is still to come)
    account_flags_set(mm.pk, frozen=True)
    before = rfq_snapshot()
    # when the investor accepts that answer
    response = api_for(investor.owner).post(f"/api/v1/rfqs/{rfq.pk}/accept/", {"answer": a.pk}, format="json")
    # then it is refused as an answer no longer firm: nothing of the market maker's legal order, nor its reason
    assert (response.status_code, response.json()["code"]) == (409, "rfq_answer_not_firm")
    assert "冻结" not in response.json()["message"] and "frozen" not in response.json()["message"]
    # and nothing changed
    assert rfq_snapshot() == before


def test_roles(desk):
    market, mm1, mm2, inv = desk
    other = market.investor(cash="1000")
    rfq = ask(market, inv)
    a = answer(mm1, rfq)
    # an investor cannot answer, a market maker cannot ask, another investor cannot accept or cancel
    with pytest.raises(err.PermissionDenied):
        svc.rfq_answer(user=inv.owner, rfq_id=rfq.pk, price=Decimal("10"), valid_seconds=10)
    with pytest.raises(err.PermissionDenied):
        svc.rfq_request(
            requested_by=mm1.owner, account=mm1, request=RfqRequestInput(market.security.code, "buy", 1, "x")
        )
    with pytest.raises(err.NotFound):
        svc.rfq_accept(actor=other.owner, rfq_id=rfq.pk, answer_id=a.pk)
    with pytest.raises(err.NotFound):
        svc.rfq_cancel(actor=other.owner, rfq_id=rfq.pk)
    # the API shows each role what it may see
    assert api_for(other.owner).get(f"/api/v1/rfqs/{rfq.pk}/").status_code == 404
    seen = api_for(mm2.owner).get(f"/api/v1/rfqs/{rfq.pk}/").json()
    assert seen["answers"] == []  # not mm1's answer
    assert [x["id"] for x in api_for(mm1.owner).get(f"/api/v1/rfqs/{rfq.pk}/").json()["answers"]] == [a.pk]
    regulator = market.user(Role.REGULATOR)
    assert api_for(regulator).get("/api/v1/rfqs/").json()["count"] == 1
    assert api_for(other.owner).get("/api/v1/rfqs/").json()["count"] == 0


def test_the_api_asks_answers_and_accepts(desk):
    market, mm1, mm2, inv = desk
    client = api_for(inv.owner)
    body = {"security": market.security.code, "side": "buy", "quantity": 100, "client_request_id": "api-1"}
    created = client.post("/api/v1/rfqs/", body, format="json")
    assert created.status_code == 201, created.json()
    rfq_id = created.json()["id"]
    assert created.json()["status"] == "open"
    assert client.post("/api/v1/rfqs/", body, format="json").status_code == 200
    answered = api_for(mm1.owner).post(
        f"/api/v1/rfqs/{rfq_id}/answers/", {"price": "10.00", "valid_seconds": 30}, format="json"
    )
    assert answered.status_code == 201, answered.json()
    assert answered.json()["expires_at"]
    listed = client.get(f"/api/v1/rfqs/{rfq_id}/").json()
    assert [a["price"] for a in listed["answers"]] == ["10.00"]
    accepted = client.post(f"/api/v1/rfqs/{rfq_id}/accept/", {"answer": answered.json()["id"]}, format="json")
    assert accepted.status_code == 200, accepted.json()
    assert accepted.json()["status"] == "accepted"
    assert Trade.objects.filter(pk=accepted.json()["trade"]).exists()


@pytest.mark.parametrize(
    ("path", "who", "body", "code"),
    [
        ("/api/v1/rfqs/", "inv", {"security": "NOPE", "side": "buy", "quantity": 100, "client_request_id": "x"}, 404),
        ("/api/v1/rfqs/", "inv", {"security": "S", "side": "hold", "quantity": 100, "client_request_id": "x"}, 400),
        ("/api/v1/rfqs/", "inv", {"security": "S", "side": "buy", "quantity": 1.5, "client_request_id": "x"}, 400),
        ("/api/v1/rfqs/", "inv", {"security": "S", "side": "buy", "quantity": -1, "client_request_id": "x"}, 400),
        ("/api/v1/rfqs/", "inv", {"security": "S", "side": "buy", "quantity": 100}, 400),
        ("answers", "mm", {"price": 10.0, "valid_seconds": 30}, 400),
        ("answers", "mm", {"price": "10.001", "valid_seconds": 30}, 400),
        ("answers", "mm", {"price": "99.00", "valid_seconds": 30}, 400),
        ("answers", "mm", {"price": "10.00", "valid_seconds": 0}, 400),
        ("answers", "mm", {"price": "10.00", "valid_seconds": "30"}, 400),
        ("answers", "mm", {"price": "abc", "valid_seconds": 30}, 400),
        ("accept", "inv", {"answer": 999999}, 404),
        ("accept", "inv", {"answer": "x"}, 400),
        ("accept", "inv", {}, 400),
        ("/api/v1/rfqs/999999/accept/", "inv", {"answer": 1}, 404),
        ("/api/v1/rfqs/999999/answers/", "mm", {"price": "10.00", "valid_seconds": 30}, 404),
    ],
)
def test_bad_inputs_are_4xx_and_change_nothing(desk, path, who, body, code):
    market, mm1, mm2, inv = desk
    rfq = ask(market, inv)
    if path in ("answers", "accept"):
        path = f"/api/v1/rfqs/{rfq.pk}/{path}/"
    body = {k: (market.security.code if v == "S" else v) for k, v in body.items()}
    before = rfq_snapshot()
    response = api_for((inv if who == "inv" else mm1).owner).post(path, body, format="json")
    assert response.status_code == code, response.json()
    assert set(response.json()) >= {"code", "message"}
    assert rfq_snapshot() == before


# --------------------------------------------------------------------------
# Pages


def test_the_investor_asks_sees_answers_arrive_and_accepts_on_the_page(desk, client):
    market, mm1, mm2, inv = desk
    client.force_login(inv.owner)
    page = client.get("/rfqs/")
    assert page.status_code == 200 and "rfq-list" in page.content.decode()
    posted = client.post(
        "/rfqs/", {"security": market.security.code, "side": "buy", "quantity": "100", "client_request_id": "p1"}
    )
    assert posted.status_code == 302
    rfq = RfqRequest.objects.get(account=inv)
    # a market maker answers on its quotes page: the inbox lists the request, the form sends the answer
    mm_client = client.__class__()
    mm_client.force_login(mm1.owner)
    quotes_page = mm_client.get("/quotes/").content.decode()
    assert 'id="rfq-inbox"' in quotes_page
    # the request is drawn with the page, not only after the script's first poll (found by a probe)
    assert f'<tr data-rfq="{rfq.pk}">' in quotes_page and '<tr class="rfq-inbox-empty" hidden>' in quotes_page
    inbox = mm_client.get("/rfqs/inbox/data/").json()
    assert [r["id"] for r in inbox["requests"]] == [rfq.pk]
    sent = mm_client.post(f"/rfqs/{rfq.pk}/answer/", {f"{rfq.pk}-price": "10.00", f"{rfq.pk}-valid_seconds": "30"})
    assert sent.status_code == 302
    # the message names the request answered
    said = [str(m) for m in mm_client.get("/quotes/").context["messages"]]
    assert len(said) == 1 and f"询价 {rfq.pk} 的报价已发送" in said[0]
    a = RfqAnswer.objects.get(request=rfq)
    # the investor's page polls and sees it with an Accept button
    data = client.get("/rfqs/data/").json()
    assert f'name="answer" value="{a.pk}"' in data["requests"][0]["html"]
    assert client.post(f"/rfqs/{rfq.pk}/accept/", {"answer": str(a.pk)}).status_code == 302
    rfq.refresh_from_db()
    assert rfq.status == "accepted" and Trade.objects.count() == 1


def test_an_accepted_request_links_to_its_trades_page_not_to_the_trade_list(desk, client):
    # (found by a tester: "trade N" on the card went to /trades/, the list, not to the trade)
    market, mm1, mm2, inv = desk
    rfq = ask(market, inv)
    svc.rfq_accept(actor=inv.owner, rfq_id=rfq.pk, answer_id=answer(mm1, rfq).pk)
    trade = Trade.objects.get()
    client.force_login(inv.owner)
    before = rfq_snapshot()

    # when the investor's page draws the card, and its poll redraws it
    cards = {
        "page": client.get("/rfqs/").content.decode(),
        "poll": client.get("/rfqs/data/").json()["requests"][0]["html"],
    }

    # then "trade N" leads to that trade's page, which the investor may open
    for where, html in cards.items():
        heading = re.search(rf'<h3 id="rfq-{rfq.pk}-title">(.*?)</h3>', html, re.S).group(1)
        assert re.findall(r'<a href="([^"]*)">', heading) == [f"/trades/{trade.pk}/"], where
    assert client.get(f"/trades/{trade.pk}/").status_code == 200
    # and looking changed nothing
    assert rfq_snapshot() == before


def test_bad_page_input_is_a_message_and_changes_nothing(desk, client):
    market, mm1, mm2, inv = desk
    rfq = ask(market, inv)
    before = rfq_snapshot()
    client.force_login(mm1.owner)
    # each refusal is the quotes page again as a 400, the answer as typed in its row beside the reason, which names
    # the request (found by a walk-through: the page redirected and the typed price was lost)
    cases = (("abc", "30", "请输入数字", True), ("99.00", "30", "价格必须在", False), ("10.00", "0", "", True))
    for price, seconds, reason, field in cases:
        response = client.post(
            f"/rfqs/{rfq.pk}/answer/", {f"{rfq.pk}-price": price, f"{rfq.pk}-valid_seconds": seconds}
        )
        assert response.status_code == 400
        page = response.content.decode()
        row = page[page.index(f'<tr data-rfq="{rfq.pk}">') :]
        row = row[: row.index("</tr>")]
        assert f'value="{price}"' in row and f'value="{seconds}"' in row and ('aria-invalid="true"' in row) == field
        assert f'id="rfq-answer-{rfq.pk}-error"' in row and f"询价 {rfq.pk} 的报价未发送：{reason}" in row
    client.force_login(inv.owner)
    assert client.post(f"/rfqs/{rfq.pk}/accept/", {"answer": "x"}).status_code == 302
    assert client.post(f"/rfqs/{rfq.pk}/accept/", {"answer": "999999"}).status_code == 302
    form = client.post("/rfqs/", {"security": market.security.code, "side": "buy", "quantity": "0"})
    assert form.status_code == 200
    assert rfq_snapshot() == before
    # and an answer to a request closed meanwhile, which has no row, is refused in a message at the top
    gone = ask(market, inv, quantity=200, key="r2")
    svc.rfq_cancel(actor=inv.owner, rfq_id=gone.pk)
    before_closed = rfq_snapshot()
    client.force_login(mm1.owner)
    response = client.post(f"/rfqs/{gone.pk}/answer/", {f"{gone.pk}-price": "10.00", f"{gone.pk}-valid_seconds": "30"})
    assert response.status_code == 400 and f'<tr data-rfq="{gone.pk}">' not in response.content.decode()
    shown = [str(m) for m in response.context["messages"]]
    assert len(shown) == 1 and f"询价 {gone.pk} 的报价未发送" in shown[0], shown
    assert rfq_snapshot() == before_closed


@pytest.mark.parametrize(
    ("price", "seconds", "reason"),
    [
        ("", "30", "Give a price."),
        ("0", "30", "The price must be at least 0.01."),
        ("10.00", "", "Give the seconds the answer stays firm."),
        ("10.00", "1.5", "Give the seconds the answer stays firm as a whole number."),
        ("10.00", "0", "An answer must stay firm for at least 1 second."),
        ("10.00", "3601", "An answer may stay firm for at most 3,600 seconds."),
    ],
)
def test_an_answers_value_out_of_range_is_refused_naming_its_field(desk, client, settings, price, seconds, reason):
    # given an open request and a market maker reading the page in English
    market, mm1, mm2, inv = desk
    rfq = ask(market, inv)
    before = rfq_snapshot()
    client.force_login(mm1.owner)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    # when it answers with a price or seconds its form refuses
    response = client.post(f"/rfqs/{rfq.pk}/answer/", {f"{rfq.pk}-price": price, f"{rfq.pk}-valid_seconds": seconds})

    # then the row's one line of refusal names what is wrong (it said "Ensure this value is greater than or equal
    # to 1.", away from the fields: found by a walk-through), and nothing was answered
    assert response.status_code == 400
    page = response.content.decode()
    row = page[page.index(f'<tr data-rfq="{rfq.pk}">') :]
    assert f"Answer to request {rfq.pk} not sent: {reason}</p>" in row[: row.index("</tr>")]
    assert "this value" not in page
    assert rfq_snapshot() == before


def test_the_answers_message_says_the_seconds_the_market_maker_typed(desk, client, settings):
    # given an open request and a market maker reading the page in English
    market, mm1, mm2, inv = desk
    rfq = ask(market, inv)
    client.force_login(mm1.owner)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    # when it answers 10.00, firm for 60 seconds
    response = client.post(f"/rfqs/{rfq.pk}/answer/", {f"{rfq.pk}-price": "10.00", f"{rfq.pk}-valid_seconds": "60"})

    # then the message says 60 seconds (it said 59: the milliseconds since the answer was made were cut away)
    assert response.status_code == 302
    shown = [str(m) for m in response.wsgi_request._messages]
    assert shown == [f"Answer to request {rfq.pk} sent: 10.00, firm for 60 seconds."], shown
    # and the answer is firm for those 60 seconds, nothing else of the request changed
    made = RfqAnswer.objects.get(request=rfq)
    assert made.price == Decimal("10.00") and made.status == RfqAnswer.Status.FIRM
    assert dt.timedelta(seconds=59) < made.expires_at - timezone.now() <= dt.timedelta(seconds=60)
    rfq.refresh_from_db()
    assert rfq.status == RfqRequest.Status.OPEN


def test_rfq_pages_are_for_their_roles(desk, client):
    market, mm1, mm2, inv = desk
    client.force_login(mm1.owner)
    assert client.get("/rfqs/").status_code == 403
    client.force_login(inv.owner)
    assert client.get("/rfqs/inbox/data/").status_code == 403


def test_acceptance_rechecks_the_holder_cap_and_changes_nothing(market):
    # given a buy request answered while the security had room for a new holder
    mm = market.market_maker()
    inv = market.investor(cash="50000")
    rfq = ask(market, inv)
    a = answer(mm, rfq)
    # when the cap is reached before the investor accepts (the market maker is the only holder)
    market.security.max_holders = 1
    market.security.save(update_fields=["max_holders"])
    before = rfq_snapshot()
    # then the acceptance is refused and nothing changed
    with pytest.raises(err.DomainError) as caught:
        svc.rfq_accept(actor=inv.owner, rfq_id=rfq.pk, answer_id=a.pk)
    assert caught.value.code == "holder_cap_reached"
    assert rfq_snapshot() == before


def test_a_request_may_be_opened_for_longer_than_the_default(desk):
    market, mm1, mm2, inv = desk
    rfq, _ = svc.rfq_request(
        requested_by=inv.owner,
        account=inv,
        request=RfqRequestInput(market.security.code, "buy", 100, "demo"),
        ttl=86400,
    )
    assert (rfq.expires_at - rfq.created_at).total_seconds() == 86400


def test_a_supervisor_sees_an_rfq_trade_from_the_investors_side(desk):
    market, mm1, mm2, inv = desk
    rfq = ask(market, inv, side="sell")
    trade = svc.rfq_accept(actor=inv.owner, rfq_id=rfq.pk, answer_id=answer(mm1, rfq, "9.90").pk).trade
    regulator = market.user(Role.REGULATOR)
    shown = api_for(regulator).get("/api/v1/trades/").json()["results"]
    assert [(t["id"], t["side"], t["buy_order_id"], t["sell_order_id"]) for t in shown] == [
        (trade.pk, "sell", None, None)
    ]


@pytest.mark.parametrize(
    ("seconds", "english", "chinese"),
    [
        (0, "0 s", "0 秒"),
        (42, "42 s", "42 秒"),
        (252, "4 min 12 s", "4 分 12 秒"),
        (86202, "23 h 56 min", "23 小时 56 分"),
    ],
)
def test_an_rfq_countdown_reads_in_hours_minutes_and_seconds(seconds, english, chinese):
    from django.utils import translation

    from exchange.rfq_views import time_left

    with translation.override("en"):
        assert time_left(seconds) == english
    with translation.override("zh-hans"):
        assert time_left(seconds) == chinese


def test_the_beat_closes_a_frozen_accounts_requests_and_a_frozen_market_makers_answers(desk):
    from supervision.tasks import cancel_frozen_orders

    market, mm1, mm2, inv = desk
    sec = market.security
    other = market.investor(cash="50000")
    # given a frozen investor's request answered by mm1, and another investor's request answered by both market
    # makers, mm2 then frozen (the flag a whole-account freeze sets)
    frozen_ask = ask(market, inv, key="frozen-ask")
    answer(mm1, frozen_ask)
    other_ask = ask(market, other, key="other-ask")
    answer(mm1, other_ask, price="10.05")
    answer(mm2, other_ask, price="10.10")
    mm1_reserved = position_of(mm1, sec).reserved
    for pk in (inv.pk, mm2.pk):
        account_flags_set(pk, frozen=True)
    # when the beat runs (twice: it is idempotent)
    assert cancel_frozen_orders.apply().get() == 3
    assert cancel_frozen_orders.apply().get() == 0
    # then the frozen investor's request is cancelled and mm1's answer to it released
    frozen_ask.refresh_from_db()
    assert frozen_ask.status == RfqRequest.Status.CANCELLED
    assert list(frozen_ask.answers.values_list("status", flat=True)) == ["released"]
    # and on the other request, mm2's answer is released while mm1's stands, the request open
    other_ask.refresh_from_db()
    assert other_ask.status == RfqRequest.Status.OPEN
    by = dict(other_ask.answers.values_list("account_id", "status"))
    assert by == {mm1.pk: "firm", mm2.pk: "released"}
    # and what the released answers held is free: mm2 holds nothing, mm1 only its standing answer
    assert position_of(mm2, sec).reserved == 0
    assert position_of(mm1, sec).reserved == mm1_reserved - 100


def test_approving_a_freeze_or_a_restriction_closes_the_accounts_requests_and_answers_at_once(
    desk, django_capture_on_commit_callbacks
):
    # (found by a review: they waited up to a minute for the beat, holding the market makers' answers)
    from supervision import services as sv
    from supervision.tasks import cancel_frozen_orders

    market, mm1, mm2, inv = desk
    sec = market.security
    other = market.investor(cash="50000")
    legal = {"legal_reference": "(2026)沪74执9号", "legal_authority": "上海金融法院"}
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    # given the investor's request answered by mm1, and another investor's request answered by both market makers
    mine = ask(market, inv, key="mine")
    answer(mm1, mine)
    theirs = ask(market, other, key="theirs")
    answer(mm1, theirs, price="10.05")
    answer(mm2, theirs, price="10.10")
    mm1_reserved, mm2_reserved = position_of(mm1, sec).reserved, position_of(mm2, sec).reserved
    # when a whole-account freeze of the investor is approved, and it commits
    freeze = sv.freeze_propose(actor=reg1, account=inv.code, whole_account=True, reason="Court order", **legal)
    with django_capture_on_commit_callbacks(execute=True):
        freeze = sv.freeze_approve(actor=reg2, freeze_id=freeze.pk)
    # then its request is cancelled at the approval's moment and mm1's answer to it released, what it held free
    mine.refresh_from_db()
    assert (mine.status, mine.closed_at) == (RfqRequest.Status.CANCELLED, freeze.decided_at)
    assert list(mine.answers.values_list("status", flat=True)) == ["released"]
    assert position_of(mm1, sec).reserved == mm1_reserved - 100
    # and the other investor's request and both answers to it did not change
    theirs.refresh_from_db()
    assert theirs.status == RfqRequest.Status.OPEN
    assert sorted(theirs.answers.values_list("status", flat=True)) == ["firm", "firm"]
    assert position_of(mm2, sec).reserved == mm2_reserved
    # when mm2's trading is restricted
    restriction = sv.freeze_propose(actor=reg1, account=mm2.code, trading=True, reason="Manipulation", **legal)
    with django_capture_on_commit_callbacks(execute=True):
        restriction = sv.freeze_approve(actor=reg2, freeze_id=restriction.pk)
    # then its answer is released at once and what it held is free, while the request and mm1's answer stand
    theirs.refresh_from_db()
    by = {a.account_id: (a.status, a.closed_at) for a in theirs.answers.all()}
    assert by == {mm1.pk: ("firm", None), mm2.pk: ("released", restriction.decided_at)}
    assert theirs.status == RfqRequest.Status.OPEN
    assert position_of(mm2, sec).reserved == mm2_reserved - 100
    # and the beat finds nothing left to close
    assert cancel_frozen_orders.apply().get() == 0


def test_a_freeze_rolled_back_closes_no_request(desk, django_capture_on_commit_callbacks):
    from django.db import transaction

    from supervision import services as sv

    market, mm1, _mm2, inv = desk
    legal = {"legal_reference": "(2026)沪74执9号", "legal_authority": "上海金融法院"}
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    mine = ask(market, inv, key="mine")
    answer(mm1, mine)
    freeze = sv.freeze_propose(actor=reg1, account=inv.code, whole_account=True, reason="Court order", **legal)
    # when the approval's transaction rolls back
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            sv.freeze_approve(actor=reg2, freeze_id=freeze.pk)
            raise RuntimeError("rolled back")
    # then nothing was queued and the request and its answer stand
    assert callbacks == []
    mine.refresh_from_db()
    assert mine.status == RfqRequest.Status.OPEN
    assert list(mine.answers.values_list("status", flat=True)) == ["firm"]


def test_an_answer_released_with_its_request_reads_closed_with_it_not_not_chosen(desk, client):
    # given two requests answered by both market makers: the first accepted at mm1's answer, the second cancelled
    market, mm1, mm2, inv = desk
    chosen = ask(market, inv, key="chosen")
    a1, a2 = answer(mm1, chosen), answer(mm2, chosen, "10.10")
    svc.rfq_accept(actor=inv.owner, rfq_id=chosen.pk, answer_id=a1.pk)
    cancelled = ask(market, inv, key="cancelled")
    b1, b2 = answer(mm1, cancelled), answer(mm2, cancelled, "10.10")
    svc.rfq_cancel(actor=inv.owner, rfq_id=cancelled.pk)
    client.force_login(inv.owner)
    before = rfq_snapshot()

    # when the investor's page polls its requests
    rows = {r["id"]: r["html"] for r in client.get("/rfqs/data/", HTTP_ACCEPT_LANGUAGE="en").json()["requests"]}

    # then the answer passed over for another reads "Not chosen", and the cancelled request's answers "Closed with
    # the request"
    def label(html: str, answer_id: int) -> str:
        row = re.search(rf'<tr[^>]*data-answer="{answer_id}".*?</tr>', html, re.S)
        assert row, html
        return row.group(0)

    closed = "Closed with the request"
    assert "Not chosen" in label(rows[chosen.pk], a2.pk) and closed not in label(rows[chosen.pk], a2.pk)
    for b in (b1, b2):
        assert closed in label(rows[cancelled.pk], b.pk) and "Not chosen" not in label(rows[cancelled.pk], b.pk)
    assert rfq_snapshot() == before
