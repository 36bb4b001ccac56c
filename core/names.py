"""How people's names are shown (DESIGN.md §6, §7): an investor's real name is personal data, stored only
encrypted (``core.crypto``), shown masked (its first character) to anyone but the investor and their broker's
staff; the full name only through a regulator's recorded reveal. A firm's name (a market maker's, a fee
account's) is not personal data."""

from __future__ import annotations

from . import crypto
from .models import Account, Role, User


def mask_name(value: str) -> str:
    """A real name as shown before a reveal: its first character only."""
    value = value.strip()
    return value[:1] + "*" * max(1, min(len(value) - 1, 3)) if value else ""


def holder_name(account: Account) -> str:
    """``account``'s name in full: an investor's real name, decrypted. Only for a caller that has checked
    its reader may see it (``account_name_for``), or for the account's own statement."""
    if account.holder_name_enc is None:
        return account.name
    return crypto.ring().decrypt(account.holder_name_enc)


def may_see_name(account: Account, viewer: User | None) -> bool:
    """Whether ``viewer`` may see ``account``'s holder's name in full: the holder and their broker's staff."""
    if account.kind != Account.Kind.INVESTOR:
        return True
    return viewer is not None and (
        account.owner_id == viewer.pk
        or (
            viewer.role == Role.BROKER_STAFF and account.broker_id is not None and account.broker_id == viewer.broker_id
        )
    )


def account_name_for(account: Account, viewer: User | None) -> str:
    """``account``'s name as ``viewer`` may see it: an investor's in full to the investor and to the staff of
    the investor's broker, masked to everyone else (``viewer`` None: to anyone, as in a register)."""
    if may_see_name(account, viewer):
        return holder_name(account)
    return mask_name(account.name)
