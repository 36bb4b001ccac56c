"""An account frozen or restricted from trading after a request read it (exchange migration 0027), on PostgreSQL.

Every trading path reads the account, and refuses a frozen or restricted one, before it takes any lock; the
approval of a freeze or a restriction may commit while the path waits for its locks. A whole-account freeze then
leaves it nothing available; a trading restriction holds nothing, so the path went on and wrote a resting order,
a request for quote, a firm answer or a negotiated proposal for an account that may not trade (found by a
review). The database now refuses such a row, and the path says why as it would have had it read the account
after the approval: ``trading_restricted`` or ``account_frozen``, with the regulator's reason.

The race is made deterministic by handing the service the account as it was read before the approval (the
object a request holds), as a request that waited on the locks would have it.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from core import errors as err
from core.models import Account
from exchange import pretrade
from exchange.models import NegotiatedTrade, Order, RfqAnswer, RfqRequest
from exchange.services import quotes as quote_svc
from exchange.services import rfq as rfq_svc
from tests.conftest import api_for, cash_of, position_of, snapshot
from tests.supervision_fixtures import (
    freeze_approved,
    placed,
    proposed,
    raw_order,
    raw_proposal,
    raw_quote,
    raw_rfq_answer,
    raw_rfq_request,
    rfq_asked,
)

D = Decimal
LEGAL = {"legal_reference": "(2026)沪74执456号"}
REASON = "Suspected layering"


def approve(reg1, reg2, account: Account, *, trading: bool):
    """A freeze of the whole account, or (``trading``) a trading restriction, proposed and approved; ``account``
    (the caller's object) is left as it was read before."""
    scope = {"trading": True} if trading else {"whole_account": True}
    return freeze_approved(reg1, reg2, account, reason=REASON, legal=LEGAL, **scope)


@pytest.mark.parametrize(
    ("side", "price", "tif"),
    [("buy", "9.50", "DAY"), ("sell", "10.50", "DAY"), ("buy", "10.10", "IOC"), ("sell", "9.90", "IOC")],
)
def test_an_order_of_an_account_restricted_since_it_was_read_is_refused_and_writes_nothing(sup, side, price, tif):
    market, reg1, reg2, _mm, investor = sup
    # given the account as a request read it, and a restriction approved meanwhile
    approve(reg1, reg2, Account.objects.get(pk=investor.pk), trading=True)
    assert investor.trading_restricted is False  # the request's stale view
    before = snapshot()

    # when the request places its order, resting (DAY, crossing nothing) or crossing a quote (IOC)
    with pytest.raises(err.TradingRestricted, match=REASON):
        placed(market, investor, side, 100, price, f"stale-{side}-{tif}", tif)

    # then nothing was written: no order, no trade, nothing reserved
    assert snapshot() == before
    assert not Order.objects.filter(account=investor).exists()


def test_an_order_of_an_account_frozen_since_it_was_read_says_frozen_not_short_of_cash(sup):
    market, reg1, reg2, _mm, investor = sup
    approve(reg1, reg2, Account.objects.get(pk=investor.pk), trading=False)
    before = snapshot()

    # when the stale request buys (its cash is all frozen now) and sells (its shares too)
    with pytest.raises(err.AccountFrozen, match=REASON):
        placed(market, investor, "buy", 100, "9.50", "stale-frozen-buy", "DAY")
    with pytest.raises(err.AccountFrozen, match=REASON):
        placed(market, investor, "sell", 100, "10.50", "stale-frozen-sell", "DAY")

    # then it reads as the freeze it is (not insufficient_cash / insufficient_shares), and nothing changed
    assert snapshot() == before


def test_a_free_accounts_shortfall_is_still_a_shortfall(sup):
    market, _reg1, _reg2, _mm, investor = sup
    # given a free account asking for more than it has: the refusal is its own, read again and found free
    with pytest.raises(err.InsufficientCash):
        placed(market, investor, "buy", 100_000, "9.50", "too-much", "DAY")
    with pytest.raises(err.InsufficientShares):
        placed(market, investor, "sell", 5000, "10.50", "too-many", "DAY")
    assert not Order.objects.filter(account=investor).exists()


def test_a_request_for_quote_and_a_proposal_of_an_account_restricted_since_read_are_refused(sup):
    market, reg1, reg2, _mm, investor = sup
    other = market.investor(cash="50000")
    approve(reg1, reg2, Account.objects.get(pk=investor.pk), trading=True)
    before = snapshot()

    with pytest.raises(err.TradingRestricted, match=REASON):
        rfq_asked(investor, market.security, "buy", 100, "stale-rfq")
    with pytest.raises(err.TradingRestricted, match=REASON):
        proposed(investor, market.security, "sell", 100, other, "stale-neg")

    assert snapshot() == before
    assert not RfqRequest.objects.exists() and not NegotiatedTrade.objects.exists()
    assert (cash_of(investor).reserved, position_of(investor, market.security).reserved) == (0, 0)


def test_a_firm_answer_of_a_market_maker_restricted_since_read_is_refused(sup, monkeypatch):
    market, reg1, reg2, mm, investor = sup
    rfq = rfq_asked(investor, market.security, "buy", 100, "ask-mm")[0]
    stale = Account.objects.get(pk=mm.pk)
    approve(reg1, reg2, mm, trading=True)
    # the market maker's desk account as the answer read it, before the restriction's approval
    monkeypatch.setattr(pretrade, "market_maker_account", lambda user: stale)
    before = snapshot()

    with pytest.raises(err.TradingRestricted, match=REASON):
        rfq_svc.rfq_answer(user=mm.owner, rfq_id=rfq.pk, price=D("10.00"), valid_seconds=30)

    assert snapshot() == before
    assert not RfqAnswer.objects.exists()


def test_a_quote_the_service_let_through_is_a_409_on_the_api_not_a_500(sup, monkeypatch):
    market, reg1, reg2, mm, _investor = sup
    approve(reg1, reg2, mm, trading=True)
    # given a path that does not check the account itself (the quote service's check switched off)
    monkeypatch.setattr(quote_svc.pretrade, "market_maker_account", lambda user: Account.objects.get(pk=mm.pk))
    monkeypatch.setattr(quote_svc.pretrade, "check_account_not_frozen", lambda account: None)
    before = snapshot()

    # when the market maker publishes a quote through the API
    response = api_for(mm.owner).post(
        "/api/v1/quotes/",
        {
            "security": market.security.code,
            "bid_price": "9.80",
            "bid_quantity": 100,
            "ask_price": "10.20",
            "ask_quantity": 100,
        },
        format="json",
    )

    # then the database's refusal is the 409 the service would have given, and nothing was written
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "trading_restricted"
    assert snapshot() == before


@pytest.mark.parametrize("flag", ["frozen", "trading_restricted"])
def test_the_database_refuses_every_trading_row_of_an_account_that_may_not_trade(sup, flag):
    market, reg1, reg2, mm, investor = sup
    other = market.investor(cash="50000")
    rfq = rfq_asked(other, market.security, "buy", 100, "open")[0]
    approve(reg1, reg2, investor, trading=flag == "trading_restricted")
    approve(reg1, reg2, mm, trading=flag == "trading_restricted")
    constraint = "account_frozen_may_not_trade" if flag == "frozen" else "account_restricted_may_not_trade"
    rows = {
        "order": lambda: raw_order(investor, market.security),
        "quote": lambda: raw_quote(mm, market.security),
        "request": lambda: raw_rfq_request(investor, market.security),
        "answer": lambda: raw_rfq_answer(rfq, mm),
        "proposal": lambda: raw_proposal(investor, other, market.security),
    }
    for name, write in rows.items():
        before = snapshot()
        # when any path writes the row directly
        with pytest.raises(IntegrityError) as refused, transaction.atomic():
            write()
        # then the database refuses it by its named constraint, which core.errors reads as the domain error
        assert refused.value.__cause__.diag.constraint_name == constraint, name
        assert isinstance(
            err.refusal_of(refused.value), err.AccountFrozen if flag == "frozen" else err.TradingRestricted
        )
        assert snapshot() == before, name
    # and a proposal *to* a blocked account is still taken (the proposer may not learn of a legal order from it)
    raw_proposal(other, investor, market.security, side="buy", client_request_id="to-blocked", code_hash="y" * 64)
