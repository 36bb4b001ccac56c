"""The history of the alerts worked before it was kept (migration 0004), recovered from the audit trail.

Each ``alert_change`` audit record of an alert (outcome ok) is one step: from its ``before`` state to its ``after``
state, by its actor, at its time. The note the step wrote is the ``after`` note where it differs from the
``before`` one; a note equal to the one before cannot be told from none, except when closing, which always wrote
one. A record that moved nothing and wrote nothing is no step. An alert that has a history already is left as it
is, so running this again adds nothing.
"""

from django.db import migrations

STATES = {"new", "under_review", "closed"}


def history_from_audit(apps, schema_editor):
    Alert = apps.get_model("surveillance", "Alert")
    AlertEvent = apps.get_model("surveillance", "AlertEvent")
    AuditEvent = apps.get_model("core", "AuditEvent")
    alerts = set(Alert.objects.values_list("pk", flat=True))
    done = set(AlertEvent.objects.values_list("alert_id", flat=True).distinct())
    records = AuditEvent.objects.filter(
        action="alert_change", outcome="ok", target__startswith="alert:", actor__isnull=False
    ).order_by("at", "id")
    steps = []
    for record in records.iterator():
        try:
            alert_id = int(record.target.removeprefix("alert:"))
        except ValueError:
            continue
        if alert_id not in alerts or alert_id in done:
            continue
        before, after = record.detail.get("before") or {}, record.detail.get("after") or {}
        from_state, to_state = before.get("state"), after.get("state")
        if from_state not in STATES or to_state not in STATES:
            continue
        note = after.get("note") or ""
        if to_state != "closed" and note == (before.get("note") or ""):
            note = ""
        if (from_state == to_state or "closed" in (from_state, to_state)) and not note:
            continue  # nothing to keep (or a record the database would refuse as a step)
        steps.append(
            AlertEvent(
                alert_id=alert_id,
                from_state=from_state,
                to_state=to_state,
                note=note,
                by_id=record.actor_id,
                at=record.at,
            )
        )
    AlertEvent.objects.bulk_create(steps, batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [("surveillance", "0004_alert_history"), ("core", "0001_initial")]

    # Going back drops the table (0004), history and all: nothing to undo here.
    operations = [migrations.RunPython(history_from_audit, migrations.RunPython.noop)]
