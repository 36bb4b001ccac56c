"""One account seen through by a regulator or an auditor (DESIGN §6: query records down to the entries): the
account's page and ``GET /api/v1/accounts/{code}/``, the ``account`` filter of the orders, trades and freezes
lists, and the ways to the page (the menu, a look-up by code, a freeze's row, a trade's parties)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from core.models import Account, AuditEvent, Role
from core.names import holder_name, mask_name
from exchange.models import Trade
from exchange.services import rfq as rfq_svc
from ledger.services import block_seal
from settlement.services import trade_settle
from tests.conftest import api_for, log_in, position_of, snapshot
from tests.supervision_fixtures import freeze_approved, placed, proposed, rfq_asked

D = Decimal
LEGAL = {"legal_reference": "(2026)沪74执3号", "legal_authority": "Shanghai Financial Court", "legal_document": "3"}


def signed_in(user) -> Client:
    client = Client()
    log_in(client, user)
    return client


@pytest.fixture
def traded(sup):
    """The ``sup`` market after the investor sold 300 shares to the market maker (sealed), with 200 shares frozen
    and a buy order left working: (market, reg1, reg2, mm, investor, trade)."""
    market, reg1, reg2, mm, investor = sup
    placed(market, investor, "sell", 300, "9.90", "sell-1")
    block_seal()
    trade = Trade.objects.get(seller=investor)
    assert trade_settle(trade_id=trade.pk)
    freeze_approved(
        reg1, reg2, investor, security=market.security.code, quantity=200, reason="Preservation", legal=LEGAL
    )
    placed(market, investor, "buy", 100, "9.00", "buy-rest", tif="DAY")
    block_seal()
    return market, reg1, reg2, mm, investor, trade


def test_a_regulator_reads_an_account_whole_and_each_row_leads_on(traded):
    market, reg1, reg2, mm, investor, trade = traded
    before = snapshot()

    # when a regulator opens the investor's account page
    page = signed_in(reg1).get(f"/supervision/accounts/{investor.code}/")

    # then it shows the holder masked, the cash and shares with what is frozen, the freeze, the working order and
    # the trade with its counterparty and its ledger entry, and the ways on: audit trail, reveal, a freeze proposal
    assert page.status_code == 200
    text = page.content.decode()
    assert mask_name(holder_name(investor)) in text and holder_name(investor) not in text
    assert 'id="account-held" data-scope="part"' in text
    kyc = text.split('id="account-kyc"')[1].split("</p>")[0]
    assert "status-approved" in kyc and "C5" in kyc
    positions = text.split('id="positions-table"')[1].split("</table>")[0]
    assert market.security.code in positions and "700" in positions and "200" in positions
    freezes = text.split('id="freezes-table"')[1].split("</table>")[0]
    assert "Preservation" in freezes and 'data-field="entry"' in freezes
    orders = text.split('id="orders-table"')[1].split("</table>")[0]
    assert "9.00" in orders and "100" in orders
    trades = text.split('id="account-trades-table"')[1].split("</table>")[0]
    assert f'href="/trades/{trade.pk}/"' in trades and f'href="/supervision/accounts/{mm.code}/"' in trades
    assert 'data-field="entry"' in trades and "300" in trades
    links = text.split('id="account-links"')[1].split("</p>")[0]
    assert f"/audit/?target={investor.code}" in links and f"/kyc/reveal/?q={investor.code}" in links
    # the evidence bundle of the account: every record and entry about it, its reveals and KYC included
    assert f'href="/audit/evidence/?account={investor.code}" download' in links
    assert f"/supervision/?account={investor.code}" in links
    # and reading it changed nothing, nor was it a reveal
    assert snapshot() == before
    assert not AuditEvent.objects.filter(action__contains="reveal").exists()


def test_an_auditor_reads_it_without_the_regulators_actions(traded):
    market, reg1, reg2, mm, investor, trade = traded
    text = signed_in(market.user(Role.AUDITOR)).get(f"/supervision/accounts/{investor.code}/").content.decode()
    links = text.split('id="account-links"')[1].split("</p>")[0]
    assert "/audit/?target=" in links and "/kyc/reveal/" not in links and "/supervision/?account=" not in links


@pytest.mark.parametrize(
    "role", [Role.INVESTOR, Role.MARKET_MAKER, Role.BROKER_STAFF, Role.EXCHANGE_OPERATOR, Role.DEPOSITORY_OPERATOR]
)
def test_no_other_role_opens_an_account_page_or_its_api(traded, role):
    market, reg1, reg2, mm, investor, trade = traded
    user = {Role.INVESTOR: investor.owner, Role.MARKET_MAKER: mm.owner, Role.BROKER_STAFF: market.staff}.get(role)
    user = user or market.user(role)
    # not even the investor's own account, nor its broker's staff: they have their own pages
    assert signed_in(user).get(f"/supervision/accounts/{investor.code}/").status_code == 403
    assert signed_in(user).get("/supervision/accounts/").status_code == 403
    response = api_for(user).get(f"/api/v1/accounts/{investor.code}/")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"


def test_a_code_typed_in_small_letters_finds_the_account_and_an_unknown_one_is_a_clear_error(traded):
    market, reg1, reg2, mm, investor, trade = traded
    client = signed_in(reg1)

    # the look-up takes the code in any case and leads to the account's one address
    found = client.get("/supervision/accounts/", {"code": f" {investor.code.lower()} "})
    assert found.status_code == 302 and found["Location"] == f"/supervision/accounts/{investor.code}/"
    lower = client.get(f"/supervision/accounts/{investor.code.lower()}/")
    assert lower.status_code == 302 and lower["Location"] == f"/supervision/accounts/{investor.code}/"

    # a code no account has: the form says so, with what was typed kept; its page is a 404, its API a 404
    missing = client.get("/supervision/accounts/", {"code": "INV999999"}, HTTP_ACCEPT_LANGUAGE="en")
    assert missing.status_code == 200
    text = missing.content.decode()
    # naming the code as read, and how codes look (found by a walk: "No such account." said neither)
    assert "No account has the code INV999999." in text and 'value="INV999999"' in text
    assert "As INV000005 (an investor), MM000002 (a market maker) or FEE000001 (a fee account); any case." in text
    assert 'aria-describedby="id_code_helptext' in text
    assert client.get("/supervision/accounts/INV999999/").status_code == 404
    response = api_for(reg1).get("/api/v1/accounts/INV999999/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    # an empty or over-long code is a form error, never a 500
    empty = client.get("/supervision/accounts/", {"code": ""}, HTTP_ACCEPT_LANGUAGE="en")
    assert "This field is required." in empty.content.decode()
    assert client.get("/supervision/accounts/", {"code": "X" * 500}).status_code == 200


def test_the_look_up_lists_the_accounts_a_legal_order_holds_now(traded):
    market, reg1, reg2, mm, investor, trade = traded
    free = market.investor(cash="10")
    text = signed_in(reg1).get("/supervision/accounts/").content.decode()
    held = text.split('id="held-table"')[1].split("</table>")[0]
    assert f'data-account="{investor.code}"' in held and f"/supervision/accounts/{investor.code}/" in held
    assert free.code not in held and mm.code not in held


def test_the_api_gives_the_account_its_flags_and_balances(traded):
    market, reg1, reg2, mm, investor, trade = traded
    for reader in (reg1, market.user(Role.AUDITOR)):
        body = api_for(reader).get(f"/api/v1/accounts/{investor.code.lower()}/").json()
        assert body["account"] == investor.code and body["kind"] == "investor"
        assert body["name"] == mask_name(holder_name(investor)) and body["broker"] == market.broker.code
        assert (body["frozen"], body["trading_restricted"], body["part_frozen"]) == (False, False, True)
        assert body["cash"]["currency"] == "CNY"
        # the account opening as a supervisor may read it: no personal data
        assert body["kyc"]["state"] == "approved" and body["kyc"]["risk_level"] == "C5"
        assert set(body["kyc"]) == {"state", "risk_level", "qualified_investor", "expires_at"}
        (position,) = body["positions"]
        assert (position["security"], position["total"], position["frozen"]) == (market.security.code, 700, 200)


def test_a_market_makers_account_shows_its_quotes_and_has_no_account_opening(traded):
    market, reg1, reg2, mm, investor, trade = traded
    body = api_for(reg1).get(f"/api/v1/accounts/{mm.code}/").json()
    assert body["kind"] == "market_maker" and body["kyc"] is None and body["broker"] is None
    text = signed_in(reg1).get(f"/supervision/accounts/{mm.code}/").content.decode()
    assert 'id="account-kyc"' not in text
    # its trading is its quotes: the two sides in force, each with its price and what is left of it
    quotes = text.split('id="quotes-table"')[1].split("</table>")[0]
    assert quotes.count("data-quote=") == 2 and "9.90" in quotes and "10.10" in quotes and "4,700" in quotes
    # an investor's page has no quotes section
    assert 'id="quotes-title"' not in signed_in(reg1).get(f"/supervision/accounts/{investor.code}/").content.decode()


def test_the_orders_trades_and_freezes_lists_take_an_account_and_refuse_one_the_caller_may_not_see(traded):
    market, reg1, reg2, mm, investor, trade = traded
    other = market.investor(cash="100000")
    placed(market, other, "buy", 100, "10.10", "other-buy")
    api = api_for(reg1)

    # given trades of two investors, the account filter keeps the one's (in any case)
    trades = api.get("/api/v1/trades/", {"account": investor.code.lower()}).json()["results"]
    assert [t["id"] for t in trades] == [trade.pk]
    orders = api.get("/api/v1/orders/", {"account": investor.code}).json()["results"]
    assert {o["client_order_id"] for o in orders} == {"sell-1", "buy-rest"}
    freezes = api.get("/api/v1/freezes/", {"account": investor.code}).json()["results"]
    assert len(freezes) == 1 and freezes[0]["account"] == investor.code
    assert api.get("/api/v1/freezes/", {"account": other.code}).json()["results"] == []

    # an account that does not exist is a 400 naming the parameter, not an empty list read as "nothing happened"
    for path in ("/api/v1/trades/", "/api/v1/orders/", "/api/v1/freezes/"):
        response = api.get(path, {"account": "INV999999"})
        assert response.status_code == 400 and "account" in response.json()["fields"], path

    # the investor's broker's staff filter by their client; another's account is refused as one that does not exist
    staff = api_for(market.staff)
    assert [t["id"] for t in staff.get("/api/v1/trades/", {"account": investor.code}).json()["results"]] == [trade.pk]
    response = staff.get("/api/v1/trades/", {"account": mm.code})
    assert response.status_code == 400 and "account" in response.json()["fields"]
    # and their firm's own fee account, whose freezes they read in the list, they may name too (found by a review)
    fees = Account.objects.get(kind="fee", broker=market.broker)
    assert staff.get("/api/v1/freezes/", {"account": fees.code}).json()["results"] == []
    # an investor may name their own account only
    own = api_for(investor.owner)
    assert own.get("/api/v1/orders/", {"account": investor.code}).status_code == 200
    assert own.get("/api/v1/orders/", {"account": other.code}).status_code == 400


def test_the_ways_to_the_page_the_menu_a_freezes_row_and_a_trades_parties(traded):
    market, reg1, reg2, mm, investor, trade = traded
    auditor = market.user(Role.AUDITOR)
    for reader in (reg1, auditor):
        client = signed_in(reader)
        menu = client.get("/").content.decode().split('class="mainnav"')[1].split("</nav>")[0]
        assert 'href="/supervision/accounts/"' in menu
        freezes = client.get("/supervision/freezes/").content.decode()
        assert f'href="/supervision/accounts/{investor.code}/" data-field="account"' in freezes
        trade_page = client.get(f"/trades/{trade.pk}/").content.decode()
        assert f'href="/supervision/accounts/{investor.code}/"' in trade_page
        assert f'href="/supervision/accounts/{mm.code}/"' in trade_page
        assert f'href="/supervision/accounts/{investor.code}/"' in client.get("/trades/").content.decode()
        assert f'href="/supervision/accounts/{investor.code}/"' in client.get("/orders/").content.decode()
    # the other roles are not led to a page they may not open
    for user in (market.staff, market.user(Role.EXCHANGE_OPERATOR), investor.owner):
        client = signed_in(user)
        assert "/supervision/accounts/" not in client.get("/").content.decode()
        assert "/supervision/accounts/" not in client.get(f"/trades/{trade.pk}/").content.decode()
        assert "/supervision/accounts/" not in client.get("/trades/").content.decode()
        assert "/supervision/accounts/" not in client.get("/orders/").content.decode()


def test_a_corrected_trade_reads_with_its_correction_on_the_account_page(traded):
    # (found by a review: the page showed a reversed sale as it matched, beside holdings that had it reversed)
    from supervision import services as sv

    market, reg1, reg2, mm, investor, trade = traded
    correction = sv.correction_propose(actor=reg1, trade_id=trade.pk, new_price=None, new_quantity=0, reason="Void")
    sv.correction_approve(actor=reg2, correction_id=correction.pk)
    text = signed_in(reg1).get(f"/supervision/accounts/{investor.code}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    row = text.split(f'<tr data-trade="{trade.pk}">')[1].split("</tr>")[0]
    assert 'data-note="correction"' in row and "Void" in row


def test_the_look_up_says_when_it_shows_only_the_first_accounts_held(traded, monkeypatch):
    from supervision import views

    market, reg1, reg2, mm, investor, trade = traded
    second = market.investor(cash="100")
    freeze_approved(reg1, reg2, second, amount="10.00", reason="Preservation", legal=LEGAL)
    client = signed_in(reg1)
    assert 'id="held-more"' not in client.get("/supervision/accounts/").content.decode()
    # (a freeze of cash alone reads as part of the account frozen, as one of shares does)
    assert 'data-scope="part"' in client.get(f"/supervision/accounts/{second.code}/").content.decode()
    assert api_for(reg1).get(f"/api/v1/accounts/{second.code}/").json()["part_frozen"] is True
    monkeypatch.setattr(views, "ACCOUNT_ROWS_HELD", 1)
    text = client.get("/supervision/accounts/").content.decode()
    held = text.split('id="held-table"')[1].split("</table>")[0]
    assert held.count("data-account=") == 1 and 'id="held-more"' in text


def test_what_else_holds_an_accounts_cash_or_shares_is_listed_beside_its_orders(traded):
    # given the investor's negotiated proposal to sell 100 shares waiting, and the market maker's firm answer to
    # another investor's request to buy 200
    market, reg1, _reg2, mm, investor, _trade = traded
    other = market.investor(cash="10000")
    proposal, _code, _made = proposed(investor, market.security, "sell", 100, other, "neg-1", price="10.00")
    request, _made = rfq_asked(other, market.security, "buy", 200, "rfq-1")
    rfq_svc.rfq_answer(user=mm.owner, rfq_id=request.pk, price=D("10.05"), valid_seconds=60)
    before = snapshot()

    # when a regulator opens each account's page, in English
    client = signed_in(reg1)

    def rows(code: str) -> str:
        page = client.get(f"/supervision/accounts/{code}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
        return page.split('id="holdings-table"')[1].split("</table>")[0]

    # then the investor's proposal is listed with the 100 shares it holds, the market maker's answer with the 200
    # shares it holds (it sells to a buyer), each with its price and its end; a page without any says none
    mine, its = rows(investor.code), rows(mm.code)
    assert f'data-kind="negotiated" data-number="{proposal.pk}"' in mine and "100 shares" in mine and "10.00" in mine
    assert f'data-kind="rfq_answer" data-number="{request.pk}"' in its and "200 shares" in its and "10.05" in its
    assert "Sell" in mine and "Sell" in its
    assert 'id="holdings-table"' not in client.get(f"/supervision/accounts/{other.code}/").content.decode()
    # and what they hold is the reserved the page shows beside its orders'
    assert position_of(investor, market.security).reserved == 100
    # and the API gives the same, with what each holds
    waiting = {
        code: api_for(reg1).get(f"/api/v1/accounts/{code}/").json()["waiting"] for code in (investor.code, mm.code)
    }
    assert [
        (w["kind"], w["number"], w["side"], w["price"], w["quantity"], w["holds_cash"]) for w in waiting[investor.code]
    ] == [("negotiated", proposal.pk, "sell", "10.00", 100, None)]
    assert [
        (w["kind"], w["number"], w["side"], w["price"], w["quantity"], w["holds_cash"]) for w in waiting[mm.code]
    ] == [("rfq_answer", request.pk, "sell", "10.05", 200, None)]
    assert api_for(reg1).get(f"/api/v1/accounts/{other.code}/").json()["waiting"] == []
    # and a proposal to buy holds its cash: the price, quantity and fee it reserved
    buyer = market.investor(cash="5000")
    bid, _code, _made = proposed(buyer, market.security, "buy", 100, investor, "neg-2", price="10.00")
    [held] = api_for(reg1).get(f"/api/v1/accounts/{buyer.code}/").json()["waiting"]
    assert (held["side"], held["holds_cash"]) == ("buy", str(bid.reserved_cash)) and bid.reserved_cash > D("1000")
    before = snapshot()
    assert snapshot() == before
