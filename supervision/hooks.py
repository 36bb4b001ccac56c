"""What supervision announces to the apps above it, after commit (``core.hooks.AfterCommit``).

* ``freeze_changed(freeze_id=…, event="frozen"|"released"|"expired")``: a judicial freeze took effect
  (``services.freeze_approve``) or ended (``services.freeze_release``, ``services.freezes_expire``);
  ``freeze_changed(freeze_id=…, event="unlock_taken", security=…, quantity=…, at=…)``: it took shares a lock-up
  released (``services.unlock_claims_take``).
* ``assets_moved(what="transfer"|"correction", pk=…)``: a forced transfer or a correction of a settled trade
  moved an account's cash or shares (``services.forced_transfer_approve``, ``services.correction_approve``).

``notifications`` registers its listeners from its ``AppConfig.ready``.
"""

from __future__ import annotations

from core.hooks import AfterCommit

freeze_changed = AfterCommit("supervision.freeze_changed")
assets_moved = AfterCommit("supervision.assets_moved")
