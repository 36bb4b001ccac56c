"""Role sets: who supervises, who watches settlement. One definition, used by pages, API and services."""

from __future__ import annotations

from .models import Role

# Roles that supervise the whole market and may read every order, trade and ledger entry.
SUPERVISORS = frozenset({Role.EXCHANGE_OPERATOR, Role.DEPOSITORY_OPERATOR, Role.REGULATOR, Role.AUDITOR})

# Broker staff and the supervisors: every role but investors and market makers. Their web sessions end
# after STAFF_SESSION_IDLE_SECONDS without activity (core.middleware.staff_session_idle_timeout).
STAFF_ROLES = frozenset({Role.BROKER_STAFF, *SUPERVISORS})
