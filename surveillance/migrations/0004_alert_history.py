"""An alert's history of moves and notes (``AlertEvent``): evidence of who wrote what, append-only like the
audit trail (the guard of ``core.append_only``, function from ledger migration 0002)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from core.append_only import guard, unguard


class Migration(migrations.Migration):
    dependencies = [
        ("surveillance", "0003_split_view_rule"),
        ("ledger", "0002_append_only"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AlertEvent",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "from_state",
                    models.CharField(
                        choices=[("new", "New"), ("under_review", "Under review"), ("closed", "Closed")], max_length=16
                    ),
                ),
                (
                    "to_state",
                    models.CharField(
                        choices=[("new", "New"), ("under_review", "Under review"), ("closed", "Closed")], max_length=16
                    ),
                ),
                ("note", models.TextField(blank=True, default="")),
                ("at", models.DateTimeField()),
                (
                    "alert",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="events", to="surveillance.alert"
                    ),
                ),
                (
                    "by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
            ],
            options={
                "ordering": ["id"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            ("from_state__in", ["new", "under_review", "closed"]),
                            ("to_state__in", ["new", "under_review", "closed"]),
                        ),
                        name="surveillance_alertevent_states_known",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("from_state", models.F("to_state")), _negated=True),
                            models.Q(("note", ""), _negated=True),
                            _connector="OR",
                        ),
                        name="surveillance_alertevent_not_empty",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(
                                models.Q(("to_state", "closed"), _negated=True),
                                models.Q(("from_state", "closed"), _negated=True),
                            ),
                            models.Q(("note", ""), _negated=True),
                            _connector="OR",
                        ),
                        name="surveillance_alertevent_close_reopen_note",
                    ),
                ],
            },
        ),
        migrations.RunSQL(guard("surveillance_alertevent"), unguard("surveillance_alertevent")),
    ]
