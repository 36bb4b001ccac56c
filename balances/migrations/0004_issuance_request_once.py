"""An API client's own key for an issuance proposal (``client_request_id``): a retry with it answers the first
proposal instead of making a second. Existing proposals have none (blank); a proposer's keys are unique.
Reversible."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("balances", "0003_issuance_proposals"),
        ("registry", "0007_disclosure_file"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="issuanceproposal",
            name="client_request_id",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AddConstraint(
            model_name="issuanceproposal",
            constraint=models.UniqueConstraint(
                condition=models.Q(("client_request_id", ""), _negated=True),
                fields=("proposed_by", "client_request_id"),
                name="issuance_request_once",
            ),
        ),
    ]
