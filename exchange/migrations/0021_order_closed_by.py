"""What closed an order, when it was not its owner: ``Order.closed_by`` (0021 the column, 0022 the orders closed
before it, 0023 the check).

The column has a database default, so that the workers of the code from before, still running while the
exchange upgrades, go on inserting orders without it (found by a review: with Django's usual default, dropped
once the column is filled, their inserts failed). Adding it takes the table's lock for an instant: PostgreSQL
stores a constant default without rewriting the table.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("exchange", "0020_trade_of_no_frozen_account")]

    operations = [
        migrations.AddField(
            model_name="order",
            name="closed_by",
            field=models.CharField(
                blank=True,
                choices=[
                    ("", "Its owner, a fill or the day's end"),
                    ("security_changed", "A change to the security"),
                    ("security_delisted", "The security's delisting"),
                    ("account_frozen", "A legal order froze the account"),
                ],
                db_default="",
                default="",
                max_length=17,
            ),
        ),
    ]
