"""Securities move here from the exchange app. State only: the table keeps its name
(``exchange_security``) and every row, constraint and index."""

from decimal import Decimal
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("exchange", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="Security",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("code", models.CharField(max_length=16, unique=True)),
                        ("name", models.CharField(max_length=200)),
                        ("issuer", models.CharField(max_length=200)),
                        ("risk_rating", models.PositiveSmallIntegerField(help_text="R1 (lowest) … R5 (highest)")),
                        ("lot_size", models.PositiveIntegerField(default=100)),
                        ("tick_size", models.DecimalField(decimal_places=2, default=Decimal("0.01"), max_digits=14)),
                        ("reference_price", models.DecimalField(decimal_places=2, max_digits=14)),
                        ("band_pct", models.DecimalField(decimal_places=2, default=Decimal("30.00"), max_digits=5)),
                        ("max_holders", models.PositiveIntegerField(default=200)),
                        (
                            "status",
                            models.CharField(
                                choices=[("listed", "Listed"), ("halted", "Halted"), ("delisted", "Delisted")],
                                default="listed",
                                max_length=16,
                            ),
                        ),
                        ("mode_market_making", models.BooleanField(default=True)),
                        ("mode_rfq", models.BooleanField(default=True)),
                        ("mode_negotiated", models.BooleanField(default=True)),
                        (
                            "settlement_mode",
                            models.CharField(
                                choices=[("gross", "Gross"), ("net", "Net")], default="gross", max_length=8
                            ),
                        ),
                        ("qualified_only", models.BooleanField(default=False)),
                        ("min_holding_days", models.PositiveSmallIntegerField(default=0)),
                        ("issued_quantity", models.BigIntegerField(default=0)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        "db_table": "exchange_security",
                        "verbose_name_plural": "securities",
                        "ordering": ["code"],
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(("risk_rating__gte", 1), ("risk_rating__lte", 5)),
                                name="security_risk_1_5",
                            ),
                            models.CheckConstraint(
                                condition=models.Q(("lot_size__gt", 0)), name="security_lot_positive"
                            ),
                            models.CheckConstraint(
                                condition=models.Q(("tick_size__gt", 0)), name="security_tick_positive"
                            ),
                            models.CheckConstraint(
                                condition=models.Q(("reference_price__gt", 0)), name="security_ref_price_positive"
                            ),
                            models.CheckConstraint(
                                condition=models.Q(("band_pct__gt", 0), ("band_pct__lt", 100)),
                                name="security_band_0_100",
                            ),
                            models.CheckConstraint(
                                condition=models.Q(("issued_quantity__gte", 0)), name="security_issued_nonneg"
                            ),
                        ],
                    },
                ),
            ],
        ),
    ]
