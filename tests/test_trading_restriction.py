"""A trading restriction (限制交易, DESIGN.md §6, JR/T 0184-2020 §15) on PostgreSQL: a freeze of scope ``trading``,
proposed by one regulator and approved by another, stops every trading path of the account and closes what it
had open, while its cash and shares stay its own (deposits, withdrawals, settlement go on); release and expiry
restore trading."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone, translation

from balances.replay import replay_check
from balances.services import cash_deposit, cash_withdraw
from core import errors as err
from core.models import Account, AuditEvent
from exchange.models import NegotiatedTrade, Order, Quote, RfqRequest, Trade
from exchange.services import negotiated as neg
from exchange.services import rfq as rfq_svc
from ledger.services import block_seal
from settlement.services import trade_settle
from supervision import services as sv
from supervision.models import Freeze
from tests.conftest import account_flags_set, api_for, cash_of, order_body, position_of, snapshot
from tests.supervision_fixtures import freeze_approved, payloads, placed, proposed, rfq_asked

D = Decimal
LEGAL = {"legal_reference": "(2026)沪74执123号"}


def restrict(reg1, reg2, account, **extra) -> Freeze:
    return freeze_approved(reg1, reg2, account, trading=True, reason="Suspected manipulation", legal=LEGAL, **extra)


def test_a_restriction_stops_every_trading_path_and_leaves_the_assets_its_own(sup):
    market, reg1, reg2, _mm, investor = sup
    other = market.investor(cash="50000", shares=1000)
    other_before = (cash_of(other).available, position_of(other, market.security).available)
    cash_before, pos_before = cash_of(investor), position_of(investor, market.security)

    # when one regulator proposes a trading restriction and another approves it
    freeze = restrict(reg1, reg2, investor)

    # then the account is restricted, not frozen, and nothing of its own is frozen
    investor.refresh_from_db()
    assert (investor.trading_restricted, investor.frozen) == (True, False)
    assert freeze.status == "active" and freeze.kind == "trading" and freeze.held_amount == 0 and freeze.parts == {}
    cash, pos = cash_of(investor), position_of(investor, market.security)
    assert (cash.total, cash.frozen, cash.available) == (cash_before.total, 0, cash_before.available)
    assert (pos.total, pos.frozen, pos.available) == (1000, 0, pos_before.available)
    # and it is on the ledger, with no assets, and audited
    (entry,) = payloads("FREEZE")
    assert (entry["scope"], entry["cash"], entry["shares"]) == ("trading", "0.00", [])
    assert entry["legal_reference"] == LEGAL["legal_reference"] and entry["approved_by"] == reg2.username
    records = AuditEvent.objects.filter(target=investor.code, action__startswith="freeze_").order_by("id")
    assert [a.action for a in records] == ["freeze_propose", "freeze_approve"]

    # and every trading path is refused, naming the restriction's reason, changing nothing
    before = snapshot()
    with pytest.raises(err.TradingRestricted, match="Suspected manipulation"):
        placed(market, investor, "buy", 100, "10.10", "restricted-buy")
    with pytest.raises(err.TradingRestricted, match="Suspected manipulation"):
        placed(market, investor, "sell", 100, "9.90", "restricted-sell")
    with pytest.raises(err.TradingRestricted):
        rfq_asked(investor, market.security, "buy", 100, "restricted-rfq")
    with pytest.raises(err.TradingRestricted):
        proposed(investor, market.security, "sell", 100, other, "restricted")
    assert snapshot() == before
    # in the reader's language
    with translation.override("zh-hans"), pytest.raises(err.TradingRestricted) as refused:
        placed(market, investor, "buy", 100, "10.10", "restricted-buy-zh")
    assert "Suspected manipulation" in str(refused.value.message)

    # and its cash stays withdrawable and depositable
    cash_withdraw(actor=market.staff, account=investor, amount=D("1000.00"))
    cash_deposit(actor=market.staff, account=investor, amount=D("500.00"), reference="after")
    assert cash_of(investor).total == cash_before.total - D("500.00")
    # and another account trades as before
    assert placed(market, other, "buy", 100, "10.10", "other-buy").filled_quantity == 100
    assert (cash_of(other).available, position_of(other, market.security).available) != other_before
    assert not Account.objects.get(pk=other.pk).trading_restricted


def test_a_trade_made_before_the_restriction_settles(sup):
    market, reg1, reg2, _mm, investor = sup
    # given a trade of the investor made before the restriction, not yet settled
    assert placed(market, investor, "buy", 100, "10.10", "before").filled_quantity == 100
    trade = Trade.objects.get(buyer=investor)
    restrict(reg1, reg2, investor)
    block_seal()
    # when it settles, then it settles as usual
    assert trade_settle(trade_id=trade.pk)
    assert Trade.objects.get(pk=trade.pk).status == Trade.Status.SETTLED
    assert position_of(investor, market.security).total == 1100


def test_the_restriction_cancels_resting_orders_releasing_what_they_held_and_says_why(sup):
    market, reg1, reg2, mm, investor = sup
    rest_buy = placed(market, investor, "buy", 200, "10.00", "rest-buy", tif="DAY")
    rest_sell = placed(market, investor, "sell", 300, "10.00", "rest-sell", tif="DAY")
    assert (rest_buy.status, rest_sell.status) == ("open", "open")
    cash_total = cash_of(investor).total

    freeze = restrict(reg1, reg2, investor)

    # then both are cancelled by the restriction, with its number, and what they held is free, not frozen
    orders = Order.objects.filter(account=investor)
    assert set(orders.values_list("status", "closed_by", "closed_reason")) == {
        ("cancelled", "trade_restricted", str(freeze.pk))
    }
    with translation.override("en"):
        assert "restricted the account's trading" in orders.first().closed_reason_text()
    cash, pos = cash_of(investor), position_of(investor, market.security)
    assert (cash.reserved, cash.frozen, cash.available) == (0, 0, cash_total)
    assert (pos.reserved, pos.frozen, pos.available) == (0, 0, 1000)
    assert AuditEvent.objects.get(action="freeze_approve").detail["orders_cancelled"] == 2
    # and quotes at their prices trade nothing
    assert market.quote(mm, "10.00", "10.01", bid_qty=1000, ask_qty=1000).trades == []
    assert not Trade.objects.exists()


def test_a_restricted_market_maker_has_its_quotes_pulled_and_may_not_quote_or_answer(sup):
    market, reg1, reg2, mm, investor = sup
    cash_before, pos_before = cash_of(mm), position_of(mm, market.security)
    rfq = rfq_asked(investor, market.security, "buy", 100, "r1")[0]

    restrict(reg1, reg2, mm)

    # then its quotes are pulled and what they held is free (not frozen)
    assert set(Quote.objects.filter(account=mm).values_list("status", flat=True)) == {Quote.Status.PULLED}
    cash, pos = cash_of(mm), position_of(mm, market.security)
    assert (cash.reserved, cash.frozen, cash.total) == (0, 0, cash_before.total)
    assert (pos.reserved, pos.frozen, pos.total) == (0, 0, pos_before.total)
    # and it may not publish a quote nor answer a request for quote
    before = snapshot()
    with pytest.raises(err.TradingRestricted, match="Suspected manipulation"):
        market.quote(mm, "9.80", "10.20")
    with pytest.raises(err.TradingRestricted):
        rfq_svc.rfq_answer(user=mm.owner, rfq_id=rfq.pk, price=D("10.00"), valid_seconds=30)
    assert snapshot() == before
    # and an investor's buy at its old ask finds nothing
    assert placed(market, investor, "buy", 100, "10.10", "after").filled_quantity == 0


def test_a_restricted_counterparty_may_not_confirm_and_the_beat_withdraws_what_is_open(sup):
    from supervision.tasks import cancel_frozen_orders

    market, reg1, reg2, _mm, investor = sup
    other = market.investor(cash="50000")
    to_investor, code, _ = proposed(other, market.security, "buy", 100, investor, "to-restricted")
    asked = rfq_asked(investor, market.security, "sell", 100, "r-before")[0]
    restrict(reg1, reg2, investor)

    # when the restricted investor confirms, then it is refused and nothing changes
    before = snapshot()
    with pytest.raises(err.TradingRestricted):
        neg.negotiated_confirm(actor=investor.owner, proposal_id=to_investor.pk, code=code)
    assert snapshot() == before
    # when the beat runs (twice: idempotent), the proposal to it and its request are closed, the proposer's cash free
    assert cancel_frozen_orders.apply().get() == 2
    assert cancel_frozen_orders.apply().get() == 0
    assert NegotiatedTrade.objects.get(pk=to_investor.pk).status == "withdrawn"
    assert RfqRequest.objects.get(pk=asked.pk).status == RfqRequest.Status.CANCELLED
    assert cash_of(other).reserved == 0


def test_the_database_refuses_a_trade_of_a_restricted_account(sup):
    market, _reg1, _reg2, mm, investor = sup
    # given a resting buy still open while its account is restricted (placed in the instant of the approval)
    placed(market, investor, "buy", 200, "10.00", "rest-buy", tif="DAY")
    account_flags_set(investor.pk, trading_restricted=True)
    # then a quote reaching its price does not fill it
    assert market.quote(mm, "9.90", "10.00").trades == []
    # and once released, the same quote fills it
    account_flags_set(investor.pk, trading_restricted=False)
    assert [t.quantity for t in market.quote(mm, "9.90", "10.00").trades] == [200]


def test_an_order_that_meets_the_trigger_for_a_restricted_account_is_trading_restricted(sup):
    # given an account restricted after the request read it (the in-memory row still says free)
    market, _reg1, _reg2, _mm, investor = sup
    account_flags_set(investor.pk, trading_restricted=True)
    assert not investor.trading_restricted
    before = snapshot()
    # when it buys against the quote, then the database's trigger refuses the trade, and the refusal names it
    with pytest.raises(err.TradingRestricted):
        placed(market, investor, "buy", 100, "10.10", "raced")
    assert snapshot() == before


def test_one_person_cannot_propose_and_approve_a_restriction_and_the_database_refuses_it_too(sup):
    market, reg1, _reg2, _mm, investor = sup
    freeze = sv.freeze_propose(actor=reg1, account=investor.code, trading=True, reason="Manipulation", **LEGAL)
    before = snapshot()
    with pytest.raises(sv.SameProposer):
        sv.freeze_approve(actor=reg1, freeze_id=freeze.pk)
    assert snapshot() == before and not Account.objects.get(pk=investor.pk).trading_restricted
    with pytest.raises(IntegrityError, match="freeze_decided_by_another"), transaction.atomic():
        Freeze.objects.filter(pk=freeze.pk).update(decided_by=reg1, decided_at=timezone.now(), status="active")
    # and a restriction that names assets is refused at the database
    with pytest.raises(IntegrityError, match="freeze_kind_matches_its_asset"), transaction.atomic():
        Freeze.objects.filter(pk=freeze.pk).update(amount=D("1.00"))


def test_a_restriction_with_assets_named_is_refused(sup):
    market, reg1, _reg2, _mm, investor = sup
    # (in English: the default language is Chinese, whose catalog has this message)
    with translation.override("en"), pytest.raises(err.InvalidInput, match="restrict the account's trading"):
        sv.freeze_propose(
            actor=reg1, account=investor.code, trading=True, amount="1.00", reason="Manipulation", **LEGAL
        )
    assert not Freeze.objects.exists()


def test_rejection_and_withdrawal_leave_the_account_trading(sup):
    market, reg1, reg2, _mm, investor = sup
    rejected = sv.freeze_propose(actor=reg1, account=investor.code, trading=True, reason="Manipulation", **LEGAL)
    sv.freeze_reject(actor=reg2, freeze_id=rejected.pk, reason="Not enough evidence")
    withdrawn = sv.freeze_propose(actor=reg1, account=investor.code, trading=True, reason="Manipulation", **LEGAL)
    sv.freeze_withdraw(actor=reg1, freeze_id=withdrawn.pk, reason="Filed twice")
    assert set(Freeze.objects.values_list("status", flat=True)) == {"rejected", "withdrawn"}
    assert not Account.objects.get(pk=investor.pk).trading_restricted and not payloads("FREEZE")
    assert placed(market, investor, "buy", 100, "10.10", "free").filled_quantity == 100


def test_release_and_expiry_restore_trading_and_two_restrictions_need_both_ended(sup):
    market, reg1, reg2, _mm, investor = sup
    soon = timezone.now() + dt.timedelta(hours=1)
    first = restrict(reg1, reg2, investor)
    restrict(reg1, reg2, investor, expires_at=soon)

    # when the first is released, the second still restricts
    sv.freeze_release(actor=reg1, freeze_id=first.pk, reason="Lifted")
    assert Account.objects.get(pk=investor.pk).trading_restricted
    with pytest.raises(err.TradingRestricted):
        placed(market, investor, "buy", 100, "10.10", "still")
    # when the second expires, the account trades again
    assert sv.freezes_expire(now=soon + dt.timedelta(seconds=1)) == 1
    assert sv.freezes_expire(now=soon + dt.timedelta(seconds=2)) == 0
    assert not Account.objects.get(pk=investor.pk).trading_restricted
    assert [(p["cause"], p["cash"], p["shares"]) for p in payloads("UNFREEZE")] == [
        ("released", "0.00", []),
        ("expired", "0.00", []),
    ]
    assert set(Freeze.objects.values_list("status", flat=True)) == {"released", "expired"}
    assert placed(market, investor, "buy", 100, "10.10", "after").filled_quantity == 100
    assert cash_of(investor).frozen == 0 and position_of(investor, market.security).frozen == 0
    assert replay_check() == []


def test_the_api_proposes_a_restriction_and_the_holder_sees_it_masked_once_in_force(sup):
    market, reg1, reg2, _mm, investor = sup
    body = {"account": investor.code, "trading": True, "reason": "Manipulation", "legal_reference": "(2026)沪74执9号"}
    created = api_for(reg1).post("/api/v1/freezes/", body, format="json")
    assert created.status_code == 201, created.content
    assert (created.json()["kind"], created.json()["whole_account"]) == ("trading", False)
    fid = created.json()["id"]
    assert api_for(investor.owner).get("/api/v1/freezes/").json()["results"] == []  # not in force yet
    assert api_for(reg2).post(f"/api/v1/freezes/{fid}/approve/", {}, format="json").status_code == 200
    seen = api_for(investor.owner).get("/api/v1/freezes/").json()["results"]
    assert [(f["kind"], f["legal_reference"], f["proposed_by"]) for f in seen] == [("trading", "(2026)***号", None)]
    # an order through the API is refused with its code, naming the reason
    refused = api_for(investor.owner).post("/api/v1/orders/", order_body(market), format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "trading_restricted", refused.content
    assert "Manipulation" in refused.json()["message"]
    # and a restriction with an amount is a 400, nothing written
    bad = api_for(reg1).post("/api/v1/freezes/", {**body, "amount": "1.00"}, format="json")
    assert bad.status_code == 400 and Freeze.objects.count() == 1


def test_a_restricted_market_makers_quote_never_fills(sup):
    # given a market maker's quote still active while its account is restricted (published in the instant of the
    # restriction's approval, after it had pulled the others)
    market, _reg1, _reg2, mm, investor = sup
    account_flags_set(mm.pk, trading_restricted=True)
    before = position_of(mm, market.security)
    # when an investor buys at its ask, then the order finds nothing to trade with, and the quote is as it was
    assert placed(market, investor, "buy", 100, "10.10", "restricted-ask").filled_quantity == 0
    assert not Trade.objects.exists() and position_of(mm, market.security).reserved == before.reserved
    # and once the restriction ends the same buy fills
    account_flags_set(mm.pk, trading_restricted=False)
    assert placed(market, investor, "buy", 100, "10.10", "free-ask").filled_quantity == 100


RESTRICTED_REASON = "restricted from trading by a regulator"


def test_proposals_the_restriction_and_the_beat_withdraw_are_audited_as_restricted_not_frozen(sup):
    # (found by a review: they were audited as "…account is frozen by a legal order", which a restriction is not)
    market, reg1, reg2, _mm, investor = sup
    other = market.investor(cash="50000", shares=500)
    mine, _code, _ = proposed(investor, market.security, "sell", 100, other, "mine")
    to_investor, _code, _ = proposed(other, market.security, "buy", 100, investor, "to-it")
    # when the investor's trading is restricted, then its own proposal is withdrawn by the approval
    restrict(reg1, reg2, investor)
    assert NegotiatedTrade.objects.get(pk=mine.pk).status == "withdrawn"
    # and the beat withdraws the one made to it
    from supervision.tasks import cancel_frozen_orders

    assert cancel_frozen_orders.apply().get() == 1
    # then each is audited as a restriction, whose it was
    reasons = dict(AuditEvent.objects.filter(action="negotiated.withdraw").values_list("target", "detail__reason"))
    assert reasons == {
        f"negotiated:{mine.pk}": f"the proposer's account is {RESTRICTED_REASON}",
        f"negotiated:{to_investor.pk}": f"the counterparty's account is {RESTRICTED_REASON}",
    }
    # and the proposer's account, not restricted, still trades (nothing of the other party changed)
    assert not Account.objects.get(pk=other.pk).trading_restricted


def test_a_proposal_made_in_the_instant_of_the_restriction_is_withdrawn_by_the_beat_audited_as_restricted(sup):
    from supervision.tasks import cancel_frozen_orders

    market, reg1, reg2, _mm, investor = sup
    other = market.investor(cash="50000")
    freeze = restrict(reg1, reg2, investor)
    # given a proposal the restricted investor made in the last instant of the approval (its row read free)
    account_flags_set(investor.pk, trading_restricted=False)
    raced, _code, _ = proposed(investor, market.security, "sell", 100, other, "raced")
    account_flags_set(investor.pk, trading_restricted=True)
    # when the beat runs (twice: idempotent)
    assert cancel_frozen_orders.apply().get() == 1
    assert cancel_frozen_orders.apply().get() == 0
    # then it is withdrawn, its shares free, and audited as the restriction's, not a freeze's
    assert NegotiatedTrade.objects.get(pk=raced.pk).status == "withdrawn"
    assert position_of(investor, market.security).reserved == 0
    (record,) = AuditEvent.objects.filter(action="negotiated.withdraw", target=f"negotiated:{raced.pk}")
    assert record.detail == {"reason": f"the proposer's account is {RESTRICTED_REASON}"}
    (beat,) = AuditEvent.objects.filter(action="frozen_orders_cancel", target=investor.code)
    assert beat.detail == {"freeze": freeze.pk, "orders_cancelled": 0, "proposals_withdrawn": 1}


def test_a_frozen_proposers_withdrawn_proposal_is_still_audited_as_frozen(sup):
    # given a proposal of an account then frozen whole, which is restricted too
    market, reg1, reg2, _mm, investor = sup
    other = market.investor(cash="50000")
    mine, _code, _ = proposed(investor, market.security, "sell", 100, other, "mine")
    freeze_approved(reg1, reg2, investor, whole_account=True, reason="Court order", legal=LEGAL)
    restrict(reg1, reg2, investor)
    # then the freeze withdrew it, audited as a freeze, as before
    (record,) = AuditEvent.objects.filter(action="negotiated.withdraw", target=f"negotiated:{mine.pk}")
    assert record.detail == {"reason": "the proposer's account is frozen by a legal order"}


@pytest.mark.parametrize(
    ("frozen", "restricted", "said"),
    [
        (True, False, "This whole account is frozen by a legal order"),
        (False, True, "A regulator has restricted this account's trading"),
        (False, False, None),
    ],
    ids=["frozen", "restricted", "free"],
)
def test_the_order_ticket_says_the_account_cannot_trade_before_anything_is_typed(
    market, client, frozen, restricted, said
):
    # (found by a walk: a frozen account's ticket showed "Available 0.00" and said why only once an order was tried)
    from tests.conftest import log_in

    # given an investor whose account is frozen, restricted or neither
    investor = market.investor(cash="1000")
    account_flags_set(investor.pk, frozen=frozen, trading_restricted=restricted)
    log_in(client, investor.owner)
    # when they open the order ticket
    page = client.get("/orders/new/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    # then it says so up front, with the way to their balances; a free account's ticket says nothing of it
    if said is None:
        assert 'id="ticket-blocked"' not in page
    else:
        assert 'id="ticket-blocked"' in page and said in page.split('id="ticket-blocked"', 1)[1].split("</p>", 1)[0]
