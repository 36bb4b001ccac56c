"""The check that ``Order.closed_by`` is one of its values, added without holding the table while every row is
read: ``NOT VALID`` (an instant's lock; new rows are checked from then on), then ``VALIDATE`` in a transaction
of its own, which reads the rows while orders go on being written (PostgreSQL takes SHARE UPDATE EXCLUSIVE)."""

from django.db import migrations, models

VALUES = ["", "security_changed", "security_delisted", "account_frozen"]


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("exchange", "0022_order_closed_by_sorted")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE exchange_order ADD CONSTRAINT order_closed_by_known CHECK (closed_by IN ("
            + ", ".join(f"'{v}'" for v in VALUES)
            + ")) NOT VALID",
            "ALTER TABLE exchange_order DROP CONSTRAINT order_closed_by_known",
            state_operations=[
                migrations.AddConstraint(
                    model_name="order",
                    constraint=models.CheckConstraint(
                        condition=models.Q(("closed_by__in", VALUES)), name="order_closed_by_known"
                    ),
                )
            ],
        ),
        migrations.RunSQL(
            "ALTER TABLE exchange_order VALIDATE CONSTRAINT order_closed_by_known", migrations.RunSQL.noop
        ),
    ]
