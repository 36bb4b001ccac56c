"""``Order.closed_by`` learns ``venue_rules``: the beat cancels the resting orders of a security in which the venue's
profile allows no orders (``exchange.services.quotes.market_making_close_forbidden``). The check of its values is
replaced as 0023 added it: the new one ``NOT VALID`` in the same statement that drops the old (an instant's lock),
then validated in a transaction of its own while orders go on being written. The choices are the model's only
(no SQL)."""

from django.db import migrations, models

BEFORE = ["", "security_changed", "security_delisted", "account_frozen"]
AFTER = [*BEFORE, "venue_rules"]


def _replace(values: list[str]) -> str:
    return (
        "ALTER TABLE exchange_order DROP CONSTRAINT order_closed_by_known,"
        " ADD CONSTRAINT order_closed_by_known CHECK (closed_by IN ("
        + ", ".join(f"'{v}'" for v in values)
        + ")) NOT VALID"
    )


VALIDATE = "ALTER TABLE exchange_order VALIDATE CONSTRAINT order_closed_by_known"


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("exchange", "0024_order_closed_by_cancelled")]

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
                ],
                db_default="",
                default="",
                max_length=17,
            ),
        ),
        migrations.RunSQL(
            _replace(AFTER),
            # Back to the old values: refused (at VALIDATE) while an order the beat cancelled says venue_rules.
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
    ]
