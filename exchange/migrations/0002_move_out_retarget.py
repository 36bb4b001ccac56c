"""Users, brokers, accounts and the audit trail moved to core, securities to registry:
quotes, orders and trades point there now. State only: the foreign keys name the same
tables as before, so no row, constraint or index changes."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        ("exchange", "0001_initial"),
        ("registry", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.RemoveField(
                    model_name="account",
                    name="broker",
                ),
                migrations.RemoveField(
                    model_name="account",
                    name="owner",
                ),
                migrations.AlterField(
                    model_name="quote",
                    name="account",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="quotes", to="core.account"
                    ),
                ),
                migrations.AlterField(
                    model_name="trade",
                    name="buyer",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="buys", to="core.account"
                    ),
                ),
                migrations.AlterField(
                    model_name="order",
                    name="account",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="orders", to="core.account"
                    ),
                ),
                migrations.AlterField(
                    model_name="trade",
                    name="seller",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="sells", to="core.account"
                    ),
                ),
                migrations.RemoveField(
                    model_name="auditevent",
                    name="actor",
                ),
                migrations.RemoveField(
                    model_name="user",
                    name="broker",
                ),
                migrations.AlterField(
                    model_name="trade",
                    name="security",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="trades", to="registry.security"
                    ),
                ),
                migrations.AlterField(
                    model_name="order",
                    name="security",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="orders", to="registry.security"
                    ),
                ),
                migrations.AlterField(
                    model_name="quote",
                    name="security",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="quotes", to="registry.security"
                    ),
                ),
                migrations.RemoveField(
                    model_name="user",
                    name="groups",
                ),
                migrations.RemoveField(
                    model_name="user",
                    name="user_permissions",
                ),
                migrations.AlterField(
                    model_name="order",
                    name="placed_by",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
            ],
        ),
    ]
