"""What supervision announces to the apps above it, after commit (``core.hooks.AfterCommit``).

* ``freeze_changed(freeze_id=…, event="frozen"|"released"|"expired")``: a judicial freeze took effect
  (``services.freeze_approve``) or ended (``services.freeze_release``, ``services.freezes_expire``).

``notifications`` registers its listeners from its ``AppConfig.ready``.
"""

from __future__ import annotations

from core.hooks import AfterCommit

freeze_changed = AfterCommit("supervision.freeze_changed")
