"""An investor account's name is personal data (DESIGN.md §7): kept encrypted, with its mask as the plain name.

Existing investor accounts have their names encrypted (``core.crypto``, the personal-data key ring) and
masked, and their owners' first names (a copy of the real name) masked too; then the database refuses an
investor account whose plain name is anything but a mask."""

from django.db import migrations, models
from django.db.models import Q


def encrypt_names(apps, schema_editor):
    from core import crypto
    from core.names import mask_name

    Account = apps.get_model("core", "Account")
    User = apps.get_model("core", "User")
    investors = Account.objects.filter(kind="investor", holder_name_enc__isnull=True)
    if not investors.exists():
        return
    ring = crypto.ring()
    for account in investors.iterator():
        full = account.name.strip()
        account.holder_name_enc = ring.encrypt(full)
        account.name = mask_name(full)
        account.save(update_fields=["holder_name_enc", "name"])
        if account.owner_id is not None:
            User.objects.filter(pk=account.owner_id).update(first_name=account.name, last_name="")


class Migration(migrations.Migration):
    dependencies = [("core", "0004_merge_0003_account_frozen_0003_broker_cash_limits")]

    operations = [
        migrations.AddField(
            model_name="account",
            name="holder_name_enc",
            field=models.BinaryField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(encrypt_names, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="account",
            constraint=models.CheckConstraint(
                condition=~Q(kind="investor") | Q(holder_name_enc__isnull=False, name__regex="^.\\*{1,3}$"),
                name="account_investor_name_encrypted",
            ),
        ),
    ]
