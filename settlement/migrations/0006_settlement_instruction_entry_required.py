"""Every standing settlement instruction has its SETTLEMENT_INSTRUCTION entry (0005 wrote those of the older
rows), and its SETTLEMENT_INSTRUCTION_END entry exactly when it was ended early. A migration of its own: the rows
0005 updated leave deferred foreign-key checks pending in its transaction, which ALTER TABLE would refuse."""

from django.db import migrations, models
from django.db.models import deletion


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0012_settlement_instruction_kinds"),
        ("settlement", "0005_settlement_instruction_entries"),
    ]

    operations = [
        migrations.AlterField(
            model_name="settlementinstruction",
            name="entry",
            field=models.OneToOneField(on_delete=deletion.PROTECT, related_name="+", to="ledger.entry"),
        ),
        migrations.AddConstraint(
            model_name="settlementinstruction",
            constraint=models.CheckConstraint(
                condition=models.Q(("end_entry__isnull", True), ("ended_at__isnull", True))
                | models.Q(("end_entry__isnull", False), ("ended_at__isnull", False)),
                name="instruction_end_on_the_ledger",
            ),
        ),
    ]
