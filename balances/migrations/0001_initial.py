"""Cash balances and positions move here from the settlement app. State only: the
tables keep their names (``settlement_cashbalance``, ``settlement_position``) and
every row and constraint; ``settlement/0003_move_out`` drops them from its state."""

import django.db.models.deletion
import django.db.models.expressions
from decimal import Decimal
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("core", "0001_initial"),
        ("registry", "0001_initial"),
        ("settlement", "0002_settlementaction_settlementbatch_settlement"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="CashBalance",
                    fields=[
                        (
                            "account",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.PROTECT,
                                primary_key=True,
                                related_name="cash",
                                serialize=False,
                                to="core.account",
                            ),
                        ),
                        ("total", models.DecimalField(decimal_places=2, default=Decimal("0.00"), max_digits=20)),
                        ("reserved", models.DecimalField(decimal_places=2, default=Decimal("0.00"), max_digits=20)),
                        ("frozen", models.DecimalField(decimal_places=2, default=Decimal("0.00"), max_digits=20)),
                    ],
                    options={
                        "db_table": "settlement_cashbalance",
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(("frozen__gte", 0), ("reserved__gte", 0), ("total__gte", 0)),
                                name="cash_parts_nonneg",
                            ),
                            models.CheckConstraint(
                                condition=models.Q(
                                    (
                                        "total__gte",
                                        django.db.models.expressions.CombinedExpression(
                                            models.F("reserved"), "+", models.F("frozen")
                                        ),
                                    )
                                ),
                                name="cash_available_nonneg",
                            ),
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="Position",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("total", models.BigIntegerField(default=0)),
                        ("reserved", models.BigIntegerField(default=0)),
                        ("frozen", models.BigIntegerField(default=0)),
                        ("locked", models.BigIntegerField(default=0)),
                        ("locked_until", models.DateField(blank=True, null=True)),
                        (
                            "account",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT, related_name="positions", to="core.account"
                            ),
                        ),
                        (
                            "security",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="positions",
                                to="registry.security",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "settlement_position",
                        "constraints": [
                            models.UniqueConstraint(fields=("account", "security"), name="position_one_per_holder"),
                            models.CheckConstraint(
                                condition=models.Q(
                                    ("frozen__gte", 0), ("locked__gte", 0), ("reserved__gte", 0), ("total__gte", 0)
                                ),
                                name="position_parts_nonneg",
                            ),
                            models.CheckConstraint(
                                condition=models.Q(
                                    (
                                        "total__gte",
                                        django.db.models.expressions.CombinedExpression(
                                            django.db.models.expressions.CombinedExpression(
                                                models.F("reserved"), "+", models.F("frozen")
                                            ),
                                            "+",
                                            models.F("locked"),
                                        ),
                                    )
                                ),
                                name="position_available_nonneg",
                            ),
                        ],
                    },
                ),
            ],
        ),
    ]
