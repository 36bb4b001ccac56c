"""Listing, changing and delisting securities (exchange operators).

Every listing, every change of a security's parameters and every delisting is
a ledger entry (LISTING, SECURITY_CHANGE with each field's before and after
value, DELISTING) and an audit record, in the transaction that makes it.

What happens to resting orders and quotes when a parameter changes is decided
by the trading app, which registers a listener here (``registry.hooks``) and
runs inside the same transaction, under the security's row lock:

* an order or quote that no longer fits the new lot, tick or band, or whose
  trading mode is turned off, is cancelled with the change as its reason and
  its reservation released; the ones that still fit are kept;
* delisting cancels every resting order and pulls every quote;
* a listener may refuse a change (say, a settlement mode switch while trades
  wait to settle); then nothing changes.

A change that sets the holder cap below the security's holders, as the cap
counts them (``hooks.holders_counted``: the buy path's count), is refused
(``holder_cap_below_holders``, naming the count) unless the operator confirms
it: existing holders keep their shares, and no new holder may buy until the
count is below the cap (the buy path refuses any new holder while the count
is at or above it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core import errors as err
from core.audit import audit_record
from core.models import Role, User
from ledger.services import entry_write

from . import hooks
from .entries import Change, Delisting, Listing, SecurityChange
from .models import Security

SecurityCodeTaken = err.error_class(
    "SecurityCodeTaken", "security_code_taken", _("A security with this code is already listed."), 409
)
NothingChanged = err.error_class("NothingChanged", "nothing_changed", _("The change changes nothing."), 409)
HolderCapBelowHolders = err.error_class(
    "HolderCapBelowHolders",
    "holder_cap_below_holders",
    _("The new holder cap is below the security's current number of holders; confirm the change to make it."),
    409,
)

CODE_RE = re.compile(r"^[A-Z0-9]{2,16}$")
MODES = ("market_making", "rfq", "negotiated")
# The parameters an operator sets, in the order the forms and the entries show them.
PARAMETERS = (
    "name",
    "issuer",
    "risk_rating",
    "lot_size",
    "tick_size",
    "reference_price",
    "band_pct",
    "max_holders",
    "trading_modes",
    "settlement_mode",
    "qualified_only",
    "min_holding_days",
)
# The ones that can leave a resting order or quote out of the rules.
TRADING_PARAMETERS = frozenset({"lot_size", "tick_size", "reference_price", "band_pct", "trading_modes"})
MAX_HOLDERS_LIMIT = 10_000
MAX_HOLDING_DAYS = 250


@dataclass(frozen=True)
class Parameters:
    """A security's parameters, checked; ``trading_modes`` is a sorted tuple of MODES."""

    name: str
    issuer: str
    risk_rating: int
    lot_size: int
    tick_size: Decimal
    reference_price: Decimal
    band_pct: Decimal
    max_holders: int
    trading_modes: tuple[str, ...]
    settlement_mode: str
    qualified_only: bool
    min_holding_days: int

    @classmethod
    def of(cls, security: Security) -> Parameters:
        modes = (("market_making", security.mode_market_making), ("rfq", security.mode_rfq))
        modes += (("negotiated", security.mode_negotiated),)
        return cls(
            name=security.name,
            issuer=security.issuer,
            risk_rating=security.risk_rating,
            lot_size=security.lot_size,
            tick_size=Decimal(security.tick_size),
            reference_price=Decimal(security.reference_price),
            band_pct=Decimal(security.band_pct),
            max_holders=security.max_holders,
            trading_modes=tuple(m for m, on in modes if on),
            settlement_mode=security.settlement_mode,
            qualified_only=security.qualified_only,
            min_holding_days=security.min_holding_days,
        )

    def apply(self, security: Security) -> None:
        for name in PARAMETERS:
            if name != "trading_modes":
                setattr(security, name, getattr(self, name))
        security.mode_market_making = "market_making" in self.trading_modes
        security.mode_rfq = "rfq" in self.trading_modes
        security.mode_negotiated = "negotiated" in self.trading_modes


# Each check below names the parameter it refuses (``field``): the API answers it in ``fields`` (core.api.errors).


def _text(value, what: str, field: str, limit: int = 200) -> str:
    text = str(value or "").strip()
    if not text:
        raise err.InvalidInput(gettext("%(what)s is required.") % {"what": what}, field=field)
    if len(text) > limit:
        raise err.InvalidInput(
            gettext("%(what)s is too long (at most %(n)s characters).") % {"what": what, "n": limit}, field=field
        )
    return text


# A security's risk rating by name (stored as 1 … 5): R1 (lowest) … R5 (highest).
RISK_RATINGS = tuple(f"R{n}" for n in range(1, 6))


def _int(value, what: str, field: str, low: int, high: int) -> int:
    if isinstance(value, bool):
        value = None
    try:
        number = int(str(value).strip()) if not isinstance(value, int) else value
    except (TypeError, ValueError):
        raise err.InvalidInput(gettext("%(what)s must be a whole number.") % {"what": what}, field=field) from None
    if not low <= number <= high:
        raise err.InvalidInput(
            gettext("%(what)s must be between %(low)s and %(high)s.") % {"what": what, "low": low, "high": high},
            field=field,
        )
    return number


def _decimal(value, what: str, field: str, *, places: int, low: Decimal, high: Decimal) -> Decimal:
    if isinstance(value, float | bool):
        raise err.InvalidInput(gettext("%(what)s must be a decimal string.") % {"what": what}, field=field)
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise err.InvalidInput(gettext("%(what)s is not a number.") % {"what": what}, field=field) from None
    # The range first: quantizing a number too large for the context (1E+30) raises InvalidOperation.
    if not number.is_finite() or not low < number < high or number != number.quantize(Decimal(1).scaleb(-places)):
        raise err.InvalidInput(
            gettext("%(what)s must be above %(low)s and below %(high)s, with at most %(places)s decimal places.")
            % {"what": what, "low": low, "high": high, "places": places},
            field=field,
        )
    return number.quantize(Decimal(1).scaleb(-places))


def _bool(value, what: str, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "1", "on", "yes"):
        return True
    if str(value).lower() in ("false", "0", "off", "no", ""):
        return False
    raise err.InvalidInput(gettext("%(what)s must be true or false.") % {"what": what}, field=field)


def parameters_checked(data: dict, *, base: Parameters | None = None) -> Parameters:
    """Check ``data`` (every parameter for a listing; any subset for a change, over ``base``)."""
    unknown = sorted(set(data) - set(PARAMETERS))
    if unknown:
        raise err.InvalidInput(gettext("Unknown parameter: %(names)s.") % {"names": ", ".join(unknown)})
    merged = {**(base.__dict__ if base else {}), **data}
    required = [p for p in PARAMETERS if p not in merged]
    defaults = {
        "lot_size": 100,
        "tick_size": Decimal("0.01"),
        "band_pct": Decimal("30.00"),
        "max_holders": 200,
        "trading_modes": list(MODES),
        "settlement_mode": Security.SettlementMode.GROSS,
        "qualified_only": False,
        "min_holding_days": 0,
    }
    for name in required:
        if name not in defaults:
            raise err.InvalidInput(gettext("%(what)s is required.") % {"what": name}, field=name)
        merged[name] = defaults[name]
    modes = merged["trading_modes"]
    if isinstance(modes, str):
        modes = [m for m in modes.split(",") if m]
    if not isinstance(modes, list | tuple) or not modes or any(m not in MODES for m in modes):
        raise err.InvalidInput(
            gettext("Trading modes must be one or more of %(modes)s.") % {"modes": ", ".join(MODES)},
            field="trading_modes",
        )
    if merged["settlement_mode"] not in Security.SettlementMode.values:
        raise err.InvalidInput(gettext("Settlement mode must be gross or net."), field="settlement_mode")
    params = Parameters(
        name=_text(merged["name"], gettext("Name"), "name"),
        issuer=_text(merged["issuer"], gettext("Issuer"), "issuer"),
        risk_rating=_int(
            str(merged["risk_rating"]).upper().removeprefix("R"),
            gettext("Risk rating"),
            "risk_rating",
            1,
            len(RISK_RATINGS),
        ),
        lot_size=_int(merged["lot_size"], gettext("Lot size"), "lot_size", 1, 1_000_000),
        tick_size=_decimal(
            merged["tick_size"], gettext("Tick size"), "tick_size", places=2, low=Decimal(0), high=Decimal(1000)
        ),
        reference_price=_decimal(
            merged["reference_price"],
            gettext("Reference price"),
            "reference_price",
            places=2,
            low=Decimal(0),
            high=Decimal(10) ** 9,
        ),
        band_pct=_decimal(
            merged["band_pct"], gettext("Price band"), "band_pct", places=2, low=Decimal(0), high=Decimal(100)
        ),
        max_holders=_int(merged["max_holders"], gettext("Maximum holders"), "max_holders", 1, MAX_HOLDERS_LIMIT),
        trading_modes=tuple(sorted(set(modes), key=MODES.index)),
        settlement_mode=merged["settlement_mode"],
        qualified_only=_bool(merged["qualified_only"], gettext("Qualified investors only"), "qualified_only"),
        min_holding_days=_int(
            merged["min_holding_days"], gettext("Minimum holding days"), "min_holding_days", 0, MAX_HOLDING_DAYS
        ),
    )
    if params.reference_price % params.tick_size:
        raise err.InvalidInput(gettext("The reference price must be a whole number of ticks."), field="reference_price")
    if params.band_pct == 0:
        # The reference alone leaves no room for a bid below an ask: no market maker could quote it. (A band
        # narrower than a tick is widened to one tick each side: Security.band_around.)
        raise err.InvalidInput(gettext("The price band must be more than zero."), field="band_pct")
    return params


def security_lock_not_delisted(code: str) -> Security:
    """The security's row locked (first, as the global lock order has it) for an operator's change: its
    parameters, a delisting, a halt or a resume. ``unknown_security`` when there is none; ``security_not_listed``
    once delisted, which is for good."""
    security = Security.objects.select_for_update(no_key=True).filter(code=code).first()
    if security is None:
        raise err.UnknownSecurity()
    if security.status == Security.Status.DELISTED:
        raise err.SecurityNotListed()
    return security


def _require_operator(actor: User) -> None:
    if actor.role != Role.EXCHANGE_OPERATOR:
        raise err.PermissionDenied(gettext("Only exchange operators list, change and delist securities."))


def _shown(value) -> str:
    """A parameter's value as the entries and the audit trail show it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


# Parameters of free text: left out of the summary the cancelled orders keep.
_FREE_TEXT = {"name", "issuer"}


def security_list(*, actor: User, code: str, data: dict, ip: str | None = None) -> Security:
    """List a new security: a LISTING entry with every parameter, and an audit record."""
    _require_operator(actor)
    code = str(code or "").strip().upper()
    if not CODE_RE.match(code):
        raise err.InvalidInput(gettext("A security code is 2 to 16 letters or digits."))
    params = parameters_checked(data)
    try:
        with transaction.atomic():
            security = Security(code=code, status=Security.Status.LISTED)
            params.apply(security)
            security.save()
            now = timezone.now()
            entry = entry_write(
                Listing(
                    security=code,
                    parameters=[Change(field=p, before=None, after=_shown(getattr(params, p))) for p in PARAMETERS],
                    at=now,
                ),
                recorded_at=now,
            )
            audit_record(
                actor=actor, action="security_list", target=code, ip=ip, detail={"name": params.name, "entry": entry.pk}
            )
    except IntegrityError as exc:
        status = Security.objects.filter(code=code).values_list("status", flat=True).first()
        if status == Security.Status.DELISTED:
            # A delisted security keeps its code (its ledger, register and trades name it): not "already listed"
            # (found by an outside tester).
            raise SecurityCodeTaken(
                gettext("The code %(code)s belongs to a delisted security and cannot be reused.") % {"code": code}
            ) from exc
        if status is not None:
            raise SecurityCodeTaken() from exc
        raise
    return security


def security_change(
    *,
    actor: User,
    code: str,
    data: dict,
    reason: str,
    confirm_holder_cap_below_holders: bool = False,
    ip: str | None = None,
) -> Security:
    """Change a listed security's parameters: a SECURITY_CHANGE entry with each field's before and after.

    The trading app's listener cancels the resting orders and quotes the change leaves out of the rules
    (``registry.hooks``), in the same transaction, and may refuse the change. A new holder cap below the
    security's holders is refused (``HolderCapBelowHolders``) unless ``confirm_holder_cap_below_holders``.
    """
    _require_operator(actor)
    reason = err.reason_checked(reason)
    with transaction.atomic():
        security = security_lock_not_delisted(code)
        before = Parameters.of(security)
        after = parameters_checked(data, base=before)
        changes = [
            Change(field=p, before=_shown(getattr(before, p)), after=_shown(getattr(after, p)))
            for p in PARAMETERS
            if getattr(before, p) != getattr(after, p)
        ]
        if not changes:
            raise NothingChanged()
        # Counted under the security's row lock, which a buy takes too: the count cannot change under it.
        holders = hooks.holders_counted(security.pk) if after.max_holders != before.max_holders else 0
        below = after.max_holders < holders
        if below and not confirm_holder_cap_below_holders:
            raise HolderCapBelowHolders(
                gettext(
                    "%(code)s has %(n)s holders now, more than the new holder cap of %(cap)s. Existing holders keep "
                    "their shares; no new holder may buy until the count is below the cap. Confirm the change to "
                    "make it."
                )
                % {"code": code, "n": holders, "cap": after.max_holders}
            )
        after.apply(security)
        security.save()
        now = timezone.now()
        # What the cancelled orders say, in no one's language: the fields' names and values (``Order.closed_by``).
        # Not the name's nor the issuer's, free text that cancels nothing (found by a review: two long ones pushed
        # the summary past the column's 600 characters, and its cut end read as a wrong value).
        summary = "; ".join(f"{c.field} {c.before} → {c.after}" for c in changes if c.field not in _FREE_TEXT)
        affected = hooks.security_changed(security, {c.field for c in changes}, now=now, reason=summary)
        entry = entry_write(
            SecurityChange(security=code, changes=changes, reason=reason, cancelled_orders=affected, at=now),
            recorded_at=now,
        )
        audit_record(
            actor=actor,
            action="security_change",
            target=code,
            ip=ip,
            detail={
                "reason": reason,
                "changes": {c.field: [c.before, c.after] for c in changes},
                "entry": entry.pk,
                # What the operator confirmed: the cap set below this many holders.
                **({"holders_above_cap_confirmed": holders} if below else {}),
            },
        )
        return security


def security_delist(*, actor: User, code: str, reason: str, ip: str | None = None) -> Security:
    """Delist: trading ends for good; resting orders are cancelled and quotes pulled, releasing what they hold.

    Matched trades still settle; holdings stay on the register.
    """
    _require_operator(actor)
    reason = err.reason_checked(reason)
    with transaction.atomic():
        security = security_lock_not_delisted(code)
        security.status = Security.Status.DELISTED
        security.halt_reason = ""
        security.save(update_fields=["status", "halt_reason"])
        now = timezone.now()
        affected = hooks.security_changed(security, {"status"}, now=now, reason=reason)
        entry = entry_write(Delisting(security=code, reason=reason, cancelled_orders=affected, at=now), recorded_at=now)
        audit_record(
            actor=actor, action="security_delist", target=code, ip=ip, detail={"reason": reason, "entry": entry.pk}
        )
        return security
