"""DvP settlement on PostgreSQL: exact moves, exactly once, holds, refusals, net mode, replay."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from balances.replay import replay_check
from balances.services import cash_deposit
from core import errors as err
from core.errors import REASON_MAX_LENGTH, ReasonRequired, ReasonTooLong
from core.models import Account, Broker, Role, User
from demo.onboarding import approved_investor
from exchange.models import Trade
from exchange.services import OrderRequest, order_place
from ledger.models import Entry
from ledger.services import block_seal
from registry.models import Security
from settlement.models import Settlement
from settlement.services import (
    TradeNotHeld,
    TradeNotPending,
    net_settle,
    trade_hold,
    trade_refuse,
    trade_release,
    trade_settle,
    trades_settle,
)
from settlement.tasks import settle_net
from tests.conftest import cash_of, position_of, snapshot

D = Decimal


@pytest.fixture
def deal(market):
    """An investor bought 100 @ 10.10 from a market maker; the trade is sealed."""
    mm = market.market_maker(cash="100000", shares=10_000)
    market.quote(mm, "9.90", "10.10")
    buyer = market.investor(cash="50000")
    order_place(
        placed_by=buyer.owner,
        account=buyer,
        request=OrderRequest(market.security.code, "buy", 100, D("10.10"), "IOC", "deal"),
    )
    block_seal()
    fee_account = Account.objects.get(kind=Account.Kind.FEE, broker=market.broker)
    return market, mm, buyer, fee_account, Trade.objects.get()


def test_gross_settlement_moves_both_legs_and_the_fee_exactly(deal):
    market, mm, buyer, fee_account, trade = deal
    mm_cash, mm_shares = cash_of(mm).total, position_of(mm, market.security).total

    assert trade_settle(trade_id=trade.pk) is True

    # buyer paid 1010.00 + 5.00 fee; the market maker got 1010.00; the broker's fee account 5.00
    assert (cash_of(buyer).total, cash_of(buyer).reserved) == (D("48985.00"), D("0.00"))
    assert cash_of(mm).total == mm_cash + D("1010.00")
    assert cash_of(fee_account).total == D("5.00")
    assert position_of(buyer, market.security).total == 100
    assert position_of(mm, market.security).total == mm_shares - 100
    trade.refresh_from_db()
    assert trade.status == Trade.Status.SETTLED
    settlement = Settlement.objects.get(trade=trade)
    assert settlement.entry.kind == "SETTLEMENT"
    assert replay_check() == []


def test_a_seller_receives_the_value_less_the_fee(market):
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    seller = market.investor(shares=1000)
    order_place(
        placed_by=seller.owner,
        account=seller,
        request=OrderRequest(market.security.code, "sell", 1000, D("9.90"), "IOC", "s"),
    )
    block_seal()
    trade_settle(trade_id=Trade.objects.get().pk)
    # 1000 × 9.90 = 9900.00; fee max(2.475, 5.00) = 5.00
    assert cash_of(seller).total == D("9895.00")
    assert position_of(seller, market.security).total == 0
    assert replay_check() == []


def test_an_unsealed_trade_does_not_settle(market):
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    buyer = market.investor(cash="50000")
    order_place(
        placed_by=buyer.owner,
        account=buyer,
        request=OrderRequest(market.security.code, "buy", 100, D("10.10"), "IOC", "u"),
    )
    before = snapshot()
    assert trade_settle(trade_id=Trade.objects.get().pk) is False
    assert snapshot() == before


def test_settling_twice_moves_once(deal):
    _market, _mm, buyer, _fee, trade = deal
    trade_settle(trade_id=trade.pk)
    before = snapshot()
    assert trade_settle(trade_id=trade.pk) is False
    assert snapshot() == before
    assert Entry.objects.filter(kind="SETTLEMENT").count() == 1


def test_hold_delays_release_resumes(deal, market):
    _m, _mm, buyer, _fee, trade = deal
    csd = market.depository

    trade_hold(actor=csd, trade_id=trade.pk, reason="court enquiry 2026-118")
    assert trade_settle(trade_id=trade.pk) is False
    trade.refresh_from_db()
    assert trade.status == Trade.Status.HELD

    trade_release(actor=csd, trade_id=trade.pk, reason="enquiry closed")
    assert trade_settle(trade_id=trade.pk) is True
    kinds = list(Entry.objects.filter(kind__startswith="SETTLEMENT").order_by("id").values_list("kind", flat=True))
    assert kinds == ["SETTLEMENT_HOLD", "SETTLEMENT_RELEASE", "SETTLEMENT"]
    with pytest.raises(TradeNotHeld):
        trade_release(actor=csd, trade_id=trade.pk, reason="again")


def test_refusal_restores_both_sides_available_balances_exactly(market):
    mm = market.market_maker(cash="100000", shares=10_000)
    buyer = market.investor(cash="50000")
    # the balances before any trade (the quote's own reservation is part of the "before")
    market.quote(mm, "9.90", "10.10")
    buyer_available = cash_of(buyer).available
    mm_shares_available = position_of(mm, market.security).available
    mm_shares_reserved = position_of(mm, market.security).reserved
    order_place(
        placed_by=buyer.owner,
        account=buyer,
        request=OrderRequest(market.security.code, "buy", 100, D("10.10"), "IOC", "r"),
    )
    block_seal()
    trade = Trade.objects.get()

    trade_refuse(actor=market.depository, trade_id=trade.pk, reason="suspected wash trade")

    assert cash_of(buyer).available == buyer_available
    assert cash_of(buyer).reserved == 0
    # the market maker's 100 shares are free again (the quote itself was consumed by the fill)
    assert position_of(mm, market.security).reserved == mm_shares_reserved - 100
    assert position_of(mm, market.security).available == mm_shares_available + 100
    trade.refresh_from_db()
    assert trade.status == Trade.Status.FAILED
    assert Entry.objects.filter(kind="SETTLEMENT_FAILED").count() == 1
    assert trade_settle(trade_id=trade.pk) is False
    with pytest.raises(TradeNotPending):
        trade_refuse(actor=market.depository, trade_id=trade.pk, reason="again")
    assert replay_check() == []


def test_only_the_depository_holds_and_a_reason_is_required(deal, market):
    _m, _mm, buyer, _fee, trade = deal
    before = snapshot()
    with pytest.raises(err.PermissionDenied):
        trade_hold(actor=buyer.owner, trade_id=trade.pk, reason="mine")
    with pytest.raises(ReasonRequired):
        trade_refuse(actor=market.depository, trade_id=trade.pk, reason="  ")
    assert snapshot() == before


def test_a_reason_longer_than_the_api_takes_is_refused_by_the_service_too(deal, market):
    _m, _mm, _buyer, _fee, trade = deal
    before = snapshot()
    with pytest.raises(ReasonTooLong):
        trade_hold(actor=market.depository, trade_id=trade.pk, reason="x" * (REASON_MAX_LENGTH + 1))
    assert snapshot() == before
    assert trade_hold(actor=market.depository, trade_id=trade.pk, reason="x" * REASON_MAX_LENGTH).status == "held"


@pytest.fixture
def net_trades(market):
    """A net-mode security with three sealed trades of one investor against a market maker: (mm, investor)."""
    Security.objects.filter(pk=market.security.pk).update(settlement_mode=Security.SettlementMode.NET)
    mm = market.market_maker(cash="100000", shares=10_000)
    market.quote(mm, "9.90", "10.10")
    a = market.investor(cash="50000", shares=1000)
    for n, (side, price) in enumerate([("buy", "10.10"), ("buy", "10.10"), ("sell", "9.90")]):
        order_place(
            placed_by=a.owner,
            account=a,
            request=OrderRequest(market.security.code, side, 100, D(price), "IOC", f"n{n}"),
        )
    block_seal()
    return mm, a


def test_net_settlement_nets_per_account_and_writes_one_entry(market, net_trades):
    mm, a = net_trades
    mm_cash = cash_of(mm).total
    assert trade_settle(trade_id=Trade.objects.first().pk) is False  # net-mode trades wait for their window

    result = net_settle(security_code=market.security.code)

    assert result.trades == 3
    # a: pays 2 × (1010 + 5), receives 990 − 5 → −1045.00; +100 shares net
    assert cash_of(a).total == D("48955.00") and cash_of(a).reserved == 0
    assert position_of(a, market.security).total == 1100
    assert cash_of(mm).total == mm_cash + D("1030.00")
    assert Entry.objects.filter(kind="SETTLEMENT").count() == 1
    assert set(Trade.objects.values_list("status", flat=True)) == {"settled"}
    assert net_settle(security_code=market.security.code).trades == 0
    assert replay_check() == []


def test_replay_names_the_account_asset_and_both_values(deal, market):
    _m, _mm, buyer, _fee, trade = deal
    trade_settle(trade_id=trade.pk)
    from balances.models import CashBalance

    CashBalance.objects.filter(account=buyer).update(total=D("48984.99"))
    with pytest.raises(CommandError, match=f"{buyer.code} CNY total: ledger 48985.00, table 48984.99"):
        call_command("ledger_replay", "--check")


def _inflate_buyer_obligation(monkeypatch, which):
    """Make the buyer of each trade ``which`` picks owe 100,000.00 more; returns the real ``dvp._legs``."""
    from settlement import services as dvp

    real_legs = dvp._legs

    def inflated(trade, fee_accounts, **kwargs):  # kwargs: the net window's ``unpaid``
        legs = real_legs(trade, fee_accounts, **kwargs)
        if which(trade):
            legs.buyer_pays += D("100000.00")
        return legs

    monkeypatch.setattr(dvp, "_legs", inflated)
    return real_legs


def test_a_net_batch_settles_nothing_when_one_participant_cannot_pay(market, net_trades, monkeypatch):
    from settlement import services as dvp

    # given three sealed net-mode trades of one investor against a market maker
    _mm, a = net_trades
    first = Trade.objects.order_by("id").first()
    # and one obligation larger than everything the buyer holds (reservations make this impossible in
    # production; the service must still refuse the whole batch rather than settle part of it)
    real_legs = _inflate_buyer_obligation(monkeypatch, lambda trade: trade.pk == first.pk)
    before = snapshot()

    # when the window closes, then it fails naming the account, and no trade of the batch settled
    with pytest.raises(err.InsufficientCash, match=a.code):
        net_settle(security_code=market.security.code)
    assert snapshot() == before
    assert not Settlement.objects.exists()
    assert set(Trade.objects.values_list("status", flat=True)) == {"matched"}

    # and once the obligations are what they should be, the whole batch settles at once
    monkeypatch.setattr(dvp, "_legs", real_legs)
    assert net_settle(security_code=market.security.code).trades == 3
    assert Settlement.objects.count() == 3
    assert replay_check() == []


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "{account} cannot pay its net obligation; nothing settled."),
        ("zh-hans", "{account} 的资金不足以履行净额交收义务，本批成交均未交收。"),
    ],
    ids=["en", "zh-hans"],
)
def test_a_failed_net_batch_names_who_cannot_pay_in_the_active_language(
    market, net_trades, monkeypatch, language, message
):

    # given a net batch in which the investor owes more than it holds
    _mm, a = net_trades
    _inflate_buyer_obligation(monkeypatch, lambda trade: trade.buyer_id == a.pk)
    before = snapshot()

    # when the window closes in a language
    with translation.override(language), pytest.raises(err.InsufficientCash) as refused:
        net_settle(security_code=market.security.code)

    # then the refusal names the account in that language, and nothing settled
    assert refused.value.message == message.format(account=a.code)
    assert snapshot() == before
    assert not Settlement.objects.exists()


def test_gross_settlement_charges_bps_above_the_minimum_rounded_half_up_to_the_cent(market):
    # given the broker's 2.5 bps (minimum 5.00), a market maker quoting 9.90 / 9.96
    mm = market.market_maker(cash="1000000", shares=100_000)
    market.quote(mm, "9.90", "9.96", bid_qty=10_000, ask_qty=10_000)
    seller = market.investor(shares=2200)
    buyer = market.investor(cash="30000")
    fee_account = Account.objects.get(kind=Account.Kind.FEE, broker=market.broker)
    mm_cash, mm_shares = cash_of(mm).total, position_of(mm, market.security).total

    # when an investor sells 2,200 @ 9.90 and another buys 2,500 @ 9.96, and both settle
    order_place(
        placed_by=seller.owner,
        account=seller,
        request=OrderRequest(market.security.code, "sell", 2200, D("9.90"), "IOC", "s"),
    )
    order_place(
        placed_by=buyer.owner,
        account=buyer,
        request=OrderRequest(market.security.code, "buy", 2500, D("9.96"), "IOC", "b"),
    )
    block_seal()
    for trade in Trade.objects.order_by("id"):
        assert trade_settle(trade_id=trade.pk) is True

    # then 21,780.00 × 2.5 bps = 5.445 → 5.45 and 24,900.00 × 2.5 bps = 6.225 → 6.23, to the cent
    assert (cash_of(seller).total, cash_of(seller).reserved) == (D("21774.55"), D("0.00"))
    assert position_of(seller, market.security).total == 0
    assert (cash_of(buyer).total, cash_of(buyer).reserved) == (D("30000") - D("24906.23"), D("0.00"))
    assert position_of(buyer, market.security).total == 2500
    assert cash_of(fee_account).total == D("11.68")
    assert cash_of(mm).total == mm_cash - D("21780.00") + D("24900.00")
    assert position_of(mm, market.security).total == mm_shares + 2200 - 2500
    assert replay_check() == []


def test_replay_names_a_share_position_that_differs(deal, market, capsys):
    _m, mm, buyer, _fee, trade = deal
    trade_settle(trade_id=trade.pk)
    call_command("ledger_replay", "--check")
    assert "replay OK" in capsys.readouterr().out
    from balances.models import Position

    Position.objects.filter(account=buyer, security=market.security).update(total=101)

    expected = f"{buyer.code} {market.security.code} total: ledger 100, table 101"
    with pytest.raises(CommandError, match=expected):
        call_command("ledger_replay", "--check")
    assert expected in capsys.readouterr().err


# --------------------------------------------------------------------------
# Gross settlement in batches


@pytest.fixture
def gross_batch(market):
    """Four investors each bought 100 @ 10.10 from one market maker; the four trades are sealed in one block."""
    mm = market.market_maker(cash="100000", shares=10_000)
    market.quote(mm, "9.90", "10.10")
    buyers = [market.investor(cash="5000") for _ in range(4)]
    for n, buyer in enumerate(buyers):
        order_place(
            placed_by=buyer.owner,
            account=buyer,
            request=OrderRequest(market.security.code, "buy", 100, D("10.10"), "IOC", f"b{n}"),
        )
    block_seal()
    return mm, buyers, list(Trade.objects.order_by("id"))


def _rows_of(account, security):
    cash, position = cash_of(account), position_of(account, security)
    shares = (position.total, position.reserved) if position else (0, 0)
    return (cash.total, cash.reserved, *shares)


def test_a_batch_settles_each_trade_once_with_its_own_entry_in_a_fixed_number_of_statements(market, gross_batch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    mm, buyers, trades = gross_batch
    mm_cash = cash_of(mm).total

    # when the block's trades settle as one batch
    with CaptureQueriesContext(connection) as queries:
        assert trades_settle(trade_ids=[t.pk for t in trades]) == 4

    # then each buyer paid 1,010.00 + 5.00 fee and got 100 shares; the market maker (no fee) received 4 × 1,010
    for buyer in buyers:
        assert _rows_of(buyer, market.security) == (D("3985.00"), 0, 100, 0)
    assert cash_of(mm).total == mm_cash + 4 * D("1010.00")
    # and each trade has its own settlement and gross SETTLEMENT entry
    settlements = list(Settlement.objects.select_related("entry").order_by("trade_id"))
    assert [s.trade_id for s in settlements] == [t.pk for t in trades]
    assert len({s.entry_id for s in settlements}) == 4
    assert all(s.mode == "gross" and s.entry.kind == "SETTLEMENT" for s in settlements)
    assert set(Trade.objects.values_list("status", flat=True)) == {"settled"}
    assert replay_check() == []
    # in one statement a step, none per trade (14 with the savepoint, for any number of trades)
    # (one of them the notifications' outbox record of the batch, written with it)
    assert len(queries) <= 14, [q["sql"][:100] for q in queries]

    # and settling the batch again moves nothing
    before = snapshot()
    assert trades_settle(trade_ids=[t.pk for t in trades]) == 0
    assert snapshot() == before


def test_one_unsettleable_trade_of_a_batch_fails_alone_and_the_others_settle(market, gross_batch, monkeypatch):
    # given a batch of four sealed trades, the second of which its buyer cannot pay
    # (reservations make this impossible in production; the batch must still not settle it, nor fail the others)
    mm, buyers, trades = gross_batch
    bad = trades[1]
    real_legs = _inflate_buyer_obligation(monkeypatch, lambda trade: trade.pk == bad.pk)
    bad_buyer = next(b for b in buyers if b.pk == bad.buyer_id)
    bad_rows = _rows_of(bad_buyer, market.security)
    mm_cash = cash_of(mm).total

    # when the batch settles
    settled = trades_settle(trade_ids=[t.pk for t in trades])

    # then the three others settled, each with its own entry
    assert settled == 3
    assert dict(Trade.objects.values_list("id", "status")) == {
        t.pk: ("matched" if t.pk == bad.pk else "settled") for t in trades
    }
    assert sorted(Settlement.objects.values_list("trade_id", flat=True)) == [t.pk for t in trades if t.pk != bad.pk]
    assert Entry.objects.filter(kind="SETTLEMENT").count() == 3
    assert cash_of(mm).total == mm_cash + 3 * D("1010.00")
    # and nothing of the unsettleable trade moved: its buyer's cash and shares, reservations included
    assert _rows_of(bad_buyer, market.security) == bad_rows
    assert replay_check() == []

    # and once its obligation is what it should be, it settles alone, once
    monkeypatch.setattr("settlement.services._legs", real_legs)
    assert trades_settle(trade_ids=[t.pk for t in trades]) == 1
    assert Settlement.objects.count() == 4
    assert _rows_of(bad_buyer, market.security) == (D("3985.00"), 0, 100, 0)
    assert replay_check() == []


def test_a_batch_leaves_held_net_and_unsealed_trades_as_they_are(market, gross_batch):
    mm, buyers, trades = gross_batch
    # given one trade of the batch held by the depository, and a later trade not sealed yet
    trade_hold(actor=market.depository, trade_id=trades[0].pk, reason="check")
    late = market.investor(cash="5000")
    order_place(
        placed_by=late.owner,
        account=late,
        request=OrderRequest(market.security.code, "buy", 100, D("10.10"), "IOC", "late"),
    )
    unsealed = Trade.objects.get(buyer=late)

    # when the batch of all of them settles
    assert trades_settle(trade_ids=[t.pk for t in trades] + [unsealed.pk]) == 3

    # then the held and the unsealed trade wait, untouched
    assert Trade.objects.get(pk=trades[0].pk).status == "held"
    assert Trade.objects.get(pk=unsealed.pk).status == "matched"
    assert not Settlement.objects.filter(trade_id__in=[trades[0].pk, unsealed.pk]).exists()
    assert _rows_of(late, market.security)[2] == 0


@pytest.mark.django_db(transaction=True)
def test_settling_a_first_buy_while_an_order_holds_the_security_does_not_deadlock():
    import threading
    import time

    from django.db import connections, transaction

    from balances.services import cash_lock
    from exchange.services.book import lock_security
    from tests.conftest import build_market

    # given a sealed first buy of an investor (no position in the security yet: settlement creates it)
    market = build_market()
    mm = market.market_maker(cash="100000", shares=10_000)
    market.quote(mm, "9.90", "10.10")
    buyer = market.investor(cash="50000")
    order_place(
        placed_by=buyer.owner,
        account=buyer,
        request=OrderRequest(market.security.code, "buy", 100, D("10.10"), "IOC", "first"),
    )
    block_seal()
    trade = Trade.objects.get()
    assert position_of(buyer, market.security) is None
    locked, errors = threading.Event(), []

    def order_like():
        # an order of the same investor: the security's row first, then (a moment later) its cash row
        try:
            with transaction.atomic():
                lock_security(market.security.code)
                locked.set()
                time.sleep(0.5)
                cash_lock([buyer.pk])
        except Exception as exc:  # any failure is the finding
            errors.append(exc)
        finally:
            connections.close_all()

    def settle():
        try:
            locked.wait(5)
            trades_settle(trade_ids=[trade.pk])
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    # when the trade settles meanwhile (creating the buyer's position checks the security's row)
    threads = [threading.Thread(target=order_like), threading.Thread(target=settle)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)

    # then neither is chosen as a deadlock victim, and the trade settled once
    assert errors == []
    assert Trade.objects.get(pk=trade.pk).status == "settled"
    assert position_of(buyer, market.security).total == 100


def test_a_settled_batch_announces_its_trades_after_commit(market, gross_batch, django_capture_on_commit_callbacks):
    from settlement import hooks

    heard = []

    def listener(*, trade_ids):
        heard.append(trade_ids)

    hooks.trades_settled.register(listener)
    try:
        _mm, _buyers, trades = gross_batch
        # when the batch settles
        with django_capture_on_commit_callbacks(execute=True):
            assert trades_settle(trade_ids=[t.pk for t in trades]) == 4
        # then the listeners (notifications, the live pages) hear of every trade of it, once
        assert heard == [[t.pk for t in trades]]
    finally:
        hooks.trades_settled.listeners.remove(listener)


def test_the_task_that_seals_a_block_settles_its_trades_without_queuing_them(market, gross_batch, monkeypatch):
    from ledger.models import Block
    from settlement import tasks

    queued = []
    monkeypatch.setattr(tasks.settle_block, "delay", lambda *a, **kw: queued.append((a, kw)))
    monkeypatch.setattr(tasks.settle_trades, "delay", lambda *a, **kw: queued.append((a, kw)))
    monkeypatch.setattr(tasks.settle_net, "delay", lambda: None)  # the net window (none of these trades)
    mm, buyers, trades = gross_batch
    height = Block.objects.order_by("-height").values_list("height", flat=True).first()
    unrelated = market.investor(cash="700")
    before = _rows_of(unrelated, market.security)

    # when the seal task runs the settlement's after-seal hook for the block
    tasks.block_sealed(height)

    # then the block's trades settled there and then, and nothing was queued for them
    assert set(Trade.objects.filter(pk__in=[t.pk for t in trades]).values_list("status", flat=True)) == {"settled"}
    assert Settlement.objects.count() == 4
    assert all(_rows_of(b, market.security) == (D("3985.00"), 0, 100, 0) for b in buyers)
    assert queued == []
    # and nobody else's balances moved
    assert _rows_of(unrelated, market.security) == before


def test_a_block_that_cannot_settle_in_the_sealing_task_is_queued_instead(market, gross_batch, monkeypatch):
    from django.db import OperationalError

    from ledger.models import Block
    from settlement import services, tasks

    queued = []
    monkeypatch.setattr(tasks.settle_block, "delay", lambda *a, **kw: queued.append((a, kw)))
    monkeypatch.setattr(tasks.settle_net, "delay", lambda: None)

    def lost_connection(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(tasks, "trades_settle", lost_connection)
    _mm, _buyers, trades = gross_batch
    height = Block.objects.order_by("-height").values_list("height", flat=True).first()
    before = snapshot()

    # when settling inside the seal task fails
    tasks.block_sealed(height)

    # then the block's settlement is queued as its own task, and nothing moved or settled meanwhile
    assert queued == [((height,), {"share_out": True})]
    assert snapshot() == before
    assert set(Trade.objects.filter(pk__in=[t.pk for t in trades]).values_list("status", flat=True)) == {"matched"}
    assert services.trades_ready(block_height=height).count() == 4


def test_the_seal_task_settles_last_after_queuing_what_else_a_new_block_starts(monkeypatch, settings):
    from ledger import hooks
    from ledger import tasks as ledger_tasks
    from ledger.models import Block
    from ledger.services import SealResult
    from settlement import tasks

    # given settlement registered to run last (the other apps' hooks only queue work)
    assert tasks.block_sealed in hooks.after_seal_last and tasks.block_sealed not in hooks.after_seal
    # and a seal that makes a full block, with a witness to ask
    settings.LEDGER_WITNESSES = ["witness.test+00000000+AAAA http://witness.test"]
    order = []
    sealed = SealResult(block=Block(height=7), leaves=1, more_waiting=True)
    monkeypatch.setattr(ledger_tasks, "block_seal", lambda: sealed)
    monkeypatch.setattr(ledger_tasks.cosign, "delay", lambda: order.append("co-signing queued"))
    monkeypatch.setattr(ledger_tasks.seal, "delay", lambda: order.append("next seal queued"))
    monkeypatch.setattr(hooks, "after_seal", [lambda h: order.append(f"hook {h}")])
    monkeypatch.setattr(hooks, "after_seal_last", [lambda h: order.append(f"settle {h}")])

    # when the seal task runs
    assert ledger_tasks.seal() == 7

    # then settling, the long part, comes after every other hook and after the next seal and co-signing are
    # queued (a worker dying while it settles loses neither; the sweep settles what it left)
    assert order == ["hook 7", "co-signing queued", "next seal queued", "settle 7"]


def _client_of_a_member_without_a_fee_account(cash: str = "5000", member: str = "NEW1") -> Account:
    """A funded investor of a member firm whose fee account is not opened yet: its trades cannot settle (their
    commission has nowhere to go) until it is."""
    newcomer = Broker.objects.create(code=member, name=f"New Member {member}", fee_bps=D("2.5"), fee_minimum=D("5"))
    staff, checker = (
        User.objects.create_user(
            username=f"{member}-{n}", password="pw-test-2026", role=Role.BROKER_STAFF, broker=newcomer
        )
        for n in ("staff", "checker")
    )
    seq = 990000 + int(member[3:])
    client = approved_investor(username=f"{member}-client", broker=newcomer, maker=staff, checker=checker, seq=seq)
    cash_deposit(actor=staff, account=client, amount=D(cash))
    return client


def test_a_net_window_that_cannot_settle_does_not_keep_the_other_securities_windows_from_settling(market, caplog):
    # given two net-mode securities, each with one sealed trade of an investor buying from a market maker
    Security.objects.filter(pk=market.security.pk).update(settlement_mode=Security.SettlementMode.NET)
    first = market.new_security(f"A{market.security.code}", settlement_mode=Security.SettlementMode.NET)
    assert sorted([first.code, market.security.code])[0] == first.code  # its window closes first
    mm = market.market_maker(cash="100000", shares=10_000)
    market.issue(mm, 10_000, security=first)
    market.quote(mm, "9.90", "10.10")
    market.quote(mm, "9.90", "10.10", security=first)
    buyer = market.investor(cash="50000")
    # and the buyer in the first security a client of a member whose fee account is not opened yet, so that its
    # window cannot settle (the commission has nowhere to go)
    stranded = _client_of_a_member_without_a_fee_account()
    for account, security, coid in ((stranded, first, "first"), (buyer, market.security, "second")):
        order_place(
            placed_by=account.owner,
            account=account,
            request=OrderRequest(security.code, "buy", 100, D("10.10"), "IOC", coid),
        )
    block_seal()
    stuck, other = Trade.objects.get(security=first), Trade.objects.get(security=market.security)
    stuck_rows = _rows_of(stranded, first)

    # when the beat closes the net windows
    assert settle_net() == 1

    # then the other security's window settled, and the one that cannot waits, untouched, and is logged
    assert Trade.objects.get(pk=other.pk).status == "settled"
    assert _rows_of(buyer, market.security) == (D("48985.00"), 0, 100, 0)
    assert Trade.objects.get(pk=stuck.pk).status == "matched"
    assert not Settlement.objects.filter(trade=stuck).exists()
    assert _rows_of(stranded, first) == stuck_rows
    assert first.code in caplog.text
    assert replay_check() == []


def test_trades_that_cannot_settle_at_the_head_of_the_sweep_neither_hide_the_later_ones_nor_loop_it(
    market, monkeypatch
):
    from settlement import tasks

    # given a sweep that takes two trades at a time, and three sealed trades whose settle tasks were lost: the first
    # two of a client whose member has no fee account yet (they cannot settle), the third of another investor
    monkeypatch.setattr(tasks, "SWEEP_BATCH", 2)
    mm = market.market_maker(cash="100000", shares=10_000)
    market.quote(mm, "9.90", "10.10")
    stranded, buyer = _client_of_a_member_without_a_fee_account(), market.investor(cash="50000")
    for account, coid in ((stranded, "s1"), (stranded, "s2"), (buyer, "b1")):
        order_place(
            placed_by=account.owner,
            account=account,
            request=OrderRequest(market.security.code, "buy", 100, D("10.10"), "IOC", coid),
        )
    block_seal()
    stuck, later = list(Trade.objects.filter(buyer=stranded).order_by("id")), Trade.objects.get(buyer=buyer)
    queued = []
    monkeypatch.setattr(tasks.sweep, "delay", lambda *args, **kwargs: queued.append((args, kwargs)))

    # when the beat's sweep runs, and then the sweep it queues (at most five, as a worker would take them)
    settled = tasks.sweep()
    for _ in range(5):
        if not queued:
            break
        args, kwargs = queued.pop(0)
        settled += tasks.sweep(*args, **kwargs)

    # then the later trade settled, the two that cannot wait untouched, and the sweep stopped at the end
    assert settled == 1 and not queued
    assert Trade.objects.get(pk=later.pk).status == "settled"
    assert [Trade.objects.get(pk=t.pk).status for t in stuck] == ["matched", "matched"]
    assert _rows_of(buyer, market.security) == (D("48985.00"), 0, 100, 0)
    assert replay_check() == []


def _lost_buys(market, account: Account, *coids: str) -> list[Trade]:
    """``account``'s IOC buys of 100 at 10.10 from a market maker quoting 9.90 / 10.10, one per client order id,
    sealed, their settle tasks lost: nothing but the sweep settles them. The trades, in id order."""
    mm = market.market_maker(cash="100000", shares=10_000)
    market.quote(mm, "9.90", "10.10")
    for coid in coids:
        order_place(
            placed_by=account.owner,
            account=account,
            request=OrderRequest(market.security.code, "buy", 100, D("10.10"), "IOC", coid),
        )
    block_seal()
    return list(Trade.objects.filter(buyer=account).order_by("id"))


def _ttl(key: str) -> int:
    """Seconds left of a key of the cache (Redis)."""
    from django.core.cache import cache

    return cache._cache.get_client(key, write=False).ttl(cache.make_key(key))


def test_a_trade_that_cannot_settle_is_swept_again_only_after_a_back_off_that_doubles(market, monkeypatch, caplog):
    from django.core.cache import cache

    from settlement import sweeping, tasks

    # given a sealed trade of a client whose member has no fee account yet (it cannot settle), its task lost
    (stuck,) = _lost_buys(market, _client_of_a_member_without_a_fee_account(), "s1")
    tried = []
    real = tasks.trades_settle
    monkeypatch.setattr(tasks, "trades_settle", lambda **kw: tried.extend(kw["trade_ids"]) or real(**kw))

    # when the sweep runs: it tries the trade, which fails and is logged, and waits 5 s before the next try
    assert tasks.sweep() == 0
    assert tried == [stuck.pk] and f"trade {stuck.pk} cannot settle" in caplog.text
    assert 0 < _ttl(sweeping._gate(stuck.pk)) <= 5

    # when the sweep runs again within those 5 s: it does not try it, and logs nothing
    caplog.clear()
    assert tasks.sweep() == 0
    assert tried == [stuck.pk] and "cannot settle" not in caplog.text

    # when the wait is over (its key gone) and it fails again: it waits 10 s, then 20 s after a third failure
    cache.delete(sweeping._gate(stuck.pk))
    tasks.sweep()
    assert tried == [stuck.pk] * 2 and 5 < _ttl(sweeping._gate(stuck.pk)) <= 10
    cache.delete(sweeping._gate(stuck.pk))
    tasks.sweep()
    assert 10 < _ttl(sweeping._gate(stuck.pk)) <= 20

    # and the trade stays pending, untouched; no walk is left holding the sweep
    assert Trade.objects.get(pk=stuck.pk).status == "matched" and not Settlement.objects.filter(trade=stuck).exists()
    assert cache.get(sweeping.WALK_KEY) is None
    assert replay_check() == []


def test_opening_the_missing_fee_account_lets_the_next_sweep_try_every_trade_backed_off(
    market, monkeypatch, django_capture_on_commit_callbacks
):
    from django.core.cache import cache

    from balances.services import account_open
    from settlement import sweeping, tasks

    # given two sealed trades of a client whose member has no fee account, their tasks lost, each backed off three
    # times (20 s to wait), and a trade of another client backed off by itself
    client = _client_of_a_member_without_a_fee_account(cash="50000")
    stuck = _lost_buys(market, client, "s1", "s2")
    (other,) = _lost_buys(market, market.investor(cash="50000"), "o1")
    monkeypatch.setattr(tasks, "trades_settle", lambda **kw: kw["failed"].extend(kw["trade_ids"]) or 0)
    for _ in range(3):
        for trade in (*stuck, other):
            cache.delete(sweeping._gate(trade.pk))
        tasks.sweep()
    assert all(10 < _ttl(sweeping._gate(t.pk)) <= 20 for t in (*stuck, other))
    assert sweeping.due([t.pk for t in (*stuck, other)]) == []
    monkeypatch.undo()

    # when the member's fee account is opened (and committed)
    with django_capture_on_commit_callbacks(execute=True):
        account_open(kind=Account.Kind.FEE, name="New Member fees", broker=client.broker)

    # then no trade waits any more, and the next sweep settles them all
    assert sweeping.due([t.pk for t in (*stuck, other)]) == [t.pk for t in (*stuck, other)]
    assert tasks.sweep() == 3
    assert {Trade.objects.get(pk=t.pk).status for t in (*stuck, other)} == {"settled"}

    # and a trade failing after it starts its back-off afresh (5 s), its earlier failures forgotten
    (late,) = _lost_buys(market, _client_of_a_member_without_a_fee_account(member="NEW2"), "l1")
    tasks.sweep()
    assert Trade.objects.get(pk=late.pk).status == "matched" and 0 < _ttl(sweeping._gate(late.pk)) <= 5
    assert replay_check() == []


def test_an_account_other_than_a_fee_account_forgives_no_back_off(market, django_capture_on_commit_callbacks):
    from balances.services import account_open
    from settlement import sweeping, tasks

    # given a trade backed off for want of its member's fee account
    (stuck,) = _lost_buys(market, _client_of_a_member_without_a_fee_account(), "s1")
    tasks.sweep()
    assert sweeping.due([stuck.pk]) == []

    # when an investor's and a market maker's account are opened
    with django_capture_on_commit_callbacks(execute=True):
        account_open(kind=Account.Kind.INVESTOR, name="张三", owner=market.user(Role.INVESTOR), broker=market.broker)
        account_open(kind=Account.Kind.MARKET_MAKER, name="MM two", owner=market.user(Role.MARKET_MAKER))

    # then the trade still waits out its back-off
    assert sweeping.due([stuck.pk]) == []
    assert Trade.objects.get(pk=stuck.pk).status == "matched"


def test_a_sweep_started_while_another_walks_leaves_it_alone_and_the_next_one_settles(market):
    from django.core.cache import cache

    from settlement import sweeping, tasks

    # given a sealed trade whose settle task was lost, and a walk of the pending trades under way (its key held)
    (trade,) = _lost_buys(market, market.investor(cash="50000"), "b1")
    assert sweeping.walk_take(0)
    try:
        # when beat starts a sweep meanwhile, then it settles nothing (the walk under way will)
        assert tasks.sweep() == 0
        assert Trade.objects.get(pk=trade.pk).status == "matched"
        assert not sweeping.walk_take(0)
    finally:
        sweeping.walk_end()

    # when the walk has ended, the next sweep settles the trade and frees the key
    assert tasks.sweep() == 1
    assert Trade.objects.get(pk=trade.pk).status == "settled"
    assert cache.get(sweeping.WALK_KEY) is None


def test_a_page_settled_slower_than_the_walks_minute_keeps_its_key_until_it_ends(market, monkeypatch):
    # (found by a review: the key lasted a minute from the page's start, so a page the database took longer over let
    # the next run of beat start a second walk beside it)
    from django.core.cache import cache

    from settlement import sweeping, tasks

    # given four sealed trades whose settle tasks were lost, a walk's key of two seconds, chunks of one trade, and a
    # database that takes 0.6 s a chunk (2.4 s for the page; a chunk may take 1.4 s more on a busy machine before
    # the key lapses between two of them)
    buyer = market.investor(cash="50000")
    _lost_buys(market, buyer, "b1", "b2", "b3", "b4")
    monkeypatch.setattr(sweeping, "WALK_SECONDS", 2)
    monkeypatch.setattr(tasks, "SETTLE_CHUNK", 1)
    real, held = tasks.trades_settle, []

    def slow(**kwargs):
        time.sleep(0.6)
        held.append(cache.get(sweeping.WALK_KEY) is not None and not sweeping.walk_take(0))
        return real(**kwargs)

    monkeypatch.setattr(tasks, "trades_settle", slow)

    # when the sweep walks the page
    assert tasks.sweep() == 4

    # then at every chunk, the last ones past the key's first two seconds too, the key was held and no other walk
    # could start; and it is freed at the end
    assert held == [True, True, True, True]
    assert cache.get(sweeping.WALK_KEY) is None
    assert set(Trade.objects.filter(buyer=buyer).values_list("status", flat=True)) == {"settled"}


def test_a_sweep_whose_first_page_fails_to_be_read_frees_the_walk_for_its_retry(market, monkeypatch):
    from django.core.cache import cache
    from django.db import OperationalError

    from settlement import sweeping, tasks

    # given a sealed trade whose settle task was lost, and the database's connection lost as the sweep reads its page
    (trade,) = _lost_buys(market, market.investor(cash="50000"), "b1")
    real = tasks.trades_ready
    lost = [OperationalError("server closed the connection unexpectedly")]

    def ready(*args, **kwargs):
        if lost:
            raise lost.pop()
        return real(*args, **kwargs)

    monkeypatch.setattr(tasks, "trades_ready", ready)

    # when the sweep runs: it fails (the task retries it, autoretry_for OperationalError)
    with pytest.raises(OperationalError):
        tasks.sweep()

    # then the walk's key is not left held, and the retry settles the trade
    assert cache.get(sweeping.WALK_KEY) is None
    assert Trade.objects.get(pk=trade.pk).status == "matched"
    assert tasks.sweep() == 1
    assert Trade.objects.get(pk=trade.pk).status == "settled"
    assert cache.get(sweeping.WALK_KEY) is None


def test_a_sweep_that_cannot_queue_its_next_page_frees_the_walk(market, monkeypatch):
    from django.core.cache import cache
    from kombu.exceptions import OperationalError as BrokerDown

    from settlement import sweeping, tasks

    # given two sealed trades whose settle tasks were lost, pages of one trade, and the broker down
    buyer = market.investor(cash="50000")
    _lost_buys(market, buyer, "b1", "b2")
    monkeypatch.setattr(tasks, "SWEEP_BATCH", 1)

    def down(*args, **kwargs):
        raise BrokerDown("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.sweep, "delay", down)

    # when the sweep settles its first page and cannot queue the next
    with pytest.raises(BrokerDown):
        tasks.sweep()

    # then the first trade settled, the walk's key is free, and the next run of beat walks on
    assert sorted(Trade.objects.filter(buyer=buyer).values_list("status", flat=True)) == ["matched", "settled"]
    assert cache.get(sweeping.WALK_KEY) is None
    monkeypatch.setattr(tasks, "SWEEP_BATCH", 2000)
    assert tasks.sweep() == 1
    assert cache.get(sweeping.WALK_KEY) is None
