"""Identity reveals are evidence: append-only like the ledger and the audit trail."""

from django.db import migrations

from core.append_only import guard, unguard


class Migration(migrations.Migration):
    dependencies = [("kyc", "0001_initial"), ("ledger", "0002_append_only")]

    operations = [migrations.RunSQL(guard("kyc_identityreveal"), unguard("kyc_identityreveal"))]
