"""No forced transfer delivers to a fee account: the database refuses it.

The service refuses such a receiver (``receiver_not_eligible``: "A fee account cannot receive a forced
transfer."); this trigger is the backstop whatever path writes the row (an account's kind never changes once it
is opened).
"""

from django.db import migrations

GUARD = """
CREATE OR REPLACE FUNCTION supervision_transfer_no_fee_receiver() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM exchange_account a WHERE a.id = NEW.receiver_id AND a.kind = 'fee') THEN
        RAISE EXCEPTION 'a forced transfer to a fee account'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'forced_transfer_no_fee_receiver';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER supervision_transfer_no_fee_receiver BEFORE INSERT OR UPDATE OF receiver_id
    ON supervision_forcedtransfer
    FOR EACH ROW EXECUTE FUNCTION supervision_transfer_no_fee_receiver();
ALTER TABLE supervision_forcedtransfer ENABLE ALWAYS TRIGGER supervision_transfer_no_fee_receiver;
"""

UNGUARD = """
DROP TRIGGER IF EXISTS supervision_transfer_no_fee_receiver ON supervision_forcedtransfer;
DROP FUNCTION IF EXISTS supervision_transfer_no_fee_receiver();
"""


class Migration(migrations.Migration):
    dependencies = [("supervision", "0006_proposal_request_once"), ("core", "0009_user_username_unique_any_case")]

    operations = [migrations.RunSQL(GUARD, UNGUARD)]
