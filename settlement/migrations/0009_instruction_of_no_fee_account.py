"""No standing settlement instruction names a fee account: the database refuses it.

A fee account is never a party to a trade, so an instruction on it would hold nothing; the service refuses one
(``instruction_fee_account``) with a message that says so. This trigger is the backstop whatever path writes
the row (an account's kind never changes once it is opened).
"""

from django.db import migrations

GUARD = """
CREATE OR REPLACE FUNCTION settlement_instruction_no_fee_account() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.account_id IS NOT NULL
       AND EXISTS (SELECT 1 FROM exchange_account a WHERE a.id = NEW.account_id AND a.kind = 'fee') THEN
        RAISE EXCEPTION 'a settlement instruction on a fee account'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'instruction_no_fee_account';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER settlement_instruction_no_fee_account BEFORE INSERT OR UPDATE OF account_id
    ON settlement_settlementinstruction
    FOR EACH ROW EXECUTE FUNCTION settlement_instruction_no_fee_account();
ALTER TABLE settlement_settlementinstruction ENABLE ALWAYS TRIGGER settlement_instruction_no_fee_account;
"""

UNGUARD = """
DROP TRIGGER IF EXISTS settlement_instruction_no_fee_account ON settlement_settlementinstruction;
DROP FUNCTION IF EXISTS settlement_instruction_no_fee_account();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("settlement", "0008_settlement_instruction_roles_checked"),
        ("core", "0009_user_username_unique_any_case"),
    ]

    operations = [migrations.RunSQL(GUARD, UNGUARD)]
