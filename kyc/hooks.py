"""What KYC announces to the apps above it, after commit (``core.hooks.AfterCommit``).

* ``kyc_decided(profile_id=…, state="approved"|"rejected", reason=…, at=<ISO time>)``: a checker approved or
  rejected an application (``services.kyc_approve``, ``services.kyc_reject``). The decision's facts travel
  with the event because the profile may be edited and sent again before a listener reads it.

``notifications`` registers its listeners from its ``AppConfig.ready``.
"""

from __future__ import annotations

from core.hooks import AfterCommit

kyc_decided = AfterCommit("kyc.kyc_decided")
