"""The commission becomes the order's (one minimum an order, not a fill): each order carries what its fills cost
and paid. Orders filled before keep what their trades charged: both are summed from their trades."""

from decimal import Decimal
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0004_merge_0003_account_frozen_0003_broker_cash_limits"),
        ("exchange", "0014_drop_covered_fk_indexes"),
        ("registry", "0006_merge_0005_disclosure_0005_holiday"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="order",
            name="fees",
            field=models.DecimalField(decimal_places=2, default=Decimal("0.00"), max_digits=20),
        ),
        migrations.AddField(
            model_name="order",
            name="filled_value",
            field=models.DecimalField(decimal_places=2, default=Decimal("0.00"), max_digits=20),
        ),
        migrations.RunSQL(
            """
            UPDATE exchange_order o SET filled_value = t.value, fees = t.fees
            FROM (
                SELECT buy_order_id AS id, sum(round(price * quantity, 2)) AS value, sum(buyer_fee) AS fees
                FROM exchange_trade WHERE buy_order_id IS NOT NULL GROUP BY buy_order_id
                UNION ALL
                SELECT sell_order_id, sum(round(price * quantity, 2)), sum(seller_fee)
                FROM exchange_trade WHERE sell_order_id IS NOT NULL GROUP BY sell_order_id
            ) t
            WHERE o.id = t.id
            """,
            migrations.RunSQL.noop,
        ),
        migrations.AddConstraint(
            model_name="order",
            constraint=models.CheckConstraint(
                condition=models.Q(("fees__gte", 0), ("filled_value__gte", 0)), name="order_fills_cost_nonneg"
            ),
        ),
    ]
