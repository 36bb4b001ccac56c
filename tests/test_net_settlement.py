"""Net settlement (DvP model 3) against gross settlement of the same trades, and the depository's day around a
window: holds, standing instructions, freezes and halts between the match and the netting."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from balances.models import CashBalance, Position
from balances.replay import replay_check
from core.errors import DomainError
from core.models import Account
from exchange.models import Order, Trade
from exchange.services import OrderRequest, order_place
from ledger.models import Entry
from ledger.services import block_seal
from ledger.verification import ledger_verify
from registry.models import Security
from settlement.models import Settlement, SettlementBatch
from settlement.services import net_settle, trade_hold, trades_settle
from tests.conftest import build_market

TICK = Decimal("0.01")


def _balances(accounts: list[int], security: Security) -> dict:
    cash = {
        row.account_id: (row.total, row.reserved, row.frozen)
        for row in CashBalance.objects.filter(account_id__in=accounts)
    }
    shares = {
        row.account_id: (row.total, row.reserved, row.frozen, row.locked)
        for row in Position.objects.filter(account_id__in=accounts, security=security)
    }
    return {"cash": cash, "shares": shares}


def _statuses() -> dict[int, str]:
    return dict(Trade.objects.values_list("id", "status"))


order_steps = st.lists(
    st.tuples(
        st.integers(0, 2),  # which investor
        st.sampled_from(["buy", "sell"]),
        st.integers(1, 6),  # lots of 100
        st.integers(-15, 15),  # ticks from 10.00
        st.sampled_from(["IOC", "DAY"]),
    ),
    min_size=1,
    max_size=8,
)


def test_a_net_window_leaves_every_participant_as_gross_settlement_of_its_trades_would(db):
    # given a net-settled security, two brokers (two fee accounts), two market makers and three investors who
    # both buy and sell it (against the makers and against each other), all in one window
    market, other = build_market(), build_market()
    security = market.security
    Security.objects.filter(pk=security.pk).update(settlement_mode=Security.SettlementMode.NET)
    makers = [market.market_maker(cash="200000", shares=20_000) for _ in range(2)]
    investors = [market.investor(cash="60000", shares=2000), market.investor(cash="60000", shares=2000)]
    investors.append(other.investor(cash="60000"))
    other.issue(investors[2], 2000, security=security)
    fee_accounts = list(
        Account.objects.filter(kind=Account.Kind.FEE, broker__in=[market.broker, other.broker]).values_list(
            "pk", flat=True
        )
    )
    accounts = [a.pk for a in makers + investors] + fee_accounts

    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        spreads=st.tuples(st.integers(1, 12), st.integers(1, 12)),
        steps=order_steps,
        held=st.sets(st.integers(0, 20), max_size=2),
    )
    def window(spreads, steps, held):
        sid = transaction.savepoint()
        try:
            for mm, spread in zip(makers, spreads, strict=True):
                price = Decimal("10.00")
                market.quote(mm, str(price - spread * TICK), str(price + spread * TICK), 1500, 1500)
            for n, (i, side, lots, off, tif) in enumerate(steps):
                inv = investors[i]
                request = OrderRequest(security.code, side, lots * 100, Decimal("10.00") + off * TICK, tif, f"p{n}")
                try:
                    order_place(placed_by=inv.owner, account=inv, request=request)
                except DomainError:
                    pass
            block_seal()
            trades = list(Trade.objects.filter(status=Trade.Status.MATCHED).order_by("id").values_list("id", flat=True))
            held_ids = {trades[k % len(trades)] for k in held} if trades else set()
            for trade_id in held_ids:  # the depository holds a trade or two of the open window
                trade_hold(actor=market.depository, trade_id=trade_id, reason="look at it")
            open_reserved = {
                o.pk: (o.status, o.reserved_cash) for o in Order.objects.filter(status__in=Order.OPEN_STATUSES)
            }
            entries_before = Entry.objects.count()

            # when the window is netted
            netted = transaction.savepoint()
            result = net_settle(security_code=security.code)
            net_balances, net_statuses = _balances(accounts, security), _statuses()
            settled = set(Settlement.objects.values_list("trade_id", flat=True))
            batches = list(SettlementBatch.objects.all())
            written = Entry.objects.order_by("id")[entries_before:]
            new_entries = [(e.kind, json.loads(bytes(e.canonical))["payload"]) for e in written]
            replay_net = replay_check()
            transaction.savepoint_rollback(netted)
            # and, instead, the same trades settle gross one by one
            Security.objects.filter(pk=security.pk).update(settlement_mode=Security.SettlementMode.GROSS)
            assert trades_settle(trade_ids=trades) == len(trades) - len(held_ids)
            gross_balances, gross_statuses = _balances(accounts, security), _statuses()

            # then every participant's cash and shares, totals and reservations, are what gross gave (fees too)
            assert net_balances == gross_balances
            assert net_statuses == gross_statuses
            # each trade not held settled exactly once, in one batch with one SETTLEMENT entry naming them all
            assert settled == set(trades) - held_ids
            assert result.trades == len(settled)
            if settled:
                (batch,) = batches
                assert batch.trade_count == len(settled)
                assert [kind for kind, _ in new_entries] == ["SETTLEMENT"]
                assert sorted(new_entries[0][1]["trade_ids"]) == sorted(settled)
            else:
                assert not batches and not new_entries
            # the held trades still hold their reservations; the open orders theirs, unchanged
            assert all(net_statuses[t] == Trade.Status.HELD for t in held_ids)
            assert {
                o.pk: (o.status, o.reserved_cash) for o in Order.objects.filter(status__in=Order.OPEN_STATUSES)
            } == open_reserved
            assert replay_net == []
        finally:
            transaction.savepoint_rollback(sid)

    window()


def test_a_net_window_verifies_on_the_ledger_once_sealed(market, django_capture_on_commit_callbacks):
    # given a net window of a few trades both ways, settled and sealed
    Security.objects.filter(pk=market.security.pk).update(settlement_mode=Security.SettlementMode.NET)
    mm = market.market_maker()
    market.quote(mm, "9.95", "10.05")
    a = market.investor(cash="50000", shares=1000)
    for n, side in enumerate(["buy", "sell", "buy", "buy"]):
        price = "10.05" if side == "buy" else "9.95"
        order_place(
            placed_by=a.owner,
            account=a,
            request=OrderRequest(market.security.code, side, 100, Decimal(price), "IOC", f"v{n}"),
        )
    with django_capture_on_commit_callbacks(execute=True):
        block_seal()
        assert net_settle(security_code=market.security.code).trades == 4
        block_seal()

    # then the ledger verifies, the batch agreeing with its trades
    report = ledger_verify()
    assert report.ok, report.problems
    assert report.trades == 4
    assert Trade.objects.filter(status=Trade.Status.SETTLED).count() == 4


def _window(market, *, investor_cash="50000"):
    """A net-settled security with a window of three sealed trades of one investor against a market maker (two
    buys, one sale): (mm, investor)."""
    Security.objects.filter(pk=market.security.pk).update(settlement_mode=Security.SettlementMode.NET)
    mm = market.market_maker(cash="100000", shares=10_000)
    market.quote(mm, "9.90", "10.10")
    a = market.investor(cash=investor_cash, shares=1000)
    for n, (side, price) in enumerate([("buy", "10.10"), ("buy", "10.10"), ("sell", "9.90")]):
        order_place(
            placed_by=a.owner,
            account=a,
            request=OrderRequest(market.security.code, side, 100, Decimal(price), "IOC", f"w{n}"),
        )
    block_seal()
    return mm, a


def test_the_kill_switch_pauses_a_net_window_which_settles_whole_after_the_resume(market):
    from registry.services import market_halt, market_resume
    from tests.conftest import snapshot

    # given a sealed net window, and the market halted by its kill switch
    _mm, a = _window(market)
    operator = market.user("exchange_operator")
    market_halt(actor=operator, reason="incident")
    before = snapshot()

    # when the window closes, then nothing settles, nothing moves, and nothing is held
    assert net_settle(security_code=market.security.code).trades == 0
    assert snapshot() == before
    assert not Settlement.objects.exists()

    # and after the resume the whole window settles, once
    market_resume(actor=operator, reason="over")
    assert net_settle(security_code=market.security.code).trades == 3
    assert net_settle(security_code=market.security.code).trades == 0
    assert Settlement.objects.count() == 3
    assert replay_check() == []


def test_a_whole_account_freeze_approved_between_match_and_netting_keeps_what_it_froze(market):
    import datetime as dt

    from core.models import Role
    from supervision import services as sv

    # given a sealed net window in which the investor buys 200 and sells 100 shares
    _mm, a = _window(market)
    cash_before = CashBalance.objects.get(account=a)
    # and a whole-account freeze of the investor approved after the match, before the window closes
    r1, r2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    freeze = sv.freeze_propose(
        actor=r1,
        account=a.code,
        whole_account=True,
        reason="court",
        legal_reference="(2026) net window",
        legal_date=dt.date(2026, 11, 30),
    )
    sv.freeze_approve(actor=r2, freeze_id=freeze.pk)
    frozen = CashBalance.objects.get(account=a).frozen
    assert frozen == cash_before.total - cash_before.reserved

    # when the window closes, then the frozen account's trades made before the freeze settle, as gross ones would
    assert net_settle(security_code=market.security.code).trades == 3
    cash = CashBalance.objects.get(account=a)
    # it paid 2 × 1,015.00 and received 985.00 out of what its orders had reserved and what the sale brought
    assert cash.total == cash_before.total - Decimal("2030.00") + Decimal("985.00")
    assert cash.reserved == 0
    # and the freeze holds what it held, no more and no less: the sale's proceeds arrive unfrozen
    assert cash.frozen == frozen
    position = Position.objects.get(account=a, security=market.security)
    assert (position.total, position.reserved) == (1100, 0)
    assert replay_check() == []


@pytest.mark.django_db(transaction=True)
def test_duplicate_deliveries_and_two_workers_close_a_window_once_while_the_depository_refuses_a_trade():
    from settlement.services import trade_refuse
    from settlement.tasks import settle_net
    from tests.test_concurrency import assert_no_negative_available, run_concurrently

    # given a sealed net window of three trades, committed
    market = build_market()
    _mm, a = _window(market)
    first = Trade.objects.order_by("id").first()

    # when three deliveries of the window's task (two workers, a redelivery) and a refusal of one trade run at once
    results = run_concurrently(
        [
            settle_net,
            settle_net,
            lambda: net_settle(security_code=market.security.code).trades,
            lambda: trade_refuse(actor=market.depository, trade_id=first.pk, reason="wrong price"),
        ]
    )

    # then the window settled once, in one batch: with the refused trade left out, or with it if the refusal came
    # after (and was refused as not pending)
    refused = Trade.objects.get(pk=first.pk).status == Trade.Status.FAILED
    expected = 2 if refused else 3
    assert sorted(results[:3]) == [0, 0, expected]
    assert SettlementBatch.objects.count() == 1
    assert Settlement.objects.count() == expected == SettlementBatch.objects.get().trade_count
    assert Entry.objects.filter(kind="SETTLEMENT").count() == 1
    assert Settlement.objects.filter(trade_id=first.pk).exists() is not refused
    assert Trade.objects.filter(status=Trade.Status.MATCHED).count() == 0
    if not refused:
        assert getattr(results[3], "code", None) == "trade_not_pending"
    assert_no_negative_available()
    assert replay_check() == []


def test_the_depository_sees_why_a_net_window_cannot_settle_and_the_rest_settles_once_it_holds_the_cause(
    market, client
):
    from django.utils import translation

    from settlement.services import trade_release
    from settlement.tasks import settle_net
    from tests.conftest import log_in, snapshot
    from tests.test_settlement import _client_of_a_member_without_a_fee_account

    # given a net window in which one buyer is a client of a member whose fee account is not opened yet (its
    # commission has nowhere to go), and another buyer a client of a member with one
    Security.objects.filter(pk=market.security.pk).update(settlement_mode=Security.SettlementMode.NET)
    mm = market.market_maker(cash="100000", shares=10_000)
    market.quote(mm, "9.90", "10.10")
    buyer, stranded = market.investor(cash="50000"), _client_of_a_member_without_a_fee_account()
    for account in (stranded, buyer):
        order_place(
            placed_by=account.owner,
            account=account,
            request=OrderRequest(market.security.code, "buy", 100, Decimal("10.10"), "IOC", "nw"),
        )
    block_seal()
    stuck = Trade.objects.get(buyer=stranded)
    before = snapshot()

    # when the window closes, then nothing of it settles
    assert settle_net() == 0
    assert snapshot() == before

    # and the depository's monitor says which window waits, why (naming the account), and how many trades wait
    log_in(client, market.depository)
    page = client.get("/settlement/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Net windows that cannot settle" in page
    row = page.split(f'data-security="{market.security.code}"')[1].split("</tr>")[0]
    assert f"The broker of {stranded.code} has no fee account." in row
    assert '<td class="num">2</td>' in row
    # and its refresh every 3 s draws the same
    data = client.get("/settlement/data/", HTTP_ACCEPT_LANGUAGE="en").json()
    assert f"The broker of {stranded.code} has no fee account." in data["net_html"]
    assert data["net_key"].startswith(f"{market.security.code}:fee_account:{stranded.code}:2:")
    # in the reader's language (the worker's language is not the reader's)
    with translation.override("zh-hans"):
        page_zh = client.get("/settlement/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert f"{stranded.code} 所属券商没有佣金账户。" in page_zh

    # and the trade's own page says so to the depository, while the buyer of the other trade reads only that its
    # trade waits for the window (the reason names another participant)
    trade_page = client.get(f"/trades/{stuck.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "net settlement window" in trade_page
    assert f"The window cannot settle: The broker of {stranded.code} has no fee account." in trade_page
    from django.test import Client

    party = Client()
    party.force_login(buyer.owner)
    other = Trade.objects.get(buyer=buyer)
    party_page = party.get(f"/trades/{other.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "net settlement window" in party_page
    assert stranded.code not in party_page and "cannot settle" not in party_page

    # when the depository holds that buyer's trade, then the rest of the window settles at the next run
    trade_hold(actor=market.depository, trade_id=stuck.pk, reason="its broker has no fee account yet")
    assert settle_net() == 1
    assert Trade.objects.get(buyer=buyer).status == Trade.Status.SETTLED
    assert Trade.objects.get(pk=stuck.pk).status == Trade.Status.HELD
    # and the monitor no longer names the window
    page = client.get("/settlement/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Net windows that cannot settle" not in page
    data = client.get("/settlement/data/", HTTP_ACCEPT_LANGUAGE="en").json()
    assert (data["net_html"].strip(), data["net_key"]) == ("", "")

    # and once released, the held trade fails again alone, and is named again
    trade_release(actor=market.depository, trade_id=stuck.pk, reason="look again")
    assert settle_net() == 0
    page = client.get("/settlement/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    row = page.split(f'data-security="{market.security.code}"')[1].split("</tr>")[0]
    assert f"The broker of {stranded.code} has no fee account." in row and '<td class="num">1</td>' in row
    assert replay_check() == []


def test_a_paused_window_keeps_its_note_and_a_window_with_nothing_left_drops_it(market):
    from django.core.cache import cache

    from registry.services import market_halt, market_resume
    from settlement import net_windows
    from settlement.tasks import settle_net

    # given a net window noted as blocked by a participant that cannot pay
    _mm, a = _window(market)
    net_windows.window_failed(market.security.code, DomainError("x", account=a.code))
    key = net_windows.KEY.format(code=market.security.code)
    noted = cache.get(key)
    assert noted["why"] == net_windows.FEE_ACCOUNT and noted["account"] == a.code

    # when the market is halted and the window's turn comes, then the note stays (nothing was tried)
    operator = market.user("exchange_operator")
    market_halt(actor=operator, reason="incident")
    assert settle_net() == 0
    assert cache.get(key) == noted

    # and when the window settles after the resume, the note goes
    market_resume(actor=operator, reason="over")
    assert settle_net() == 3
    assert cache.get(key) is None


def test_a_correction_of_a_trade_settled_in_a_net_batch_verifies_on_the_ledger(
    market, django_capture_on_commit_callbacks
):
    from core.models import Role
    from supervision import services as sv

    # given a net window of three trades, settled and sealed
    _mm, a = _window(market)
    with django_capture_on_commit_callbacks(execute=True):
        assert net_settle(security_code=market.security.code).trades == 3
        block_seal()
    trade = Trade.objects.order_by("id").first()

    # when two regulators correct one of its trades (a reversal) and the correction is sealed
    r1, r2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    proposal = sv.correction_propose(actor=r1, trade_id=trade.pk, new_price=trade.price, new_quantity=0, reason="t")
    with django_capture_on_commit_callbacks(execute=True):
        sv.correction_approve(actor=r2, correction_id=proposal.pk)
        block_seal()

    # then the ledger still verifies, the batch and the correction each agreeing with the rows, and replays
    report = ledger_verify()
    assert report.ok, report.problems
    assert replay_check() == []
    assert Settlement.objects.filter(trade=trade, mode="net").count() == 1


# --------------------------------------------------------------------------
# A window blocked by several participants: each is named, on the monitor page and in its API.


def _window_blocked_by_four(market):
    """A net window of five sealed trades, four of which block it: two clients of members without a fee account
    (NEW1, NEW2) and a buyer that can no longer pay each buy 100 from the market maker, and a seller that can no
    longer deliver sells it 100; a fifth buyer could settle. The two balances are broken by hand (a superuser's
    rewrite: no service leaves an obligation its reservation does not cover). → (blockers' accounts, the good
    buyer)."""
    from django.db import connection

    from tests.test_settlement import _client_of_a_member_without_a_fee_account

    Security.objects.filter(pk=market.security.pk).update(settlement_mode=Security.SettlementMode.NET)
    mm = market.market_maker(cash="100000", shares=10_000)
    market.quote(mm, "9.90", "10.10")
    first, second = (_client_of_a_member_without_a_fee_account(member=m) for m in ("NEW1", "NEW2"))
    poor, seller, good = market.investor(cash="5000"), market.investor(shares=500), market.investor(cash="5000")
    for n, (account, side, price) in enumerate(
        [(first, "buy", "10.10"), (second, "buy", "10.10"), (poor, "buy", "10.10"), (seller, "sell", "9.90")]
        + [(good, "buy", "10.10")]
    ):
        order_place(
            placed_by=account.owner,
            account=account,
            request=OrderRequest(market.security.code, side, 100, Decimal(price), "IOC", f"n{n}"),
        )
    block_seal()
    with connection.cursor() as cur:
        cur.execute("UPDATE settlement_cashbalance SET total = 10, reserved = 0 WHERE account_id = %s", [poor.pk])
        cur.execute(
            "UPDATE settlement_position SET total = 50, reserved = 0 WHERE account_id = %s AND security_id = %s",
            [seller.pk, market.security.pk],
        )
    return [first, second, poor, seller], good


def test_a_window_blocked_by_several_participants_names_each_on_the_monitor_its_api_and_the_trades_page(market, client):
    from django.test import Client
    from django.utils import translation

    from settlement.tasks import settle_net
    from tests.conftest import api_for, log_in, snapshot

    # given a net window blocked by four participants, for three reasons
    (first, second, poor, seller), _good = _window_blocked_by_four(market)
    before = snapshot()

    # when the window closes
    assert settle_net() == 0

    # then nothing of it settled or moved
    assert snapshot() == before

    # and the depository's monitor names every one of them, a sentence a reason
    log_in(client, market.depository)
    page = client.get("/settlement/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    row = page.split(f'data-security="{market.security.code}"')[1].split("</tr>")[0]
    assert f"The brokers of {first.code}, {second.code} have no fee account." in row
    assert f"{poor.code} cannot pay its net obligation; nothing settled." in row
    assert f"{seller.code} cannot deliver its net obligation; nothing settled." in row
    assert '<td class="num">5</td>' in row
    # in the reader's language
    with translation.override("zh-hans"):
        page_zh = client.get("/settlement/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert f"{poor.code} 的资金不足以履行净额交收义务，本批成交均未交收。" in page_zh
    assert f"{first.code}、{second.code}" in page_zh  # a Chinese list
    # and its refresh every 3 s draws the same
    data = client.get("/settlement/data/", HTTP_ACCEPT_LANGUAGE="en").json()
    assert f"The brokers of {first.code}, {second.code} have no fee account." in data["net_html"]
    assert f"{seller.code} cannot deliver" in data["net_html"]

    # and the monitor's API lists the window, with each blocker, its reason code and since when, in UTC
    answer = api_for(market.depository).get("/api/v1/settlement/monitor/", HTTP_ACCEPT_LANGUAGE="en")
    assert answer.status_code == 200
    body = answer.json()
    assert [w["security"] for w in body["net_windows_blocked"]] == [market.security.code]
    (window,) = body["net_windows_blocked"]
    assert [(b["account"], b["reason_code"]) for b in window["blockers"]] == [
        (first.code, "fee_account"),
        (second.code, "fee_account"),
        (poor.code, "cash"),
        (seller.code, "shares"),
    ]
    assert window["trades_waiting"] == 5 and window["blockers_not_named"] == 0
    assert window["since"].endswith("Z") and window["last_tried_at"].endswith("Z")
    assert all(b["since"] == window["since"] for b in window["blockers"])
    assert f"{poor.code} cannot pay its net obligation" in window["reason"]
    assert body["awaiting_settlement"] == 5  # the monitor's figures are there as before

    # and the page of a trade of the window names them all to the depository, none to a party
    stuck = Trade.objects.get(buyer=poor)
    trade_page = client.get(f"/trades/{stuck.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f"The brokers of {first.code}, {second.code} have no fee account." in trade_page
    assert f"{seller.code} cannot deliver its net obligation" in trade_page
    party = Client()
    party.force_login(poor.owner)
    party_page = party.get(f"/trades/{stuck.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert seller.code not in party_page and "cannot settle" not in party_page


def test_a_window_leaves_the_monitors_api_once_it_settles_and_a_blocker_mended_is_no_longer_named(market):
    from settlement.tasks import settle_net
    from tests.conftest import api_for

    # given a net window blocked by four participants, noted as such
    blockers, good = _window_blocked_by_four(market)
    assert settle_net() == 0
    api = api_for(market.depository)

    def listed():
        return api.get("/api/v1/settlement/monitor/", HTTP_ACCEPT_LANGUAGE="en").json()["net_windows_blocked"]

    first_since = listed()[0]["since"]

    # when the depository holds the trades of three of them and the window closes again
    for account in blockers[:3]:
        trade = Trade.objects.get(buyer=account)
        trade_hold(actor=market.depository, trade_id=trade.pk, reason="blocks the window")
    assert settle_net() == 0

    # then the window names only the one left, still blocking since the first failure, and two trades wait
    (window,) = listed()
    assert [(b["account"], b["reason_code"]) for b in window["blockers"]] == [(blockers[3].code, "shares")]
    assert window["since"] == window["blockers"][0]["since"] == first_since
    assert window["trades_waiting"] == 2

    # and when the last one's trade is held too, then the rest settles and the window leaves the list
    trade_hold(actor=market.depository, trade_id=Trade.objects.get(seller=blockers[3]).pk, reason="cannot deliver")
    assert settle_net() == 1
    assert Trade.objects.get(buyer=good).status == Trade.Status.SETTLED
    assert listed() == []
    # and not a held trade settled
    assert Trade.objects.filter(status=Trade.Status.HELD).count() == 4


def test_blockers_beyond_those_a_note_names_are_counted_on_the_page_and_in_the_api(market, client, monkeypatch):
    from settlement import net_windows
    from settlement.tasks import settle_net
    from tests.conftest import api_for, log_in

    # given a note that names at most two blockers, and a window blocked by four
    monkeypatch.setattr(net_windows, "NAMED", 2)
    (first, second, poor, seller), _good = _window_blocked_by_four(market)

    # when the window closes
    assert settle_net() == 0

    # then the first two are named and the other two counted, on the page and in the API
    log_in(client, market.depository)
    page = client.get("/settlement/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    row = page.split(f'data-security="{market.security.code}"')[1].split("</tr>")[0]
    assert f"The brokers of {first.code}, {second.code} have no fee account." in row
    assert "2 more accounts block the window too; they are not named here." in row
    assert poor.code not in row and seller.code not in row
    (window,) = api_for(market.depository).get("/api/v1/settlement/monitor/").json()["net_windows_blocked"]
    assert [b["account"] for b in window["blockers"]] == [first.code, second.code]
    assert window["blockers_not_named"] == 2


@pytest.mark.parametrize("role", ["investor", "market_maker", "broker_staff"])
def test_a_role_that_may_not_see_the_monitor_is_refused_its_api_and_nothing_changes(market, role):
    from django.core.cache import cache

    from core.models import AuditEvent
    from settlement import net_windows
    from settlement.tasks import settle_net
    from tests.conftest import api_for, snapshot

    # given a net window noted as blocked
    _window_blocked_by_four(market)
    assert settle_net() == 0
    user = {
        "investor": lambda: market.investor().owner,
        "market_maker": lambda: market.market_maker().owner,
        "broker_staff": lambda: market.staff,
    }[role]()
    key = net_windows.KEY.format(code=market.security.code)
    note, before, audited = cache.get(key), snapshot(), AuditEvent.objects.count()

    # when a user of that role asks the monitor's API
    answer = api_for(user).get("/api/v1/settlement/monitor/", HTTP_ACCEPT_LANGUAGE="en")

    # then it is refused, naming no window, and nothing changed
    assert answer.status_code == 403
    assert answer.json()["code"] == "permission_denied"
    assert market.security.code not in answer.content.decode()
    assert cache.get(key) == note
    assert snapshot() == before
    assert AuditEvent.objects.count() == audited

    # while a supervisor who watches (a regulator) reads the window there, as the monitor's other figures
    regulator = market.user("regulator")
    (window,) = api_for(regulator).get("/api/v1/settlement/monitor/").json()["net_windows_blocked"]
    assert window["security"] == market.security.code and len(window["blockers"]) == 4
    assert cache.get(key) == note


def test_each_blocker_keeps_its_since_and_the_windows_is_the_earliest_of_those_left(market):
    import datetime as dt

    from settlement import net_windows

    code = market.security.code
    t0 = dt.datetime(2026, 12, 7, 1, 0, tzinfo=dt.UTC)

    def failed(at, *blocked):
        net_windows.window_failed(code, DomainError("x", blocked=list(blocked)), now=t0 + dt.timedelta(minutes=at))
        (window,) = net_windows.windows_blocked({code: 1})
        return window

    # given a window blocked by A since t0
    failed(0, (net_windows.CASH, "A"))

    # when it fails a minute later because of A and B, then A keeps its since and B's is now
    window = failed(1, (net_windows.CASH, "A"), (net_windows.SHARES, "B"))
    assert [(b.account, b.since) for b in window.blockers] == [("A", t0), ("B", t0 + dt.timedelta(minutes=1))]
    assert window.since == t0 and window.tried_at == t0 + dt.timedelta(minutes=1)

    # and when A is mended, then the window blocks since B did
    window = failed(2, (net_windows.SHARES, "B"))
    assert window.since == t0 + dt.timedelta(minutes=1)
    assert (window.why, window.account) == (net_windows.SHARES, "B")


def test_a_note_written_before_blockers_were_listed_reads_as_one_blocker(market):
    import datetime as dt

    from django.core.cache import cache

    from settlement import net_windows

    # given a note as the monitor wrote it before it listed blockers
    code, at = market.security.code, "2026-12-07T01:00:00+00:00"
    cache.set(
        net_windows.KEY.format(code=code),
        {"why": "cash", "account": "A", "since": at, "tried_at": at, "message": ""},
    )

    # when the monitor reads it, then it names that one blocker
    (window,) = net_windows.windows_blocked({code: 3})
    assert [(b.why, b.account) for b in window.blockers] == [("cash", "A")]
    assert window.others == 0 and window.since == dt.datetime.fromisoformat(at)

    # and a new failure with the same blocker keeps its since
    net_windows.window_failed(code, DomainError("x", blocked=[("cash", "A"), ("cash", "B")]))
    (window,) = net_windows.windows_blocked({code: 3})
    assert window.blockers[0].since == dt.datetime.fromisoformat(at) == window.since
