"""Negotiated transfer (协议转让): propose with a code, confirm, withdraw, expire; every check for both parties."""

from __future__ import annotations

import datetime as dt
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.test import Client
from django.utils import timezone

from balances.services import account_open
from core import errors as err
from core.models import Account, AuditEvent, Broker, Role
from exchange.models import NegotiatedTrade, Trade
from exchange.services import negotiated as neg
from kyc.models import KycProfile
from ledger.services import block_seal
from ledger.verification import ledger_verify
from registry.models import Security
from settlement.services import trade_settle
from tests.conftest import account_flags_set, api_for, build_market, cash_of, position_of
from tests.conftest import snapshot as base_snapshot

D = Decimal


def snapshot() -> dict:
    """The business tables and the proposals, all but a proposal's count of wrong codes (a wrong code is counted:
    ``test_the_fifth_wrong_code_withdraws_the_proposal``)."""
    out = base_snapshot()
    with connection.cursor() as cur:
        cur.execute("SELECT * FROM exchange_negotiatedtrade ORDER BY 1")
        names = [c.name for c in cur.description]
        out["exchange_negotiatedtrade"] = [
            tuple(v for name, v in zip(names, row, strict=True) if name != "wrong_codes") for row in cur.fetchall()
        ]
    return out


@pytest.fixture
def parties(market):
    """A buyer with cash (proposer) and a seller holding 1000 shares (counterparty), at two brokers."""
    other = Broker.objects.create(code="B-OTHER", name="Other", fee_bps=D("10"), fee_minimum=D("1"))
    account_open(kind=Account.Kind.FEE, name="fees other", broker=other)
    buyer = market.investor(cash="50000")
    seller = market.investor(shares=1000)
    Account.objects.filter(pk=seller.pk).update(broker=other)
    seller.refresh_from_db()
    return market, buyer, seller


def body(market, to, **over) -> dict:
    data = {
        "security": market.security.code,
        "side": "buy",
        "quantity": 500,
        "price": "10.00",
        "counterparty": to.code,
        "client_request_id": "n-1",
    }
    return {**data, **over}


def propose(market, proposer, counterparty, **over):
    resp = api_for(proposer.owner).post("/api/v1/negotiated-trades/", body(market, counterparty, **over), format="json")
    assert resp.status_code == 201, resp.json()
    return resp.json()


def test_a_proposal_reserves_the_proposers_side_and_keeps_only_the_codes_hash(parties):
    market, buyer, seller = parties
    seller_before = position_of(seller, market.security).reserved

    # when the buyer proposes 500 at 10.00 to the seller
    out = propose(market, buyer, seller)

    # then it gets a code once and the proposal waits 30 minutes, its cash (with its broker's fee) reserved
    assert out["status"] == "proposed" and len(out["code"]) == neg.CODE_LENGTH
    assert out["proposer"] == {"account": buyer.code, "broker": market.broker.code}
    assert out["counterparty"] == {"account": seller.code, "broker": "B-OTHER"}
    p = NegotiatedTrade.objects.get(pk=out["id"])
    assert p.code_hash == neg.code_hash(out["code"]) and out["code"] not in p.code_hash
    assert dt.timedelta(minutes=29) < p.expires_at - p.created_at <= dt.timedelta(minutes=30)
    assert cash_of(buyer).reserved == D("5000.00") + D("5.00") == p.reserved_cash  # 2.5 bps, minimum 5
    # and nothing of the counterparty, nor any trade
    assert position_of(seller, market.security).reserved == seller_before
    assert not Trade.objects.exists()


def test_confirmation_trades_at_once_with_both_brokers_fees_and_settles_seals_verifies_replays(
    parties, django_capture_on_commit_callbacks
):
    market, buyer, seller = parties
    out = propose(market, buyer, seller)

    # when the seller confirms with the code
    resp = api_for(seller.owner).post(
        f"/api/v1/negotiated-trades/{out['id']}/confirm/", {"code": out["code"].lower()}, format="json"
    )

    # then one negotiated trade, each side paying its own broker's fee
    assert resp.status_code == 200, resp.json()
    assert resp.json()["status"] == "confirmed"
    trade = Trade.objects.get(pk=resp.json()["trade"])
    assert (trade.mode, trade.quote_id, trade.buy_order_id, trade.sell_order_id) == ("negotiated", None, None, None)
    assert (trade.buyer_id, trade.seller_id, trade.quantity, trade.price) == (buyer.pk, seller.pk, 500, D("10.00"))
    assert (trade.buyer_fee, trade.seller_fee) == (D("5.00"), D("5.00"))  # 2.5 bps min 5; 10 bps of 5000 = 5
    assert position_of(seller, market.security).reserved == 500
    assert NegotiatedTrade.objects.get(pk=out["id"]).reserved_cash == 0
    call_command("ledger_replay", "--check")

    # and it seals, settles, verifies and replays like any trade
    with django_capture_on_commit_callbacks(execute=True):
        block_seal()
        assert trade_settle(trade_id=trade.pk)
        block_seal()
    trade.refresh_from_db()
    assert trade.status == Trade.Status.SETTLED
    assert position_of(buyer, market.security).total == 500
    assert position_of(seller, market.security).total == 500
    assert cash_of(buyer).total == D("50000") - D("5005.00") and cash_of(buyer).reserved == 0
    assert cash_of(seller).total == D("4995.00")
    assert ledger_verify().ok
    call_command("ledger_replay", "--check")


def test_a_seller_proposes_and_the_buyer_confirms(parties):
    market, buyer, seller = parties
    out = propose(market, seller, buyer, side="sell", client_request_id="s-1")
    assert position_of(seller, market.security).reserved == 500 and cash_of(buyer).reserved == 0

    p = neg.negotiated_confirm(actor=buyer.owner, proposal_id=out["id"], code=out["code"])

    assert p.status == "confirmed" and p.trade.buyer_id == buyer.pk and p.trade.seller_id == seller.pk
    assert cash_of(buyer).reserved == D("5005.00")
    assert position_of(seller, market.security).reserved == 500
    call_command("ledger_replay", "--check")


def test_a_wrong_code_changes_nothing(parties):
    market, buyer, seller = parties
    out = propose(market, buyer, seller)
    before = snapshot()

    resp = api_for(seller.owner).post(
        f"/api/v1/negotiated-trades/{out['id']}/confirm/", {"code": "WRONG234"}, format="json"
    )

    assert resp.status_code == 403 and resp.json()["code"] == "wrong_confirmation_code"
    assert snapshot() == before


def test_the_fifth_wrong_code_withdraws_the_proposal(parties):
    # (found by a probe: 25 wrong codes in a row were each a 403, and the proposal stayed open to more guesses)
    market, buyer, seller = parties
    out = propose(market, buyer, seller)
    client = api_for(seller.owner)
    reserved = cash_of(buyer).reserved
    assert reserved > 0
    # when the counterparty sends four wrong codes, each says how many tries are left, and the proposal stays open
    for left in (4, 3, 2, 1):
        resp = client.post(
            f"/api/v1/negotiated-trades/{out['id']}/confirm/",
            {"code": "WRONG234"},
            format="json",
            HTTP_ACCEPT_LANGUAGE="en",
        )
        assert resp.status_code == 403 and resp.json()["code"] == "wrong_confirmation_code"
        assert str(left) in resp.json()["message"], resp.json()
        assert NegotiatedTrade.objects.get(pk=out["id"]).status == "proposed"
    assert cash_of(buyer).reserved == reserved
    # then the fifth withdraws it, releasing the proposer's cash, and even the right code no longer trades
    resp = client.post(
        f"/api/v1/negotiated-trades/{out['id']}/confirm/",
        {"code": "WRONG234"},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert resp.status_code == 403 and "withdrawn" in resp.json()["message"]
    p = NegotiatedTrade.objects.get(pk=out["id"])
    assert (p.status, p.wrong_codes, p.reserved_cash, p.closed_by_id) == ("withdrawn", 5, 0, None)
    assert cash_of(buyer).reserved == 0
    late = client.post(f"/api/v1/negotiated-trades/{out['id']}/confirm/", {"code": out["code"]}, format="json")
    assert late.status_code == 409 and not Trade.objects.exists()
    # and every try is on the audit trail, the withdrawal by the system
    tries = AuditEvent.objects.filter(action="negotiated.confirm", outcome="refused", target=f"negotiated:{p.pk}")
    assert tries.count() == 5
    assert AuditEvent.objects.filter(action="negotiated.withdraw", actor_username="system").count() == 1
    call_command("ledger_replay", "--check")
    # and the database holds the limit too, around the service: no sixth try, no proposal reopened with none left
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError, match="negotiated_wrong_codes_at_most"), transaction.atomic():
        NegotiatedTrade.objects.filter(pk=p.pk).update(wrong_codes=6)
    with pytest.raises(IntegrityError, match="negotiated_open_while_tries_left"), transaction.atomic():
        NegotiatedTrade.objects.filter(pk=p.pk).update(status="proposed", closed_at=None, closed_by=None)
    assert NegotiatedTrade.objects.filter(pk=p.pk, status="withdrawn", wrong_codes=5).exists()


def test_an_expired_proposal_cannot_be_confirmed_and_the_beat_task_releases_it(parties):
    market, buyer, seller = parties
    out = propose(market, buyer, seller)
    NegotiatedTrade.objects.filter(pk=out["id"]).update(
        created_at=timezone.now() - dt.timedelta(hours=1), expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    before = snapshot()

    # when the seller confirms after the expiry: refused, nothing changes
    resp = api_for(seller.owner).post(
        f"/api/v1/negotiated-trades/{out['id']}/confirm/", {"code": out["code"]}, format="json"
    )
    assert resp.status_code == 409 and resp.json()["code"] == "proposal_expired"
    assert snapshot() == before
    # before the beat task comes, both sides read it expired, in the API and on the page (it read "proposed")
    for party in (buyer.owner, seller.owner):
        assert api_for(party).get(f"/api/v1/negotiated-trades/{out['id']}/").json()["status"] == "expired"
    page = Client()
    page.force_login(seller.owner)
    html = page.get("/negotiated/").content.decode()
    assert 'class="status status-expired"' in html and f'name="proposal" value="{out["id"]}"' not in html
    assert snapshot() == before

    # when the beat task runs (twice: idempotent)
    from exchange.tasks import expire_negotiated

    assert expire_negotiated() == 1
    assert expire_negotiated() == 0

    # then the proposal is expired and the buyer's cash released
    p = NegotiatedTrade.objects.get(pk=out["id"])
    assert (p.status, p.reserved_cash) == ("expired", 0)
    assert cash_of(buyer).reserved == 0
    assert not Trade.objects.exists()
    call_command("ledger_replay", "--check")


@pytest.mark.parametrize("who", ["proposer", "counterparty", "counterparty_staff"])
def test_either_side_withdraws_before_confirmation_releasing_the_reservation(parties, who):
    market, buyer, seller = parties
    out = propose(market, seller, buyer, side="sell")
    actor = {"proposer": seller.owner, "counterparty": buyer.owner, "counterparty_staff": market.staff}[who]

    resp = api_for(actor).post(f"/api/v1/negotiated-trades/{out['id']}/withdraw/")

    assert resp.status_code == 200 and resp.json()["status"] == "withdrawn"
    assert position_of(seller, market.security).reserved == 0
    # and a confirmation afterwards is refused, changing nothing
    before = snapshot()
    resp = api_for(buyer.owner).post(
        f"/api/v1/negotiated-trades/{out['id']}/confirm/", {"code": out["code"]}, format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )  # fmt: skip
    assert resp.status_code == 409 and resp.json()["code"] == "proposal_not_open"
    # (its status in lower case, mid-sentence: found by a probe, "This proposal is Withdrawn; …")
    assert resp.json()["message"] == "This proposal is withdrawn; it can no longer be confirmed."
    assert snapshot() == before


def test_creation_is_idempotent_on_client_request_id(parties):
    market, buyer, seller = parties
    first = propose(market, buyer, seller)
    client = api_for(buyer.owner)

    again = client.post("/api/v1/negotiated-trades/", body(market, seller), format="json")
    assert again.status_code == 200 and again.json()["id"] == first["id"] and again.json()["code"] is None
    assert cash_of(buyer).reserved == D("5005.00")

    before = snapshot()
    other = client.post("/api/v1/negotiated-trades/", body(market, seller, quantity=600), format="json")
    assert other.status_code == 409 and other.json()["code"] == "client_request_id_reused"
    assert snapshot() == before


# --------------------------------------------------------------------------
# The counterparty failing a check at confirmation: a clear 4xx, nothing changes


def _kyc(account, **fields):
    KycProfile.objects.filter(user=account.owner).update(**fields)


FAILS = [
    ("kyc_not_approved", lambda m, b, s: _kyc(b, state=KycProfile.State.SUBMITTED)),
    ("kyc_expired", lambda m, b, s: _kyc(b, expires_at=timezone.now() - dt.timedelta(days=1))),
    ("unsuitable_risk_level", lambda m, b, s: _kyc(b, risk_level=2)),
    ("not_qualified_investor", lambda m, b, s: Security.objects.filter(pk=m.security.pk).update(qualified_only=True)),
    ("holder_cap_reached", lambda m, b, s: Security.objects.filter(pk=m.security.pk).update(max_holders=1)),
    ("price_out_of_band", lambda m, b, s: Security.objects.filter(pk=m.security.pk).update(reference_price=D("20"))),
    ("quantity_not_in_lots", lambda m, b, s: Security.objects.filter(pk=m.security.pk).update(lot_size=300)),
    ("account_frozen", lambda m, b, s: account_flags_set(b.pk, frozen=True)),
    ("security_halted", lambda m, b, s: Security.objects.filter(pk=m.security.pk).update(status="halted")),
    (
        "trading_mode_disabled",
        lambda m, b, s: Security.objects.filter(pk=m.security.pk).update(mode_negotiated=False),
    ),
    ("insufficient_cash", lambda m, b, s: None),
]


@pytest.mark.parametrize(("code", "change"), FAILS, ids=[c for c, _ in FAILS])
def test_a_counterparty_failing_a_check_changes_nothing(parties, code, change):
    # given the seller proposes 500 to a buyer; the buyer (counterparty) fails one rule
    market, buyer, seller = parties
    poor = market.investor(cash="100") if code == "insufficient_cash" else buyer
    out = propose(market, seller, poor, side="sell")
    change(market, poor, seller)
    before = snapshot()

    resp = api_for(poor.owner).post(
        f"/api/v1/negotiated-trades/{out['id']}/confirm/", {"code": out["code"]}, format="json"
    )

    assert 400 <= resp.status_code < 500 and resp.json()["code"] == code, resp.json()
    assert resp.json()["message"]
    assert snapshot() == before


def _frozen_at_the_trades_insert(monkeypatch, account) -> None:
    """Freeze ``account`` in the confirmation's transaction after every check of the service and just before the
    trade's insert (its TRADE entry is written first): what the checks read said free, the database's trigger
    ``trade_no_frozen_account`` sees it frozen."""
    from exchange.services import negotiated as neg_services

    write = neg_services.entries_write

    def freeze_then_write(*args, **kwargs):
        account_flags_set(account.pk, frozen=True)
        return write(*args, **kwargs)

    monkeypatch.setattr(neg_services, "entries_write", freeze_then_write)


def _confirm_in_english(account, out):
    url = f"/api/v1/negotiated-trades/{out['id']}/confirm/"
    return api_for(account.owner).post(url, {"code": out["code"]}, format="json", HTTP_ACCEPT_LANGUAGE="en")


@pytest.mark.parametrize("proposer_side", ["sell", "buy"])
def test_a_proposer_frozen_in_the_last_instant_is_proposer_cannot_trade_to_the_confirming_party(
    parties, monkeypatch, proposer_side
):
    # (found by a review: the database's refusal reached the confirming party as account_frozen, which told it, whose
    # own account is free, that the proposer's was frozen: a legal order's secret. Before that, a 500.)
    market, buyer, seller = parties
    proposer, counterparty = (seller, buyer) if proposer_side == "sell" else (buyer, seller)
    out = propose(market, proposer, counterparty, side=proposer_side)
    reserved = (cash_of(buyer).reserved, position_of(seller, market.security).reserved)
    assert reserved == ((D("0"), 500) if proposer_side == "sell" else (D("5005.00"), 0))
    _frozen_at_the_trades_insert(monkeypatch, proposer)
    before = snapshot()
    # when the counterparty confirms and the proposer's account is frozen as the trade is inserted
    resp = _confirm_in_english(counterparty, out)
    # then the answer is the one the service's own check of the proposer gives, naming no freeze
    assert resp.status_code == 409 and resp.json()["code"] == "proposer_cannot_trade", resp.content
    assert resp.json()["message"] == str(neg.ProposerCannotTrade.default_message)
    assert "frozen" not in resp.json()["message"]
    # and nothing changed: no trade, no entry, the proposal open, the proposer's reservation as it was (the freeze's
    # own update rolled back with the confirmation)
    assert snapshot() == before
    assert not Trade.objects.exists()
    assert NegotiatedTrade.objects.get(pk=out["id"]).status == "proposed"
    assert (cash_of(buyer).reserved, position_of(seller, market.security).reserved) == reserved
    assert not Account.objects.filter(frozen=True).exists()


def test_a_counterparty_frozen_in_the_last_instant_is_told_its_own_account_is_frozen(parties, monkeypatch):
    # given the counterparty's own account frozen as the trade is inserted
    market, buyer, seller = parties
    out = propose(market, seller, buyer, side="sell")
    _frozen_at_the_trades_insert(monkeypatch, buyer)
    before = snapshot()
    # when it confirms
    resp = _confirm_in_english(buyer, out)
    # then the database's refusal is a 409 account_frozen (its own account: nothing of the proposer's), and nothing
    # changed
    assert resp.status_code == 409 and resp.json()["code"] == "account_frozen", resp.content
    assert resp.json()["message"].startswith("An account in this trade was frozen")
    assert snapshot() == before
    assert not Trade.objects.exists()


def _restricted_in_force_read_free(market, account) -> None:
    """A trading restriction of ``account`` in force (approved, with its reason), its account's row still read free:
    as if the approval committed after the confirmation read it."""
    from supervision import services as sv

    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    restriction = sv.freeze_propose(
        actor=reg1, account=account.code, trading=True, reason="Suspected manipulation", legal_reference="(2026)1号"
    )
    sv.freeze_approve(actor=reg2, freeze_id=restriction.pk)
    account_flags_set(account.pk, trading_restricted=False)


def _restricted_at_the_trades_insert(monkeypatch, account) -> None:
    """As ``_frozen_at_the_trades_insert``, for a trading restriction."""
    from exchange.services import negotiated as neg_services

    write = neg_services.entries_write

    def restrict_then_write(*args, **kwargs):
        account_flags_set(account.pk, trading_restricted=True)
        return write(*args, **kwargs)

    monkeypatch.setattr(neg_services, "entries_write", restrict_then_write)


def test_a_counterparty_restricted_in_the_last_instant_is_told_its_own_trading_is_restricted(parties, monkeypatch):
    # (found by a review: the database's refusal read "An account in this trade was frozen by a legal order…")
    market, buyer, seller = parties
    _restricted_in_force_read_free(market, buyer)
    out = propose(market, seller, buyer, side="sell")
    _restricted_at_the_trades_insert(monkeypatch, buyer)
    before = snapshot()
    # when the buyer confirms and its trading is restricted as the trade is inserted
    resp = _confirm_in_english(buyer, out)
    # then the answer is the service's own check's: trading_restricted, naming the restriction's reason, no freeze
    assert resp.status_code == 409 and resp.json()["code"] == "trading_restricted", resp.content
    assert resp.json()["message"] == (
        "A regulator has restricted this account's trading; it cannot trade. Reason: Suspected manipulation"
    )
    # and nothing changed: no trade, the proposal open, the seller's shares still reserved for it
    assert snapshot() == before
    assert not Trade.objects.exists()
    assert NegotiatedTrade.objects.get(pk=out["id"]).status == "proposed"
    assert position_of(seller, market.security).reserved == 500


def test_a_proposer_restricted_in_the_last_instant_is_proposer_cannot_trade_to_the_confirming_party(
    parties, monkeypatch
):
    market, buyer, seller = parties
    _restricted_in_force_read_free(market, seller)
    out = propose(market, seller, buyer, side="sell")
    _restricted_at_the_trades_insert(monkeypatch, seller)
    before = snapshot()
    # when the buyer confirms and the proposer's trading is restricted as the trade is inserted
    resp = _confirm_in_english(buyer, out)
    # then it is proposer_cannot_trade, naming no restriction of the other party, and nothing changed
    assert resp.status_code == 409 and resp.json()["code"] == "proposer_cannot_trade", resp.content
    assert "restrict" not in resp.json()["message"]
    assert snapshot() == before
    assert NegotiatedTrade.objects.get(pk=out["id"]).status == "proposed"


def test_the_selling_counterparty_needs_the_shares(parties):
    market, buyer, seller = parties
    out = propose(market, buyer, seller, quantity=1100, price="10.00")
    before = snapshot()
    resp = api_for(seller.owner).post(
        f"/api/v1/negotiated-trades/{out['id']}/confirm/", {"code": out["code"]}, format="json"
    )
    assert resp.status_code == 409 and resp.json()["code"] == "insufficient_shares"
    assert snapshot() == before


# --------------------------------------------------------------------------
# Roles and bad input


def test_who_sees_and_who_confirms(parties):
    market, buyer, seller = parties
    out = propose(market, buyer, seller)
    url = f"/api/v1/negotiated-trades/{out['id']}/"
    stranger = market.investor()
    regulator = market.user(Role.REGULATOR)

    assert api_for(seller.owner).get(url).json()["client_request_id"] is None
    assert api_for(buyer.owner).get(url).json()["client_request_id"] == "n-1"
    assert api_for(regulator).get(url).status_code == 200
    assert api_for(stranger.owner).get(url).status_code == 404
    assert [p["id"] for p in api_for(seller.owner).get("/api/v1/negotiated-trades/").json()["results"]] == [out["id"]]
    assert api_for(stranger.owner).get("/api/v1/negotiated-trades/").json()["results"] == []

    before = snapshot()
    # the proposer may not confirm its own proposal; a stranger sees nothing
    resp = api_for(buyer.owner).post(f"{url}confirm/", {"code": out["code"]}, format="json")
    assert resp.status_code == 403 and resp.json()["code"] == "permission_denied"
    resp = api_for(stranger.owner).post(f"{url}confirm/", {"code": out["code"]}, format="json")
    assert resp.status_code == 404
    assert api_for(stranger.owner).post(f"{url}withdraw/").status_code == 404
    assert api_for(regulator).post(f"{url}withdraw/").status_code == 404
    assert snapshot() == before


@pytest.mark.parametrize(
    ("over", "status", "code"),
    [
        ({"side": "hold"}, 400, "invalid_input"),
        ({"quantity": 1.5}, 400, "invalid_input"),
        ({"quantity": -100}, 400, "invalid_input"),
        ({"price": 10.0}, 400, "invalid_input"),
        ({"price": "abc"}, 400, "invalid_input"),
        ({"counterparty": "NOBODY"}, 400, "unknown_counterparty"),
        ({"security": "NOPE"}, 404, "unknown_security"),
        ({"client_request_id": ""}, 400, "invalid_input"),
        ({"price": "10.005"}, 400, "invalid_input"),
        ({"quantity": 150}, 400, "quantity_not_in_lots"),
        ({"quantity": 10_000}, 409, "insufficient_cash"),
    ],
)
def test_bad_proposals_are_4xx_and_change_nothing(parties, over, status, code):
    market, buyer, seller = parties
    before = snapshot()
    resp = api_for(buyer.owner).post("/api/v1/negotiated-trades/", body(market, seller, **over), format="json")
    assert resp.status_code == status, resp.json()
    assert resp.json()["code"] in (code, "validation_error"), resp.json()
    assert snapshot() == before


# --------------------------------------------------------------------------
# A counterparty who may not buy: refused at the proposal, not only at its confirmation


def _level_low(market, buyer, settings) -> None:
    KycProfile.objects.filter(user=buyer.owner).update(risk_level=1)


def _security_for_qualified(market, buyer, settings) -> None:
    Security.objects.filter(pk=market.security.pk).update(qualified_only=True)


def _regional_venue(market, buyer, settings) -> None:
    settings.VENUE_PROFILE = "cn-regional-2017"


UNFIT_BUYERS = [
    ("unsuitable_risk_level", _level_low),
    ("not_qualified_investor", _security_for_qualified),
    ("not_qualified_investor", _regional_venue),
]


@pytest.mark.parametrize(("code", "make_unfit"), UNFIT_BUYERS, ids=["level", "qualified-security", "regional"])
def test_a_sale_proposed_to_a_buyer_who_may_not_buy_is_refused_at_the_proposal(parties, settings, code, make_unfit):
    # given the seller, qualified, and a buyer (the counterparty) who may not buy the security
    market, buyer, seller = parties
    KycProfile.objects.filter(user=seller.owner).update(qualified_investor=True)
    make_unfit(market, buyer, settings)
    before = snapshot()

    # when the seller proposes a sale to it on the API
    resp = api_for(seller.owner).post(
        "/api/v1/negotiated-trades/", body(market, buyer, side="sell"), format="json", HTTP_ACCEPT_LANGUAGE="en"
    )

    # then it is a conflict with the confirmation's code, naming the counterparty, not its level; nothing changed
    assert (resp.status_code, resp.json()["code"]) == (409, code), resp.json()
    message = resp.json()["message"]
    assert f"counterparty ({buyer.code})" in message, message
    assert "C1" not in message and "Your" not in message and "attest" not in message, message
    assert snapshot() == before and not NegotiatedTrade.objects.exists()


@pytest.mark.parametrize("rule", ["level", "qualified"])
def test_the_page_says_the_counterparty_may_not_buy_on_its_field(parties, rule):
    # given a buyer whose level is below the security's risk, or not qualified for a security that needs it
    market, buyer, seller = parties
    if rule == "level":
        KycProfile.objects.filter(user=buyer.owner).update(risk_level=1)
    else:
        Security.objects.filter(pk=market.security.pk).update(qualified_only=True)
        KycProfile.objects.filter(user=seller.owner).update(qualified_investor=True)
    page = Client(HTTP_ACCEPT_LANGUAGE="en")
    page.force_login(seller.owner)
    before = snapshot()

    # when the seller proposes a sale to it on the page
    resp = page.post(
        "/negotiated/",
        {"action": "propose", "client_request_id": "page-1", **body(market, buyer, side="sell")},
    )

    # then the form says it on the counterparty's box, once, and nothing changed
    form = resp.context["propose_form"]
    assert resp.status_code == 200 and not form.non_field_errors(), form.errors
    [said] = form.errors["counterparty"]
    assert f"ounterparty ({buyer.code})" in said and "attest" not in said, said
    assert snapshot() == before


def test_a_buyer_qualified_when_proposed_is_still_checked_at_its_confirmation(parties):
    # given a sale proposed to a buyer who may buy it then
    market, buyer, seller = parties
    out = propose(market, seller, buyer, side="sell")
    # when the security becomes one for qualified investors only, and the buyer confirms
    Security.objects.filter(pk=market.security.pk).update(qualified_only=True)
    before = snapshot()
    resp = _confirm_in_english(buyer, out)
    # then the confirmation refuses it as before
    assert (resp.status_code, resp.json()["code"]) == (403, "not_qualified_investor"), resp.json()
    assert snapshot() == before


def test_a_purchase_proposed_to_an_unfit_seller_is_not_refused_for_the_sellers_level(parties):
    # given a seller (the counterparty) whose level is below the security's risk: a seller's level is not a rule
    market, buyer, seller = parties
    KycProfile.objects.filter(user=seller.owner).update(risk_level=1)
    # when the buyer proposes, then the proposal is made
    assert propose(market, buyer, seller)["status"] == "proposed"


def test_a_proposal_to_oneself_is_refused(parties):
    market, buyer, _seller = parties
    before = snapshot()
    resp = api_for(buyer.owner).post("/api/v1/negotiated-trades/", body(market, buyer), format="json")
    assert resp.status_code == 409 and resp.json()["code"] == "self_trade"
    assert snapshot() == before


def test_the_staff_member_who_proposed_for_one_client_cannot_confirm_for_the_other(market):
    # (found by a probe: staff1 proposed for one client and confirmed for another, moving value with no second
    # person and no client)
    seller, buyer = market.investor(shares=1000), market.investor(cash="50000")
    p, code, _ = neg.negotiated_propose(
        actor=market.staff,
        account=seller,
        request=neg.NegotiatedRequest(market.security.code, "sell", 100, D("10.00"), buyer.code, "both-sides"),
    )
    before = snapshot()
    with pytest.raises(err.PermissionDenied):
        neg.negotiated_confirm(actor=market.staff, proposal_id=p.pk, code=code)
    assert snapshot() == before and not Trade.objects.exists()
    # another staff member of the broker, or the client, confirms it
    assert neg.negotiated_confirm(actor=market.checker, proposal_id=p.pk, code=code).status == "confirmed"
    # and the database refuses a confirmation in the proposer's name, around the service
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError, match="negotiated_confirmed_by_another"), transaction.atomic():
        NegotiatedTrade.objects.filter(pk=p.pk).update(closed_by=market.staff)
    assert NegotiatedTrade.objects.get(pk=p.pk).closed_by == market.checker


def test_broker_staff_confirm_for_their_client_marked_as_counter_entered(parties):
    market, buyer, seller = parties
    out = propose(market, seller, buyer, side="sell")
    p = neg.negotiated_confirm(actor=market.staff, proposal_id=out["id"], code=out["code"])
    assert p.status == "confirmed" and p.closed_at_counter and p.closed_by == market.staff
    # and the trade reads entered at the counter for the buyer, online for the seller who proposed it (found by a
    # probe: every trade without an order read "online" in the counter's trades and the statements)
    from settlement.statements import account_trades, entered_at_counter

    trade = account_trades(buyer).get(pk=p.trade_id)
    assert entered_at_counter(trade, buyer) and not entered_at_counter(trade, seller)
    listed = api_for(market.staff).get(f"/api/v1/counter/clients/{buyer.code}/trades/").json()["results"]
    assert [(t["id"], t["entered_at_counter"]) for t in listed] == [(trade.pk, True)]


# --------------------------------------------------------------------------
# Two confirmations at once trade once


def _committed_proposal(client_request_id: str):
    """A market, a buyer with 50,000 of cash, a seller of 1000 shares proposing 500 at 10.00 to it, and the code."""
    market = build_market()
    buyer = market.investor(cash="50000")
    seller = market.investor(shares=1000)
    p, code, _ = neg.negotiated_propose(
        actor=seller.owner,
        account=seller,
        request=neg.NegotiatedRequest(market.security.code, "sell", 500, D("10.00"), buyer.code, client_request_id),
    )
    return market, buyer, seller, p, code


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_confirmations_trade_once():
    market, buyer, seller, p, code = _committed_proposal("race")
    barrier = threading.Barrier(2)

    def confirm(actor):
        try:
            barrier.wait()
            neg.negotiated_confirm(actor=actor, proposal_id=p.pk, code=code)
            return "ok"
        except err.DomainError as exc:
            return exc.code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = sorted(pool.map(confirm, [buyer.owner, market.staff]))

    assert results == ["ok", "proposal_not_open"]
    assert Trade.objects.count() == 1
    assert cash_of(buyer).reserved == D("5005.00")
    call_command("ledger_replay", "--check")


@pytest.mark.django_db(transaction=True)
def test_a_freeze_of_the_proposer_committed_during_the_confirmation_is_proposer_cannot_trade(monkeypatch):
    # given a proposal to sell 500, its shares reserved; the proposer's account is frozen by another transaction,
    # committed after the confirmation's checks read it free and before its trade is inserted
    market, buyer, seller, p, code = _committed_proposal("late-freeze")
    write = neg.entries_write

    def freeze_elsewhere_then_write(*args, **kwargs):
        def freeze():
            try:
                account_flags_set(seller.pk, frozen=True)  # its own connection: committed
            finally:
                connections.close_all()

        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(freeze).result(timeout=30)
        return write(*args, **kwargs)

    monkeypatch.setattr(neg, "entries_write", freeze_elsewhere_then_write)
    before = snapshot()
    # when the buyer confirms
    with pytest.raises(neg.ProposerCannotTrade):
        neg.negotiated_confirm(actor=buyer.owner, proposal_id=p.pk, code=code)
    # then nothing traded and nothing moved: the proposal is open, its 500 shares reserved as before, and the freeze
    # (another's, committed) stays
    assert snapshot() == before and not Trade.objects.exists()
    assert NegotiatedTrade.objects.get(pk=p.pk).status == "proposed"
    assert position_of(seller, market.security).reserved == 500 and cash_of(buyer).reserved == 0
    assert Account.objects.get(pk=seller.pk).frozen


@pytest.mark.django_db(transaction=True)
def test_concurrent_wrong_codes_each_count_and_the_fifth_withdraws():
    # (found by a probe: 30 wrong codes sent at once counted 2, each counted from the count read before the lock,
    # and the proposal stayed open to more guesses)
    market, buyer, seller, p, _code = _committed_proposal("guess")
    tries = 8
    barrier = threading.Barrier(tries)

    def guess(n):
        try:
            barrier.wait()
            neg.negotiated_confirm(actor=buyer.owner, proposal_id=p.pk, code=f"WRONG{n:03d}")
            return "ok"
        except err.DomainError as exc:
            return exc.code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=tries) as pool:
        results = list(pool.map(guess, range(tries)))

    # then five were counted wrong (the fifth withdrawing it), the rest found it closed, and nothing traded
    assert sorted(results) == ["proposal_not_open"] * (tries - 5) + ["wrong_confirmation_code"] * 5, results
    p.refresh_from_db()
    assert (p.status, p.wrong_codes) == ("withdrawn", 5) and not Trade.objects.exists()
    assert position_of(seller, market.security).reserved == 0
    call_command("ledger_replay", "--check")


# --------------------------------------------------------------------------
# Pages: the investor's and the counter's


def _code_from_messages(response) -> str:
    import re

    text = " ".join(str(m) for m in response.context["messages"])
    return re.search(r"\b([A-Z2-9]{8})\b", text).group(1)


def test_investors_propose_and_confirm_on_the_page(parties, client):
    from tests.conftest import log_in

    market, buyer, seller = parties
    log_in(client, buyer.owner)
    page = client.get("/negotiated/")
    assert page.status_code == 200
    crid = page.context["propose_form"].initial["client_request_id"]
    form = {
        "action": "propose",
        "counterparty": seller.code,
        "security": market.security.code,
        "side": "buy",
        "quantity": "500",
        "price": "10.00",
        "client_request_id": crid,
    }
    resp = client.post("/negotiated/", form, follow=True)
    code = _code_from_messages(resp)
    p = NegotiatedTrade.objects.get()
    assert p.status == "proposed" and not p.proposed_at_counter
    assert f'data-proposal="{p.pk}"' in resp.content.decode()

    # the counterparty sees it awaiting; a wrong code is a form error that changes nothing
    client.logout()
    log_in(client, seller.owner)
    page = client.get("/negotiated/")
    assert [w.pk for w in page.context["waiting"]] == [p.pk]
    before = snapshot()
    resp = client.post("/negotiated/", {"action": "confirm", "proposal": p.pk, "code": "AAAA2222"})
    assert resp.status_code == 200 and resp.context["confirm_form"].errors["code"]
    # (found by a walk-through: it stood above the form, tied to no field) said on the code's box, tied to it
    assert not resp.context["confirm_form"].non_field_errors()
    assert f'aria-describedby="code-{p.pk}-error"' in resp.content.decode()
    assert snapshot() == before
    # and an empty code, or one far too long, is an error shown under that proposal's code field
    for wrong in ("", "A" * 3000):
        resp = client.post("/negotiated/", {"action": "confirm", "proposal": p.pk, "code": wrong})
        body = resp.content.decode()
        assert resp.status_code == 200 and resp.context["confirm_form"].errors["code"]
        assert f'id="code-{p.pk}-error"' in body and f'aria-describedby="code-{p.pk}-error"' in body
        assert str(resp.context["confirm_form"].errors["code"][0]) in body
    assert snapshot() == before

    resp = client.post("/negotiated/", {"action": "confirm", "proposal": p.pk, "code": code}, follow=True)
    p.refresh_from_db()
    assert p.status == "confirmed" and p.trade.mode == "negotiated"


def test_an_unknown_counterparty_is_said_on_its_field_and_what_was_typed_stays(parties, client):
    # (found by a walk-through: "There is no trading account with this code" stood above the form, tied to no field)
    from tests.conftest import log_in

    market, buyer, _seller = parties
    log_in(client, buyer.owner)
    client.cookies["django_language"] = "en"
    form = {
        "action": "propose",
        "counterparty": "INV999999",
        "security": market.security.code,
        "side": "buy",
        "quantity": "500",
        "price": "10.00",
        "client_request_id": "unknown-1",
    }
    before = snapshot()

    resp = client.post("/negotiated/", form)

    page = resp.content.decode()
    errors = resp.context["propose_form"].errors
    assert resp.status_code == 200 and errors == {"counterparty": ["There is no trading account with this code."]}
    box = re.search(r'<input[^>]*name="counterparty"[^>]*>', page).group()
    assert 'aria-invalid="true"' in box and "aria-describedby=" in box and 'value="INV999999"' in box
    described = re.search(r'aria-describedby="([^"]+)"', box).group(1).split()
    assert any(
        f'id="{d}"' in page and "There is no trading account" in page.split(f'id="{d}"')[1][:200] for d in described
    )
    assert snapshot() == before and not NegotiatedTrade.objects.exists()


def test_a_proposal_to_ones_own_account_is_said_on_the_counterparty_field(parties, client):
    # (found by a walk: "You cannot propose a trade to your own account." stood above the form, tied to no field)
    from tests.conftest import log_in

    market, buyer, _seller = parties
    log_in(client, buyer.owner)
    client.cookies["django_language"] = "en"
    form = {
        "action": "propose",
        "counterparty": buyer.code,
        "security": market.security.code,
        "side": "buy",
        "quantity": "500",
        "price": "10.00",
        "client_request_id": "self-1",
    }
    before = snapshot()

    resp = client.post("/negotiated/", form)

    errors = resp.context["propose_form"].errors
    assert resp.status_code == 200 and errors == {"counterparty": ["You cannot propose a trade to your own account."]}
    box = re.search(r'<input[^>]*name="counterparty"[^>]*>', resp.content.decode()).group()
    assert 'aria-invalid="true"' in box and f'value="{buyer.code}"' in box
    assert snapshot() == before and not NegotiatedTrade.objects.exists()


def test_the_counter_proposes_for_a_client_marked_as_counter_entered(parties, client):
    from tests.conftest import log_in

    market, buyer, seller = parties
    log_in(client, market.staff)
    url = f"/counter/{buyer.code}/negotiated/"
    page = client.get(url)
    assert page.status_code == 200 and page.context["at_counter"]
    form = {
        "action": "propose",
        "counterparty": seller.code,
        "security": market.security.code,
        "side": "buy",
        "quantity": "500",
        "price": "10.00",
        "client_request_id": "counter-1",
    }
    resp = client.post(url, form, follow=True)
    assert resp.status_code == 200
    p = NegotiatedTrade.objects.get()
    assert p.proposed_at_counter and p.proposed_by == market.staff and p.proposer_id == buyer.pk
    # and withdraws it
    client.post(url, {"action": "withdraw", "proposal": p.pk})
    p.refresh_from_db()
    assert p.status == "withdrawn" and p.closed_at_counter and cash_of(buyer).reserved == 0
    # another broker's client is not this staff member's
    assert client.get(f"/counter/{seller.code}/negotiated/").status_code == 404


def test_the_demo_call_makes_one_proposal_awaiting_the_counterparty(parties):
    # the call the demo data makes (DEMO: investor1 sells to investor2, waiting a week)
    market, buyer, seller = parties
    p, code, created = neg.negotiated_propose(
        actor=seller.owner,
        account=seller,
        request=neg.NegotiatedRequest(market.security.code, "sell", 100, D("10.00"), buyer.code, "demo-negotiated-1"),
        ttl=7 * 24 * 3600,
    )
    assert created and code and p.status == "proposed"
    assert p.expires_at - p.created_at == dt.timedelta(days=7)
    assert list(neg.negotiated_visible(buyer.owner).filter(counterparty=buyer, status="proposed")) == [p]


def test_a_proposal_never_outlives_the_session(settings):
    from registry.calendar import SHANGHAI

    settings.MARKET_ALWAYS_OPEN = False
    morning = dt.datetime(2026, 12, 2, 11, 20, tzinfo=SHANGHAI)  # a Wednesday, ten minutes before the break
    assert neg.expiry(morning) == dt.datetime(2026, 12, 2, 11, 30, tzinfo=SHANGHAI)
    early = dt.datetime(2026, 12, 2, 13, 5, tzinfo=SHANGHAI)
    assert neg.expiry(early) == early + dt.timedelta(minutes=30)


def test_the_database_refuses_a_closed_proposal_still_holding_cash_or_a_confirmed_one_without_trade(parties):
    from django.db import IntegrityError, transaction

    market, buyer, seller = parties
    out = propose(market, buyer, seller)
    for change in ({"status": "withdrawn", "closed_at": timezone.now()}, {"status": "confirmed", "reserved_cash": 0}):
        with pytest.raises(IntegrityError), transaction.atomic():
            NegotiatedTrade.objects.filter(pk=out["id"]).update(**change)


def test_the_trades_api_names_the_mode(parties):
    market, buyer, seller = parties
    out = propose(market, buyer, seller)
    neg.negotiated_confirm(actor=seller.owner, proposal_id=out["id"], code=out["code"])
    (trade,) = api_for(buyer.owner).get("/api/v1/trades/").json()["results"]
    assert (trade["mode"], trade["side"], trade["buy_order_id"]) == ("negotiated", "buy", None)


def test_a_counterparty_typed_in_lower_case_or_with_spaces_is_the_account_it_names(parties):
    # Given a buyer and a seller whose code is "INV…"
    market, buyer, seller = parties
    typed = f"  {seller.code.lower()} "

    # When the buyer proposes to the code as typed, then retries the same request with the code as printed
    typed_body = body(market, seller, counterparty=typed)
    created = api_for(buyer.owner).post("/api/v1/negotiated-trades/", typed_body, format="json")
    assert created.status_code == 201, created.json()
    first = created.json()
    retry = api_for(buyer.owner).post("/api/v1/negotiated-trades/", body(market, seller), format="json")

    # Then the proposal names the seller, and the retry is the same proposal, not a second one
    assert first["counterparty"]["account"] == seller.code
    assert retry.status_code == 200 and retry.json()["id"] == first["id"]


@pytest.mark.parametrize("what", ["level", "kyc_expired", "frozen"])
def test_a_refusal_of_the_proposers_account_at_confirmation_tells_the_counterparty_nothing_of_it(parties, what):
    # (found by a tester: the confirming party read "Your investor level is C…" of the other party; a freeze's reason
    # would have been read the same way)
    from django.utils import timezone

    from kyc.models import KycProfile

    market, buyer, seller = parties
    out = propose(market, buyer, seller)  # the buyer proposes; the seller confirms
    # given the proposer's account can no longer buy: its level lowered, its assessment expired, or frozen
    if what == "level":
        KycProfile.objects.filter(user=buyer.owner).update(risk_level=1)
        Security.objects.filter(pk=market.security.pk).update(risk_rating=3)
    elif what == "kyc_expired":
        KycProfile.objects.filter(user=buyer.owner).update(expires_at=timezone.now() - dt.timedelta(days=1))
    else:
        account_flags_set(buyer.pk, frozen=True)
    before = snapshot()
    # when the seller confirms
    resp = api_for(seller.owner).post(
        f"/api/v1/negotiated-trades/{out['id']}/confirm/", {"code": out["code"]}, format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )  # fmt: skip
    # then it is refused as the proposer's side, saying nothing of why, and nothing changed
    assert (resp.status_code, resp.json()["code"]) == (409, "proposer_cannot_trade"), resp.json()
    message = resp.json()["message"]
    assert message.startswith("The proposer's account cannot make this trade now")
    assert "level" not in message and "C1" not in message and "frozen" not in message.lower()
    assert snapshot() == before
    assert NegotiatedTrade.objects.get(pk=out["id"]).status == "proposed"


def test_a_refusal_of_the_confirming_partys_own_account_still_says_why(parties):
    from kyc.models import KycProfile

    market, buyer, seller = parties
    out = propose(market, seller, buyer, side="sell")  # the seller proposes; the buyer confirms
    KycProfile.objects.filter(user=buyer.owner).update(risk_level=1)
    Security.objects.filter(pk=market.security.pk).update(risk_rating=3)
    before = snapshot()
    resp = api_for(buyer.owner).post(
        f"/api/v1/negotiated-trades/{out['id']}/confirm/", {"code": out["code"]}, format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )  # fmt: skip
    assert (resp.status_code, resp.json()["code"]) == (403, "unsuitable_risk_level"), resp.json()
    assert resp.json()["message"].startswith("Your investor level is C1")
    assert snapshot() == before and NegotiatedTrade.objects.get(pk=out["id"]).status == "proposed"


@pytest.mark.parametrize(
    ("language", "shares", "cash"),
    [
        ("en", "The trade needs 5,000 shares; 1,000 are available.", "The trade needs 50,012.50 CNY including fees"),
        ("zh-hans", "该笔交易需要 5,000 股；可用股份为 1,000 股。", "该笔交易需要 50,012.50 元（含费用）"),
    ],
)
def test_a_side_short_of_cash_or_shares_is_told_of_the_trade_not_of_an_order(parties, language, shares, cash):
    # (found by a walk-through: a negotiated transfer short of shares read "该委托需要…", "the order needs")
    market, buyer, seller = parties
    before = snapshot()

    def refused(proposer, counterparty, side):
        response = api_for(proposer.owner).post(
            "/api/v1/negotiated-trades/",
            body(market, counterparty, side=side, quantity=5000, client_request_id=f"short-{side}"),
            format="json",
            HTTP_ACCEPT_LANGUAGE=language,
        )
        assert response.status_code == 409, response.json()
        return response.json()

    # when the seller proposes 5,000 of its 1,000 shares, and the buyer to buy 5,000 with its CNY 50,000
    short_of_shares = refused(seller, buyer, "sell")
    short_of_cash = refused(buyer, seller, "buy")

    # then each refusal speaks of the trade, in the reader's language, and nothing changed
    assert (short_of_shares["code"], short_of_shares["message"]) == ("insufficient_shares", shares)
    assert short_of_cash["code"] == "insufficient_cash" and short_of_cash["message"].startswith(cash)
    assert snapshot() == before
