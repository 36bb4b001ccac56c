"""A replica's copy of another node's ledger is append-only like our own."""

from django.db import migrations

from core.append_only import guard, unguard

TABLES = ["ledger_replicacheckpoint", "ledger_replicaentry"]


class Migration(migrations.Migration):
    dependencies = [("ledger", "0005_replica")]

    operations = [migrations.RunSQL(guard(t), unguard(t)) for t in TABLES]
