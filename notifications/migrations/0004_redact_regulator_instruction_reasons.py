"""Notifications of a hold under a regulator's standing instruction, written before such notifications left out
the instruction's reason, lose it now and say whose instruction held the trade, as those written since do
(``notifications.services._action_facts``): the reason could tip off an investor under investigation. A
depository's instruction keeps its reason, as its parties are told it. Idempotent; nothing to undo."""

from django.db import migrations


def _action_id(key: str) -> int | None:
    tail = key.removeprefix("settlement:")
    return int(tail) if tail.isdigit() else None


def redact(apps, schema_editor):
    Notification = apps.get_model("notifications", "Notification")
    SettlementAction = apps.get_model("settlement", "SettlementAction")
    held = Notification.objects.filter(kind="held", key__startswith="settlement:")
    ids = {i for i in map(_action_id, held.values_list("key", flat=True)) if i is not None}
    setters = {
        pk: ("regulator" if role == "regulator" else "depository")
        for pk, role in SettlementAction.objects.filter(pk__in=ids, instruction__isnull=False).values_list(
            "pk", "instruction__created_by__role"
        )
    }
    for notification in held.iterator():
        setter = setters.get(_action_id(notification.key))
        if setter is None:
            continue  # a hold by hand: its parties are told why
        params = {**notification.params, "held_by": setter}
        if setter == "regulator":
            params.pop("reason", None)
        if params != notification.params:
            notification.params = params
            notification.save(update_fields=["params"])


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0003_negotiated_ended"),
        ("settlement", "0004_settlement_instructions"),
    ]

    operations = [migrations.RunPython(redact, migrations.RunPython.noop)]
