"""The API tokens DRF's ``rest_framework.authtoken`` stored (table ``authtoken_token``, the key in clear) move to
``core.ApiToken``: each key's SHA-256 digest, its first 8 characters, the name "login", its ``created``, and
an end ``API_TOKEN_TTL`` seconds after it, so a token already issued keeps working until then (one already
expired is not moved). The old table
is dropped, keys and all, with its migrations' records: the app is no longer installed, and a later install
would start it afresh.

A database that never had the table (made after the app was removed) has nothing to move.

Rolling back (``migrate core 0007``) leaves the moved tokens in ``core_apitoken`` and recreates no key: the
keys cannot be had back from their digests. Going further back (``migrate core 0006``) drops the table,
ending every token; the old code's ``migrate`` then recreates ``authtoken_token`` empty and clients log in
again.
"""

import hashlib
from datetime import timedelta

from django.conf import settings
from django.db import migrations
from django.utils import timezone

OLD_TABLE = "authtoken_token"


def move_tokens(apps, schema_editor):
    connection = schema_editor.connection
    if OLD_TABLE not in connection.introspection.table_names():
        return
    ApiToken = apps.get_model("core", "ApiToken")
    ttl = timedelta(seconds=settings.API_TOKEN_TTL)
    with connection.cursor() as cur:
        cur.execute(f"SELECT key, user_id, created FROM {OLD_TABLE} ORDER BY created, key")
        rows = cur.fetchall()
    ApiToken.objects.bulk_create(
        ApiToken(
            user_id=user_id,
            kind="login",
            name="login",
            digest=hashlib.sha256(key.encode()).hexdigest(),
            prefix=key[:8],
            created=created,
            expires_at=created + ttl,
        )
        for key, user_id, created in rows
        if created + ttl > timezone.now()
    )
    with connection.cursor() as cur:
        cur.execute(f"DROP TABLE {OLD_TABLE}")
        cur.execute("DELETE FROM django_migrations WHERE app = 'authtoken'")


class Migration(migrations.Migration):
    dependencies = [("core", "0007_api_token")]

    operations = [migrations.RunPython(move_tokens, migrations.RunPython.noop, elidable=False)]
