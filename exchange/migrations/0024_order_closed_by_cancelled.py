"""An order the exchange closed (``closed_by`` set) is a cancelled one: the database says so, as it does every
other rule of an order's status. Added ``NOT VALID`` and then validated in a transaction of its own, as 0023, so
that orders go on being written while it reads the table."""

from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("exchange", "0023_order_closed_by_known")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE exchange_order ADD CONSTRAINT order_closed_by_cancelled"
            " CHECK (closed_by = '' OR status = 'cancelled') NOT VALID",
            "ALTER TABLE exchange_order DROP CONSTRAINT order_closed_by_cancelled",
            state_operations=[
                migrations.AddConstraint(
                    model_name="order",
                    constraint=models.CheckConstraint(
                        condition=models.Q(("closed_by", "")) | models.Q(("status", "cancelled")),
                        name="order_closed_by_cancelled",
                    ),
                )
            ],
        ),
        migrations.RunSQL(
            "ALTER TABLE exchange_order VALIDATE CONSTRAINT order_closed_by_cancelled", migrations.RunSQL.noop
        ),
    ]
