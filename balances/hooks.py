"""What balances announces to the apps above it, after commit (``core.hooks.AfterCommit``).

* ``issuance_approved(issuance_id=…)``: an issuance proposal was approved and its shares credited to their
  holders (``issuances.issuance_approve``). An issue made by set-up code alone (no proposal) announces nothing.
* ``cash_deposited(entry_id=…, account_id=…, amount=…)``: cash was credited to an account at the counter
  (``services.cash_deposit``, its DEPOSIT entry; the amount as a string).
* ``cash_withdrawn(entry_id=…, account_id=…, amount=…)``: cash was paid out of an account at the counter
  (``services.cash_withdraw``, its WITHDRAWAL entry; the amount as a string).
* ``fee_account_opened(account_id=…, broker_id=…)``: a member firm's fee account was opened
  (``services.account_open``): its clients' trades that could not settle for want of it now can.

``notifications`` and ``settlement`` register their listeners from their ``AppConfig.ready``.
"""

from __future__ import annotations

from core.hooks import AfterCommit

issuance_approved = AfterCommit("balances.issuance_approved")
cash_deposited = AfterCommit("balances.cash_deposited")
cash_withdrawn = AfterCommit("balances.cash_withdrawn")
fee_account_opened = AfterCommit("balances.fee_account_opened")
