"""One user name whatever its case, in the database: registration already refused "Alice" beside "alice", but two
registrations at once (online, or at two counters) each found the other not yet there and both went through.

A database that already holds two names differing only in case (only such a race made them) stops here with an
IntegrityError naming the constraint: rename one of the two users first
(``SELECT lower(username) FROM exchange_user GROUP BY 1 HAVING count(*) > 1`` lists them).
"""

import django.db.models.functions.text
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("core", "0008_api_tokens_from_authtoken"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="user",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("username"), name="user_username_unique_any_case"
            ),
        ),
    ]
