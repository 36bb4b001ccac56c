"""Every standing settlement instruction was set by a depository operator or a regulator, and ended, when it was,
by one (the roles 0007 records)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("settlement", "0007_settlement_instruction_roles")]

    operations = [
        migrations.AddConstraint(
            model_name="settlementinstruction",
            constraint=models.CheckConstraint(
                condition=models.Q(("set_by_role__in", ["depository_operator", "regulator"])),
                name="instruction_set_by_a_setter",
            ),
        ),
        migrations.AddConstraint(
            model_name="settlementinstruction",
            constraint=models.CheckConstraint(
                condition=models.Q(("ended_at__isnull", True), ("ended_by_role", ""))
                | models.Q(("ended_at__isnull", False), ("ended_by_role__in", ["depository_operator", "regulator"])),
                name="instruction_ended_by_a_setter",
            ),
        ),
    ]
