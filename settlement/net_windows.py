"""Why a net window cannot settle, kept for the depository's settlement monitor (in the cache, Redis).

A net window settles whole or not at all (``services.net_settle``): one participant that cannot pay or deliver, or
whose broker has no fee account, keeps every trade of the security's window pending, window after window, until its
cause is mended or the depository holds or refuses that participant's trades (the rest then settles at the next
window). ``tasks.settle_net`` logged it as a warning only, so the depository saw the trades pending on its monitor
and not why (found by a walk of net settlement). Each failure now leaves a note per security: why (a code and the
account, worded in the reader's language when the page is drawn), since when and when last tried; a window that
settles, or has nothing left to settle, removes it. A halted market pauses the window and leaves the note as it is.
Losing Redis loses the notes until the next window (every minute) finds the cause again.

A window blocked by several participants names every one of them (``net_settle`` finds them all in the checks it
makes anyway; it named only the first, so that mending it showed the next a minute later), the first ``NAMED``
by name and the rest by their number. Each blocker keeps its own ``since``; the window's is the earliest of its
current blockers'. A note written before blockers were listed reads as one blocker.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db import DataError, IntegrityError
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from core import errors as err

KEY = "settlement:net:blocked:{code}"
KEPT = 24 * 3600
# The blockers a note names; more are counted. A member without a fee account blocks a window with each of its
# clients in it: the note stays small (it is read at each refresh of the monitor) and the page readable.
NAMED = 100

CASH, SHARES, FEE_ACCOUNT, DATABASE, OTHER = "cash", "shares", "fee_account", "database", "other"
WHYS = (CASH, SHARES, FEE_ACCOUNT, DATABASE, OTHER)


@dataclass
class Blocker:
    """One cause of a window's failure: why, the account (empty for a database refusal or another cause), since
    when it has blocked the window without a break."""

    why: str
    account: str
    since: dt.datetime


@dataclass
class BlockedWindow:
    security: str
    why: str  # the first blocker's
    account: str  # the first blocker's
    since: dt.datetime  # the earliest of the blockers'
    tried_at: dt.datetime
    trades: int = 0
    message: str = ""  # another refusal's own words (in the worker's language)
    blockers: list[Blocker] = field(default_factory=list)
    others: int = 0  # blockers beyond the ``NAMED`` first, not named

    @property
    def reasons(self) -> list[str]:
        """Why, in the active language: a sentence per cause, naming every account it blocks, in the order the
        window met them; then how many more block it, unnamed."""
        by_why: dict[str, list[str]] = {}
        for blocker in self.blockers:
            by_why.setdefault(blocker.why, []).append(blocker.account)
        out = [self._sentence(why, accounts) for why, accounts in by_why.items()]
        if self.others:
            out.append(
                ngettext(
                    "%(count)s more account blocks the window too; it is not named here.",
                    "%(count)s more accounts block the window too; they are not named here.",
                    self.others,
                )
                % {"count": self.others}
            )
        return out

    @property
    def reason(self) -> str:
        """Why, in the active language, in one text."""
        return " ".join(self.reasons)

    def _sentence(self, why: str, accounts: list[str]) -> str:
        if why in (CASH, SHARES, FEE_ACCOUNT) and len(accounts) > 1:
            names = {"accounts": gettext(", ").join(accounts)}
            if why == CASH:
                return gettext("%(accounts)s cannot pay their net obligations; nothing settled.") % names
            if why == SHARES:
                return gettext("%(accounts)s cannot deliver their net obligations; nothing settled.") % names
            return gettext("The brokers of %(accounts)s have no fee account.") % names
        if why == CASH:
            return gettext("%(account)s cannot pay its net obligation; nothing settled.") % {"account": accounts[0]}
        if why == SHARES:
            return gettext("%(account)s cannot deliver its net obligation; nothing settled.") % {"account": accounts[0]}
        if why == FEE_ACCOUNT:
            return gettext("The broker of %(account)s has no fee account.") % {"account": accounts[0]}
        if why == DATABASE:
            return gettext("The database refused a balance of the window; the worker's log names it.")
        return self.message


def _blockers(exc: Exception) -> list[tuple[str, str]]:
    """Every (why, account) that blocked the window, in the order met: ``net_settle`` lists them in its refusal's
    ``blocked``; any other refusal is one cause."""
    if isinstance(exc, (IntegrityError, DataError)):
        return [(DATABASE, "")]
    context = getattr(exc, "context", {})
    if context.get("blocked"):
        return list(dict.fromkeys((str(why), str(account)) for why, account in context["blocked"]))
    account = str(context.get("account", ""))
    if isinstance(exc, err.InsufficientCash):
        return [(CASH, account)]
    if isinstance(exc, err.InsufficientShares):
        return [(SHARES, account)]
    return [(FEE_ACCOUNT, account)] if account else [(OTHER, "")]


def _noted_blockers(note: dict) -> list[dict]:
    """A note's blockers; a note written before they were listed names one."""
    return note.get("blockers") or [{"why": note["why"], "account": note["account"], "since": note["since"]}]


def window_failed(code: str, exc: Exception, *, now: dt.datetime | None = None) -> None:
    """Note that the net window of ``code`` could not settle, because of ``exc``; a blocker noted before keeps its
    ``since``."""
    now = now or timezone.now()
    found = _blockers(exc)
    key = KEY.format(code=code)
    before = cache.get(key)
    known = {(b["why"], b["account"]): b["since"] for b in _noted_blockers(before)} if before else {}
    blockers = [
        {"why": why, "account": account, "since": known.get((why, account), now.isoformat())}
        for why, account in found[:NAMED]
    ]
    since = min(blockers, key=lambda b: dt.datetime.fromisoformat(b["since"]))["since"]
    note = {
        "why": blockers[0]["why"],
        "account": blockers[0]["account"],
        "blockers": blockers,
        "others": len(found) - len(blockers),
        "since": since,
        "tried_at": now.isoformat(),
        "message": str(exc) if found[0][0] == OTHER else "",
    }
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
                    blockers=[
                        Blocker(why=b["why"], account=b["account"], since=dt.datetime.fromisoformat(b["since"]))
                        for b in _noted_blockers(note)
                    ],
                    others=note.get("others", 0),
                )
            )
    return out
