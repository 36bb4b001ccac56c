"""The database refuses a KYC profile whose plain name is anything but a mask (DESIGN.md §7)."""

from django.db import migrations, models
from django.db.models import Q


class Migration(migrations.Migration):
    dependencies = [("kyc", "0004_real_name_encrypted")]

    operations = [
        migrations.AddConstraint(
            model_name="kycprofile",
            constraint=models.CheckConstraint(
                condition=Q(real_name_masked__regex="^.\\*{1,3}$"), name="kyc_name_masked"
            ),
        ),
    ]
