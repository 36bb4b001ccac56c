"""The real name is personal data (DESIGN.md §7): stored encrypted, masked, and found by blind indexes.

Each profile's name is encrypted with the personal-data key ring (``core.crypto``), its mask and the blind
indexes of its words are stored, and the plain column is dropped."""

import django.contrib.postgres.fields
import django.contrib.postgres.indexes
from django.db import migrations, models


def encrypt_names(apps, schema_editor):
    from core import crypto
    from core.names import mask_name

    KycProfile = apps.get_model("kyc", "KycProfile")
    if not KycProfile.objects.exists():
        return
    ring = crypto.ring()
    for profile in KycProfile.objects.iterator():
        profile.real_name_enc = ring.encrypt(profile.real_name)
        profile.real_name_masked = mask_name(profile.real_name)
        profile.name_index = ring.name_index(profile.real_name)
        profile.save(update_fields=["real_name_enc", "real_name_masked", "name_index"])


class Migration(migrations.Migration):
    dependencies = [("kyc", "0003_users_in_core"), ("core", "0005_account_holder_name_encrypted")]

    operations = [
        migrations.AddField(model_name="kycprofile", name="real_name_enc", field=models.BinaryField(null=True)),
        migrations.AddField(
            model_name="kycprofile", name="real_name_masked", field=models.CharField(default="", max_length=4)
        ),
        migrations.AddField(
            model_name="kycprofile",
            name="name_index",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.CharField(max_length=64),
                default=list,
                help_text="Blind indexes of the words of the name",
                size=None,
            ),
        ),
        migrations.RunPython(encrypt_names, migrations.RunPython.noop),
        migrations.RemoveField(model_name="kycprofile", name="real_name"),
        migrations.AlterField(model_name="kycprofile", name="real_name_enc", field=models.BinaryField()),
        migrations.AlterField(model_name="kycprofile", name="real_name_masked", field=models.CharField(max_length=4)),
        migrations.AddIndex(
            model_name="kycprofile",
            index=django.contrib.postgres.indexes.GinIndex(fields=["name_index"], name="kyc_name_index_gin"),
        ),
    ]
