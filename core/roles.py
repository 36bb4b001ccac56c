"""Role sets: who supervises, who watches settlement. One definition, used by pages, API and services."""

from __future__ import annotations

from .models import Role

# Roles that supervise the whole market and may read every order, trade and ledger entry.
SUPERVISORS = frozenset({Role.EXCHANGE_OPERATOR, Role.DEPOSITORY_OPERATOR, Role.REGULATOR, Role.AUDITOR})
