"""Writes of the registry: halting and resuming a security or the whole market (exchange operators).

Each change takes the security row lock first (the global lock order), or the
market switch's gate and row (``registry.gate``: a market halt waits for the orders and settlements in flight,
and those that come after it read the market halted), re-reads the state under it, writes a HALT or RESUME entry and an
audit record in the same transaction, and refuses a change that changes
nothing (halting what is halted) with its own error. A halted security keeps
its resting orders; they trade again after resume. A halted market refuses
orders and quotes everywhere and pauses settlement (``settlement.services``);
sealing goes on.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core import errors as err
from core import events
from core.audit import audit_record
from core.models import Role, User
from ledger.services import entry_write

from . import gate
from .entries import Halt, Resume
from .listing import security_lock_not_delisted
from .models import MarketState, Security

log = logging.getLogger(__name__)

SecurityAlreadyHalted = err.error_class(
    "SecurityAlreadyHalted", "security_already_halted", _("The security is already halted."), 409
)
SecurityNotHalted = err.error_class("SecurityNotHalted", "security_not_halted", _("The security is not halted."), 409)
MarketAlreadyHalted = err.error_class(
    "MarketAlreadyHalted", "market_already_halted", _("The market is already halted."), 409
)
MarketNotHalted = err.error_class("MarketNotHalted", "market_not_halted", _("The market is not halted."), 409)


def _require_operator(actor: User) -> None:
    if actor.role != Role.EXCHANGE_OPERATOR:
        raise err.PermissionDenied(gettext("Only exchange operators halt and resume trading."))


def _security_switch(*, actor: User, code: str, reason: str, ip: str | None, halt: bool) -> Security:
    _require_operator(actor)
    reason = err.reason_checked(reason)
    with transaction.atomic():
        security = security_lock_not_delisted(code)
        _refuse_unchanged(
            halted=security.status == Security.Status.HALTED,
            halt=halt,
            already=SecurityAlreadyHalted,
            not_halted=SecurityNotHalted,
        )
        now = timezone.now()
        security.status = Security.Status.HALTED if halt else Security.Status.LISTED
        security.halt_reason = reason if halt else ""
        security.save(update_fields=["status", "halt_reason"])
        _recorded(
            scope="security",
            security=code,
            action="security_halt" if halt else "security_resume",
            actor=actor,
            reason=reason,
            ip=ip,
            halt=halt,
            at=now,
        )
        return security


def security_halt(*, actor: User, code: str, reason: str, ip: str | None = None) -> Security:
    """Stop trading in one security. Its resting orders stay, and trade again after resume."""
    return _security_switch(actor=actor, code=code, reason=reason, ip=ip, halt=True)


def security_resume(*, actor: User, code: str, reason: str, ip: str | None = None) -> Security:
    return _security_switch(actor=actor, code=code, reason=reason, ip=ip, halt=False)


def _market_switch(*, actor: User, reason: str, ip: str | None, halt: bool) -> MarketState:
    _require_operator(actor)
    reason = err.reason_checked(reason)
    with transaction.atomic():
        state = _market_locked()
        _refuse_unchanged(halted=state.halted, halt=halt, already=MarketAlreadyHalted, not_halted=MarketNotHalted)
        return _switched(state, actor=actor, reason=reason, ip=ip, halt=halt)


def _market_locked() -> MarketState:
    """The switch's row, locked behind the gate: every order or settlement that read the switch has ended, and those
    that come wait for this transaction."""
    gate.close()
    state, _created = MarketState.objects.select_for_update().get_or_create(id=1)
    return state


def _switched(state: MarketState, *, actor: User | None, reason: str, ip: str | None, halt: bool) -> MarketState:
    """Switch the locked ``state``: the row, its HALT or RESUME entry, the audit record, the live pages told."""
    now = timezone.now()
    state.halted, state.reason, state.changed_at = halt, reason, now
    state.save(update_fields=["halted", "reason", "changed_at"])
    _recorded(
        scope="market",
        security=None,
        action="market_halt" if halt else "market_resume",
        actor=actor,
        reason=reason,
        ip=ip,
        halt=halt,
        at=now,
    )
    return state


def _refuse_unchanged(
    *, halted: bool, halt: bool, already: type[err.DomainError], not_halted: type[err.DomainError]
) -> None:
    """A switch that changes nothing is refused with its own error: halting what is halted, resuming what is not."""
    if halt and halted:
        raise already()
    if not halt and not halted:
        raise not_halted()


def _recorded(
    *,
    scope: str,
    security: str | None,
    action: str,
    actor: User | None,
    reason: str,
    ip: str | None,
    halt: bool,
    at: dt.datetime,
) -> None:
    """What a switch of one security (``scope`` "security") or of the market (``security`` None) writes beside its
    row, in its transaction: the HALT or RESUME entry, the audit record ``action`` (aimed at the security's code, or
    at nothing), and the open market watches told at once."""
    entry = entry_write(
        (Halt if halt else Resume)(scope=scope, security=security, reason=reason, at=at), recorded_at=at
    )
    audit_record(actor=actor, action=action, target=security or "", ip=ip, detail={"reason": reason, "entry": entry.pk})
    events.publish_coalesced("market")


def market_halt(*, actor: User, reason: str, ip: str | None = None) -> MarketState:
    """The kill switch: trading stops everywhere and settlement pauses; sealing goes on."""
    return _market_switch(actor=actor, reason=reason, ip=ip, halt=True)


def market_resume(*, actor: User, reason: str, ip: str | None = None) -> MarketState:
    """Trading resumes; the settlement sweep then settles what waited, each trade once."""
    return _market_switch(actor=actor, reason=reason, ip=ip, halt=False)


# The halt's reason when the exchange itself stops trading because its ledger cannot be sealed: kept as typed
# reasons are, so in both of the pages' languages.
LEDGER_HELD_REASON = (
    "账本无法封存：本数据库落后于或不同于交易所已公布的账本，交易暂停，待运营人员恢复。"
    " / The ledger cannot be sealed: this database is behind or beside the ledger the exchange already published."
    " Trading is halted until the operators restore it."
)


def market_halt_while_ledger_held(reason: str) -> bool:
    """Halt the market because the sealer is held (``ledger.hooks.when_held``; ``reason`` is the sealer's, for the
    log): the database lacks trades the exchange published (an older backup restored) or holds others, so its
    balances are not the published ones, and matching on them would sell what was sold. By the exchange itself
    (no actor), once: a halted market, whoever halted it, is left as it is. Not resumed by itself when sealing goes
    on again: an operator resumes, after looking (docs/operations.md, Backups and restore). True if it halted."""
    if market_is_halted():
        return False
    with transaction.atomic():
        state = _market_locked()
        if state.halted:
            return False
        _switched(state, actor=None, reason=LEDGER_HELD_REASON, ip=None, halt=True)
    log.error("market halted: ledger sealing is held (%s)", reason)
    return True


def market_is_halted() -> bool:
    return MarketState.objects.filter(id=1, halted=True).exists()
