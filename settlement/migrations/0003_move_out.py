"""Cash balances and positions moved to the balances app; the settlement rows now name
core's users and registry's securities. State only: every table and row stays."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("balances", "0001_initial"),
        ("registry", "0001_initial"),
        ("settlement", "0002_settlementaction_settlementbatch_settlement"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.RemoveField(
                    model_name="position",
                    name="account",
                ),
                migrations.RemoveField(
                    model_name="position",
                    name="security",
                ),
                migrations.AlterField(
                    model_name="settlementaction",
                    name="actor",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
                migrations.AlterField(
                    model_name="settlementbatch",
                    name="security",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="registry.security"
                    ),
                ),
                migrations.DeleteModel(
                    name="CashBalance",
                ),
                migrations.DeleteModel(
                    name="Position",
                ),
            ],
        ),
    ]
