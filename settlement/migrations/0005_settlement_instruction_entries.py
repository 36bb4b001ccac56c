"""Standing settlement instructions go on the ledger: each row points at its SETTLEMENT_INSTRUCTION entry and, when
it was ended early, its SETTLEMENT_INSTRUCTION_END entry.

The instructions set before this migration get their entries here, written now from the rows as they stand, so
that every row has its entries and ``ledger_verify`` checks every row alike (a row without an entry is a finding,
never an exception for "old" rows a tamperer could pass a forged row off as). Such an entry's ``recorded_at`` is
the upgrade's, later than the ``at`` of its payload, which is when the instruction was set or ended: the ledger
says when it learnt of it. The payloads are built here, not by ``settlement.entries``, so that this migration
writes what it wrote whatever those classes become; only the pure ``ledger.canonical`` is shared.

Reversing it drops the columns; the entries stay, as every ledger entry does (the table is append-only). Running
it again (after a reversal) takes up the entries already on the ledger for an instruction rather than writing
second ones, which ``ledger_verify`` would find without their rows (found by a review). 0006 then makes
``entry`` required. Deploy with the old code stopped: an instruction the old code sets between 0005 and 0006
would have no entry, and 0006 would refuse it.
"""

import json

from django.db import migrations, models
from django.db.models import deletion
from django.utils import timezone

from ledger.canonical import entry_bytes, leaf_hash, new_salt


def write_entries(apps, schema_editor):
    Instruction = apps.get_model("settlement", "SettlementInstruction")
    Entry = apps.get_model("ledger", "Entry")
    now = timezone.now()

    def append(kind: str, payload: dict):
        data = entry_bytes(kind=kind, recorded_at=now, payload=payload, salt=new_salt())
        return Entry.objects.create(kind=kind, canonical=data, leaf_hash=leaf_hash(data), recorded_at=now)

    # Entries already on the ledger for an instruction (this migration run before, then reversed): taken up.
    written: dict[tuple[str, int], object] = {}
    for entry in Entry.objects.filter(kind__in=["SETTLEMENT_INSTRUCTION", "SETTLEMENT_INSTRUCTION_END"]).order_by("id"):
        instruction = json.loads(bytes(entry.canonical))["payload"].get("instruction")
        instruction = None if instruction is None else int(instruction)
        written.setdefault((entry.kind, instruction), entry)

    rows = Instruction.objects.select_related("account", "security", "created_by", "ended_by").order_by("id")
    for row in rows:
        if ("SETTLEMENT_INSTRUCTION", row.pk) in written:
            row.entry = written["SETTLEMENT_INSTRUCTION", row.pk]
            row.end_entry = written.get(("SETTLEMENT_INSTRUCTION_END", row.pk))
            if row.ended_at is not None and row.end_entry is None:
                row.end_entry = append(
                    "SETTLEMENT_INSTRUCTION_END",
                    {"instruction": row.pk, "ended_by_role": row.ended_by.role, "at": row.ended_at},
                )
            row.save(update_fields=["entry", "end_entry"])
            continue
        row.entry = append(
            "SETTLEMENT_INSTRUCTION",
            {
                "instruction": row.pk,
                "account": row.account.code if row.account_id else None,
                "security": row.security.code if row.security_id else None,
                "min_amount": row.min_amount,
                "until": row.ends_at,
                "set_by_role": row.created_by.role,
                "at": row.created_at,
            },
        )
        if row.ended_at is not None:
            row.end_entry = append(
                "SETTLEMENT_INSTRUCTION_END",
                {"instruction": row.pk, "ended_by_role": row.ended_by.role, "at": row.ended_at},
            )
        row.save(update_fields=["entry", "end_entry"])


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0012_settlement_instruction_kinds"),
        ("settlement", "0004_settlement_instructions"),
    ]

    operations = [
        migrations.AddField(
            model_name="settlementinstruction",
            name="entry",
            field=models.OneToOneField(null=True, on_delete=deletion.PROTECT, related_name="+", to="ledger.entry"),
        ),
        migrations.AddField(
            model_name="settlementinstruction",
            name="end_entry",
            field=models.OneToOneField(
                blank=True, null=True, on_delete=deletion.PROTECT, related_name="+", to="ledger.entry"
            ),
        ),
        migrations.RunPython(write_entries, migrations.RunPython.noop, elidable=False),
    ]
