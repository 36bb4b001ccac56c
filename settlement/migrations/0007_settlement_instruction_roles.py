"""A standing settlement instruction keeps the role of who set it and of who ended it, as they were at the time
(``set_by_role``, ``ended_by_role``), as its entries already record them. Until now the code read the user's
role as it is now: a regulator moved to another role would have turned their instructions into the depository's
(whose reason the held trades' parties are told, and which a depository operator may end), and ``ledger_verify``
would have found each of them differing from its entry.

The roles are taken from the entries (SETTLEMENT_INSTRUCTION's ``set_by_role``, SETTLEMENT_INSTRUCTION_END's
``ended_by_role``), which recorded them when it happened; every row has its entries since 0006. Reversing it
drops the columns. 0008 adds the constraints, in a migration of its own: the rows updated here leave
deferred trigger events pending in this transaction, which ALTER TABLE would refuse.
"""

from django.db import migrations, models

ROLES = [
    ("investor", "Investor"),
    ("market_maker", "Market maker"),
    ("broker_staff", "Broker staff"),
    ("exchange_operator", "Exchange operator"),
    ("depository_operator", "Depository operator"),
    ("regulator", "Regulator"),
    ("auditor", "Auditor"),
]

FROM_ENTRIES = """
UPDATE settlement_settlementinstruction i
   SET set_by_role = convert_from(e.canonical, 'UTF8')::jsonb #>> '{payload,set_by_role}'
  FROM ledger_entry e
 WHERE e.id = i.entry_id;
UPDATE settlement_settlementinstruction i
   SET ended_by_role = convert_from(e.canonical, 'UTF8')::jsonb #>> '{payload,ended_by_role}'
  FROM ledger_entry e
 WHERE e.id = i.end_entry_id;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0013_merge"),
        ("settlement", "0006_settlement_instruction_entry_required"),
    ]

    operations = [
        migrations.AddField(
            model_name="settlementinstruction",
            name="set_by_role",
            field=models.CharField(choices=ROLES, default="", max_length=32),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="settlementinstruction",
            name="ended_by_role",
            field=models.CharField(blank=True, choices=ROLES, default="", max_length=32),
        ),
        migrations.RunSQL(FROM_ENTRIES, migrations.RunSQL.noop, elidable=False),
    ]
