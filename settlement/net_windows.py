"""Why a net window cannot settle, kept for the depository's settlement monitor (in the cache, Redis).

A net window settles whole or not at all (``services.net_settle``): one participant that cannot pay or deliver, or
whose broker has no fee account, keeps every trade of the security's window pending, window after window, until its
cause is mended or the depository holds or refuses that participant's trades (the rest then settles at the next
window). ``tasks.settle_net`` logged it as a warning only, so the depository saw the trades pending on its monitor
and not why (found by a walk of net settlement). Each failure now leaves a note per security: why (a code and the
account, worded in the reader's language when the page is drawn), since when and when last tried; a window that
settles, or has nothing left to settle, removes it. A halted market pauses the window and leaves the note as it is.
Losing Redis loses the notes until the next window (every minute) finds the cause again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core.cache import cache
from django.db import DataError, IntegrityError
from django.utils import timezone
from django.utils.translation import gettext

from core import errors as err

KEY = "settlement:net:blocked:{code}"
KEPT = 24 * 3600

CASH, SHARES, FEE_ACCOUNT, DATABASE, OTHER = "cash", "shares", "fee_account", "database", "other"


@dataclass
class BlockedWindow:
    security: str
    why: str
    account: str
    since: dt.datetime
    tried_at: dt.datetime
    trades: int = 0
    message: str = ""  # another refusal's own words (in the worker's language)

    @property
    def reason(self) -> str:
        """Why, in the active language."""
        if self.why == CASH:
            return gettext("%(account)s cannot pay its net obligation; nothing settled.") % {"account": self.account}
        if self.why == SHARES:
            return gettext("%(account)s cannot deliver its net obligation; nothing settled.") % {
                "account": self.account
            }
        if self.why == FEE_ACCOUNT:
            return gettext("The broker of %(account)s has no fee account.") % {"account": self.account}
        if self.why == DATABASE:
            return gettext("The database refused a balance of the window; the worker's log names it.")
        return self.message


def _why(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, (IntegrityError, DataError)):
        return DATABASE, ""
    account = str(getattr(exc, "context", {}).get("account", ""))
    if isinstance(exc, err.InsufficientCash):
        return CASH, account
    if isinstance(exc, err.InsufficientShares):
        return SHARES, account
    return (FEE_ACCOUNT, account) if account else (OTHER, "")


def window_failed(code: str, exc: Exception, *, now: dt.datetime | None = None) -> None:
    """Note that the net window of ``code`` could not settle, because of ``exc``; a note of the same cause keeps
    its ``since``."""
    now = now or timezone.now()
    why, account = _why(exc)
    key = KEY.format(code=code)
    before = cache.get(key)
    since = before["since"] if before and (before["why"], before["account"]) == (why, account) else now.isoformat()
    message = str(exc) if why == OTHER else ""
    note = {"why": why, "account": account, "since": since, "tried_at": now.isoformat(), "message": message}
    cache.set(key, note, KEPT)


def window_settled(code: str) -> None:
    """The net window of ``code`` settled (or had nothing to settle): its note, if any, goes."""
    cache.delete(KEY.format(code=code))


def windows_blocked(pending: dict[str, int]) -> list[BlockedWindow]:
    """The notes of the net securities in ``pending`` (code → trades waiting), by security code."""
    if not pending:
        return []
    notes = cache.get_many([KEY.format(code=code) for code in pending])
    out = []
    for code in sorted(pending):
        note = notes.get(KEY.format(code=code))
        if note:
            out.append(
                BlockedWindow(
                    security=code,
                    why=note["why"],
                    account=note["account"],
                    since=dt.datetime.fromisoformat(note["since"]),
                    tried_at=dt.datetime.fromisoformat(note["tried_at"]),
                    trades=pending[code],
                    message=note.get("message", ""),
                )
            )
    return out
