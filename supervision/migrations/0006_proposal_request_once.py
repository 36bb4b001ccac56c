"""An API client's own key for a freeze or forced transfer proposal (``client_request_id``): a retry with it
returns the first proposal instead of making a second. Existing proposals have none (blank); a proposer's keys are
unique. Reversible."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0008_api_tokens_from_authtoken"),
        ("registry", "0007_disclosure_file"),
        ("supervision", "0005_freeze_unmet_quantity"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="forcedtransfer",
            name="client_request_id",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AddField(
            model_name="freeze",
            name="client_request_id",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AddConstraint(
            model_name="forcedtransfer",
            constraint=models.UniqueConstraint(
                condition=models.Q(("client_request_id", ""), _negated=True),
                fields=("proposed_by", "client_request_id"),
                name="forced_transfer_request_once",
            ),
        ),
        migrations.AddConstraint(
            model_name="freeze",
            constraint=models.UniqueConstraint(
                condition=models.Q(("client_request_id", ""), _negated=True),
                fields=("proposed_by", "client_request_id"),
                name="freeze_request_once",
            ),
        ),
    ]
