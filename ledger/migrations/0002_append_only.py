"""Append-only ledger and audit tables, enforced by PostgreSQL.

Row triggers reject UPDATE and DELETE, a statement trigger rejects TRUNCATE;
all are ENABLE ALWAYS so that ``session_replication_role = replica`` does not
silence them. The one exception: the *table owner* may TRUNCATE when it has set
``exchange.allow_reset = on`` (Django's ``flush``, used by tests, does). The
owner could disable the triggers anyway, so this grants it nothing new; the
application role in production is not the owner and has only SELECT and
INSERT (docs/operations.md).
"""

from django.db import migrations

from core.append_only import guard as _guard
from core.append_only import unguard as _unguard

FUNCTION = """
CREATE OR REPLACE FUNCTION exchange_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE'
       AND current_setting('exchange.allow_reset', true) = 'on'
       AND (SELECT relowner FROM pg_class WHERE oid = TG_RELID)
           = (SELECT oid FROM pg_roles WHERE rolname = current_user) THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""

TABLES = ["ledger_entry", "exchange_auditevent"]


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0001_initial"),
        ("exchange", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(FUNCTION, "DROP FUNCTION IF EXISTS exchange_append_only();"),
        *[migrations.RunSQL(_guard(t), _unguard(t)) for t in TABLES],
    ]
