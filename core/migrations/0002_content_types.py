"""The content types of the moved models follow them to their new apps.

On a database made before the move, Django knows users, brokers, accounts and
the audit trail as ``exchange.*``, securities as ``exchange.security`` and
balances as ``settlement.*``; permissions (and admin log rows) point at those
content types. Relabelling them keeps those rows valid instead of leaving
stale types beside new ones. A fresh database has none yet: nothing to do.
"""

from django.db import migrations

MOVED = [
    ("exchange", "core", ["user", "broker", "account", "auditevent"]),
    ("exchange", "registry", ["security"]),
    ("settlement", "balances", ["cashbalance", "position"]),
]


def relabel(apps, schema_editor) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    for old, new, models in MOVED:
        for model in models:
            if not ContentType.objects.filter(app_label=new, model=model).exists():
                ContentType.objects.filter(app_label=old, model=model).update(app_label=new)


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("core", "0001_initial"),
        ("registry", "0001_initial"),
        ("balances", "0001_initial"),
    ]

    operations = [
        # Backwards leaves the labels as they are: the models stay in their new apps whatever is unapplied,
        # and relabelling back would only make Django create the new types again beside the old ones.
        migrations.RunPython(relabel, migrations.RunPython.noop),
    ]
