"""Races on real PostgreSQL with committed transactions (one connection per thread)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.db.models import Sum

from balances.models import CashBalance, Position
from core.errors import DomainError
from exchange.models import Order, Quote, Trade
from exchange.services import OrderRequest, order_place
from tests.conftest import build_market

pytestmark = pytest.mark.django_db(transaction=True)


def run_concurrently(fns):
    """Start every callable at the same moment, each on its own thread and DB connection."""
    barrier = threading.Barrier(len(fns))

    def call(fn):
        try:
            barrier.wait()
            return fn()
        except DomainError as exc:
            return exc
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(fns)) as pool:
        return list(pool.map(call, fns))


def assert_no_negative_available():
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM settlement_cashbalance WHERE total - reserved - frozen < 0")
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT count(*) FROM settlement_position WHERE total - reserved - frozen - locked < 0")
        assert cur.fetchone()[0] == 0


def test_twenty_concurrent_buyers_never_fill_more_than_the_quote():
    # given one ask of 1,000 shares and 20 buyers who each want 100
    market = build_market()
    mm = market.market_maker()
    ask = market.quote(mm, "9.90", "10.10", ask_qty=1000).ask
    buyers = [market.investor(cash="5000") for _ in range(20)]
    mm_shares_reserved = Position.objects.get(account=mm, security=market.security).reserved

    def buy(account):
        return lambda: order_place(
            placed_by=account.owner,
            account=account,
            request=OrderRequest(market.security.code, "buy", 100, Decimal("10.10"), "IOC", "race"),
        )

    # when they all buy at once
    results = run_concurrently([buy(b) for b in buyers])

    # then exactly 1,000 shares traded: ten buyers filled, ten cancelled with nothing
    orders = [order for order, _created in results]
    assert sum(o.filled_quantity for o in orders) == 1000
    assert sorted(o.status for o in orders) == ["cancelled"] * 10 + ["filled"] * 10
    ask.refresh_from_db()
    assert (ask.quantity, ask.status) == (0, Quote.Status.FILLED)
    assert Trade.objects.aggregate(q=Sum("quantity"))["q"] == 1000
    # each filled buyer holds exactly its obligation, each unfilled one holds nothing
    for order in orders:
        reserved = CashBalance.objects.get(account_id=order.account_id).reserved
        assert reserved == (Decimal("1015.00") if order.filled_quantity else Decimal("0.00"))
    # the market maker's share reservation is unchanged: the fills became obligations
    assert Position.objects.get(account=mm, security=market.security).reserved == mm_shares_reserved
    assert_no_negative_available()


def test_concurrent_orders_of_one_investor_never_overspend():
    # given an investor with cash for exactly two 100-share orders, across two securities
    market = build_market()
    other = market.new_security("S-RACE2")
    mm = market.market_maker()
    market.issue(mm, 50_000, security=other)
    market.quote(mm, "9.90", "10.10")
    market.quote(mm, "9.90", "10.10", security=other)
    investor = market.investor(cash="2030.00")  # 2 × (1010.00 + 5.00)

    def buy(code, n):
        return lambda: order_place(
            placed_by=investor.owner,
            account=investor,
            request=OrderRequest(code, "buy", 100, Decimal("10.10"), "DAY", f"o{n}"),
        )

    # when it sends eight orders at once
    results = run_concurrently([buy((market.security, other)[n % 2].code, n) for n in range(8)])

    # then two are accepted and six are refused for lack of cash
    accepted = [r for r in results if isinstance(r, tuple)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(accepted) == 2 and len(refused) == 6
    assert {e.code for e in refused} == {"insufficient_cash"}
    cash = CashBalance.objects.get(account=investor)
    assert (cash.total, cash.reserved) == (Decimal("2030.00"), Decimal("2030.00"))
    assert_no_negative_available()


def test_concurrent_retries_of_one_client_order_id_make_one_order():
    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="100000")

    def place():
        return order_place(
            placed_by=investor.owner,
            account=investor,
            request=OrderRequest(market.security.code, "buy", 100, Decimal("10.10"), "IOC", "retry-me"),
        )

    results = run_concurrently([place] * 6)

    assert len({order.pk for order, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert Order.objects.filter(account=investor).count() == 1
    assert Trade.objects.count() == 1


def _settlement_holding_the_market_makers_rows(market, mm, newcomer, held, release):
    """What settling a trade does, in the order it does it: the balance rows locked, a position created for an
    account new to the security (its foreign-key check on the security waits for the commit), then the commit."""
    from django.db import transaction

    def settle():
        try:
            with transaction.atomic():
                list(CashBalance.objects.select_for_update().filter(account=mm))
                list(Position.objects.select_for_update().filter(account=mm, security=market.security))
                Position.objects.create(account=newcomer, security=market.security)
                held.set()
                release.wait(10)
            return "committed"
        finally:
            connections.close_all()

    return settle


@pytest.mark.parametrize("action", ["quotes_pull", "freeze_approve"])
def test_a_supervisory_or_market_makers_lock_of_the_security_never_deadlocks_with_a_settlement(action):
    # (found by a probe: pulling quotes and approving a freeze locked the security FOR UPDATE, then waited for the
    # market maker's balance rows a settlement held; the settlement's commit checked its new position's foreign
    # key on the security (FOR KEY SHARE), and PostgreSQL broke the deadlock with a 500)
    import datetime as dt
    import time

    from core.models import Role
    from exchange.services import quotes_pull
    from supervision import services as sv

    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.00", "11.00")
    newcomer = market.investor(cash="1000")
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    legal = {"legal_authority": "Court", "legal_document": "(2026)1号", "legal_date": dt.date(2026, 11, 30)}
    freeze = sv.freeze_propose(
        actor=reg1, account=mm.code, security=market.security.code, quantity=10, reason="Court order", **legal
    )
    held, release = threading.Event(), threading.Event()
    settle = _settlement_holding_the_market_makers_rows(market, mm, newcomer, held, release)

    def act():
        try:
            if action == "quotes_pull":
                return quotes_pull(user=mm.owner)
            return sv.freeze_approve(actor=reg2, freeze_id=freeze.pk).status
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=2) as pool:
        settling = pool.submit(settle)
        assert held.wait(10)
        # given the settlement holds the rows, when the action locks the security and waits for them
        acting = pool.submit(act)
        time.sleep(0.5)
        waited = not acting.done()
        release.set()
        # then the settlement commits, and the action goes on after it: no deadlock on either side
        assert (waited, settling.result(10), acting.result(10)) == (
            True,
            "committed",
            2 if action == "quotes_pull" else "active",
        )
    assert Position.objects.filter(account=newcomer, security=market.security).exists()


def test_no_code_locks_a_security_row_for_update_with_its_key():
    # Every lock of a security row is FOR NO KEY UPDATE (as exchange.services.book.lock_security): FOR UPDATE
    # blocks the foreign-key checks of the positions and trades that refer to it, and deadlocks with settlement.
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parent.parent
    pattern = re.compile(r"Security\.objects\.select_for_update\((?!no_key=True)")
    found = [
        f"{path.relative_to(root)}:{n}"
        for path in root.glob("[a-z]*/**/*.py")
        if ".venv" not in path.parts and "tests" not in path.parts
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []


def _unfrozen(entry_id: int) -> list:
    import json

    from ledger.models import Entry

    return json.loads(bytes(Entry.objects.get(pk=entry_id).canonical))["payload"]["shares"]


def test_a_release_and_the_approval_of_a_forced_transfer_of_the_freeze_at_once_leave_one_consistent_state():
    # (found by a probe: the release won and the court's transfer was refused on approval) Given a freeze of 300
    # shares and a transfer of 100 of them waiting, when one regulator releases the freeze as another approves the
    # transfer: the transfer is carried out, and the release is either refused (the transfer still waited when it
    # looked) or, coming after it, frees exactly the 200 left; never a release that strands the transfer.
    import datetime as dt

    from balances.replay import replay_check
    from core.models import Role
    from supervision import services as sv
    from supervision.models import ForcedTransfer, Freeze

    market = build_market()
    market.quote(market.market_maker(), "9.90", "10.10")
    investor, receiver = market.investor(shares=1000), market.investor()
    reg1, reg2, reg3 = (market.user(Role.REGULATOR) for _ in range(3))
    legal = {"legal_authority": "Court", "legal_document": "(2026)1号", "legal_date": dt.date(2026, 11, 30)}
    outcomes = set()
    for round_ in range(3):
        freeze = sv.freeze_propose(
            actor=reg1, account=investor.code, security=market.security.code, quantity=300, reason="Order", **legal
        )
        freeze = sv.freeze_approve(actor=reg2, freeze_id=freeze.pk)
        transfer = sv.forced_transfer_propose(
            actor=reg1, freeze_id=freeze.pk, receiver=receiver.code, security=market.security.code, quantity=100,
            reason="Judgment", **legal,
        )  # fmt: skip

        released, approved = run_concurrently(
            [
                lambda f=freeze: sv.freeze_release(actor=reg3, freeze_id=f.pk, reason="Lifted"),
                lambda t=transfer: sv.forced_transfer_approve(actor=reg2, transfer_id=t.pk),
            ]
        )

        # then the transfer went through, whichever came first
        assert not isinstance(approved, DomainError), approved
        assert ForcedTransfer.objects.get(pk=transfer.pk).status == "executed"
        freeze.refresh_from_db()
        if isinstance(released, DomainError):
            assert released.code == "forced_transfer_pending"
            assert (freeze.status, freeze.held_quantity) == ("active", 200)
            sv.freeze_release(actor=reg3, freeze_id=freeze.pk, reason="Lifted")  # now it may go
        else:
            # after the approval: it freed the 200 left (UNFREEZE), and holds nothing now
            assert (freeze.status, freeze.held_quantity) == ("released", 0)
            assert _unfrozen(freeze.end_entry) == [{"security": market.security.code, "quantity": 200}]
        outcomes.add(type(released).__name__)
        # and the balances say so: the receiver has 100 more each round, nothing of the investor's stays frozen
        sender = Position.objects.get(account=investor, security=market.security)
        assert (sender.total, sender.frozen) == (1000 - 100 * (round_ + 1), 0)
        assert Position.objects.get(account=receiver, security=market.security).total == 100 * (round_ + 1)
    assert Freeze.objects.filter(status="active").count() == 0
    assert_no_negative_available()
    assert replay_check() == []
    assert outcomes <= {"ForcedTransferPending", "Freeze"}


def test_a_release_waiting_for_the_transfers_approval_sees_it_decided():
    # Given the approval of a transfer holding the freeze's row, a release of the freeze waits for it, and then
    # sees the transfer carried out: it releases what is left (the interleaving the race above may not hit).
    import datetime as dt
    import time

    from core.models import Role
    from supervision import services as sv
    from supervision.models import Freeze

    market = build_market()
    investor, receiver = market.investor(shares=1000), market.investor()
    reg1, reg2, reg3 = (market.user(Role.REGULATOR) for _ in range(3))
    legal = {"legal_authority": "Court", "legal_document": "(2026)1号", "legal_date": dt.date(2026, 11, 30)}
    freeze = sv.freeze_propose(
        actor=reg1, account=investor.code, security=market.security.code, quantity=300, reason="Order", **legal
    )
    freeze = sv.freeze_approve(actor=reg2, freeze_id=freeze.pk)
    transfer = sv.forced_transfer_propose(
        actor=reg1, freeze_id=freeze.pk, receiver=receiver.code, security=market.security.code, quantity=300,
        reason="Judgment", **legal,
    )  # fmt: skip
    held, go = threading.Event(), threading.Event()
    from supervision import hooks

    def approve():
        try:
            original = hooks.assets_moved.fire

            def wait_inside(**kw):  # inside the approval's transaction, the freeze's row locked
                held.set()
                assert go.wait(10)
                return original(**kw)

            hooks.assets_moved.fire = wait_inside
            try:
                return sv.forced_transfer_approve(actor=reg2, transfer_id=transfer.pk).status
            finally:
                hooks.assets_moved.fire = original
        finally:
            connections.close_all()

    def release():
        try:
            return sv.freeze_release(actor=reg3, freeze_id=freeze.pk, reason="Lifted").status
        except DomainError as exc:
            return exc.code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=2) as pool:
        approving = pool.submit(approve)
        assert held.wait(10)
        releasing = pool.submit(release)
        time.sleep(0.5)
        waited = not releasing.done()
        go.set()
        # the transfer took all 300: the freeze is used up, and the release says it is not active
        assert (waited, approving.result(10), releasing.result(10)) == (True, "executed", "freeze_not_active")
    assert Freeze.objects.get(pk=freeze.pk).status == "consumed"
    assert Position.objects.get(account=investor, security=market.security).frozen == 0


def test_a_transfer_proposed_in_the_instant_of_its_freezes_release_is_refused_and_nothing_is_stored():
    # (found by a review: the proposal read the freeze active without a lock, so a release committed between that
    # read and its insert left a transfer waiting on a released freeze)
    import datetime as dt
    from unittest import mock

    from core.models import Role
    from supervision import services as sv
    from supervision.models import ForcedTransfer, Freeze

    # given a freeze in force of 300 shares
    market = build_market()
    investor, receiver = market.investor(shares=1000), market.investor()
    reg1, reg2, reg3 = (market.user(Role.REGULATOR) for _ in range(3))
    legal = {"legal_authority": "Court", "legal_document": "(2026)1号", "legal_date": dt.date(2026, 11, 30)}
    freeze = sv.freeze_propose(
        actor=reg1, account=investor.code, security=market.security.code, quantity=300, reason="Order", **legal
    )
    freeze = sv.freeze_approve(actor=reg2, freeze_id=freeze.pk)
    position = Position.objects.get(account=investor, security=market.security)

    # when another regulator releases it (another connection, committed) after the proposal's checks read it
    # in force and before the proposal is stored
    checks = sv._receiver_checks

    def checks_then_release(*args, **kwargs):
        checks(*args, **kwargs)
        (released,) = run_concurrently([lambda: sv.freeze_release(actor=reg3, freeze_id=freeze.pk, reason="Lifted")])
        assert not isinstance(released, DomainError), released

    with mock.patch.object(sv, "_receiver_checks", checks_then_release), pytest.raises(DomainError) as refused:
        sv.forced_transfer_propose(
            actor=reg1, freeze_id=freeze.pk, receiver=receiver.code, security=market.security.code, quantity=100,
            reason="Judgment", **legal,
        )  # fmt: skip

    # then the proposal is refused as the freeze is no longer in force, and no transfer waits on it
    assert refused.value.code == "freeze_not_active"
    assert not ForcedTransfer.objects.exists()
    # and the release stands: the shares are free again, the investor's holding unchanged
    assert Freeze.objects.get(pk=freeze.pk).status == "released"
    after = Position.objects.get(account=investor, security=market.security)
    assert (after.total, after.frozen) == (position.total, 0)


def test_a_restriction_released_as_a_whole_account_freeze_is_approved_leaves_both_decided_and_the_flags_right():
    # Given a restricted account, one regulator releases the restriction while another approves a whole-account
    # freeze of it: neither waits for the other's locks until the freezes' trigger sets the account's flags
    # (supervision 0004). When the release holds the account's row (its flags written, not yet committed) as the
    # approval's trigger computes the flags, then both commit (found by a review: the approval's trigger wrote the
    # flags it had read before the release committed, and the account's own guard refused them: the approval
    # failed with a bare IntegrityError), and the account is frozen and no longer restricted.
    import datetime as dt
    import time

    from core.models import Account, Role
    from supervision import hooks
    from supervision import services as sv

    market = build_market()
    investor = market.investor(cash="1000", shares=100)
    reg1, reg2, reg3 = (market.user(Role.REGULATOR) for _ in range(3))
    legal = {"legal_authority": "Court", "legal_document": "(2026)1号", "legal_date": dt.date(2026, 11, 30)}
    restriction = sv.freeze_propose(actor=reg1, account=investor.code, trading=True, reason="Order", **legal)
    restriction = sv.freeze_approve(actor=reg2, freeze_id=restriction.pk)
    freeze = sv.freeze_propose(actor=reg1, account=investor.code, whole_account=True, reason="Order", **legal)
    held, go = threading.Event(), threading.Event()
    original = hooks.freeze_changed.fire

    def wait_inside(**kw):  # inside the release's transaction, after its trigger wrote the account's flags
        if kw.get("event") == "released":
            held.set()
            assert go.wait(10)
        return original(**kw)

    def release():
        try:
            return sv.freeze_release(actor=reg3, freeze_id=restriction.pk, reason="Lifted").status
        finally:
            connections.close_all()

    def approve():
        try:
            return sv.freeze_approve(actor=reg2, freeze_id=freeze.pk).status
        except Exception as exc:  # the failure is what the test reports
            return f"{type(exc).__name__}: {exc}"
        finally:
            connections.close_all()

    hooks.freeze_changed.fire = wait_inside
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            releasing = pool.submit(release)
            assert held.wait(10)
            approving = pool.submit(approve)
            time.sleep(0.5)
            waited = not approving.done()
            go.set()
            outcome = (waited, releasing.result(10), approving.result(10))
    finally:
        hooks.freeze_changed.fire = original
    # then both are decided, and the flags are what the freezes say: frozen, not restricted
    assert outcome == (True, "released", "active")
    assert Account.objects.filter(pk=investor.pk).values_list("frozen", "trading_restricted").get() == (True, False)
