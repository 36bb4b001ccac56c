"""The moved models leave the exchange app's state. State only: their tables stay,
now owned by core (user, broker, account, auditevent) and registry (security)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("exchange", "0002_move_out_retarget"),
        ("kyc", "0003_users_in_core"),
        ("settlement", "0003_move_out"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.DeleteModel(
                    name="Account",
                ),
                migrations.DeleteModel(
                    name="AuditEvent",
                ),
                migrations.DeleteModel(
                    name="Broker",
                ),
                migrations.DeleteModel(
                    name="Security",
                ),
                migrations.DeleteModel(
                    name="User",
                ),
            ],
        ),
    ]
