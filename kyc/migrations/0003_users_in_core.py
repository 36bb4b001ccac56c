"""KYC's references to users and brokers now name core's models. State only: same tables."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        ("kyc", "0002_reveal_append_only"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name="identityreveal",
                    name="regulator",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
                migrations.AlterField(
                    model_name="kycdocument",
                    name="uploaded_by",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
                migrations.AlterField(
                    model_name="kycprofile",
                    name="broker",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="kyc_profiles", to="core.broker"
                    ),
                ),
                migrations.AlterField(
                    model_name="kycprofile",
                    name="entered_by",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
                migrations.AlterField(
                    model_name="kycprofile",
                    name="last_edited_by",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
                migrations.AlterField(
                    model_name="kycprofile",
                    name="reviewed_by",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="kycprofile",
                    name="submitted_by",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="kycprofile",
                    name="user",
                    field=models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT, related_name="kyc", to=settings.AUTH_USER_MODEL
                    ),
                ),
            ],
        ),
    ]
