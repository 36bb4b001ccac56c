"""Every maker of a KYC application, not only the last (maker-checker, DESIGN.md §7).

A profile named who entered it, who edited it last and who submitted it; a checker had to be none of those
three. A staff member who edited the identity before another staff member's later edit was none of them, and
could approve an application carrying their own change. ``makers`` lists everyone who entered, edited or
submitted the application since it was last approved; the check constraint now refuses an approval by any of
them. Existing rows get the three they named (an approved row's reviewer is none of them: the constraint of
before held), so the new constraint holds for every row. Reversible (the column and the stricter constraint
go; the rows keep their three).
"""

import django.contrib.postgres.fields
from django.conf import settings
from django.db import migrations, models

BACKFILL = """
UPDATE kyc_kycprofile SET makers = ARRAY(
    SELECT DISTINCT m FROM unnest(ARRAY[entered_by_id, last_edited_by_id, submitted_by_id]) AS m
    WHERE m IS NOT NULL ORDER BY m
)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0008_api_tokens_from_authtoken"),
        ("kyc", "0006_documents_encrypted_in_database"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="kycprofile",
            name="kyc_approved_by_a_second_person",
        ),
        migrations.AddField(
            model_name="kycprofile",
            name="makers",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.BigIntegerField(), blank=True, default=list, size=None
            ),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
        migrations.AddConstraint(
            model_name="kycprofile",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("state", "approved"), _negated=True),
                    models.Q(
                        ("expires_at__isnull", False),
                        ("reviewed_by__isnull", False),
                        ("risk_level__isnull", False),
                        models.Q(("reviewed_by", models.F("entered_by")), _negated=True),
                        models.Q(("reviewed_by", models.F("last_edited_by")), _negated=True),
                        models.Q(("reviewed_by", models.F("submitted_by")), _negated=True),
                        models.Q(("makers__contains", [models.F("reviewed_by")]), _negated=True),
                    ),
                    _connector="OR",
                ),
                name="kyc_approved_by_a_second_person",
            ),
        ),
    ]
