"""A freeze of shares remembers what it was ordered to hold and could not (``unmet_quantity``): shares under
lock-up at its approval were out of its reach, and it now takes them as their lock-up ends.

An active freeze of shares approved before this holds what it held at approval (its FREEZE entry says how many)
less what transfers and corrections took since: what it lacked at approval is its ordered quantity less the
entry's, read back from the entry's canonical bytes; of that, it claims no more than is under lock-up now (what
was locked at its approval is not on record: a lock-up made since may serve it too, up to what it lacked).
"""

import json

from django.db import migrations, models
from django.db.models import F, Q


def unmet_from_entries(apps, schema_editor):
    Freeze = apps.get_model("supervision", "Freeze")
    Position = apps.get_model("balances", "Position")
    with schema_editor.connection.cursor() as cur:
        for freeze in Freeze.objects.filter(kind="shares", status="active", entry__isnull=False):
            cur.execute("SELECT canonical FROM ledger_entry WHERE id = %s", [freeze.entry])
            row = cur.fetchone()
            if row is None:
                continue
            held = sum(int(s["quantity"]) for s in json.loads(bytes(row[0]))["payload"]["shares"])
            locked = (
                Position.objects.filter(account_id=freeze.account_id, security_id=freeze.security_id)
                .values_list("locked", flat=True)
                .first()
            )
            unmet = min(freeze.quantity - held, max(locked or 0, 0))
            if unmet > 0:
                Freeze.objects.filter(pk=freeze.pk).update(unmet_quantity=unmet)


class Migration(migrations.Migration):
    dependencies = [
        ("supervision", "0004_account_flags_follow_freezes"),
        ("ledger", "0012_settlement_instruction_kinds"),
        ("balances", "0003_issuance_proposals"),
    ]

    operations = [
        migrations.AddField(
            model_name="freeze",
            name="unmet_quantity",
            field=models.BigIntegerField(default=0),
        ),
        migrations.RunPython(unmet_from_entries, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="freeze",
            constraint=models.CheckConstraint(
                condition=Q(unmet_quantity=0)
                | Q(kind="shares", unmet_quantity__gt=0, unmet_quantity__lte=F("quantity")),
                name="freeze_unmet_of_its_shares",
            ),
        ),
    ]
