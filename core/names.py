"""How people's names are shown (DESIGN.md §6, §7): an investor's real name is personal data, shown masked
(its first character) to anyone but the investor and their broker's staff; the full name only through a
regulator's recorded reveal. A firm's name (a market maker's, a fee account's) is not personal data."""

from __future__ import annotations

from .models import Account, Role, User


def mask_name(value: str) -> str:
    """A real name as shown before a reveal: its first character only."""
    value = value.strip()
    return value[:1] + "*" * max(1, min(len(value) - 1, 3)) if value else ""


def account_name_for(account: Account, viewer: User | None) -> str:
    """``account``'s name as ``viewer`` may see it: an investor's in full to the investor and to the staff of
    the investor's broker, masked to everyone else (``viewer`` None: to anyone, as in a register)."""
    if account.kind != Account.Kind.INVESTOR:
        return account.name
    if viewer is not None and (
        account.owner_id == viewer.pk
        or (
            viewer.role == Role.BROKER_STAFF and account.broker_id is not None and account.broker_id == viewer.broker_id
        )
    ):
        return account.name
    return mask_name(account.name)
