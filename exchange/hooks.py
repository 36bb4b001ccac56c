"""What trading announces to the apps above it, after commit (``core.hooks.AfterCommit``).

* ``rfq_answered(answer_id=…)``: a market maker answered a request for quote (``services.rfq.rfq_answer``).
* ``negotiated_proposed(proposal_id=…)``: a negotiated transfer was proposed to a counterparty
  (``services.negotiated.negotiated_propose``).
* ``negotiated_ended(proposal_id=…)``: an open proposal ended without a trade: withdrawn by a party, by the
  system after too many wrong codes, or expired (``services.negotiated._close``).
* ``orders_closed(order_ids=[…])``: the exchange, not their owner, cancelled open orders (``Order.closed_by``: a
  security's change or delisting, a whole-account freeze); fired by each ``services.book.Book`` that wrote such
  cancels, so a freeze cancelling orders in three securities fires three times, each book its own orders.

``notifications`` registers its listeners from its ``AppConfig.ready``. New trades are announced by the ledger
once sealed (``ledger.hooks.after_seal``), not from here.
"""

from __future__ import annotations

from core.hooks import AfterCommit

rfq_answered = AfterCommit("exchange.rfq_answered")
negotiated_proposed = AfterCommit("exchange.negotiated_proposed")
negotiated_ended = AfterCommit("exchange.negotiated_ended")
orders_closed = AfterCommit("exchange.orders_closed")
