"""The freezes' trigger (0004) locks the account's row before it reads the account's active freezes.

Under 0004 the trigger read the active freezes, then updated the account's flags. Two transactions changing two
freezes of one account at once (a trading restriction released while a whole-account freeze is approved: the
services take no lock in common before the freeze's row) each read the other's freeze as it was before; the second
to update the account waited for the first's row lock, then wrote the flags it had read before the first
committed, and the account's own guard refused them: the approval (or the release) failed with a bare
IntegrityError. Now the trigger takes the account's row (``FOR NO KEY UPDATE``, which an order's or a trade's key
share does not wait for) first, then reads the freezes in a statement of its own, which sees what the one it waited
for committed. A freeze's row saved without a change of its status, kind or account (a forced transfer lowering
what a freeze holds), or a freeze of cash or shares, does not touch the account at all.
"""

from django.db import migrations

FOLLOW = """
CREATE OR REPLACE FUNCTION supervision_account_flags_follow() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    account bigint;
    expected record;
BEGIN
    IF TG_OP = 'UPDATE' AND (OLD.status, OLD.kind, OLD.account_id) IS NOT DISTINCT FROM
                            (NEW.status, NEW.kind, NEW.account_id) THEN
        RETURN NULL;
    END IF;
    IF (TG_OP = 'INSERT' OR OLD.kind NOT IN ('account', 'trading'))
       AND (TG_OP = 'DELETE' OR NEW.kind NOT IN ('account', 'trading')) THEN
        RETURN NULL;
    END IF;
    FOREACH account IN ARRAY (
        CASE TG_OP
            WHEN 'INSERT' THEN ARRAY[NEW.account_id]
            WHEN 'DELETE' THEN ARRAY[OLD.account_id]
            ELSE ARRAY(SELECT DISTINCT a FROM unnest(ARRAY[OLD.account_id, NEW.account_id]) a ORDER BY a)
        END
    ) LOOP
        -- The row first: a freeze of the account changed by another transaction is committed (or rolled back)
        -- by the time the next statement reads the active freezes.
        PERFORM 1 FROM exchange_account a WHERE a.id = account FOR NO KEY UPDATE;
        expected := supervision_account_flags_expected(account);
        UPDATE exchange_account a
           SET frozen = expected.frozen, trading_restricted = expected.trading_restricted
         WHERE a.id = account
           AND (a.frozen, a.trading_restricted) IS DISTINCT FROM (expected.frozen, expected.trading_restricted);
    END LOOP;
    RETURN NULL;
END;
$$;
"""

# 0004's function, as it was.
FOLLOW_0004 = """
CREATE OR REPLACE FUNCTION supervision_account_flags_follow() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    account bigint;
    expected record;
BEGIN
    FOREACH account IN ARRAY (
        CASE TG_OP
            WHEN 'INSERT' THEN ARRAY[NEW.account_id]
            WHEN 'DELETE' THEN ARRAY[OLD.account_id]
            ELSE ARRAY(SELECT DISTINCT unnest(ARRAY[OLD.account_id, NEW.account_id]))
        END
    ) LOOP
        expected := supervision_account_flags_expected(account);
        UPDATE exchange_account a
           SET frozen = expected.frozen, trading_restricted = expected.trading_restricted
         WHERE a.id = account
           AND (a.frozen, a.trading_restricted) IS DISTINCT FROM (expected.frozen, expected.trading_restricted);
    END LOOP;
    RETURN NULL;
END;
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("supervision", "0004_account_flags_follow_freezes")]

    operations = [migrations.RunSQL(FOLLOW, FOLLOW_0004)]
