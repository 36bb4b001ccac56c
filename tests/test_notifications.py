"""Notifications (issue 14 item 3): each event, once committed, becomes one notification for the investor
concerned, written by a Celery task; duplicates write nothing more; preferences switch kinds off; the API and
the page show and mark them read, each investor their own only."""

from __future__ import annotations

import datetime as dt
import re
from contextlib import contextmanager
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone, translation
from django.utils.translation import gettext

from balances import issuances
from balances.services import Holding, cash_deposit, cash_withdraw, shanghai_today
from config.celery import app as celery_app
from core import errors as err
from core.models import Role
from counter import services as counter_svc
from exchange.models import Trade
from exchange.services import OrderRequest, order_place
from exchange.services import negotiated as neg
from exchange.services import rfq as rfq_svc
from kyc import services as kyc_services
from ledger.models import Entry
from ledger.services import block_seal
from notifications import messages, services, tasks
from notifications.models import Kind, Notification, Outbox, Preference
from settlement.services import net_settle, trade_hold, trade_refuse, trade_release, trade_settle
from supervision import services as sv
from tests.conftest import account_flags_set, api_for, log_in
from tests.test_kyc import complete_application

D = Decimal
PREFS = "/api/v1/notifications/preferences/"
LEGAL = {"legal_reference": "(2026)沪74执123号", "legal_authority": "上海金融法院"}


@pytest.fixture
def delivered(django_capture_on_commit_callbacks, monkeypatch):
    """``with delivered():`` runs what commits inside it announce, as production does after commit: the hooks'
    listeners, and the Celery task they queue (in this process); then it seals what they wrote, which records the
    block's fills, and delivers them, as the seal task those commits wake does."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)

    @contextmanager
    def run():
        # What the test's set-up recorded (its deposits, its KYC decisions) is not what the test looks at: as if
        # its delivery had already run.
        Outbox.objects.all().delete()
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            yield callbacks
        with django_capture_on_commit_callbacks(execute=True):
            block_seal()  # records the block's fills with it (ledger.hooks.in_seal), delivered on commit

    return run


def notes(account_or_user) -> list[Notification]:
    user = getattr(account_or_user, "owner", account_or_user)
    return list(Notification.objects.filter(user=user).order_by("id"))


def notification_rows() -> list[tuple]:
    with connection.cursor() as cur:
        cur.execute("SELECT * FROM notifications_notification ORDER BY id")
        return cur.fetchall()


def body_in(n: Notification, language: str) -> str:
    from notifications import messages

    with translation.override(language):
        return messages.title(n) + " | " + messages.body(n)


def buy(market, investor, qty=100, coid="b1", price="10.10"):
    return order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest(market.security.code, "buy", qty, D(price), "IOC", coid),
    )


@pytest.fixture
def deal(market, delivered):
    """An investor bought 100 @ 10.10 from a market maker (its fill notified); the trade is sealed."""
    mm = market.market_maker(cash="100000", shares=10_000)
    market.quote(mm, "9.90", "10.10")
    buyer = market.investor(cash="50000")
    with delivered():
        buy(market, buyer)
    block_seal()
    return market, mm, buyer, Trade.objects.get()


# --------------------------------------------------------------------------
# Each kind


def test_a_fill_notifies_the_investor_after_commit_and_not_the_market_maker(market, delivered):
    # given a market maker's ask and an investor with cash
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="50000")
    # when the investor's order fills
    with delivered():
        buy(market, investor, qty=300, coid="f1")
    # then the investor has one unread fill notification naming the trade, and the market maker none
    trade = Trade.objects.get()
    (n,) = notes(investor)
    assert (n.kind, n.key, n.read_at) == (Kind.FILL, f"fill:{trade.pk}", None)
    assert n.params == {"trade": trade.pk, "security": market.security.code, "side": "buy", "quantity": 300,
                        "price": "10.10"}  # fmt: skip
    assert body_in(n, "en") == f"Order filled | Trade {trade.pk}: you bought 300 {market.security.code} at 10.10."
    assert "买入" in body_in(n, "zh-hans")
    assert notes(mm) == []


def test_nothing_is_announced_before_commit_nor_by_a_rolled_back_fill(market, django_capture_on_commit_callbacks):
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="50000")
    # when an order fills inside a transaction that is rolled back
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            buy(market, investor)
            raise RuntimeError("rolled back")
    # then nothing was queued to run after commit, and there is no notification
    assert callbacks == [] and Notification.objects.count() == 0


def test_a_refused_order_notifies_nothing(market, delivered):
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="10")
    # when an order is refused for want of cash
    with delivered(), pytest.raises(err.DomainError):
        buy(market, investor)
    # then no notification
    assert Notification.objects.count() == 0


def test_settlement_notifies_the_investor(deal, delivered):
    market, mm, buyer, trade = deal
    # when the sealed trade settles
    with delivered():
        assert trade_settle(trade_id=trade.pk) is True
    # then the buyer has its fill and its settlement, the market maker nothing
    kinds = [(n.kind, n.key) for n in notes(buyer)]
    assert kinds == [(Kind.FILL, f"fill:{trade.pk}"), (Kind.SETTLED, f"settled:{trade.pk}")]
    assert "has settled" in body_in(notes(buyer)[1], "en")
    assert notes(mm) == []


def test_net_settlement_notifies_each_trade(market, delivered):
    market.security.settlement_mode = "net"
    market.security.save()
    mm = market.market_maker(cash="100000", shares=10_000)
    market.quote(mm, "9.90", "10.10")
    buyer = market.investor(cash="50000")
    buy(market, buyer, qty=100, coid="n1")
    buy(market, buyer, qty=200, coid="n2")
    block_seal()
    # when the net window settles both trades at once, each trade is notified
    with delivered():
        assert net_settle(security_code=market.security.code).trades == 2
    settled = [n for n in notes(buyer) if n.kind == Kind.SETTLED]
    assert sorted(n.params["quantity"] for n in settled) == [100, 200]


def test_hold_release_and_refusal_notify_with_their_reasons(deal, delivered):
    market, mm, buyer, trade = deal
    # when the depository holds the trade, releases it, holds it again and refuses it
    with delivered():
        trade_hold(actor=market.depository, trade_id=trade.pk, reason="Court enquiry")
        trade_release(actor=market.depository, trade_id=trade.pk, reason="Enquiry closed")
        trade_hold(actor=market.depository, trade_id=trade.pk, reason="Second look")
        trade_refuse(actor=market.depository, trade_id=trade.pk, reason="Seller's shares under dispute")
    # then the buyer has each step, in order, with its reason
    got = [(n.kind, n.params.get("reason")) for n in notes(buyer)][1:]
    assert got == [
        (Kind.HELD, "Court enquiry"),
        (Kind.RELEASED, "Enquiry closed"),
        (Kind.HELD, "Second look"),
        (Kind.REFUSED, "Seller's shares under dispute"),
    ]
    refused = notes(buyer)[-1]
    assert "Seller's shares under dispute" in body_in(refused, "en")
    assert "will not settle" in body_in(refused, "en")
    assert "拒绝" in body_in(refused, "zh-hans") and "Seller's shares under dispute" in body_in(refused, "zh-hans")


def test_a_release_while_the_market_is_halted_says_the_trade_settles_once_the_market_resumes(deal, delivered):
    from registry import services as registry

    market, mm, buyer, trade = deal
    operator = market.user(Role.EXCHANGE_OPERATOR)
    # given a held trade, and the whole market halted
    trade_hold(actor=market.depository, trade_id=trade.pk, reason="Court enquiry")
    registry.market_halt(actor=operator, reason="Drill")
    # when the depository releases it, and the sweep runs while the market is halted
    with delivered():
        trade_release(actor=market.depository, trade_id=trade.pk, reason="Enquiry closed")
    assert trade_settle(trade_id=trade.pk) is False
    # then the buyer is told it settles once the market resumes, not next; and it has not settled
    released = notes(buyer)[-1]
    assert (released.kind, released.params["market_halted"]) == (Kind.RELEASED, True)
    assert body_in(released, "en") == (
        f"Settlement hold released | The hold on trade {trade.pk} (you bought 100 {market.security.code} at 10.10) "
        "is released; the market is halted, so it settles once the market resumes. Reason: Enquiry closed"
    )
    assert "恢复" in body_in(released, "zh-hans") and "settles next" not in body_in(released, "en")
    assert Trade.objects.get(pk=trade.pk).status == "matched"
    # and once the market resumed, a release says it settles next, as before
    registry.market_resume(actor=operator, reason="Drill over")
    trade_hold(actor=market.depository, trade_id=trade.pk, reason="Second look")
    with delivered():
        trade_release(actor=market.depository, trade_id=trade.pk, reason="Looked")
    again = notes(buyer)[-1]
    assert "market_halted" not in again.params and "it settles next" in body_in(again, "en")


def _instruct(actor, buyer, reason: str) -> None:
    from settlement.instructions import instruction_create

    instruction_create(
        actor=actor,
        account_code=buyer.code,
        security_code=None,
        min_amount=None,
        reason=reason,
        ends_at=timezone.now() + dt.timedelta(days=1),
    )


def test_a_standing_instruction_hold_of_the_depository_notifies_the_investor_with_its_reason(deal, delivered):
    market, mm, buyer, trade = deal
    # given a standing instruction of the depository holding the buyer's trades
    _instruct(market.depository, buyer, "Account under review")
    with delivered():
        assert trade_settle(trade_id=trade.pk) is False
    (held,) = [n for n in notes(buyer) if n.kind == Kind.HELD]
    assert (held.params["reason"], held.params["held_by"]) == ("Account under review", "depository")
    assert body_in(held, "en") == (
        f"Settlement held | Trade {trade.pk} (you bought 100 {market.security.code} at 10.10) is held under a "
        "standing settlement instruction of the depository and waits before settling. Reason: Account under review"
    )
    assert "登记结算机构的常设交收指令" in body_in(held, "zh-hans")
    assert "Account under review" in body_in(held, "zh-hans")
    assert [n.kind for n in notes(buyer)] == [Kind.FILL, Kind.HELD]


def test_a_regulators_standing_instruction_hold_tells_the_investor_who_holds_it_but_not_why(deal, delivered):
    market, mm, buyer, trade = deal
    buyer.owner.email = "buyer@example.com"
    buyer.owner.save()
    services.preference_set(user=buyer.owner, muted=[], email=True)
    # given a regulator's standing instruction on the buyer's account, with a reason that would tip them off
    _instruct(market.user(Role.REGULATOR), buyer, "调查中 hold investor4")
    mail.outbox.clear()
    # when it holds the trade
    with delivered():
        assert trade_settle(trade_id=trade.pk) is False
    # then the buyer is told that the regulator's instruction holds it, and the reason is in none of the row,
    # its wording in either language, the API nor the email
    (held,) = [n for n in notes(buyer) if n.kind == Kind.HELD]
    assert held.params == {
        "trade": trade.pk,
        "security": market.security.code,
        "side": "buy",
        "quantity": 100,
        "price": "10.10",
        "held_by": "regulator",
    }
    assert body_in(held, "en") == (
        f"Settlement held | Trade {trade.pk} (you bought 100 {market.security.code} at 10.10) is held under a "
        "standing settlement instruction of the regulator and waits before settling."
    )
    assert "监管机构的常设交收指令" in body_in(held, "zh-hans")
    listed = api_for(buyer.owner).get("/api/v1/notifications/").content.decode()
    (email,) = mail.outbox
    for text in (body_in(held, "en"), body_in(held, "zh-hans"), listed, email.subject + email.body):
        assert "调查中" not in text and "investor4" not in text
    # and the trade is held, nothing moved
    assert Trade.objects.get(pk=trade.pk).status == "held"


def test_kyc_approval_notifies_the_new_investor(market, delivered):
    # when a checker approves an account opening (the market fixture's onboarding)
    with delivered():
        investor = market.investor()
    (n,) = notes(investor)
    assert n.kind == Kind.KYC and n.params["state"] == "approved"
    assert body_in(n, "en").startswith("Account opening approved |")


@pytest.mark.usefixtures("kyc_folders")
def test_kyc_rejection_notifies_with_its_reason_and_a_later_approval_notifies_again(market, delivered):
    maker, checker = market.staff, market.user(Role.BROKER_STAFF, broker=market.broker)
    profile = complete_application(market, maker)
    kyc_services.kyc_submit(staff=maker, profile_id=profile.pk)
    # when the checker rejects it with a reason
    with delivered():
        kyc_services.kyc_reject(staff=checker, profile_id=profile.pk, reason="The ID photo is blurred.")
    (rejected,) = notes(profile.user)
    assert rejected.params == {"state": "rejected", "reason": "The ID photo is blurred."}
    assert "The ID photo is blurred." in body_in(rejected, "en") and "驳回" in body_in(rejected, "zh-hans")
    # when it is sent again and approved, a second decision is a second notification
    kyc_services.kyc_submit(staff=maker, profile_id=profile.pk)
    with delivered():
        kyc_services.kyc_approve(staff=checker, profile_id=profile.pk)
    assert [n.params["state"] for n in notes(profile.user)] == ["rejected", "approved"]


def test_a_freeze_and_its_release_notify_the_holder_with_the_reference_masked(market, delivered):
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    investor = market.investor(cash="50000", shares=1000)
    freeze = sv.freeze_propose(
        actor=reg1, account=investor.code, security=market.security.code, quantity=600, reason="Asset preservation",
        **LEGAL,
    )  # fmt: skip
    assert notes(investor) == []  # a proposal is not a freeze yet
    with delivered():
        sv.freeze_approve(actor=reg2, freeze_id=freeze.pk)
    (frozen,) = notes(investor)
    text = body_in(frozen, "en")
    assert frozen.kind == Kind.FREEZE and frozen.params["shares"] == {market.security.code: 600}
    assert "(2026)***号" in text and "(2026)沪74执123号" not in text and "上海金融法院" not in text
    assert "Asset preservation" in text and "600 shares of" in text
    assert "(2026)沪74执123号" not in str(frozen.params)
    with delivered():
        sv.freeze_release(actor=reg1, freeze_id=freeze.pk, reason="Order lifted")
    released = notes(investor)[-1]
    assert released.kind == Kind.UNFREEZE and "was released" in body_in(released, "en")
    assert "(2026)沪74执123号" not in body_in(released, "zh-hans")


def test_a_trading_restriction_and_its_release_notify_the_holder_as_such(market, delivered):
    # given an investor with a resting order, restricted from trading (nothing of theirs frozen)
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    investor = market.investor(cash="50000", shares=1000)
    order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest(market.security.code, "buy", 100, Decimal("9.00"), "DAY", "resting"),
    )
    freeze = sv.freeze_propose(actor=reg1, account=investor.code, trading=True, reason="Manipulation", **LEGAL)
    assert notes(investor) == []  # a proposal is not a restriction yet
    with delivered():
        sv.freeze_approve(actor=reg2, freeze_id=freeze.pk)
    # then the holder is told their trading is restricted, their assets their own, its order cancelled, masked
    (restricted,) = [n for n in notes(investor) if n.kind == Kind.FREEZE]
    text = body_in(restricted, "en")
    assert restricted.params["scope"] == "trading" and restricted.params["orders_cancelled"] == 1
    assert "restricted the trading" in text and "withdrawals and settlement go on" in text
    assert "Manipulation" in text and "(2026)***号" in text and "(2026)沪74执123号" not in text
    assert "froze" not in text
    assert text.startswith("Trading restricted | ")
    # when it is released, the holder is told they may trade again
    with delivered():
        sv.freeze_release(actor=reg1, freeze_id=freeze.pk, reason="Lifted")
    ended = notes(investor)[-1]
    assert ended.kind == Kind.UNFREEZE and body_in(ended, "en").startswith("Trading restriction ended | ")
    assert "may trade again" in body_in(ended, "en")
    assert "(2026)沪74执123号" not in body_in(ended, "zh-hans")


def test_a_forced_transfer_notifies_both_holders_and_a_correction_both_parties(deal, delivered):
    # Given an investor who bought 100 @ 10.10 (the trade settled), and 300 of another investor's shares frozen
    market, _mm, buyer, trade = deal
    trade_settle(trade_id=trade.pk)
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    holder, receiver = market.investor(shares=1000), market.investor()
    freeze = sv.freeze_propose(
        actor=reg1, account=holder.code, security=market.security.code, quantity=300, reason="Judgment", **LEGAL
    )
    sv.freeze_approve(actor=reg2, freeze_id=freeze.pk)
    transfer = sv.forced_transfer_propose(
        actor=reg1, freeze_id=freeze.pk, receiver=receiver.code, security=market.security.code, quantity=200,
        reason="Judgment enforced", **LEGAL,
    )  # fmt: skip
    assert [n.kind for n in notes(receiver)] == []  # a proposal moves nothing and tells no one

    # When the transfer is approved, then the trade corrected to 10.00
    with delivered():
        sv.forced_transfer_approve(actor=reg2, transfer_id=transfer.pk)
    correction = sv.correction_propose(
        actor=reg1, trade_id=trade.pk, new_price="10.00", new_quantity=100, reason="Price error"
    )
    with delivered():
        sv.correction_approve(actor=reg2, correction_id=correction.pk)

    # Then the holder learns what left, the receiver what came, each with the legal order's reference masked
    (out,) = [n for n in notes(holder) if n.kind == Kind.FORCED_TRANSFER]
    (came,) = notes(receiver)
    assert (came.kind, came.params["direction"], out.params["direction"]) == (Kind.FORCED_TRANSFER, "in", "out")
    assert "200 shares of" in body_in(out, "en") and receiver.code in body_in(out, "en")
    assert "(2026)***号" in body_in(came, "en")
    assert "(2026)沪74执123号" not in str(came.params) + body_in(came, "zh-hans")
    # and the buyer learns the trade's new terms, linked to the trade's page
    (corrected,) = [n for n in notes(buyer) if n.kind == Kind.CORRECTION]
    assert "corrected to 100 at 10.00" in body_in(corrected, "en")
    assert (
        corrected.params["trade"] == trade.pk
        and f"/trades/{trade.pk}/" in api_for(buyer.owner).get("/api/v1/notifications/").content.decode()
    )
    # and a repeat of either event writes nothing more
    before = notification_rows()
    services.event_notify(event="assets_moved", facts={"what": "transfer", "pk": transfer.pk})
    services.event_notify(event="assets_moved", facts={"what": "correction", "pk": correction.pk})
    assert notification_rows() == before


def test_an_approved_issuance_notifies_each_investor_it_credited_and_nothing_before(market, delivered):
    # (found by a review: an issuance credited shares and told no one, where a forced transfer tells both holders)
    # Given a new security, two investors (one of whom switched issuances off) and a market maker, and a proposal
    # to issue to all three, part of alice's under lock-up
    security = market.new_security("830088")
    alice, bob, mm = market.investor(), market.investor(), market.market_maker()
    services.preference_set(user=bob.owner, muted=["issuance"], email=False)
    checker = market.user(Role.DEPOSITORY_OPERATOR)
    until = shanghai_today() + dt.timedelta(days=30)
    with delivered():
        proposal = issuances.issuance_propose(
            actor=market.depository,
            security_code=security.code,
            allocations=[Holding(alice, 6_000, 1_000, until), Holding(bob, 3_000), Holding(mm, 1_000)],
            reference="Placement",
        )
    # and its proposer's own approval, refused: a proposal and a refusal credit nothing and tell no one
    with delivered(), pytest.raises(issuances.SameProposer):
        issuances.issuance_approve(actor=market.depository, issuance_id=proposal.pk)
    assert notification_rows() == []

    # When a second depository operator approves it
    with delivered():
        issuances.issuance_approve(actor=checker, issuance_id=proposal.pk)

    # Then alice learns what was credited to her account and what is locked up until when; bob (muted) and the
    # market maker (no one's) nothing
    (n,) = notes(alice)
    assert (n.kind, n.key) == (Kind.ISSUANCE, f"issuance:{proposal.pk}:{alice.code}")
    assert n.params == {
        "issuance": proposal.pk,
        "security": security.code,
        "account": alice.code,
        "quantity": 6_000,
        "locked_quantity": 1_000,
        "locked_until": until.isoformat(),
    }
    assert body_in(n, "en") == (
        f"Shares credited by an issuance | Issuance {proposal.pk} credited 6,000 shares of {security.code} to your "
        f"account {alice.code}. 1,000 of them are locked up until {until.isoformat()}: they cannot be sold before."
    )
    assert "/balances/" in api_for(alice.owner).get("/api/v1/notifications/").content.decode()
    assert notes(bob) == [] and notes(mm) == []
    # and a repeat of the event writes nothing more
    before = notification_rows()
    services.event_notify(event="issuance_approved", facts={"issuance_id": proposal.pk})
    assert notification_rows() == before


def test_an_issuance_without_a_lock_up_says_none_and_one_not_approved_tells_no_one(market):
    security = market.new_security("830089")
    alice = market.investor()
    # given a proposal not approved: its event (a stray delivery) writes nothing
    proposal = issuances.issuance_propose(
        actor=market.depository, security_code=security.code, allocations=[Holding(alice, 500)]
    )
    assert services.event_notify(event="issuance_approved", facts={"issuance_id": proposal.pk}) == []
    assert services.event_notify(event="issuance_approved", facts={"issuance_id": 987654}) == []
    assert notification_rows() == []
    # when it is approved and its event delivered, then the holder reads it with no word of a lock-up
    issuances.issuance_approve(actor=market.user(Role.DEPOSITORY_OPERATOR), issuance_id=proposal.pk)
    (n,) = services.event_notify(event="issuance_approved", facts={"issuance_id": proposal.pk})
    assert "locked" not in body_in(n, "en") and n.params["locked_quantity"] is None


def test_a_counter_deposit_notifies_the_investor_after_commit_and_a_rollback_nothing(market, delivered, client):
    # given an investor with no cash, and the broker's staff at the counter
    investor = market.investor()
    log_in(client, market.staff)
    # when a deposit rolled back is made, nothing is told
    with delivered(), pytest.raises(RuntimeError), transaction.atomic():
        counter_svc.counter_cash(staff=market.staff, account_code=investor.code, direction="deposit", amount="5")
        raise RuntimeError
    assert notes(investor) == []
    # when the staff deposits 1,000.50 CNY for the client on the counter page
    with delivered():
        response = client.post(f"/counter/{investor.code}/deposit/", {"deposit-amount": "1000.50"})
    assert response.status_code == 302 and response["Location"] == f"/counter/{investor.code}/"
    # then the investor is told what came and where, once, in either language (found by a walk-through: a
    # deposit made for a client came without a word, where an issuance's shares are told)
    entry = Entry.objects.filter(kind="DEPOSIT").latest("id")
    (n,) = notes(investor)
    assert (n.kind, n.key, n.read_at) == (Kind.DEPOSIT, f"deposit:{entry.pk}", None)
    assert n.params == {"account": investor.code, "amount": "1000.50"}
    assert body_in(n, "en") == f"Cash deposited | 1,000.50 CNY was deposited to your account {investor.code}."
    with translation.override("en"):
        assert messages.link(n) == "/balances/"
    # and a repeat of the event writes nothing more
    assert (
        services.event_notify(
            event="cash_deposited", facts={"entry_id": entry.pk, "account_id": investor.pk, "amount": "1000.50"}
        )
        == []
    )
    # when a market maker is funded, no one is told
    mm_before = Notification.objects.count()
    with delivered():
        market.market_maker()
    assert Notification.objects.count() == mm_before
    # when a deposit above the broker's threshold waits for a second staff member, nothing is told until approved
    big = market.broker.cash_approval_threshold + 1
    with delivered():
        outcome = counter_svc.counter_cash(
            staff=market.staff, account_code=investor.code, direction="deposit", amount=big
        )
    assert len(notes(investor)) == 1
    with delivered():
        counter_svc.cash_request_approve(staff=market.checker, request_id=outcome.request.pk)
    assert [(x.kind, x.params["amount"]) for x in notes(investor)] == [
        (Kind.DEPOSIT, "1000.50"),
        (Kind.DEPOSIT, f"{big:.2f}"),
    ]


def test_a_counter_withdrawal_notifies_the_investor_after_commit_and_a_refused_or_rolled_back_one_nothing(
    market, delivered
):
    # (found by a walk-through: a deposit was told, money leaving the account was not)
    from balances.services import InsufficientCash

    # given an investor with 1,000.00 CNY, and the broker's staff at the counter
    investor = market.investor(cash="1000")
    before = notes(investor)
    # when a withdrawal rolled back is made, and one of more than the account holds is refused, nothing is told
    with delivered(), pytest.raises(RuntimeError), transaction.atomic():
        counter_svc.counter_cash(staff=market.staff, account_code=investor.code, direction="withdraw", amount="5")
        raise RuntimeError
    with delivered(), pytest.raises(InsufficientCash):
        counter_svc.counter_cash(staff=market.staff, account_code=investor.code, direction="withdraw", amount="5000")
    assert notes(investor) == before
    # when the staff pays out 250.25 CNY at the counter
    with delivered():
        counter_svc.counter_cash(staff=market.staff, account_code=investor.code, direction="withdraw", amount="250.25")
    # then the investor is told what left and from where, once, in either language, with the way to the balances
    entry = Entry.objects.filter(kind="WITHDRAWAL").latest("id")
    (n,) = [x for x in notes(investor) if x.kind == Kind.WITHDRAWAL]
    assert (n.key, n.read_at) == (f"withdrawal:{entry.pk}", None)
    assert n.params == {"account": investor.code, "amount": "250.25"}
    assert body_in(n, "en") == f"Cash withdrawn | 250.25 CNY was withdrawn from your account {investor.code}."
    with translation.override("en"):
        assert messages.link(n) == "/balances/"
    # and a repeat of the event writes nothing more
    facts = {"entry_id": entry.pk, "account_id": investor.pk, "amount": "250.25"}
    assert services.event_notify(event="cash_withdrawn", facts=facts) == []
    # and a market maker's own cash moved by the depository tells no one
    mm = market.market_maker(cash="100")
    count = Notification.objects.count()
    with delivered():
        cash_withdraw(actor=market.depository, account=mm, amount=Decimal("50"))
    assert Notification.objects.count() == count


def test_an_expired_freeze_notifies_the_holder(market, delivered):
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    investor = market.investor(cash="50000")
    freeze = sv.freeze_propose(
        actor=reg1, account=investor.code, amount="100.00", reason="Debt", **LEGAL,
        expires_at=timezone.now() + dt.timedelta(days=1),
    )  # fmt: skip
    sv.freeze_approve(actor=reg2, freeze_id=freeze.pk)
    # when its end passes
    with delivered():
        assert sv.freezes_expire(now=timezone.now() + dt.timedelta(days=2)) == 1
    (n,) = notes(investor)
    assert (n.kind, n.params["event"]) == (Kind.UNFREEZE, "expired")
    assert body_in(n, "en").startswith("Freeze expired |")


def _asked(market, investor):
    """The investor's request for quote to buy 200 of the market's security."""
    return rfq_svc.rfq_request(
        requested_by=investor.owner,
        account=investor,
        request=rfq_svc.RfqRequestInput(market.security.code, "buy", 200, "r1"),
    )[0]


def test_an_rfq_answer_notifies_the_investor_who_asked(market, delivered):
    mm = market.market_maker()
    investor = market.investor(cash="50000")
    rfq = _asked(market, investor)
    # when a market maker answers the investor's request
    with delivered():
        answer = rfq_svc.rfq_answer(user=mm.owner, rfq_id=rfq.pk, price=D("10.05"), valid_seconds=30)
    (n,) = notes(investor)
    assert (n.kind, n.key, n.params["price"], n.params["quantity"]) == (Kind.RFQ_ANSWER, f"rfq_answer:{answer.pk}",
                                                                         "10.05", 200)  # fmt: skip
    # and says what the 200 are (found by a browser probe: "offers to sell you 200 830001 at 10.05")
    assert f"offers to sell you 200 shares of {market.security.code} at 10.05," in body_in(n, "en")
    assert notes(mm) == []


def test_an_accepted_rfq_answer_is_told_as_the_request_for_quote_traded_not_as_an_order_filled(market, delivered):
    # given an investor's request for quote answered by a market maker
    mm = market.market_maker()
    investor = market.investor(cash="50000")
    rfq = _asked(market, investor)
    answer = rfq_svc.rfq_answer(user=mm.owner, rfq_id=rfq.pk, price=D("10.05"), valid_seconds=30)
    # when the investor accepts it
    with delivered():
        rfq_svc.rfq_accept(actor=investor.owner, rfq_id=rfq.pk, answer_id=answer.pk)
    # then its fill names the request and speaks of it and its trade (it read "Order filled": no order of the
    # investor's filled, found by a walk-through), in either language
    trade = Trade.objects.get()
    (n,) = notes(investor)
    assert (n.kind, n.key) == (Kind.FILL, f"fill:{trade.pk}")
    assert n.params == {"trade": trade.pk, "security": market.security.code, "side": "buy", "quantity": 200,
                        "price": "10.05", "rfq": rfq.pk}  # fmt: skip
    assert body_in(n, "en") == (
        f"Request for quote traded | Your request for quote {rfq.pk} traded: trade {trade.pk}, "
        f"you bought 200 {market.security.code} at 10.05."
    )
    assert "委托" not in body_in(n, "zh-hans")
    # and the market maker is told nothing, as of any fill
    assert notes(mm) == []


def test_a_negotiated_proposal_notifies_its_counterparty_only(market, delivered):
    buyer = market.investor(cash="50000")
    seller = market.investor(shares=1000)
    # when the seller proposes a transfer to the buyer
    with delivered():
        p, code, _ = neg.negotiated_propose(
            actor=seller.owner,
            account=seller,
            request=neg.NegotiatedRequest(market.security.code, "sell", 100, D("10.00"), buyer.code, "n1"),
        )
    (n,) = notes(buyer)
    assert n.kind == Kind.NEGOTIATED and n.params["side"] == "buy" and n.params["proposer"] == seller.code
    assert f"{seller.code} proposes that you buy 100" in body_in(n, "en")
    assert notes(seller) == []
    # when the counterparty confirms, both get their fill
    with delivered():
        neg.negotiated_confirm(actor=buyer.owner, proposal_id=p.pk, code=code)
    assert [x.kind for x in notes(buyer)] == [Kind.NEGOTIATED, Kind.FILL]
    assert [(x.kind, x.params["side"]) for x in notes(seller)] == [(Kind.FILL, "sell")]
    # told as the transfer's trade, not as an order filled
    (fill,) = notes(seller)
    trade = Trade.objects.get()
    assert body_in(fill, "en") == (
        f"Negotiated transfer traded | Negotiated transfer {p.pk} traded: trade {trade.pk}, "
        f"you sold 100 {market.security.code} at 10.00."
    )


def test_a_negotiated_proposal_that_ends_without_a_trade_tells_the_parties_who_did_not_end_it(market, delivered):
    # (found by a probe: a proposal withdrawn after five wrong codes released the proposer's shares in silence)
    buyer = market.investor(cash="50000")
    seller = market.investor(shares=1000)

    def propose(key):
        with delivered():
            p, _code, _ = neg.negotiated_propose(
                actor=seller.owner,
                account=seller,
                request=neg.NegotiatedRequest(market.security.code, "sell", 100, D("10.00"), buyer.code, key),
            )
        return p

    def ended(account):
        return [x for x in notes(account) if x.kind == Kind.NEGOTIATED_ENDED]

    # five wrong codes withdraw it: both are told, the proposer that its shares are released
    p = propose("n-wrong")
    for _ in range(neg.MAX_WRONG_CODES):
        with delivered(), pytest.raises(neg.WrongCode):
            neg.negotiated_confirm(actor=buyer.owner, proposal_id=p.pk, code="WRONG234")
    (to_seller,), (to_buyer,) = ended(seller), ended(buyer)
    assert to_seller.params["why"] == to_buyer.params["why"] == "wrong_codes"
    assert "five wrong confirmation codes" in body_in(to_seller, "en") and "released" in body_in(to_seller, "en")
    assert "released" not in body_in(to_buyer, "en")
    # a party who withdraws it is not told of their own act; the other one is
    p = propose("n-withdrawn")
    with delivered():
        neg.negotiated_withdraw(actor=seller.owner, proposal_id=p.pk)
    assert len(ended(seller)) == 1 and [x.params["proposal"] for x in ended(buyer)][-1] == p.pk
    assert "it was withdrawn" in body_in(ended(buyer)[-1], "en")


# --------------------------------------------------------------------------
# Idempotency, preferences, email


def test_a_duplicate_delivery_writes_one_notification_and_sends_one_email(deal):
    market, mm, buyer, trade = deal
    buyer.owner.email = "buyer@example.com"
    buyer.owner.save()
    Preference.objects.create(user=buyer.owner, muted=[], email=True)
    trade_settle(trade_id=trade.pk)  # its after-commit hook is not run: the task is delivered by hand below
    before = len(notes(buyer))
    # when the same task is delivered twice
    assert tasks.notify("trades_settled", {"trade_ids": [trade.pk]}) == 1
    rows = notification_rows()
    assert tasks.notify("trades_settled", {"trade_ids": [trade.pk]}) == 0
    # then one notification, and nothing changed by the second delivery
    assert len(notes(buyer)) == before + 1 and notification_rows() == rows


def test_email_goes_once_in_both_languages_to_who_asked_for_it(deal, delivered):
    market, mm, buyer, trade = deal
    buyer.owner.email = "buyer@example.com"
    buyer.owner.save()
    services.preference_set(user=buyer.owner, muted=[], email=True)
    with delivered():
        trade_refuse(actor=market.depository, trade_id=trade.pk, reason="Disputed")
    (message,) = mail.outbox
    assert message.to == ["buyer@example.com"]
    assert "Settlement refused" in message.subject and "拒绝" in message.subject
    assert "Disputed" in message.body and "Reason: Disputed" in message.body
    # a duplicate delivery sends nothing more
    action_id = trade.settlement_actions.get().pk
    assert tasks.notify("settlement_acted", {"action_id": action_id}) == 0
    assert len(mail.outbox) == 1


def test_an_email_the_mail_server_refuses_is_retried_and_sent_once_and_the_others_go_meanwhile(
    market, delivered, monkeypatch
):
    # (found by a review: emails went out in the notify task's after-commit callback, all of a batch in one loop;
    # a mail server's error lost that one and every one after it, and nothing retried)
    import smtplib

    from notifications.models import Notification

    # given two investors who asked for email, each with a freeze approved, and a mail server that refuses the
    # first attempt of each mail once
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    investors = [market.investor(cash="50000") for _ in range(2)]
    for n, investor in enumerate(investors):
        investor.owner.email = f"investor{n}@example.com"
        investor.owner.save()
        services.preference_set(user=investor.owner, muted=[], email=True)
    real_send, refused = services.send_mail, []

    def flaky_send(subject, text, sender, to):
        if to[0] not in refused:
            refused.append(to[0])
            raise smtplib.SMTPServerDisconnected("connection unexpectedly closed")
        return real_send(subject, text, sender, to)

    monkeypatch.setattr(services, "send_mail", flaky_send)
    # when their freezes are approved and announced
    for investor in investors:
        freeze = sv.freeze_propose(actor=reg1, account=investor.code, amount="100", reason="Court order", **LEGAL)
        with delivered():
            sv.freeze_approve(actor=reg2, freeze_id=freeze.pk)
    # then each mail went out once, after its retry, and each notification is marked emailed
    assert sorted(m.to[0] for m in mail.outbox) == ["investor0@example.com", "investor1@example.com"]
    assert sorted(refused) == ["investor0@example.com", "investor1@example.com"]
    emailed = Notification.objects.filter(user__in=[i.owner for i in investors])
    assert [n.emailed_at is not None for n in emailed] == [True, True]
    # and a second delivery of a mail's task sends nothing more
    assert tasks.notification_email(emailed[0].pk) is False
    assert len(mail.outbox) == 2


def test_a_mail_server_that_keeps_refusing_leaves_the_notification_in_the_app_not_marked_emailed(
    market, delivered, monkeypatch
):
    import smtplib

    from notifications.models import Notification

    investor = market.investor(cash="50000")
    investor.owner.email = "investor@example.com"
    investor.owner.save()
    services.preference_set(user=investor.owner, muted=[], email=True)
    attempts = []

    def refuse(*args):
        attempts.append(args)
        raise smtplib.SMTPServerDisconnected("connection unexpectedly closed")

    monkeypatch.setattr(services, "send_mail", refuse)
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    freeze = sv.freeze_propose(actor=reg1, account=investor.code, amount="100", reason="Court order", **LEGAL)
    # when the freeze is announced and every attempt of its email is refused
    with delivered():
        sv.freeze_approve(actor=reg2, freeze_id=freeze.pk)
    # then the task tried six times (the first and five retries), sent nothing, and the notice is in the app
    assert len(attempts) == 6 and mail.outbox == []
    (n,) = Notification.objects.filter(user=investor.owner)
    assert n.kind == Kind.FREEZE and n.emailed_at is None


def test_a_notification_past_two_to_the_31_is_emailed_too(market):
    # (found by a review: the advisory lock's two-key form takes int4s, and notification ids are bigints)
    from notifications.models import Notification

    investor = market.investor(cash="100")
    investor.owner.email = "investor@example.com"
    investor.owner.save()
    Preference.objects.create(user=investor.owner, muted=[], email=True)
    with connection.cursor() as cur:
        cur.execute("SELECT setval(pg_get_serial_sequence('notifications_notification', 'id'), 2147483650)")
    facts = {"freeze": 1, "account": investor.code, "scope": "cash", "reference": "x", "event": "frozen"}
    n = Notification.objects.create(
        user=investor.owner, kind=Kind.FREEZE, key="big:1", created_at=timezone.now(),
        params={**facts, "reason": "r", "cash": "1", "shares": {}},
    )  # fmt: skip
    assert n.pk > 2**31
    assert services.notification_email_send(n.pk) is True
    assert [m.to for m in mail.outbox] == [["investor@example.com"]]
    assert services.notification_email_send(n.pk) is False


def test_no_email_without_opting_in(deal, delivered):
    market, mm, buyer, trade = deal
    buyer.owner.email = "buyer@example.com"
    buyer.owner.save()
    with delivered():
        trade_settle(trade_id=trade.pk)
    assert mail.outbox == [] and [n.kind for n in notes(buyer)] == [Kind.FILL, Kind.SETTLED]


def test_a_muted_kind_is_not_written_and_the_others_are(market, delivered):
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="50000")
    # given an investor who switched fills off
    services.preference_set(user=investor.owner, muted=["fill"], email=False)
    # when their order fills and then settles
    with delivered():
        buy(market, investor)
    assert notes(investor) == []
    block_seal()
    with delivered():
        trade_settle(trade_id=Trade.objects.get().pk)
    assert [n.kind for n in notes(investor)] == [Kind.SETTLED]


def test_an_event_whose_rows_are_gone_writes_nothing(db):
    assert tasks.notify("block_sealed", {"height": 987654}) == 0
    assert tasks.notify("settlement_acted", {"action_id": 987654}) == 0
    assert tasks.notify("no_such_event", {}) == 0
    assert Notification.objects.count() == 0


def test_bad_preferences_are_refused_and_change_nothing(market):
    investor = market.investor()
    services.preference_set(user=investor.owner, muted=["settled"], email=False)
    with pytest.raises(services.UnknownKind):
        services.preference_set(user=investor.owner, muted=["fill", "bogus"], email=False)
    with pytest.raises(err.InvalidInput):  # no email address
        services.preference_set(user=investor.owner, muted=[], email=True)
    assert Preference.objects.get(user=investor.owner).muted == ["settled"]
    with pytest.raises(err.PermissionDenied):
        services.preference_set(user=market.staff, muted=[], email=False)


# --------------------------------------------------------------------------
# API


@pytest.fixture
def inbox(market, delivered):
    """An investor with three notifications (KYC approval, two fills) and another investor with one."""
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    with delivered():
        investor, other = market.investor(), market.investor()
    for account in (investor, other):  # funded in silence: a deposit's notice is not one of the three
        cash_deposit(actor=market.checker, account=account, amount=D("50000"), proposed_by=market.staff)
    with delivered():
        buy(market, investor, qty=100, coid="a")
        buy(market, investor, qty=200, coid="b")
    return market, investor, other


def test_api_lists_newest_first_paginated_and_filters_unread(inbox):
    market, investor, other = inbox
    client = api_for(investor.owner)
    page = client.get("/api/v1/notifications/?limit=2").json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
    first = page["results"][0]
    assert first["kind"] == "fill" and first["read"] is False and first["params"]["quantity"] == 200
    assert first["link"] == "/trades/" and "200" in first["body"]
    # when one is marked read
    read = client.post(f"/api/v1/notifications/{first['id']}/read/")
    assert read.status_code == 200 and read.json()["read"] is True and read.json()["read_at"]
    # then the unread filter leaves it out, and the read filter has only it
    assert client.get("/api/v1/notifications/?unread=true").json()["count"] == 2
    assert [n["id"] for n in client.get("/api/v1/notifications/?unread=false").json()["results"]] == [first["id"]]
    # marking it again changes nothing
    again = client.post(f"/api/v1/notifications/{first['id']}/read/").json()
    assert again["read_at"] == read.json()["read_at"]


def test_api_mark_all_read(inbox):
    market, investor, other = inbox
    client = api_for(investor.owner)
    assert client.post("/api/v1/notifications/read-all/").json() == {"marked": 3}
    assert client.get("/api/v1/notifications/?unread=true").json()["count"] == 0
    # the other investor's stay unread
    assert Notification.objects.filter(user=other.owner, read_at__isnull=True).count() == 1


def test_api_another_investors_notification_is_404_and_stays_unread(inbox):
    market, investor, other = inbox
    theirs = notes(other)[0]
    response = api_for(investor.owner).post(f"/api/v1/notifications/{theirs.pk}/read/")
    assert response.status_code == 404 and response.json()["code"] == "notification_not_found"
    assert Notification.objects.get(pk=theirs.pk).read_at is None
    assert api_for(investor.owner).post("/api/v1/notifications/99999999/read/").status_code == 404
    assert theirs.pk not in [n["id"] for n in api_for(investor.owner).get("/api/v1/notifications/").json()["results"]]


@pytest.mark.parametrize(
    ("method", "url", "body", "status", "code"),
    [
        ("get", "/api/v1/notifications/?unread=maybe", None, 400, "invalid_input"),
        ("get", "/api/v1/notifications/?limit=abc", None, 400, "invalid_input"),  # outside the documented bounds
        ("put", PREFS, {"muted": ["nope"], "email": False}, 400, "unknown_notification_kind"),
        ("put", PREFS, {"muted": "fill", "email": False}, 400, "invalid_input"),
        ("put", PREFS, {"muted": [1], "email": False}, 400, "unknown_notification_kind"),
        ("put", PREFS, {"muted": []}, 400, "invalid_input"),
        ("put", PREFS, {"muted": [], "email": True}, 400, "invalid_input"),
        ("put", PREFS, {"muted": ["x" * 5000], "email": False}, 400, "invalid_input"),
    ],
)  # fmt: skip
def test_api_bad_input_is_a_4xx_and_changes_nothing(inbox, method, url, body, status, code):
    market, investor, other = inbox
    services.preference_set(user=investor.owner, muted=["settled"], email=False)
    rows = notification_rows()
    client = api_for(investor.owner)
    response = getattr(client, method)(url, body, format="json") if body is not None else getattr(client, method)(url)
    assert response.status_code == status, response.content
    if code:
        assert response.json()["code"] == code
    assert notification_rows() == rows
    pref = Preference.objects.get(user=investor.owner)
    assert (pref.muted, pref.email) == (["settled"], False)


def test_api_preferences_round_trip(inbox):
    market, investor, other = inbox
    client = api_for(investor.owner)
    assert client.get("/api/v1/notifications/preferences/").json() == {
        "muted": [], "email": False, "kinds": list(Kind.values)
    }  # fmt: skip
    response = client.put("/api/v1/notifications/preferences/", {"muted": ["kyc", "fill", "fill"], "email": False},
                          format="json")  # fmt: skip
    assert response.status_code == 200 and response.json()["muted"] == ["fill", "kyc"]
    assert client.get("/api/v1/notifications/preferences/").json()["muted"] == ["fill", "kyc"]


@pytest.mark.parametrize("role", [Role.BROKER_STAFF, Role.REGULATOR, Role.EXCHANGE_OPERATOR])
def test_api_is_for_investors_and_market_makers(market, role, db):
    client = api_for(market.user(role))
    assert client.get("/api/v1/notifications/").status_code == 403
    assert client.post("/api/v1/notifications/read-all/").status_code == 403
    assert client.get("/api/v1/notifications/preferences/").status_code == 403


def test_api_needs_a_login(api, db):
    assert api.get("/api/v1/notifications/").status_code in (401, 403)


# --------------------------------------------------------------------------
# Page


def signed_in(user) -> Client:
    client = Client()
    log_in(client, user)
    return client


def test_page_lists_the_notifications_with_the_bell_count_and_marks_them_read(inbox):
    market, investor, other = inbox
    client = signed_in(investor.owner)
    page = client.get("/notifications/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'id="notification-bell"' in page and 'data-count="3"' in page
    assert page.count('class="notification unread"') == 3
    assert "Order filled" in page and "Account opening approved" in page
    # when one is marked read on the page
    first = notes(investor)[-1]
    response = client.post(f"/notifications/{first.pk}/read/")
    assert response.status_code == 302 and response["Location"] == "/notifications/"
    page = client.get("/notifications/").content.decode()
    assert 'data-count="2"' in page and page.count('class="notification unread"') == 2
    # another investor's is a 404
    assert client.post(f"/notifications/{notes(other)[0].pk}/read/").status_code == 404
    assert Notification.objects.get(pk=notes(other)[0].pk).read_at is None
    # mark all
    assert client.post("/notifications/read-all/").status_code == 302
    assert 'data-count="0"' in client.get("/notifications/").content.decode()


def test_page_in_chinese_and_the_bell_on_other_pages(inbox):
    market, investor, other = inbox
    client = signed_in(investor.owner)
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    page = client.get("/notifications/").content.decode()
    assert "通知" in page and "成交" in page
    assert 'data-count="3"' in client.get("/trades/").content.decode()
    # staff see no bell and may not open the page
    staff = signed_in(market.staff)
    assert "notification-bell" not in staff.get("/trades/").content.decode()
    assert staff.get("/notifications/").status_code == 403


def test_page_preferences_form_switches_kinds_off_and_a_bad_choice_is_a_form_error(inbox):
    market, investor, other = inbox
    client = signed_in(investor.owner)
    wanted = [k for k in Kind.values if k not in ("fill", "kyc")]
    response = client.post("/notifications/", {"wanted": wanted})
    assert response.status_code == 302
    assert Preference.objects.get(user=investor.owner).muted == ["fill", "kyc"]
    # a kind that does not exist, and email without an address: form errors, nothing changed
    response = client.post("/notifications/", {"wanted": ["bogus"]})
    assert response.status_code == 200 and "bogus" in response.content.decode()
    response = client.post("/notifications/", {"wanted": wanted, "email": "on"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200 and "no email address" in response.content.decode()
    pref = Preference.objects.get(user=investor.owner)
    assert (pref.muted, pref.email) == (["fill", "kyc"], False)
    page = client.get("/notifications/").content.decode()
    box = {k: re.search(rf'<input[^>]*value="{k}"[^>]*>', page).group() for k in ("fill", "kyc", "settled")}
    assert "checked" not in box["fill"] and "checked" not in box["kyc"] and "checked" in box["settled"]


def test_a_cash_freeze_reads_its_amount_grouped_in_chinese_as_the_pages_do(market, delivered):
    # (found by a walk-through: "冻结了账户 … 的 10000.00 元", where every page writes 10,000.00)
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    investor = market.investor(cash="50000")
    freeze = sv.freeze_propose(
        actor=reg1, account=investor.code, amount="10000.00", reason="Debt", **LEGAL,
    )  # fmt: skip
    with delivered():
        sv.freeze_approve(actor=reg2, freeze_id=freeze.pk)
    (n,) = notes(investor)
    assert "10,000.00 元" in body_in(n, "zh-hans") and "(2026)***号" in body_in(n, "zh-hans")


def test_the_upgrade_strips_a_regulators_reason_from_holds_notified_before_and_keeps_the_depositorys(deal, delivered):
    # (notifications written before holds left out a regulator's reason kept it, shown to the investor)
    import importlib

    from django.apps import apps

    redact = importlib.import_module("notifications.migrations.0004_redact_regulator_instruction_reasons").redact
    market, mm, buyer, trade = deal
    _instruct(market.user(Role.REGULATOR), buyer, "调查中 hold investor4")
    with delivered():
        assert trade_settle(trade_id=trade.pk) is False
    (held,) = [n for n in notes(buyer) if n.kind == Kind.HELD]
    # given the notification as it was written before: the reason, and no word of whose instruction
    old = {k: v for k, v in held.params.items() if k != "held_by"} | {"reason": "调查中 hold investor4"}
    type(held).objects.filter(pk=held.pk).update(params=old)
    # and a hold by hand notified with its reason (no instruction: the parties are told why)
    by_hand = type(held).objects.create(
        user=buyer.owner, kind=Kind.HELD, key="settlement:999999", params={"trade": 1, "reason": "Checking"},
        created_at=held.created_at,
    )  # fmt: skip
    untouched = {by_hand.pk: by_hand.params}
    # when the upgrade runs (twice: it is idempotent)
    redact(apps, None)
    redact(apps, None)
    # then the reason is gone and the notification says whose instruction holds the trade, as those written since
    held.refresh_from_db()
    assert held.params == {k: v for k, v in old.items() if k != "reason"} | {"held_by": "regulator"}
    assert "调查中" not in body_in(held, "en") and "regulator" in body_in(held, "en")
    # and other notifications are as they were
    assert {n.pk: n.params for n in type(held).objects.filter(pk__in=untouched)} == untouched


# --------------------------------------------------------------------------
# Orders the exchange cancelled (found by a probe: their owners were not told)


def _resting(market, investor, side, qty, price, coid, security=None):
    return order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest((security or market.security).code, side, qty, D(price), "DAY", coid),
    )[0]


def _why(order, language: str) -> str:
    order.refresh_from_db()
    with translation.override(language):
        return order.closed_reason_text()


@pytest.fixture
def resting(market):
    """A quote 9.90 / 10.10 and an investor's resting buys: 300 at 9.95 and 200 at 9.98."""
    from exchange.models import Order

    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10", bid_qty=1000, ask_qty=1000)
    investor = market.investor(cash="100000")
    kept, odd = _resting(market, investor, "buy", 300, "9.95", "a"), _resting(market, investor, "buy", 200, "9.98", "b")
    assert (kept.status, odd.status) == (Order.Status.OPEN, Order.Status.OPEN)
    return market, mm, investor, kept, odd


def test_a_security_change_that_cancels_an_order_tells_its_owner_which_and_why_in_either_language(resting, delivered):
    from registry import listing

    market, mm, investor, kept, odd = resting
    code = market.security.code
    # when the operator changes the lot to 300 shares, which strands the order of 200
    with delivered():
        listing.security_change(
            actor=market.user(Role.EXCHANGE_OPERATOR), code=code, data={"lot_size": 300}, reason="Lot harmonised"
        )
    # then its owner has one notification naming that order only, with the cause and its particulars as facts
    (n,) = notes(investor)
    assert (n.kind, n.key, n.read_at) == (Kind.ORDERS_CLOSED, f"orders_closed:{odd.pk}", None)
    assert n.params == {
        "account": investor.code, "closed_by": "security_changed", "reason": "lot_size 100 → 300",
        "orders": [{"order": odd.pk, "security": code, "side": "buy", "quantity": 200, "filled": 0, "price": "9.98"}],
    }  # fmt: skip
    # and it reads, in either language, with the same sentence the order's page gives
    assert body_in(n, "en") == (
        f"Order cancelled by the exchange | The exchange cancelled your order {odd.pk} (buy 200 {code} at 9.98) in "
        f"account {investor.code}. Cancelled: the security changed (Lot size 100 → 300) and the order no longer "
        "fits it."
    )
    zh = body_in(n, "zh-hans")
    assert zh.endswith(_why(odd, "zh-hans")) and "已撤销：证券参数已变更（交易单位 100 → 300）" in zh
    assert f"{odd.pk}（以 9.98 买入 200 股 {code}）" in zh and f"{kept.pk}（" not in zh
    assert "/orders/" in api_for(investor.owner).get("/api/v1/notifications/").content.decode()
    # and the market maker, whose quotes were pulled, is told nothing
    assert notes(mm) == []


def test_the_venues_rules_cancelling_orders_tell_their_owner_which_and_why(resting, delivered, settings):
    from exchange.tasks import close_unfit

    market, mm, investor, kept, odd = resting
    code = market.security.code
    # when the venue restarts under a profile without market making and the beat runs
    settings.VENUE_PROFILE = "cn-regional-2017"
    with delivered():
        assert close_unfit.apply().get() == 4  # the two quotes and the two orders
    # then the orders' owner has one notification listing both, with the venue's rules as the cause
    (n,) = notes(investor)
    assert (n.kind, n.params["closed_by"], n.params["reason"]) == (Kind.ORDERS_CLOSED, "venue_rules",
                                                                  "cn-regional-2017")  # fmt: skip
    assert [o["order"] for o in n.params["orders"]] == [kept.pk, odd.pk]
    assert body_in(n, "en") == (
        f"Orders cancelled by the exchange | The exchange cancelled 2 of your orders in account {investor.code}: "
        f"{kept.pk} (buy 300 {code} at 9.95); {odd.pk} (buy 200 {code} at 9.98). Cancelled: the venue's rules "
        "(cn-regional-2017) allow no orders in this security."
    )
    assert body_in(n, "zh-hans").endswith(_why(kept, "zh-hans"))
    # and the market maker, whose quotes were pulled, is told nothing
    assert notes(mm) == []


def test_a_delisting_tells_the_owner_of_the_orders_it_cancelled_in_one_message(resting, delivered):
    from registry import listing

    market, mm, investor, kept, odd = resting
    code = market.security.code
    # when the operator delists the security
    with delivered():
        listing.security_delist(actor=market.user(Role.EXCHANGE_OPERATOR), code=code, reason="Merger completed")
    # then its owner has one notification listing both orders, with the delisting's reason
    (n,) = notes(investor)
    assert (n.kind, n.params["closed_by"], n.params["reason"]) == (Kind.ORDERS_CLOSED, "security_delisted",
                                                                  "Merger completed")  # fmt: skip
    assert [o["order"] for o in n.params["orders"]] == [kept.pk, odd.pk]
    assert body_in(n, "en") == (
        f"Orders cancelled by the exchange | The exchange cancelled 2 of your orders in account {investor.code}: "
        f"{kept.pk} (buy 300 {code} at 9.95); {odd.pk} (buy 200 {code} at 9.98). Cancelled: the security was "
        "delisted. Reason given by the exchange: Merger completed"
    )
    zh = body_in(n, "zh-hans")
    assert zh.endswith("已撤销：该证券已摘牌。交易所给出的原因：Merger completed")
    assert zh.endswith(_why(kept, "zh-hans"))
    assert notes(mm) == []


def test_a_delisting_that_cancels_many_accounts_orders_tells_each_owner_of_their_own_in_one_statement(
    resting, delivered
):
    from django.test.utils import CaptureQueriesContext

    from registry import listing

    # given the resting orders of the fixture's investor and of five more investors
    market, mm, investor, kept, odd = resting
    others = [market.investor(cash="100000") for _ in range(5)]
    theirs = {o.code: _resting(market, o, "buy", 100, "9.90", f"m{i}").pk for i, o in enumerate(others)}
    # when the operator delists the security, the notification task's queries captured
    with CaptureQueriesContext(connection) as queries, delivered():
        listing.security_delist(actor=market.user(Role.EXCHANGE_OPERATOR), code=market.security.code, reason="Merger")
    # then each owner reads one message listing their own orders only
    assert [o["order"] for (n,) in [notes(investor)] for o in n.params["orders"]] == [kept.pk, odd.pk]
    for other in others:
        (n,) = notes(other)
        assert (n.params["account"], [o["order"] for o in n.params["orders"]]) == (other.code, [theirs[other.code]])
    # and the cancels' orders were read in one statement whose length does not grow by a branch an account
    (read,) = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('SELECT "exchange_order"."id"')
               and '"exchange_order"."closed_by" IN' in q["sql"]]  # fmt: skip
    assert " OR " not in read
    # and the market maker, whose quotes were pulled, is told nothing
    assert notes(mm) == []


def test_a_whole_account_freeze_tells_once_of_all_the_orders_it_cancelled_and_says_the_whole_account(
    resting, delivered
):
    # given three resting orders of the investor, in two securities (two books cancel them)
    market, mm, investor, kept, odd = resting
    other = market.new_security("O" + market.security.code)
    third = _resting(market, investor, "buy", 100, "9.50", "c", security=other)
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    freeze = sv.freeze_propose(actor=reg1, account=investor.code, whole_account=True, reason="Court order", **LEGAL)
    # when the whole-account freeze is approved
    with delivered():
        sv.freeze_approve(actor=reg2, freeze_id=freeze.pk)
    # then the investor reads one message for the three orders, and one for the freeze
    cancelled, frozen = sorted(notes(investor), key=lambda n: n.kind != Kind.ORDERS_CLOSED)
    assert [n.kind for n in notes(investor)].count(Kind.ORDERS_CLOSED) == 1 and len(notes(investor)) == 2
    assert [o["order"] for o in cancelled.params["orders"]] == [kept.pk, odd.pk, third.pk]
    assert [o["security"] for o in cancelled.params["orders"]] == [market.security.code] * 2 + [other.code]
    assert (cancelled.params["closed_by"], cancelled.params["reason"]) == ("account_frozen", str(freeze.pk))
    assert body_in(cancelled, "en").endswith(
        f"Cancelled: the account is frozen by a legal order (freeze {freeze.pk})."
    ) and "3 of your orders" in body_in(cancelled, "en")
    assert body_in(cancelled, "zh-hans").endswith(f"已撤销：该账户已被依法冻结（冻结 {freeze.pk}）。")
    # and the freeze says it holds the whole account, that it trades and withdraws no more, and what it cancelled
    assert frozen.kind == Kind.FREEZE and frozen.params["orders_cancelled"] == 3
    en = body_in(frozen, "en")
    assert en.startswith(
        f"Account frozen | Legal order (2026)***号 (reference partly hidden) froze the whole account {investor.code}: "
    )
    assert "can neither trade nor withdraw" in en and "Its 3 open orders were cancelled." in en
    assert "Court order" in en
    zh = body_in(frozen, "zh-hans")
    assert "整个账户" in zh and "3 笔未成交委托已撤销" in zh
    # and a repeat of any book's announcement, or of the freeze's, writes nothing more
    before = notification_rows()
    assert tasks.notify("orders_closed", {"order_ids": [third.pk]}) == 0
    assert tasks.notify("orders_closed", {"order_ids": [kept.pk, odd.pk]}) == 0
    assert tasks.notify("freeze_changed", {"freeze_id": freeze.pk, "event": "frozen"}) == 0
    assert notification_rows() == before


def test_the_freeze_notice_counts_the_orders_its_approval_cancelled_not_those_the_beat_cancels_later(
    resting, delivered, django_capture_on_commit_callbacks
):
    from django.db.models import F

    from balances.models import CashBalance
    from exchange.models import Order
    from supervision.tasks import cancel_frozen_orders

    # given the investor's two resting orders and a whole-account freeze approved, its notice not written yet
    market, mm, investor, kept, odd = resting
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    freeze = sv.freeze_propose(actor=reg1, account=investor.code, whole_account=True, reason="Court order", **LEGAL)
    with django_capture_on_commit_callbacks(execute=False) as approval:
        sv.freeze_approve(actor=reg2, freeze_id=freeze.pk)
    # and an order made in the approval's last instant (as if read before it: cash that was free, the account not
    # yet marked), which the beat then cancels for the same freeze
    CashBalance.objects.filter(account=investor).update(total=F("total") + 2000)
    account_flags_set(investor.pk, frozen=False)
    late = _resting(market, investor, "buy", 100, "9.90", "late")
    account_flags_set(investor.pk, frozen=True)
    with django_capture_on_commit_callbacks(execute=False) as beat:
        assert cancel_frozen_orders.apply().get() == 1
    late.refresh_from_db()
    assert (late.status, late.closed_by, late.closed_reason) == (Order.Status.CANCELLED, "account_frozen",
                                                                 str(freeze.pk))  # fmt: skip
    # when the approval's notices (recorded with it) are written after that, and the beat's
    for callback in [*approval, *beat]:
        callback()
    # then the freeze's notice counts the two orders its approval cancelled, not the beat's
    (frozen,) = [n for n in notes(investor) if n.kind == Kind.FREEZE]
    assert frozen.params["orders_cancelled"] == 2 and "Its 2 open orders were cancelled." in body_in(frozen, "en")
    # and each cancel is told once: the approval's two orders, then the beat's one
    told = sorted([o["order"] for o in n.params["orders"]] for n in notes(investor) if n.kind == Kind.ORDERS_CLOSED)
    assert told == sorted([[kept.pk, odd.pk], [late.pk]])


def test_the_freeze_notice_counts_the_proposals_its_approval_withdrew_not_those_the_beat_closes(market, delivered):
    # (found by a probe: the notice said how many orders the approval cancelled, not the proposals it withdrew)
    from exchange.models import NegotiatedTrade
    from exchange.services import negotiated as neg
    from supervision.tasks import cancel_frozen_orders

    # given an investor who proposed two negotiated transfers, and a third proposed to them by another investor
    investor, buyer = market.investor(cash="50000", shares=1000), market.investor(cash="50000")
    for n, side in enumerate(["sell", "buy"]):
        neg.negotiated_propose(
            actor=investor.owner,
            account=investor,
            request=neg.NegotiatedRequest(market.security.code, side, 100, D("10.00"), buyer.code, f"mine-{n}"),
        )
    made_to, _code, _ = neg.negotiated_propose(
        actor=buyer.owner,
        account=buyer,
        request=neg.NegotiatedRequest(market.security.code, "buy", 100, D("10.00"), investor.code, "to-them"),
    )
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    freeze = sv.freeze_propose(actor=reg1, account=investor.code, whole_account=True, reason="Court order", **LEGAL)
    # when the whole-account freeze is approved, and the beat then withdraws the proposal made to the investor
    with delivered():
        sv.freeze_approve(actor=reg2, freeze_id=freeze.pk)
        assert cancel_frozen_orders.apply().get() == 1
    assert NegotiatedTrade.objects.get(pk=made_to.pk).status == NegotiatedTrade.Status.WITHDRAWN
    # then the freeze's notice counts the two its approval withdrew, in both languages, and no order
    (frozen,) = [n for n in notes(investor) if n.kind == Kind.FREEZE]
    assert (frozen.params["proposals_withdrawn"], frozen.params["orders_cancelled"]) == (2, 0)
    en = body_in(frozen, "en")
    assert "Its 2 open negotiated transfer proposals were withdrawn." in en and "open orders" not in en
    # and a repeat of the freeze's announcement writes nothing more
    before = notification_rows()
    assert tasks.notify("freeze_changed", {"freeze_id": freeze.pk, "event": "frozen"}) == 0
    assert notification_rows() == before


def test_the_freeze_notice_counts_the_requests_for_quote_and_answers_its_approval_closed(market, delivered):
    # (found by a review: the beat closed them a minute later and the notice did not count them)
    from exchange.services.rfq import RfqRequestInput

    # given an investor with two open requests for quote, one answered by a market maker
    investor = market.investor(cash="50000", shares=1000)
    mm = market.market_maker(cash="100000", shares=10_000)
    asks = [
        rfq_svc.rfq_request(
            requested_by=investor.owner,
            account=investor,
            request=RfqRequestInput(market.security.code, "buy", 100, f"rfq-{n}"),
        )[0]
        for n in range(2)
    ]
    rfq_svc.rfq_answer(user=mm.owner, rfq_id=asks[0].pk, price=D("10.00"), valid_seconds=60)
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    # when a whole-account freeze of the investor is approved
    freeze = sv.freeze_propose(actor=reg1, account=investor.code, whole_account=True, reason="Court order", **LEGAL)
    with delivered():
        sv.freeze_approve(actor=reg2, freeze_id=freeze.pk)
    # then its notice counts both requests, in both languages
    (frozen,) = [n for n in notes(investor) if n.kind == Kind.FREEZE]
    assert (frozen.params["rfqs_cancelled"], frozen.params["answers_released"]) == (2, 0)
    assert "Its 2 open requests for quote were cancelled." in body_in(frozen, "en")
    assert "该账户 2 笔未结束的询价已撤销。" in body_in(frozen, "zh-hans")
    # when the market maker's trading is then restricted while its answer is firm on another request
    other = market.investor(cash="50000")
    theirs = rfq_svc.rfq_request(
        requested_by=other.owner, account=other, request=RfqRequestInput(market.security.code, "buy", 100, "other")
    )[0]
    rfq_svc.rfq_answer(user=mm.owner, rfq_id=theirs.pk, price=D("10.00"), valid_seconds=60)
    restriction = sv.freeze_propose(actor=reg1, account=mm.code, trading=True, reason="Manipulation", **LEGAL)
    with delivered():
        sv.freeze_approve(actor=reg2, freeze_id=restriction.pk)
    # then the market maker's notice says its answer was released, and counts no request of its own
    (restricted,) = [n for n in notes(mm) if n.kind == Kind.FREEZE]
    assert (restricted.params["rfqs_cancelled"], restricted.params["answers_released"]) == (0, 1)
    en = body_in(restricted, "en")
    assert "Its firm answer to a request for quote was released." in en and "requests for quote were" not in en


def test_a_trading_restriction_notice_counts_the_proposals_it_withdrew(market, delivered):
    # (its notice counted only the orders, as a whole-account freeze's did before)
    investor, buyer = market.investor(cash="50000", shares=1000), market.investor(cash="50000")
    neg.negotiated_propose(
        actor=investor.owner,
        account=investor,
        request=neg.NegotiatedRequest(market.security.code, "sell", 100, D("10.00"), buyer.code, "mine"),
    )
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    restriction = sv.freeze_propose(actor=reg1, account=investor.code, trading=True, reason="Manipulation", **LEGAL)
    with delivered():
        sv.freeze_approve(actor=reg2, freeze_id=restriction.pk)
    (restricted,) = [n for n in notes(investor) if n.kind == Kind.FREEZE]
    assert restricted.params["proposals_withdrawn"] == 1
    assert "Its open negotiated transfer proposal was withdrawn." in body_in(restricted, "en")


def test_a_whole_account_freeze_that_withdrew_nothing_says_no_proposals(market, delivered):
    investor = market.investor(cash="50000", shares=1000)
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    freeze = sv.freeze_propose(actor=reg1, account=investor.code, whole_account=True, reason="Court order", **LEGAL)
    with delivered():
        sv.freeze_approve(actor=reg2, freeze_id=freeze.pk)
    (frozen,) = notes(investor)
    assert frozen.params["proposals_withdrawn"] == 0 and "proposal" not in body_in(frozen, "en")


def test_a_part_freeze_reads_as_before(market, delivered):
    # (a freeze of some shares or cash leaves the account trading: it says nothing of the whole account)
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    investor = market.investor(cash="50000")
    freeze = sv.freeze_propose(actor=reg1, account=investor.code, amount="100.00", reason="Debt", **LEGAL)
    with delivered():
        sv.freeze_approve(actor=reg2, freeze_id=freeze.pk)
    (n,) = notes(investor)
    assert body_in(n, "en") == (
        "Assets frozen | Legal order (2026)***号 (reference partly hidden) froze 100.00 CNY of account "
        f"{investor.code}. Reason: Debt. Ask your broker for the order's details."
    )
    assert "orders_cancelled" not in n.params


def test_a_cancel_rolled_back_tells_no_one_and_once_committed_tells_once(resting, delivered):
    from exchange.models import Order
    from registry import listing

    market, mm, investor, kept, odd = resting
    operator = market.user(Role.EXCHANGE_OPERATOR)
    # when a delisting is rolled back
    with delivered(), pytest.raises(RuntimeError), transaction.atomic():
        listing.security_delist(actor=operator, code=market.security.code, reason="Merger completed")
        raise RuntimeError("rolled back")
    # then the orders rest and no one is told
    assert set(Order.objects.filter(account=investor).values_list("status", flat=True)) == {"open"}
    assert Notification.objects.count() == 0
    # and when it is done again and commits, the owner is told once, whatever the deliveries
    with delivered():
        listing.security_delist(actor=operator, code=market.security.code, reason="Merger completed")
    rows = notification_rows()
    assert [n.kind for n in notes(investor)] == [Kind.ORDERS_CLOSED]
    assert tasks.notify("orders_closed", {"order_ids": [kept.pk, odd.pk]}) == 0
    assert notification_rows() == rows


def test_an_investors_own_cancel_and_the_days_end_tell_nothing(resting, delivered):
    from exchange.services import order_cancel, orders_expire

    market, mm, investor, kept, odd = resting
    with delivered():
        order_cancel(actor=investor.owner, order_id=kept.pk)
        orders_expire(now=timezone.now() + dt.timedelta(days=2))
    assert notes(investor) == []


def test_a_proposal_a_freeze_withdrew_is_told_as_such_to_its_proposer_and_as_withdrawn_to_the_counterparty(
    market, delivered
):
    # (found by a review: a withdrawal by no one was always told as "five wrong confirmation codes")
    from exchange.services import negotiated as neg
    from tests.test_supervision import LEGAL

    seller = market.investor(shares=1000)
    buyer = market.investor(cash="50000")
    with delivered():
        proposal, _code, _ = neg.negotiated_propose(
            actor=seller.owner,
            account=seller,
            request=neg.NegotiatedRequest(market.security.code, "sell", 100, D("10.00"), buyer.code, "p1"),
        )
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    freeze = sv.freeze_propose(actor=reg1, account=seller.code, whole_account=True, reason="Court order", **LEGAL)
    # when a whole-account freeze of the proposer is approved
    with delivered():
        sv.freeze_approve(actor=reg2, freeze_id=freeze.pk)
    # then the proposer is told the freeze withdrew it, and that what it reserved is frozen, not free
    (mine,) = [n for n in notes(seller) if n.kind == Kind.NEGOTIATED_ENDED]
    text = body_in(mine, "en")
    assert f"Proposal {proposal.pk} " in text and "because your account is frozen by a legal order" in text
    assert "wrong confirmation codes" not in text and "propose again" not in text
    assert "依法冻结" in body_in(mine, "zh-hans")
    # and the counterparty only that it was withdrawn
    (theirs,) = [n for n in notes(buyer) if n.kind == Kind.NEGOTIATED_ENDED]
    assert body_in(theirs, "en").endswith("has ended: it was withdrawn.")


def test_the_proposer_of_a_proposal_to_a_frozen_account_is_told_only_that_it_was_withdrawn(market, delivered):
    from exchange.services import negotiated as neg
    from supervision.tasks import cancel_frozen_orders
    from tests.test_supervision import LEGAL

    buyer = market.investor(cash="50000")
    seller = market.investor(shares=1000)
    with delivered():
        proposal, _code, _ = neg.negotiated_propose(
            actor=buyer.owner,
            account=buyer,
            request=neg.NegotiatedRequest(market.security.code, "buy", 100, D("10.00"), seller.code, "to-frozen"),
        )
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    freeze = sv.freeze_propose(actor=reg1, account=seller.code, whole_account=True, reason="Court order", **LEGAL)
    with delivered():
        sv.freeze_approve(actor=reg2, freeze_id=freeze.pk)
    # when the beat withdraws the proposal made to the frozen seller
    with delivered():
        assert cancel_frozen_orders.apply().get() == 1
    # then its proposer is told it was withdrawn, and that what it reserved is released, not why
    (ended,) = [n for n in notes(buyer) if n.kind == Kind.NEGOTIATED_ENDED]
    text = body_in(ended, "en")
    assert f"Proposal {proposal.pk} " in text and "has ended: it was withdrawn." in text
    assert "frozen" not in text and "What it reserved is released" in text
    # and the frozen seller, whose account is frozen, is told it was withdrawn too
    (theirs,) = [n for n in notes(seller) if n.kind == Kind.NEGOTIATED_ENDED]
    assert "wrong confirmation codes" not in body_in(theirs, "en")


# --------------------------------------------------------------------------
# Market makers: told what happens to their account, not each fill or settlement of their trades


def test_a_market_maker_is_told_of_holds_release_and_refusal_of_its_trades_but_not_of_fills_or_settlement(
    deal, delivered
):
    # given a market maker who sold 100 @ 10.10 to an investor (the fill told the investor only)
    market, mm, buyer, trade = deal
    assert notes(mm) == []
    # when the depository holds the trade, releases it, holds it again and refuses it
    with delivered():
        trade_hold(actor=market.depository, trade_id=trade.pk, reason="Court enquiry")
        trade_release(actor=market.depository, trade_id=trade.pk, reason="Enquiry closed")
        trade_hold(actor=market.depository, trade_id=trade.pk, reason="Second look")
        trade_refuse(actor=market.depository, trade_id=trade.pk, reason="Seller's shares under dispute")
    # then the market maker has each step on its side of the trade, with its reason, as the buyer has on theirs
    got = [(n.kind, n.params["side"], n.params.get("reason")) for n in notes(mm)]
    assert got == [
        (Kind.HELD, "sell", "Court enquiry"),
        (Kind.RELEASED, "sell", "Enquiry closed"),
        (Kind.HELD, "sell", "Second look"),
        (Kind.REFUSED, "sell", "Seller's shares under dispute"),
    ]
    assert "you sold 100" in body_in(notes(mm)[-1], "en") and "will not settle" in body_in(notes(mm)[-1], "en")
    # and the buyer's notifications are what they were (a fill and the same four steps on the buy side)
    assert [(n.kind, n.params["side"]) for n in notes(buyer)] == [(Kind.FILL, "buy")] + [
        (k, "buy") for k in (Kind.HELD, Kind.RELEASED, Kind.HELD, Kind.REFUSED)
    ]
    # and a repeat of an action writes nothing more
    before = notification_rows()
    for n in notes(mm):
        services.event_notify(event="settlement_acted", facts={"action_id": int(n.key.split(":")[1])})
    assert notification_rows() == before


def test_a_market_maker_is_not_told_of_its_fills_nor_of_its_trades_settling(deal, delivered):
    market, mm, buyer, trade = deal
    # when the trade settles, and the market maker's quote fills again and that trade settles too
    with delivered():
        trade_settle(trade_id=trade.pk)
        buy(market, buyer, qty=100, coid="b2")
    block_seal()
    with delivered():
        trade_settle(trade_id=Trade.objects.exclude(pk=trade.pk).get().pk)
    # then the investor is told of each, the market maker of none
    assert [n.kind for n in notes(buyer)] == [Kind.FILL, Kind.SETTLED, Kind.FILL, Kind.SETTLED]
    assert notes(mm) == []


def test_a_freeze_and_a_trading_restriction_of_a_market_makers_account_and_their_end_tell_the_market_maker(
    market, delivered
):
    # given a market maker with cash and shares
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    mm = market.market_maker(cash="100000", shares=10_000)
    freeze = sv.freeze_propose(
        actor=reg1, account=mm.code, security=market.security.code, quantity=600, reason="Asset preservation",
        **LEGAL,
    )  # fmt: skip
    assert notes(mm) == []  # a proposal is not a freeze yet
    # when the freeze is approved, then released
    with delivered():
        sv.freeze_approve(actor=reg2, freeze_id=freeze.pk)
    with delivered():
        sv.freeze_release(actor=reg1, freeze_id=freeze.pk, reason="Order lifted")
    # then the market maker reads both, the legal order's reference masked
    frozen, released = notes(mm)
    assert (frozen.kind, released.kind) == (Kind.FREEZE, Kind.UNFREEZE)
    assert frozen.params["shares"] == {market.security.code: 600} and frozen.params["account"] == mm.code
    assert "600 shares of" in body_in(frozen, "en") and "(2026)***号" in body_in(frozen, "en")
    # sent to the regulator for the order's details, not to a broker a market maker does not have
    assert body_in(frozen, "en").endswith("Reason: Asset preservation. Ask the regulator for the order's details.")
    assert "broker" not in body_in(frozen, "en")
    assert "(2026)沪74执123号" not in str(frozen.params) + body_in(frozen, "zh-hans") + body_in(released, "en")
    # when its trading is restricted and the restriction ends
    restriction = sv.freeze_propose(actor=reg1, account=mm.code, trading=True, reason="Manipulation", **LEGAL)
    with delivered():
        sv.freeze_approve(actor=reg2, freeze_id=restriction.pk)
    with delivered():
        sv.freeze_release(actor=reg1, freeze_id=restriction.pk, reason="Lifted")
    # then it reads that too, as such
    restricted, lifted = notes(mm)[2:]
    assert body_in(restricted, "en").startswith("Trading restricted | ") and "Manipulation" in body_in(restricted, "en")
    assert body_in(restricted, "en").endswith("Ask the regulator for the order's details.")
    assert body_in(lifted, "en").startswith("Trading restriction ended | ")
    # and a repeat of any of the four writes nothing more
    before = notification_rows()
    for f in (freeze, restriction):
        for event in ("frozen", "released"):
            services.event_notify(event="freeze_changed", facts={"freeze_id": f.pk, "event": event})
    assert notification_rows() == before


def test_a_forced_transfer_from_a_market_maker_and_a_correction_of_its_trade_tell_the_market_maker(deal, delivered):
    # Given a market maker who sold 100 @ 10.10 to an investor (settled), and 300 of its shares frozen
    market, mm, buyer, trade = deal
    trade_settle(trade_id=trade.pk)
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    receiver = market.investor()
    freeze = sv.freeze_propose(
        actor=reg1, account=mm.code, security=market.security.code, quantity=300, reason="Judgment", **LEGAL
    )
    with delivered():
        sv.freeze_approve(actor=reg2, freeze_id=freeze.pk)
    transfer = sv.forced_transfer_propose(
        actor=reg1, freeze_id=freeze.pk, receiver=receiver.code, security=market.security.code, quantity=200,
        reason="Judgment enforced", **LEGAL,
    )  # fmt: skip
    # When the transfer is approved, then the trade corrected to 10.05 (5.00 moves back to the buyer)
    with delivered():
        sv.forced_transfer_approve(actor=reg2, transfer_id=transfer.pk)
    correction = sv.correction_propose(
        actor=reg1, trade_id=trade.pk, new_price="10.05", new_quantity=100, reason="Price error"
    )
    with delivered():
        sv.correction_approve(actor=reg2, correction_id=correction.pk)
    # Then the market maker learns what left its account, and its trade's new terms on its side
    (out,) = [n for n in notes(mm) if n.kind == Kind.FORCED_TRANSFER]
    assert out.params["direction"] == "out" and "200 shares of" in body_in(out, "en")
    assert receiver.code in body_in(out, "en") and "(2026)沪74执123号" not in str(out.params) + body_in(out, "en")
    assert body_in(out, "en").endswith(f"{receiver.code}. Ask the regulator for the order's details.")
    (corrected,) = [n for n in notes(mm) if n.kind == Kind.CORRECTION]
    assert corrected.params["side"] == "sell" and "corrected to 100 at 10.05" in body_in(corrected, "en")
    # and each notification's link opens for it (its balances, its freezes, the trade's page)
    client = signed_in(mm.owner)
    from notifications import messages

    assert {messages.link(n): client.get(messages.link(n)).status_code for n in notes(mm)} == {
        "/balances/": 200, "/supervision/freezes/": 200, f"/trades/{trade.pk}/": 200
    }  # fmt: skip
    # and the receiver and the buyer read what they did before
    assert [n.params["direction"] for n in notes(receiver)] == ["in"]
    assert [n.params["side"] for n in notes(buyer) if n.kind == Kind.CORRECTION] == ["buy"]
    # and a repeat of either event writes nothing more
    before = notification_rows()
    services.event_notify(event="assets_moved", facts={"what": "transfer", "pk": transfer.pk})
    services.event_notify(event="assets_moved", facts={"what": "correction", "pk": correction.pk})
    assert notification_rows() == before


def test_a_forced_transfer_to_a_market_maker_tells_it_what_came(market, delivered):
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    holder, mm = market.investor(cash="50000"), market.market_maker(cash="0", shares=0)
    freeze = sv.freeze_propose(actor=reg1, account=holder.code, amount="1000", reason="Judgment", **LEGAL)
    sv.freeze_approve(actor=reg2, freeze_id=freeze.pk)
    transfer = sv.forced_transfer_propose(
        actor=reg1, freeze_id=freeze.pk, receiver=mm.code, amount="1000", reason="Judgment enforced", **LEGAL
    )
    with delivered():
        sv.forced_transfer_approve(actor=reg2, transfer_id=transfer.pk)
    (came,) = notes(mm)
    assert (came.kind, came.params["direction"], came.params["amount"]) == (Kind.FORCED_TRANSFER, "in", "1000.00")
    assert [n.params["direction"] for n in notes(holder) if n.kind == Kind.FORCED_TRANSFER] == ["out"]


def test_a_kind_a_market_maker_muted_is_not_written_and_the_others_are(deal, delivered):
    market, mm, buyer, trade = deal
    # given a market maker who switched holds off
    services.preference_set(user=mm.owner, muted=["held"], email=False)
    # when its trade is held and released
    with delivered():
        trade_hold(actor=market.depository, trade_id=trade.pk, reason="Court enquiry")
        trade_release(actor=market.depository, trade_id=trade.pk, reason="Enquiry closed")
    # then it reads the release only; the buyer both
    assert [n.kind for n in notes(mm)] == [Kind.RELEASED]
    assert [n.kind for n in notes(buyer)] == [Kind.FILL, Kind.HELD, Kind.RELEASED]


def test_a_negotiated_transfer_proposed_to_a_market_maker_and_one_it_proposed_ending_tell_it(market, delivered):
    # (found by a review: a proposal to a market maker's desk waited for its confirmation untold, and one it made
    # that expired released its shares in silence)
    mm = market.market_maker(cash="100000", shares=10_000)
    investor = market.investor(cash="50000", shares=1000)
    # when an investor proposes to sell to the market maker
    with delivered():
        to_mm, _code, _ = neg.negotiated_propose(
            actor=investor.owner,
            account=investor,
            request=neg.NegotiatedRequest(market.security.code, "sell", 100, D("10.00"), mm.code, "to-mm"),
        )
    # then the market maker is told, on its side (it buys), as an investor counterparty is
    (n,) = notes(mm)
    assert (n.kind, n.params["side"], n.params["proposer"]) == (Kind.NEGOTIATED, "buy", investor.code)
    assert f"{investor.code} proposes that you buy 100" in body_in(n, "en")
    assert notes(investor) == []  # the proposer is not told of its own proposal

    # when the market maker proposes to the investor and its proposal expires unconfirmed
    with delivered():
        by_mm, _code, _ = neg.negotiated_propose(
            actor=mm.owner,
            account=mm,
            request=neg.NegotiatedRequest(market.security.code, "sell", 200, D("10.00"), investor.code, "by-mm"),
        )
    with delivered():
        assert neg.negotiated_expire(now=by_mm.expires_at + dt.timedelta(seconds=1)) >= 1

    # then both parties of each proposal (the first expired too) read that it ended; the market maker that what
    # its own proposal reserved is released
    def ended(account):
        return {x.params["proposal"]: x for x in notes(account) if x.kind == Kind.NEGOTIATED_ENDED}

    assert set(ended(mm)) == set(ended(investor)) == {to_mm.pk, by_mm.pk}
    assert ended(mm)[by_mm.pk].params["why"] == "expired" and "released" in body_in(ended(mm)[by_mm.pk], "en")
    assert "released" not in body_in(ended(mm)[to_mm.pk], "en")
    # and a market maker who muted proposals is not told of the next one
    services.preference_set(user=mm.owner, muted=["negotiated"], email=False)
    before = len(notes(mm))
    with delivered():
        neg.negotiated_propose(
            actor=investor.owner,
            account=investor,
            request=neg.NegotiatedRequest(market.security.code, "sell", 100, D("10.00"), mm.code, "to-mm-2"),
        )
    assert len(notes(mm)) == before


@pytest.fixture
def mm_inbox(deal, delivered):
    """A market maker with two notifications (a hold and its release) and an investor with three."""
    market, mm, buyer, trade = deal
    with delivered():
        trade_hold(actor=market.depository, trade_id=trade.pk, reason="Court enquiry")
        trade_release(actor=market.depository, trade_id=trade.pk, reason="Enquiry closed")
    return market, mm, buyer


def test_api_a_market_maker_lists_and_reads_its_own_notifications_and_sets_its_preferences(mm_inbox):
    market, mm, buyer = mm_inbox
    client = api_for(mm.owner)
    page = client.get("/api/v1/notifications/").json()
    assert [n["kind"] for n in page["results"]] == ["released", "held"]
    assert page["results"][0]["link"] == "/trades/" and "Enquiry closed" in page["results"][0]["body"]
    assert client.get("/api/v1/notifications/?unread=true&limit=1").json()["count"] == 2
    # when it marks one read, then all
    first = page["results"][0]["id"]
    assert client.post(f"/api/v1/notifications/{first}/read/").json()["read"] is True
    assert client.get("/api/v1/notifications/?unread=true").json()["count"] == 1
    assert client.post("/api/v1/notifications/read-all/").json() == {"marked": 1}
    # an investor's is a 404 to it and stays unread
    theirs = notes(buyer)[-1]
    assert client.post(f"/api/v1/notifications/{theirs.pk}/read/").status_code == 404
    assert Notification.objects.filter(user=buyer.owner, read_at__isnull=True).count() == 3
    # its preferences offer what it may be told
    prefs = client.get(PREFS).json()
    assert prefs == {
        "muted": [], "email": False,
        "kinds": [
            "held", "released", "refused", "freeze", "unfreeze", "negotiated", "negotiated_end", "forced_transfer",
            "correction",
        ],
    }  # fmt: skip
    response = client.put(PREFS, {"muted": ["correction", "held"], "email": False}, format="json")
    assert response.status_code == 200 and response.json()["muted"] == ["held", "correction"]
    # and a bad one is a 4xx that changes nothing
    response = client.put(PREFS, {"muted": [], "email": True}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_input"
    with translation.override("zh-hans"):  # the default language; the address is added on the settings page
        assert response.json()["message"] == gettext(
            "Your account has no email address: add one in your settings first."
        )
    assert Preference.objects.get(user=mm.owner).muted == ["held", "correction"]


def test_api_an_investors_preferences_still_offer_every_kind(mm_inbox):
    market, mm, buyer = mm_inbox
    assert api_for(buyer.owner).get(PREFS).json()["kinds"] == list(Kind.values)


def test_page_a_market_maker_sees_the_bell_reads_its_notifications_and_sets_its_preferences(mm_inbox):
    market, mm, buyer = mm_inbox
    client = signed_in(mm.owner)
    assert 'data-count="2"' in client.get("/trades/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    page = client.get("/notifications/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert page.count('class="notification unread"') == 2 and "Settlement held" in page
    # the preferences offer its kinds only
    assert re.findall(r'name="wanted" value="(\w+)"', page) == [
        "held", "released", "refused", "freeze", "unfreeze", "negotiated", "negotiated_end", "forced_transfer",
        "correction",
    ]  # fmt: skip
    # when it marks one read, then all
    assert client.post(f"/notifications/{notes(mm)[0].pk}/read/").status_code == 302
    assert 'data-count="1"' in client.get("/notifications/").content.decode()
    assert client.post("/notifications/read-all/").status_code == 302
    assert 'data-count="0"' in client.get("/notifications/").content.decode()
    # an investor's is a 404 and stays unread
    assert client.post(f"/notifications/{notes(buyer)[0].pk}/read/").status_code == 404
    assert Notification.objects.get(pk=notes(buyer)[0].pk).read_at is None
    # when it switches corrections off, only they are muted
    wanted = ["held", "released", "refused", "freeze", "unfreeze", "negotiated", "negotiated_end", "forced_transfer"]
    assert client.post("/notifications/", {"wanted": wanted}).status_code == 302
    assert Preference.objects.get(user=mm.owner).muted == ["correction"]
    # a kind it is not offered is a form error that changes nothing
    response = client.post("/notifications/", {"wanted": ["fill"]})
    assert response.status_code == 200 and Preference.objects.get(user=mm.owner).muted == ["correction"]


def test_page_with_none_yet_a_market_maker_reads_what_it_will_be_told(market):
    mm = market.market_maker()
    page = signed_in(mm.owner).get("/notifications/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "not each fill or settlement" in page and 'id="no-email-hint"' in page and 'href="/settings/email/"' in page


def test_page_the_email_box_of_a_user_without_an_address_is_read_with_the_hint_that_says_so(market):
    # given an investor without an email address whose preference is to be emailed
    investor = market.investor()
    Preference.objects.create(user=investor.owner, muted=[], email=True)
    client = signed_in(investor.owner)

    # when they open the notifications page
    page = client.get("/notifications/").content.decode()

    # then the box is not ticked (nothing can be emailed), and a screen reader hears why with it, not only after it
    (box,) = re.findall(r'<input type="checkbox" name="email"[^>]*>', page)
    assert 'id="id_email"' in box and 'aria-describedby="no-email-hint"' in box and "checked" not in box
    assert 'id="no-email-hint"' in page

    # when they have an address, the box is the form's own, with no hint
    investor.owner.email = "investor@example.com"
    investor.owner.save(update_fields=["email"])
    page = client.get("/notifications/").content.decode()
    (box,) = re.findall(r'<input type="checkbox" name="email"[^>]*>', page)
    assert "aria-describedby" not in box and "checked" in box and 'id="no-email-hint"' not in page
    assert Preference.objects.get(user=investor.owner).email is True


@pytest.mark.parametrize("role", [Role.EXCHANGE_OPERATOR, Role.REGULATOR])
def test_page_is_403_to_operators_and_regulators_who_see_no_bell(market, role, db):
    client = signed_in(market.user(role))
    assert client.get("/notifications/").status_code == 403
    assert client.post("/notifications/read-all/").status_code == 403
    assert "notification-bell" not in client.get("/trades/").content.decode()
    with pytest.raises(err.PermissionDenied):
        services.notifications_read_all(user=market.user(role))


def test_a_whole_account_freeze_of_a_market_maker_tells_it_and_an_investors_freeze_reads_as_before(market, delivered):
    # given a market maker with a quote, and an investor with shares
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    mm = market.market_maker(cash="100000", shares=10_000)
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(shares=1000)
    whole = sv.freeze_propose(actor=reg1, account=mm.code, whole_account=True, reason="Court order", **LEGAL)
    part = sv.freeze_propose(
        actor=reg1, account=investor.code, security=market.security.code, quantity=100, reason="Court order", **LEGAL
    )
    # when both are approved
    with delivered():
        sv.freeze_approve(actor=reg2, freeze_id=whole.pk)
        sv.freeze_approve(actor=reg2, freeze_id=part.pk)
    # then the market maker reads that its whole account is frozen, and where to ask
    (frozen,) = notes(mm)
    en = body_in(frozen, "en")
    assert frozen.params["scope"] == "account" and frozen.params["market_maker"] is True
    assert f"froze the whole account {mm.code}" in en and "can neither trade nor withdraw" in en
    assert en.endswith("Ask the regulator for the order's details.") and "broker" not in en
    # and that its two quotes were pulled (found by a probe: the notice did not say so)
    assert frozen.params["quotes_pulled"] == 2 and "Its 2 quotes were pulled." in en
    # and the investor's facts and words are what they were
    (theirs,) = notes(investor)
    assert "market_maker" not in theirs.params
    assert body_in(theirs, "en").endswith("Reason: Court order. Ask your broker for the order's details.")
