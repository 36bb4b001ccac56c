"""An account's ``frozen`` and ``trading_restricted`` flags are what its freezes say, kept so by the database.

The flags are derived state: ``frozen`` is whether a whole-account freeze of the account is active,
``trading_restricted`` whether a trading restriction is. They are kept because every order reads them with the
account (and the matching query and the trade's trigger join them), where counting freezes would cost a query.
The services set them beside the freeze's status; a path that forgot, or a freeze's row changed by hand, would
have left an account trading under a legal order, or blocked with none. Now:

* a trigger on ``supervision_freeze`` sets both flags from the account's active freezes whenever a freeze is
  written, its status, kind or account changed, or one is deleted (in the same statement, so within the
  approval's or release's transaction). It takes the account's row first (``FOR NO KEY UPDATE``, which an
  order's or a trade's key share does not wait for), then reads the freezes in a statement of its own: two
  transactions changing two freezes of one account at once (a restriction released while a whole-account freeze
  is approved) otherwise each wrote flags read before the other committed, and the guard below refused the
  second (found by a review). A freeze of cash or shares, or a row saved without a change of status, kind or
  account, leaves the account alone;
* a trigger on ``exchange_account`` refuses any other value of either flag (check_violation, constraint
  ``account_flags_follow_freezes``): a new account starts with neither, and no ``UPDATE`` sets one by hand.

The migration first sets every account's flags from its freezes (they agreed when this was written; if they did
not, the freezes are the legal record).
"""

from django.db import migrations

EXPECTED = """
CREATE OR REPLACE FUNCTION supervision_account_flags_expected(account bigint, OUT frozen boolean,
                                                              OUT trading_restricted boolean)
LANGUAGE sql STABLE AS $$
    SELECT coalesce(bool_or(kind = 'account'), false), coalesce(bool_or(kind = 'trading'), false)
    FROM supervision_freeze
    WHERE account_id = account AND status = 'active' AND kind IN ('account', 'trading')
$$;
"""

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
CREATE TRIGGER supervision_freeze_account_flags
    AFTER INSERT OR DELETE OR UPDATE OF status, kind, account_id ON supervision_freeze
    FOR EACH ROW EXECUTE FUNCTION supervision_account_flags_follow();
ALTER TABLE supervision_freeze ENABLE ALWAYS TRIGGER supervision_freeze_account_flags;
"""

GUARD = """
CREATE OR REPLACE FUNCTION supervision_account_flags_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    expected record;
BEGIN
    expected := supervision_account_flags_expected(NEW.id);
    IF (NEW.frozen, NEW.trading_restricted) IS DISTINCT FROM (expected.frozen, expected.trading_restricted) THEN
        RAISE EXCEPTION 'account %: frozen and trading_restricted follow its active freezes', NEW.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'account_flags_follow_freezes';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER exchange_account_flags_follow_freezes_insert
    BEFORE INSERT ON exchange_account
    FOR EACH ROW WHEN (NEW.frozen OR NEW.trading_restricted)
    EXECUTE FUNCTION supervision_account_flags_guard();
CREATE TRIGGER exchange_account_flags_follow_freezes_update
    BEFORE UPDATE OF frozen, trading_restricted ON exchange_account
    FOR EACH ROW WHEN (OLD.frozen IS DISTINCT FROM NEW.frozen
                       OR OLD.trading_restricted IS DISTINCT FROM NEW.trading_restricted)
    EXECUTE FUNCTION supervision_account_flags_guard();
ALTER TABLE exchange_account ENABLE ALWAYS TRIGGER exchange_account_flags_follow_freezes_insert;
ALTER TABLE exchange_account ENABLE ALWAYS TRIGGER exchange_account_flags_follow_freezes_update;
"""

ALIGN = """
UPDATE exchange_account a
   SET frozen = e.frozen, trading_restricted = e.trading_restricted
  FROM exchange_account s, LATERAL supervision_account_flags_expected(s.id) e
 WHERE a.id = s.id AND (a.frozen, a.trading_restricted) IS DISTINCT FROM (e.frozen, e.trading_restricted);
"""

UNDO = """
DROP TRIGGER IF EXISTS exchange_account_flags_follow_freezes_insert ON exchange_account;
DROP TRIGGER IF EXISTS exchange_account_flags_follow_freezes_update ON exchange_account;
DROP TRIGGER IF EXISTS supervision_freeze_account_flags ON supervision_freeze;
DROP FUNCTION IF EXISTS supervision_account_flags_guard();
DROP FUNCTION IF EXISTS supervision_account_flags_follow();
DROP FUNCTION IF EXISTS supervision_account_flags_expected(bigint);
"""


class Migration(migrations.Migration):
    dependencies = [("supervision", "0003_trading_restriction")]

    operations = [migrations.RunSQL(EXPECTED + ALIGN + FOLLOW + GUARD, UNDO)]
