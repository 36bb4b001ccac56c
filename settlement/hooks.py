"""What settlement announces to the apps above it, after commit (``core.hooks.AfterCommit``).

* ``trades_settled(trade_ids=[…])``: trades settled, gross (``services.trade_settle``) or in a net batch
  (``services.net_settle``).
* ``settlement_acted(action_id=…)``: a trade was held, released or refused (a ``SettlementAction`` row, with
  its reason; ``services.trade_hold|release|refuse`` and a standing instruction's hold).

``notifications`` registers its listeners from its ``AppConfig.ready``.
"""

from __future__ import annotations

from core.hooks import AfterCommit

trades_settled = AfterCommit("settlement.trades_settled")
settlement_acted = AfterCommit("settlement.settlement_acted")
