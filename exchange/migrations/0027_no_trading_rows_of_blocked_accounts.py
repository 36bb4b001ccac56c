"""No order, quote, request for quote, firm answer or negotiated proposal is written for an account that may not
trade: the database refuses it.

Every trading path refuses a frozen or trading-restricted account before it writes (``exchange.pretrade``), but
it reads the account's flags before it takes any lock. A whole-account freeze holds the account's cash and shares,
so a path that read the account before the approval committed then finds nothing available; a trading restriction
holds nothing, so such a path went on and wrote a resting order (or a request, an answer, a proposal) for a
restricted account, which waited for the beat to close it. These triggers are the backstop: the row's account
is read again as the row is written (a statement of its own, so it sees a freeze or restriction committed while
the path waited for its locks), and the write is refused by a named constraint that ``core.errors`` turns into
the account's own refusal. Rows written before stay: the approval closes them, or the beat does.

Only the placing account is checked: a negotiated proposal to a frozen counterparty is taken (the proposer may
not learn of a legal order from it) and withdrawn by the beat; the trade's own trigger (0020) refuses it anyway.
"""

from django.db import migrations

GUARD = """
CREATE OR REPLACE FUNCTION exchange_account_may_trade(account bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    blocked record;
BEGIN
    SELECT frozen, trading_restricted INTO blocked FROM exchange_account WHERE id = account;
    IF blocked.frozen THEN
        RAISE EXCEPTION 'account % is frozen: it may not trade', account
            USING ERRCODE = 'check_violation', CONSTRAINT = 'account_frozen_may_not_trade';
    ELSIF blocked.trading_restricted THEN
        RAISE EXCEPTION 'account % is restricted from trading', account
            USING ERRCODE = 'check_violation', CONSTRAINT = 'account_restricted_may_not_trade';
    END IF;
END;
$$;
CREATE OR REPLACE FUNCTION exchange_placed_by_account_that_may_trade() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM exchange_account_may_trade(NEW.account_id);
    RETURN NEW;
END;
$$;
CREATE OR REPLACE FUNCTION exchange_proposed_by_account_that_may_trade() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM exchange_account_may_trade(NEW.proposer_id);
    RETURN NEW;
END;
$$;
"""

TABLES = ["exchange_order", "exchange_quote", "exchange_rfqrequest", "exchange_rfqanswer"]


def _trigger(table: str, function: str) -> str:
    return (
        f"CREATE TRIGGER {table}_account_may_trade BEFORE INSERT ON {table}"
        f" FOR EACH ROW EXECUTE FUNCTION {function}();"
        f" ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_account_may_trade;"
    )


TRIGGERS = "\n".join(
    [_trigger(t, "exchange_placed_by_account_that_may_trade") for t in TABLES]
    + [_trigger("exchange_negotiatedtrade", "exchange_proposed_by_account_that_may_trade")]
)

UNGUARD = "\n".join(
    [f"DROP TRIGGER IF EXISTS {t}_account_may_trade ON {t};" for t in [*TABLES, "exchange_negotiatedtrade"]]
    + [
        "DROP FUNCTION IF EXISTS exchange_placed_by_account_that_may_trade();",
        "DROP FUNCTION IF EXISTS exchange_proposed_by_account_that_may_trade();",
        "DROP FUNCTION IF EXISTS exchange_account_may_trade(bigint);",
    ]
)


class Migration(migrations.Migration):
    dependencies = [("exchange", "0026_trade_restricted")]

    operations = [migrations.RunSQL(GUARD + TRIGGERS, UNGUARD)]
