"""What PostgreSQL itself refuses in the trading tables, whatever the Python above it does."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from exchange.models import Order, Quote, Trade
from exchange.services import OrderRequest, order_place
from tests.conftest import account_flags_set


@pytest.fixture
def filled(market):
    """An IOC buy filled against a market maker's ask: an order, a quote and a trade."""
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="5000")
    order, _ = order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest(market.security.code, "buy", 100, Decimal("10.10"), "IOC", "ioc-1"),
    )
    assert order.status == Order.Status.FILLED
    return order


@pytest.mark.parametrize(
    ("model", "change", "constraint"),
    [
        (Trade, {"status": "sealed"}, "trade_status_stored"),
        (Trade, {"status": "lost"}, "trade_status_stored"),
        (Order, {"status": "open", "filled_quantity": 0}, "order_ioc_never_rests"),
        (Order, {"status": "pending"}, "order_status_known"),
        (Quote, {"status": "frozen"}, "quote_status_known"),
        (Order, {"fees": Decimal("-1.00")}, "order_fills_cost_nonneg"),
        (Order, {"status": "cancelled", "filled_quantity": 0}, "order_unfilled_cost_nothing"),
        (Order, {"closed_by": "account_frozen", "closed_reason": "7"}, "order_closed_by_cancelled"),
    ],
)
def test_the_database_refuses_a_status_no_service_writes(filled, model, change, constraint):
    # given a row of each trading table; when a raw update gives it a status the services never write
    row = model.objects.order_by("id").first()
    before = model.objects.filter(pk=row.pk).values().get()
    with pytest.raises(IntegrityError) as refused, transaction.atomic():
        model.objects.filter(pk=row.pk).update(**change)

    # then PostgreSQL names the constraint and the row is as it was
    assert constraint in str(refused.value)
    assert model.objects.filter(pk=row.pk).values().get() == before


def test_a_listed_security_cannot_carry_a_halt_reason(filled):
    from registry.models import Security

    security = Security.objects.get(pk=filled.security_id)
    with pytest.raises(IntegrityError) as refused, transaction.atomic():
        Security.objects.filter(pk=security.pk).update(halt_reason="left over")
    assert "security_halt_reason_only_when_halted" in str(refused.value)
    assert Security.objects.get(pk=security.pk).halt_reason == ""


@pytest.mark.parametrize("party", ["buyer_id", "seller_id"])
def test_the_database_refuses_a_trade_of_a_frozen_account(filled, party):
    from ledger.models import EntryKind
    from ledger.services import entry_append

    trade = Trade.objects.get()
    values = Trade.objects.filter(pk=trade.pk).values().get()
    del values["id"]

    def another_trade():
        entry = entry_append(kind=EntryKind.HALT, payload={"reason": "a second trade's entry"})
        return Trade.objects.create(**(values | {"entry_id": entry.pk}))

    # given a path that writes a trade of an account without asking whether it is frozen: it is written while free
    with transaction.atomic():
        assert another_trade().pk
        transaction.set_rollback(True)
    # when the account is frozen, then PostgreSQL refuses the same trade, naming the rule, and nothing is written
    account_flags_set(values[party], frozen=True)
    with pytest.raises(IntegrityError) as refused, transaction.atomic():
        another_trade()
    assert "a trade of a frozen account" in str(refused.value)
    assert list(Trade.objects.values_list("pk", flat=True)) == [trade.pk]


def test_a_refusal_by_a_named_constraint_becomes_its_domain_error_and_no_other_does(filled):
    from core import errors as err
    from ledger.models import EntryKind
    from ledger.services import entry_append

    trade = Trade.objects.get()
    values = Trade.objects.filter(pk=trade.pk).values().get()
    del values["id"]

    def another_trade(**change):
        entry = entry_append(kind=EntryKind.HALT, payload={"reason": "a second trade's entry"})
        return Trade.objects.create(**(values | {"entry_id": entry.pk} | change))

    # given the buyer frozen after a path read it
    account_flags_set(values["buyer_id"], frozen=True)
    # when that path writes its trade under database_refusals, then the trigger's refusal, named by its constraint
    # (exchange migration 0020), is the domain error a service raises: account_frozen, a 409
    with pytest.raises(err.TradePartyFrozen) as refused, transaction.atomic(), err.database_refusals():
        another_trade()
    assert (refused.value.code, refused.value.status) == ("account_frozen", 409)
    assert isinstance(refused.value.__cause__, IntegrityError)
    # and a refusal by any other constraint stays the database's error (here the trade's price check)
    account_flags_set(values["buyer_id"], frozen=False)
    with pytest.raises(IntegrityError), transaction.atomic(), err.database_refusals():
        another_trade(price=-1)
    # and nothing was written
    assert list(Trade.objects.values_list("pk", flat=True)) == [trade.pk]
