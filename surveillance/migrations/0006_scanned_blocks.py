"""Which blocks the rules ran over, so that beat's sweep scans a block whose scan task was lost.

Every block sealed before this migration counts as scanned (each queued its scan when it was sealed): the sweep
is for scans lost from now on, not a rescan of the history."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("surveillance", "0005_alert_history_from_audit"),
        ("ledger", "0014_split_view_same_root"),
    ]

    operations = [
        migrations.CreateModel(
            name="ScannedBlock",
            fields=[
                ("height", models.BigIntegerField(primary_key=True, serialize=False)),
                ("scanned_at", models.DateTimeField()),
            ],
            options={
                "constraints": [
                    models.CheckConstraint(condition=models.Q(("height__gte", 0)), name="scanned_block_height_nonneg")
                ],
            },
        ),
        migrations.RunSQL(
            "INSERT INTO surveillance_scannedblock (height, scanned_at) SELECT height, sealed_at FROM ledger_block",
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
