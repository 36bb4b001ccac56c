"""What trading announces to the apps above it, after commit (``core.hooks.AfterCommit``).

* ``trades_matched(trade_ids=[…])``: trades were written (an order or quote matched, an RFQ answer accepted,
  a negotiated proposal confirmed); fired by ``services.book.trades_write``.
* ``rfq_answered(answer_id=…)``: a market maker answered a request for quote (``services.rfq.rfq_answer``).
* ``negotiated_proposed(proposal_id=…)``: a negotiated transfer was proposed to a counterparty
  (``services.negotiated.negotiated_propose``).

``notifications`` registers its listeners from its ``AppConfig.ready``.
"""

from __future__ import annotations

from core.hooks import AfterCommit

trades_matched = AfterCommit("exchange.trades_matched")
rfq_answered = AfterCommit("exchange.rfq_answered")
negotiated_proposed = AfterCommit("exchange.negotiated_proposed")
