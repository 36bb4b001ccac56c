"""An order, a quote, an acceptance of a firm answer or a confirmation of a negotiated proposal racing the approval
of a trading restriction or a whole-account freeze of its account, on PostgreSQL with real threads (one connection
each) and committed transactions.

Each interleaving is forced, not hoped for: one side is stopped at a named point of its own transaction (an
event it waits on), and the other is let go only once PostgreSQL shows it waiting for a lock
(``pg_stat_activity``), or once it has committed. Whatever the interleaving, the outcome is one of two:

* the order (quote) commits first: it was placed while the account could trade, and the approval closes it as
  it closes what the account had open (``supervision.services._trading_close``: the order cancelled, closed by
  the restriction or the freeze; the quote pulled), what it held released;
* the approval commits first: the order (quote) is refused with a 409 ``trading_restricted`` /
  ``account_frozen`` naming the regulator's reason, and writes nothing.

An acceptance or a confirmation that commits first makes its trade (the account could trade when it did), which
settles; one the approval beats is refused the same way, never as "insufficient cash" (a whole-account freeze
holds it all) or as "a party was frozen", and the request for quote or the proposal is left as the approval
leaves it; an acceptance the approval of its market maker's freeze beats reads the answer as no longer firm.

Never a resting order or an active quote of a blocked account once the approval has committed, never a 500, and
the reservations always what the open orders and quotes hold (``balances.replay.replay_check``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.db import connection, connections

from balances.replay import replay_check
from core.models import Account
from exchange.models import Order, Quote
from exchange.services import book as book_module
from exchange.services import orders as order_module
from exchange.services import quotes as quote_module
from supervision import hooks
from supervision import services as sv
from supervision.models import Freeze
from tests.conftest import api_for, cash_of, order_body, position_of

pytestmark = pytest.mark.django_db(transaction=True)

D = Decimal
LEGAL = {"legal_reference": "(2026)沪74执321号"}
REASON = "Suspected spoofing"
WAIT = 20  # seconds: a side that does not reach its point by then is a failure, not a hang
SCOPES = {"restriction": ("trading", "trading_restricted"), "freeze": ("whole_account", "account_frozen")}


class Side(threading.Thread):
    """One side of the race, on its own thread and its own database connection. ``pid`` is its backend's;
    ``outcome`` what it returned, or the exception it raised."""

    def __init__(self, name: str, fn: Callable[[], object]) -> None:
        super().__init__(name=name, daemon=True)
        self.fn, self.pid, self.outcome = fn, None, None
        self.connected = threading.Event()

    def run(self) -> None:
        try:
            with connection.cursor() as cur:
                cur.execute("SELECT pg_backend_pid()")
                self.pid = cur.fetchone()[0]
            self.connected.set()
            self.outcome = self.fn()
        except Exception as exc:  # the outcome is what the test asserts
            self.outcome = exc
        finally:
            connections.close_all()

    def result(self):
        self.join(WAIT)
        assert not self.is_alive(), f"{self.name} did not finish"
        return self.outcome


def start(name: str, fn: Callable[[], object]) -> Side:
    side = Side(name, fn)
    side.start()
    assert side.connected.wait(WAIT)
    return side


def waits_for_a_lock(side: Side) -> None:
    """Return once PostgreSQL shows ``side``'s backend waiting for a lock (a row's, or the market gate's)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        assert side.is_alive(), f"{side.name} finished without waiting: {side.outcome!r}"
        with connection.cursor() as cur:
            cur.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [side.pid])
            row = cur.fetchone()
        if row and row[0] == "Lock":
            return
        time.sleep(0.02)
    raise AssertionError(f"{side.name} never waited for a lock")


@dataclass
class Stop:
    reached: threading.Event
    go: threading.Event


@contextmanager
def stopped_in(owner, name: str, *, thread: str, after: bool = False) -> Iterator[Stop]:
    """``owner.name`` stops the thread named ``thread`` the first time it calls it, before the call (or, ``after``,
    once it returned), until ``go``; other threads pass."""
    real = getattr(owner, name)
    stop = Stop(threading.Event(), threading.Event())

    def stopping(*args, **kwargs):
        if threading.current_thread().name != thread or stop.reached.is_set():
            return real(*args, **kwargs)
        result = real(*args, **kwargs) if after else None
        stop.reached.set()
        assert stop.go.wait(WAIT)
        return result if after else real(*args, **kwargs)

    setattr(owner, name, stopping)
    try:
        yield stop
    finally:
        stop.go.set()
        setattr(owner, name, real)


@pytest.fixture
def race(sup):
    """``sup`` (two regulators, a market maker quoting 9.90 / 10.10, an investor with 1,000 shares and CNY 50,000),
    and a second security the market maker holds shares of and does not quote."""
    market, reg1, reg2, mm, investor = sup
    second = market.new_security("RACE2")
    market.issue(mm, 10_000, security=second)
    return market, reg1, reg2, mm, investor, second


def proposed(reg1, account: Account, scope: str) -> Freeze:
    return sv.freeze_propose(actor=reg1, account=account.code, reason=REASON, **{SCOPES[scope][0]: True}, **LEGAL)


def approving(reg2, freeze: Freeze) -> Callable[[], str]:
    return lambda: sv.freeze_approve(actor=reg2, freeze_id=freeze.pk).status


def placing(market, investor: Account, side: str, security=None) -> Callable[[], tuple[int, dict]]:
    """The investor's resting DAY order through the API (crossing nothing): a buy at 9.50 or a sale at 10.50."""
    body = order_body(
        market,
        security=(security or market.security).code,
        side=side,
        limit_price="9.50" if side == "buy" else "10.50",
        time_in_force="DAY",
        client_order_id=f"race-{side}",
    )

    def place():
        response = api_for(investor.owner).post("/api/v1/orders/", body, format="json")
        return response.status_code, response.json()

    return place


def publishing(market, mm: Account, security) -> Callable[[], tuple[int, dict]]:
    """The market maker's two-sided quote 9.80 / 10.20 through the API."""
    body = {"security": security.code, "bid_price": "9.80", "bid_quantity": 100, "ask_price": "10.20"}

    def publish():
        response = api_for(mm.owner).post("/api/v1/quotes/", {**body, "ask_quantity": 100}, format="json")
        return response.status_code, response.json()

    return publish


def assert_refused(outcome, scope: str) -> None:
    status, body = outcome
    assert (status, body.get("code")) == (409, SCOPES[scope][1]), body
    assert REASON in body["message"]


def assert_blocked_and_consistent(account: Account, scope: str) -> None:
    """The approval stands, the account has nothing open, and every reservation is what is open holds."""
    flags = Account.objects.filter(pk=account.pk).values_list("frozen", "trading_restricted").get()
    assert flags == ((True, False) if scope == "freeze" else (False, True))
    assert not Order.objects.filter(account=account, status__in=Order.OPEN_STATUSES).exists()
    assert not Quote.objects.filter(account=account, status=Quote.Status.ACTIVE).exists()
    assert replay_check() == []


# --------------------------------------------------------------------------
# An investor's order


ORDERS = [("buy", False), ("sell", False), ("buy", True)]  # True: in a security the investor holds none of
ORDER_IDS = ["buy", "sell", "buy-elsewhere"]


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize(("side", "elsewhere"), ORDERS, ids=ORDER_IDS)
def test_an_approval_committed_after_the_order_read_the_account_refuses_it(race, scope, side, elsewhere):
    market, reg1, reg2, _mm, investor, second = race
    freeze = proposed(reg1, investor, scope)
    cash_before = cash_of(investor).total
    # given an order that has read the investor's account free and not yet taken any lock
    with stopped_in(order_module, "lock_security", thread="order") as stop:
        order = start("order", placing(market, investor, side, second if elsewhere else None))
        assert stop.reached.wait(WAIT)
        # when the approval commits meanwhile
        assert start("approval", approving(reg2, freeze)).result() == "active"
        stop.go.set()
        # then the order is refused as blocked, with the regulator's reason, not as short of cash or a 500
        assert_refused(order.result(), scope)
    assert not Order.objects.filter(account=investor).exists()
    assert_blocked_and_consistent(investor, scope)
    assert cash_of(investor).total == cash_before


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize(("side", "elsewhere"), ORDERS, ids=ORDER_IDS)
def test_an_order_waiting_for_the_approvals_locks_is_refused_once_it_commits(race, scope, side, elsewhere):
    market, reg1, reg2, _mm, investor, second = race
    freeze = proposed(reg1, investor, scope)
    # given an approval that holds its locks, the account's flags written, not yet committed
    with stopped_in(hooks.freeze_changed, "fire", thread="approval") as stop:
        approval = start("approval", approving(reg2, freeze))
        assert stop.reached.wait(WAIT)
        # when the investor places an order: it reads the account still free, and waits for the approval's locks
        # (the security's, or, in a security the investor holds none of, its cash row's)
        order = start("order", placing(market, investor, side, second if elsewhere else None))
        waits_for_a_lock(order)
        stop.go.set()
        assert approval.result() == "active"
        # then, once the approval commits, the order is refused as blocked: the database refuses the row a
        # restriction would otherwise have let it write (exchange 0027)
        assert_refused(order.result(), scope)
    assert not Order.objects.filter(account=investor).exists()
    assert_blocked_and_consistent(investor, scope)


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize(("side", "elsewhere"), ORDERS, ids=ORDER_IDS)
def test_an_order_committed_while_the_approval_waits_is_closed_by_the_approval(race, scope, side, elsewhere):
    market, reg1, reg2, _mm, investor, second = race
    freeze = proposed(reg1, investor, scope)
    # given an order written under its locks, not yet committed
    with stopped_in(book_module.Book, "write", thread="order", after=True) as stop:
        order = start("order", placing(market, investor, side, second if elsewhere else None))
        assert stop.reached.wait(WAIT)
        # when the approval starts: it waits for the order's locks
        approval = start("approval", approving(reg2, freeze))
        waits_for_a_lock(approval)
        stop.go.set()
        # then the order is placed (the account could trade when it was), and rests until the approval goes on
        status, body = order.result()
        assert (status, body["status"]) == (201, "open"), body
        assert approval.result() == "active"
    # and the approval cancelled it, saying which freeze, and released what it held
    placed = Order.objects.get(pk=body["id"])
    closed_by = "trade_restricted" if scope == "restriction" else "account_frozen"
    assert (placed.status, placed.closed_by, placed.closed_reason) == ("cancelled", closed_by, str(freeze.pk))
    assert_blocked_and_consistent(investor, scope)
    cash = cash_of(investor)
    shares = position_of(investor, market.security)
    assert (cash.reserved, shares.reserved) == (0, 0)
    if scope == "freeze":  # and a freeze holds all of it, what the order held included
        assert (cash.frozen, shares.frozen) == (cash.total, shares.total)


# --------------------------------------------------------------------------
# A market maker's quote


@pytest.mark.parametrize("scope", SCOPES)
def test_a_quote_published_after_the_approval_committed_is_refused(race, scope):
    market, reg1, reg2, mm, _investor, second = race
    freeze = proposed(reg1, mm, scope)
    # given a publication that has read the desk account free and not yet taken any lock
    with stopped_in(quote_module, "lock_security", thread="quote") as stop:
        quote = start("quote", publishing(market, mm, second))
        assert stop.reached.wait(WAIT)
        # when the approval commits meanwhile
        assert start("approval", approving(reg2, freeze)).result() == "active"
        stop.go.set()
        # then the quote is refused as blocked, and nothing of it is written
        assert_refused(quote.result(), scope)
    assert not Quote.objects.filter(account=mm, security=second).exists()
    assert_blocked_and_consistent(mm, scope)


@pytest.mark.parametrize("scope", SCOPES)
def test_a_quote_waiting_for_the_approvals_locks_is_refused_once_it_commits(race, scope):
    market, reg1, reg2, mm, _investor, second = race
    freeze = proposed(reg1, mm, scope)
    with stopped_in(hooks.freeze_changed, "fire", thread="approval") as stop:
        approval = start("approval", approving(reg2, freeze))
        assert stop.reached.wait(WAIT)
        quote = start("quote", publishing(market, mm, second))
        waits_for_a_lock(quote)
        stop.go.set()
        assert approval.result() == "active"
        assert_refused(quote.result(), scope)
    assert not Quote.objects.filter(account=mm, security=second).exists()
    assert_blocked_and_consistent(mm, scope)


@pytest.mark.parametrize("scope", SCOPES)
def test_a_quote_committed_while_the_approval_waits_is_pulled_by_the_approval(race, scope):
    market, reg1, reg2, mm, _investor, second = race
    freeze = proposed(reg1, mm, scope)
    # given a quote in a security the market maker did not quote before, written under its locks, not committed
    with stopped_in(book_module.Book, "write", thread="quote", after=True) as stop:
        quote = start("quote", publishing(market, mm, second))
        assert stop.reached.wait(WAIT)
        approval = start("approval", approving(reg2, freeze))
        waits_for_a_lock(approval)
        stop.go.set()
        status, body = quote.result()
        assert status == 201, body
        # then the approval, which read the quoted securities before the quote committed, sees it under its locks,
        # starts again, and pulls it with the others
        assert approval.result() == "active"
    published = Quote.objects.filter(pk__in=[body["bid"]["id"], body["ask"]["id"]])
    assert sorted(published.values_list("status", flat=True)) == ["pulled", "pulled"]
    assert_blocked_and_consistent(mm, scope)
    assert cash_of(mm).reserved == 0 and position_of(mm, second).reserved == 0


# --------------------------------------------------------------------------
# An investor's acceptance of a market maker's firm answer (request for quote)


def answered(market, investor: Account, mm: Account, side: str):
    """The investor's request for quote of 100 shares, and the market maker's firm answer at 10.00."""
    from exchange.services import rfq as rfq_svc

    rfq, _ = rfq_svc.rfq_request(
        requested_by=investor.owner,
        account=investor,
        request=rfq_svc.RfqRequestInput(market.security.code, side, 100, f"race-{side}"),
    )
    answer = rfq_svc.rfq_answer(user=mm.owner, rfq_id=rfq.pk, price=D("10.00"), valid_seconds=120)
    return rfq, answer


def accepting(investor: Account, rfq, answer) -> Callable[[], tuple[int, dict]]:
    def accept():
        response = api_for(investor.owner).post(f"/api/v1/rfqs/{rfq.pk}/accept/", {"answer": answer.pk}, format="json")
        return response.status_code, response.json()

    return accept


def committed(account: Account, scope: str) -> None:
    """Return once the approval's flags of ``account`` are committed (read on this thread's own connection)."""
    column = "frozen" if scope == "freeze" else "trading_restricted"
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if Account.objects.filter(pk=account.pk, **{column: True}).exists():
            return
        time.sleep(0.02)
    raise AssertionError("the approval never committed")


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("side", ["buy", "sell"])
def test_an_approval_committed_after_the_acceptance_read_the_account_refuses_it(race, scope, side):
    from exchange.models import RfqAnswer, RfqRequest, Trade
    from exchange.services import rfq as rfq_module

    market, reg1, reg2, mm, investor, _second = race
    mm_before = (cash_of(mm).reserved, position_of(mm, market.security).reserved)  # its quote's
    rfq, answer = answered(market, investor, mm, side)
    freeze = proposed(reg1, investor, scope)
    # given an acceptance that has read the investor's account free (and holds the request's lock)
    with stopped_in(rfq_module, "lock_security", thread="accept") as stop:
        acceptance = start("accept", accepting(investor, rfq, answer))
        assert stop.reached.wait(WAIT)
        # when the approval commits meanwhile
        approval = start("approval", approving(reg2, freeze))
        committed(investor, scope)
        stop.go.set()
        # then the acceptance is refused as the investor's own account blocked, with the regulator's reason
        assert_refused(acceptance.result(), scope)
        assert approval.result() == "active"
    assert not Trade.objects.exists()
    # and the approval closed the request once the acceptance let it go, releasing the market maker's answer
    assert RfqRequest.objects.get(pk=rfq.pk).status == "cancelled"
    assert RfqAnswer.objects.get(pk=answer.pk).status == "released"
    assert_blocked_and_consistent(investor, scope)
    assert (cash_of(mm).reserved, position_of(mm, market.security).reserved) == mm_before


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("side", ["buy", "sell"])
def test_an_acceptance_committed_while_the_approval_waits_trades_and_the_approval_holds_the_rest(race, scope, side):
    from exchange.models import RfqAnswer, RfqRequest, Trade

    market, reg1, reg2, mm, investor, _second = race
    rfq, answer = answered(market, investor, mm, side)
    freeze = proposed(reg1, investor, scope)
    # given an acceptance whose trade is written under its locks, not yet committed
    with stopped_in(book_module.Book, "write", thread="accept", after=True) as stop:
        acceptance = start("accept", accepting(investor, rfq, answer))
        assert stop.reached.wait(WAIT)
        # when the approval starts: it waits for the acceptance's locks
        approval = start("approval", approving(reg2, freeze))
        waits_for_a_lock(approval)
        stop.go.set()
        # then the acceptance trades (the account could trade when it accepted), and the approval stands
        status, body = acceptance.result()
        assert (status, body["status"]) == (200, "accepted"), body
        assert approval.result() == "active"
    trade = Trade.objects.get()
    assert (trade.quantity, trade.price) == (100, D("10.00"))
    assert RfqRequest.objects.get(pk=rfq.pk).status == "accepted"
    assert RfqAnswer.objects.get(pk=answer.pk).status == "accepted"
    assert_blocked_and_consistent(investor, scope)
    if scope == "freeze":  # the freeze holds all the trade does not owe
        cash, shares = cash_of(investor), position_of(investor, market.security)
        assert (cash.frozen, shares.frozen) == (cash.total - cash.reserved, shares.total - shares.reserved)
        assert (cash.reserved > 0) == (side == "buy") and (shares.reserved > 0) == (side == "sell")


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("side", ["buy", "sell"])
def test_a_market_makers_approval_committed_after_the_acceptance_read_its_answer_reads_as_no_longer_firm(
    race, scope, side
):
    from exchange.models import RfqAnswer, RfqRequest, Trade
    from exchange.services import rfq as rfq_module

    market, reg1, reg2, mm, investor, _second = race
    rfq, answer = answered(market, investor, mm, side)
    investor_before = (cash_of(investor).reserved, position_of(investor, market.security).reserved)
    freeze = proposed(reg1, mm, scope)
    # given an acceptance that has read the market maker's answer, its account free (and holds the request's lock)
    with stopped_in(rfq_module, "lock_security", thread="accept") as stop:
        acceptance = start("accept", accepting(investor, rfq, answer))
        assert stop.reached.wait(WAIT)
        # when the approval of the market maker's freeze or restriction commits meanwhile
        approval = start("approval", approving(reg2, freeze))
        committed(mm, scope)
        stop.go.set()
        # then the investor reads the answer as no longer firm: nothing of the market maker's legal order (the
        # trade's trigger refused it as "a party was frozen"), nor its reason
        status, body = acceptance.result()
        assert (status, body.get("code")) == (409, "rfq_answer_not_firm"), body
        assert REASON not in body["message"]
        assert approval.result() == "active"
    assert not Trade.objects.exists()
    # and the approval released the answer once the acceptance let the request go; the request stays open
    assert RfqAnswer.objects.get(pk=answer.pk).status == "released"
    assert RfqRequest.objects.get(pk=rfq.pk).status == "open"
    assert (cash_of(investor).reserved, position_of(investor, market.security).reserved) == investor_before
    assert_blocked_and_consistent(mm, scope)


# --------------------------------------------------------------------------
# A counterparty's confirmation of a negotiated proposal


def confirming(account: Account, proposal, code: str) -> Callable[[], tuple[int, dict]]:
    def confirm():
        response = api_for(account.owner).post(
            f"/api/v1/negotiated-trades/{proposal.pk}/confirm/", {"code": code}, format="json"
        )
        return response.status_code, response.json()

    return confirm


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("side", ["buy", "sell"])
def test_an_approval_committed_after_the_confirmation_read_the_account_refuses_it(race, scope, side):
    from exchange.models import NegotiatedTrade, Trade
    from exchange.services import negotiated as negotiated_module
    from tests.supervision_fixtures import proposed as negotiated

    market, reg1, reg2, _mm, investor, _second = race
    other = market.investor(cash="50000", shares=1000)
    # given another investor's proposal to the investor, who buys (the other sells) or sells
    proposal, code, _ = negotiated(other, market.security, "sell" if side == "buy" else "buy", 100, investor, "neg")
    freeze = proposed(reg1, investor, scope)
    other_before = (cash_of(other).reserved, position_of(other, market.security).reserved)
    # and the investor's confirmation, which has read its account free and not yet taken any lock
    with stopped_in(negotiated_module, "lock_security", thread="confirm") as stop:
        confirmation = start("confirm", confirming(investor, proposal, code))
        assert stop.reached.wait(WAIT)
        # when the approval commits meanwhile
        assert start("approval", approving(reg2, freeze)).result() == "active"
        stop.go.set()
        # then the confirmation is refused as the investor's own account blocked, with the regulator's reason
        assert_refused(confirmation.result(), scope)
    assert not Trade.objects.exists()
    # and the proposal waits, the proposer's side still reserved for it (the proposer may not learn of the freeze)
    assert NegotiatedTrade.objects.get(pk=proposal.pk).status == "proposed"
    assert (cash_of(other).reserved, position_of(other, market.security).reserved) == other_before
    assert_blocked_and_consistent(investor, scope)


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("side", ["buy", "sell"])
def test_a_confirmation_committed_while_the_approval_waits_trades_and_the_approval_holds_the_rest(race, scope, side):
    from exchange.models import NegotiatedTrade, Trade
    from tests.supervision_fixtures import proposed as negotiated

    market, reg1, reg2, _mm, investor, _second = race
    other = market.investor(cash="50000", shares=1000)
    # given another investor's proposal to the investor, who buys (the other sells) or sells
    proposal, code, _ = negotiated(other, market.security, "sell" if side == "buy" else "buy", 100, investor, "neg")
    freeze = proposed(reg1, investor, scope)
    # and the investor's confirmation, its trade written under its locks, not yet committed
    with stopped_in(book_module.Book, "write", thread="confirm", after=True) as stop:
        confirmation = start("confirm", confirming(investor, proposal, code))
        assert stop.reached.wait(WAIT)
        # when the approval starts: it waits for the confirmation's locks
        approval = start("approval", approving(reg2, freeze))
        waits_for_a_lock(approval)
        stop.go.set()
        # then the confirmation trades (the account could trade when it confirmed), and the approval stands
        status, body = confirmation.result()
        assert (status, body["status"]) == (200, "confirmed"), body
        assert approval.result() == "active"
    trade = Trade.objects.get()
    assert trade.quantity == 100
    assert NegotiatedTrade.objects.get(pk=proposal.pk).status == "confirmed"
    assert_blocked_and_consistent(investor, scope)
    if scope == "freeze":  # the freeze holds all the trade does not owe
        cash, shares = cash_of(investor), position_of(investor, market.security)
        assert (cash.frozen, shares.frozen) == (cash.total - cash.reserved, shares.total - shares.reserved)
        assert (cash.reserved > 0) == (side == "buy") and (shares.reserved > 0) == (side == "sell")
