"""The venue rule profile (DESIGN.md §2): one setting, ``VENUE_PROFILE``, names a set of venue rules.

``open`` allows every trading mode and adds no rule (the demo's default). ``cn-regional-2017`` is the
State Council's notice on regional equity markets (国办发〔2017〕11号): no market making and no continuous
or anonymous matching (国办发〔2012〕37号 counts both as centralized trading), so request for quote (an
investor asks named market makers for a firm price and accepts one: neither continuous nor anonymous) and
negotiated transfer only; at most 200 holders per security counted per real identity; at least 5 trading days
between buying and selling the same security in either order; individual investors qualified only.

A security's own switches can only tighten the profile: a mode is allowed when both allow it, the holder
cap is the lower of the two, the holding interval the longer, qualified-only either's. Every pre-trade
check reads the rules here (``exchange.pretrade``), and so do the footer of every page and ``GET market/``,
the security page and ``GET securities/{code}/`` (``in_force``: the rules in force, and where the security's
own switches are looser, ``overrides`` says the venue's apply).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

MARKET_MAKING = "market_making"
RFQ = "rfq"
NEGOTIATED = "negotiated"
MODES = (MARKET_MAKING, RFQ, NEGOTIATED)
MODE_LABELS = {MARKET_MAKING: _("market making"), RFQ: _("request for quote"), NEGOTIATED: _("negotiated transfer")}

# The modes this platform implements; a mode not built is never advertised in ``trading_modes``.
BUILT_MODES = frozenset({MARKET_MAKING, RFQ, NEGOTIATED})


@dataclass(frozen=True)
class VenueProfile:
    name: str
    label: str
    modes: frozenset[str]
    holder_cap: int | None  # None: the security's own cap only
    holding_days: int  # trading days between a buy and a sell of one security (0: the security's own)
    holding_both_ways: bool  # also sell → buy
    individuals_qualified_only: bool


PROFILES = {
    "open": VenueProfile(
        name="open",
        label=_("open (every trading mode)"),
        modes=frozenset(MODES),
        holder_cap=None,
        holding_days=0,
        holding_both_ways=False,
        individuals_qualified_only=False,
    ),
    "cn-regional-2017": VenueProfile(
        name="cn-regional-2017",
        label=_("cn-regional-2017 (regional equity market rules, State Council notice 2017 No. 11)"),
        modes=frozenset({RFQ, NEGOTIATED}),
        holder_cap=200,
        holding_days=5,
        holding_both_ways=True,
        individuals_qualified_only=True,
    ),
}


PROFILE_NAMES = tuple(PROFILES)


def current() -> VenueProfile:
    """The profile in force (``settings.VENUE_PROFILE``); an unknown name is a configuration error."""
    name = getattr(settings, "VENUE_PROFILE", "open")
    try:
        return PROFILES[name]
    except KeyError as exc:
        raise ImproperlyConfigured(f"VENUE_PROFILE={name!r}: expected one of {sorted(PROFILES)}") from exc


def _security_allows(security, mode: str) -> bool:
    return bool(getattr(security, f"mode_{mode}"))


def mode_allowed(security, mode: str) -> bool:
    """Both the venue's profile and the security allow ``mode``."""
    return mode in current().modes and _security_allows(security, mode)


def trading_modes(security) -> list[str]:
    """The modes one can trade the security in: allowed by both the venue and the security, and built."""
    return [m for m in MODES if m in BUILT_MODES and mode_allowed(security, m)]


def max_holders(security) -> int:
    cap = current().holder_cap
    return security.max_holders if cap is None else min(security.max_holders, cap)


def holding_days(security) -> int:
    return max(security.min_holding_days, current().holding_days)


def holding_both_ways() -> bool:
    return current().holding_both_ways


def qualified_only(security) -> bool:
    """Whether buying the security needs a qualified investor (every investor account is an individual's)."""
    return security.qualified_only or current().individuals_qualified_only


@dataclass(frozen=True)
class Override:
    """A switch of the security's own that is looser than the venue's rule, which applies instead."""

    field: str  # the name of the API's field it concerns
    message: str  # in the active language


# The fields an override can name (``Override.field``), as the API's schema documents them.
OVERRIDE_FIELDS = ("trading_modes", "max_holders", "min_holding_days", "qualified_only")


def overrides(security) -> list[Override]:
    """Where the security's own switches are looser than the venue's profile, each saying the venue's rule applies
    (found by a tester: the pages and the API showed the security's 500 holders, not the 200 in force)."""
    venue = current()
    params = {"profile": venue.name}
    out = []
    loose_modes = [m for m in MODES if _security_allows(security, m) and m not in venue.modes]
    if loose_modes:
        text = gettext(
            "Trading modes: %(modes)s is switched on for this security but not allowed under the venue's rules "
            "(%(profile)s)."
        )
        modes = ", ".join(str(MODE_LABELS[m]) for m in loose_modes)
        out.append(Override("trading_modes", text % {**params, "modes": modes}))
    if venue.holder_cap is not None and security.max_holders > venue.holder_cap:
        text = gettext(
            "Maximum holders: the security's own cap of %(own)s is above the venue's; the venue's cap of %(cap)s "
            "applies (%(profile)s)."
        )
        out.append(Override("max_holders", text % {**params, "own": security.max_holders, "cap": venue.holder_cap}))
    if security.min_holding_days < venue.holding_days:
        text = gettext(
            "Minimum holding period: the security's own %(own)s trading days are fewer than the venue's; the "
            "venue's %(days)s trading days apply (%(profile)s)."
        )
        values = {**params, "own": security.min_holding_days, "days": venue.holding_days}
        out.append(Override("min_holding_days", text % values))
    if venue.individuals_qualified_only and not security.qualified_only:
        text = gettext(
            "Qualified investors only: the security's own switch is off, but the venue's rules (%(profile)s) admit "
            "qualified investors only."
        )
        out.append(Override("qualified_only", text % params))
    return out


@dataclass(frozen=True)
class InForce:
    """The rules a security trades under: the venue's profile and the security's switches together."""

    profile: str
    trading_modes: list[str]
    max_holders: int
    qualified_only: bool
    holding_days: int
    overrides: list[Override]


def in_force(security) -> InForce:
    return InForce(
        profile=current().name,
        trading_modes=trading_modes(security),
        max_holders=max_holders(security),
        qualified_only=qualified_only(security),
        holding_days=holding_days(security),
        overrides=overrides(security),
    )
