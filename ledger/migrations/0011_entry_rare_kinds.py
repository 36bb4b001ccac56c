"""An index of the rare entry kinds (all but TRADE and SETTLEMENT), built without locking out the writers: on
a live exchange ``ledger_entry`` takes every trade, and a plain CREATE INDEX would stop them until it is done."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("ledger", "0010_witnessing"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="entry",
            index=models.Index(
                condition=~models.Q(kind__in=["TRADE", "SETTLEMENT"]), fields=["kind", "id"], name="entry_rare_kinds"
            ),
        ),
    ]
