"""No trade is written for a frozen account: the database refuses it.

A whole-account freeze's approval pulls the account's quotes and cancels its orders, the crossing queries skip a
frozen account's quotes and orders, and every trading path refuses a frozen account before it trades. This
trigger is the backstop the services cannot be: whatever path writes a trade, its buyer's and seller's accounts are
not frozen at that moment (a statement-level check, one for a batch of trades). Trades written before a freeze
stay, and settle.
"""

from django.db import migrations

GUARD = """
CREATE OR REPLACE FUNCTION exchange_trade_no_frozen_account() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_trades t JOIN exchange_account a ON a.id IN (t.buyer_id, t.seller_id)
               WHERE a.frozen) THEN
        RAISE EXCEPTION 'a trade of a frozen account'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'trade_no_frozen_account';
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER exchange_trade_no_frozen_account AFTER INSERT ON exchange_trade
    REFERENCING NEW TABLE AS new_trades
    FOR EACH STATEMENT EXECUTE FUNCTION exchange_trade_no_frozen_account();
ALTER TABLE exchange_trade ENABLE ALWAYS TRIGGER exchange_trade_no_frozen_account;
"""

UNGUARD = """
DROP TRIGGER IF EXISTS exchange_trade_no_frozen_account ON exchange_trade;
DROP FUNCTION IF EXISTS exchange_trade_no_frozen_account();
"""


class Migration(migrations.Migration):
    dependencies = [("exchange", "0019_negotiated_wrong_codes_ceiling")]

    operations = [migrations.RunSQL(GUARD, UNGUARD)]
