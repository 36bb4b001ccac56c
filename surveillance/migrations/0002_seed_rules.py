"""The six rules the engine knows, with their default thresholds (``surveillance.rules.DEFAULTS`` at the time)."""

from django.db import migrations

DEFAULTS = {
    "wash_trade": {},
    "holder_cap": {"percent_of_max": 90},
    "band_edge": {"ticks": 1},
    "value_spike": {"multiple": "10.00", "lookback_days": 20, "minimum_value": "100000.00"},
    "order_burst": {"count": 20, "window_seconds": 60},
    "pre_disclosure": {"hours": 24},
}


def seed(apps, schema_editor):
    Rule = apps.get_model("surveillance", "Rule")
    for code, thresholds in DEFAULTS.items():
        Rule.objects.get_or_create(code=code, defaults={"enabled": True, "thresholds": thresholds})


def unseed(apps, schema_editor):
    apps.get_model("surveillance", "Rule").objects.filter(code__in=list(DEFAULTS), alerts__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("surveillance", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
