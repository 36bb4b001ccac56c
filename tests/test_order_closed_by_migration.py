"""Upgrading an exchange whose orders kept only a sentence for why the exchange closed them (exchange 0021–0023):
the sentence becomes ``closed_by`` and its particulars, read in the reader's language."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import translation

from exchange.models import Order
from exchange.services import OrderRequest, order_place
from tests.conftest import build_market

BEFORE = [("exchange", "0020_trade_of_no_frozen_account")]
COLUMN_ONLY = [("exchange", "0021_order_closed_by")]

pytestmark = pytest.mark.django_db(transaction=True)


def _migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def _leaves():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def test_the_upgrade_sorts_the_orders_closed_before_and_old_workers_go_on_inserting():
    market = build_market()
    market.quote(market.market_maker(), "9.90", "10.10")
    investor = market.investor(cash="50000")
    rows = [
        order_place(
            placed_by=investor.owner,
            account=investor,
            request=OrderRequest(market.security.code, "buy", 100, Decimal("9.00"), "DAY", f"old-{i}"),
        )[0].pk
        for i in range(6)
    ]
    stored = {
        rows[0]: "Cancelled: the account is frozen by a legal order (freeze 17).",
        rows[1]: "已撤销：该账户已被依法冻结（冻结 4）。",
        rows[2]: "security change: lot_size 100 → 300; tick_size 0.01 → 0.05",
        rows[3]: "delisted: 发行人解散 Issuer wound up",
        rows[4]: "",  # the client's own cancel
    }
    # given the schema before closed_by, and orders closed then with what the code of then wrote
    _migrate(BEFORE)
    try:
        with connection.cursor() as cur:
            for pk, reason in stored.items():
                cur.execute(
                    "UPDATE exchange_order SET status = 'cancelled', reserved_cash = 0, closed_reason = %s"
                    " WHERE id = %s",
                    [reason, pk],
                )
            cur.execute("SELECT row_to_json(o)::jsonb FROM exchange_order o WHERE id = %s", [rows[5]])
            (open_before,) = cur.fetchone()
        # when the column is added, a worker of the old code still inserts orders without it
        _migrate(COLUMN_ONLY)
        with connection.cursor() as cur:
            cur.execute(
                "INSERT INTO exchange_order (account_id, security_id, side, limit_price, quantity, filled_quantity,"
                " time_in_force, status, client_order_id, reserved_cash, filled_value, fees, placed_by_id,"
                " closed_reason, created_at, updated_at)"
                " SELECT account_id, security_id, side, limit_price, quantity, 0, time_in_force, 'cancelled',"
                " 'old-worker', 0, 0, 0, placed_by_id, '', created_at, updated_at FROM exchange_order WHERE id = %s"
                " RETURNING id, closed_by",
                [rows[5]],
            )
            old_worker, its_closed_by = cur.fetchone()
        assert its_closed_by == ""
    finally:
        # and the exchange migrates to the end
        _migrate(_leaves())

    # then a freeze's sentence, in either language, is its number; a change's, its fields; a delisting's, the
    # operator's reason; the client's cancel and the open order are as they were
    got = {o.pk: (o.closed_by, o.closed_reason) for o in Order.objects.filter(pk__in=stored)}
    assert got == {
        rows[0]: ("account_frozen", "17"),
        rows[1]: ("account_frozen", "4"),
        rows[2]: ("security_changed", "lot_size 100 → 300; tick_size 0.01 → 0.05"),
        rows[3]: ("security_delisted", "发行人解散 Issuer wound up"),
        rows[4]: ("", ""),
    }
    with connection.cursor() as cur:
        cur.execute("SELECT row_to_json(o)::jsonb - 'closed_by' FROM exchange_order o WHERE id = %s", [rows[5]])
        (open_after,) = cur.fetchone()
    assert open_after == open_before
    assert Order.objects.get(pk=old_worker).closed_by == ""
    # and each reads as a sentence in the reader's language
    with translation.override("en"):
        assert Order.objects.get(pk=rows[1]).closed_reason_text() == (
            "Cancelled: the account is frozen by a legal order (freeze 4)."
        )
        assert Order.objects.get(pk=rows[2]).closed_reason_text() == (
            "Cancelled: the security changed (Lot size 100 → 300; Tick size 0.01 → 0.05) and the order no longer "
            "fits it."
        )
    with translation.override("zh-hans"):
        assert Order.objects.get(pk=rows[0]).closed_reason_text() == "已撤销：该账户已被依法冻结（冻结 17）。"
    # and the check is in place and validated: PostgreSQL refuses a value it does not know
    with connection.cursor() as cur:
        cur.execute("SELECT convalidated FROM pg_constraint WHERE conname = 'order_closed_by_known'")
        assert cur.fetchone() == (True,)
