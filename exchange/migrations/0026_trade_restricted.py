"""A trading restriction (``supervision``, a freeze of scope ``trading``): ``Order.closed_by`` learns
``trade_restricted`` (the orders its approval cancels), replaced as 0025 did (``NOT VALID`` with the drop, then
validated on its own); and the trigger of 0020 refuses a trade of a restricted account as of a frozen one (the
backstop of every trading path; trades written before stay, and settle)."""

from django.db import migrations, models

BEFORE = ["", "security_changed", "security_delisted", "account_frozen", "venue_rules"]
AFTER = [*BEFORE, "trade_restricted"]


def _replace(values: list[str]) -> str:
    return (
        "ALTER TABLE exchange_order DROP CONSTRAINT order_closed_by_known,"
        " ADD CONSTRAINT order_closed_by_known CHECK (closed_by IN ("
        + ", ".join(f"'{v}'" for v in values)
        + ")) NOT VALID"
    )


VALIDATE = "ALTER TABLE exchange_order VALIDATE CONSTRAINT order_closed_by_known"


def _guard(condition: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION exchange_trade_no_frozen_account() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_trades t JOIN exchange_account a ON a.id IN (t.buyer_id, t.seller_id)
               WHERE {condition}) THEN
        RAISE EXCEPTION 'a trade of a frozen account'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'trade_no_frozen_account';
    END IF;
    RETURN NULL;
END;
$$;
"""


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("exchange", "0025_order_closed_by_venue_rules"), ("core", "0006_trading_restriction")]

    operations = [
        migrations.AlterField(
            model_name="order",
            name="closed_by",
            field=models.CharField(
                blank=True,
                choices=[
                    ("", "Its owner, a fill or the day's end"),
                    ("security_changed", "A change to the security"),
                    ("security_delisted", "The security's delisting"),
                    ("account_frozen", "A legal order froze the account"),
                    ("venue_rules", "The venue's rules allow no orders in the security"),
                    ("trade_restricted", "A regulator restricted the account's trading"),
                ],
                db_default="",
                default="",
                max_length=17,
            ),
        ),
        migrations.RunSQL(
            _replace(AFTER),
            [_replace(BEFORE), VALIDATE],
            state_operations=[
                migrations.RemoveConstraint(model_name="order", name="order_closed_by_known"),
                migrations.AddConstraint(
                    model_name="order",
                    constraint=models.CheckConstraint(
                        condition=models.Q(("closed_by__in", AFTER)), name="order_closed_by_known"
                    ),
                ),
            ],
        ),
        migrations.RunSQL(VALIDATE, migrations.RunSQL.noop),
        migrations.RunSQL(_guard("a.frozen OR a.trading_restricted"), _guard("a.frozen")),
    ]
