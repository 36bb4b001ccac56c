"""KYC reads: who may see which profile, the staff review queue, the regulator's search and reveal log.

Visibility: an investor sees their own profile; broker staff the profiles of
their own broker's clients; the regulator every profile (masked, until a
recorded reveal). Everyone else sees none. Object routes look a profile up
through ``profiles_visible``, so a profile of another broker is simply not
found (404) rather than refused, and lists cannot leak it.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from core import crypto
from core.models import Account, AuditEvent, Role, User

from .models import IdentityReveal, KycProfile
from .services import EDITABLE

_RELATED = ("user", "user__account", "broker", "entered_by", "last_edited_by", "submitted_by", "reviewed_by")


def _clean(text: str) -> str:
    """Search text from a URL, trimmed (a NUL never gets here: core.middleware refuses it)."""
    return text.strip()[:100]


def profile_of(user: User) -> KycProfile | None:
    return KycProfile.objects.select_related(*_RELATED).filter(user=user).first()


def profiles_visible(user: User) -> QuerySet[KycProfile]:
    qs = KycProfile.objects.select_related(*_RELATED)
    if user.role == Role.REGULATOR:
        return qs
    if user.role == Role.BROKER_STAFF and user.broker_id is not None:
        return qs.filter(broker_id=user.broker_id)
    if user.role == Role.INVESTOR:
        return qs.filter(user=user)
    return qs.none()


def awaiting_staff_q() -> Q:
    """Applications a staff member has to act on.

    Submitted ones (to approve or reject); drafts opened at the counter (to
    complete and submit); and online applications sent, or sent again after the
    last review, by the investor (to check and submit).
    """
    applied_since_review = Q(applied_at__isnull=False) & (
        Q(reviewed_at__isnull=True) | Q(applied_at__gt=F("reviewed_at"))
    )
    opened_at_counter = Q(state=KycProfile.State.DRAFT) & ~Q(entered_by=F("user"))
    return Q(state=KycProfile.State.SUBMITTED) | (Q(state__in=EDITABLE) & (applied_since_review | opened_at_counter))


def applications_for(
    user: User, *, queue: bool = False, state: str | None = None, search: str = ""
) -> QuerySet[KycProfile]:
    """Profiles the user may review or inspect, newest activity first.

    ``search`` is a user name or an account code, exactly (case aside), or, for broker staff, whole words of the
    real name (through its blind indexes: the name is stored encrypted). A regulator does not search by name:
    the name is what a reveal discloses, so finding an account by it would be a reveal without a record.
    """
    qs = profiles_visible(user)
    if user.role == Role.INVESTOR:
        return qs.none()
    if queue:
        qs = qs.filter(awaiting_staff_q())
    if state:
        qs = qs.filter(state=state)
    search = _clean(search)
    if search:
        match = Q(user__username__iexact=search) | Q(user__account__code__iexact=search)
        if user.role == Role.BROKER_STAFF:
            match |= Q(name_index__contains=crypto.ring().name_index(search))
        qs = qs.filter(match)
    return qs.order_by("-updated_at", "-pk")


def profile_find(*, query: str) -> QuerySet[KycProfile]:
    """The regulator's search: an account code or a user name, exactly (case aside); without one, every profile
    (masked where shown, as each opens by its id), newest first."""
    query = _clean(query)
    qs = KycProfile.objects.select_related(*_RELATED)
    if not query:
        return qs.order_by("-pk")
    return qs.filter(Q(user__username__iexact=query) | Q(user__account__code__iexact=query)).order_by("pk")


def profile_history(profile: KycProfile) -> QuerySet[AuditEvent]:
    """The KYC steps of a profile from the audit trail, for its broker's staff.

    Not what the regulator did (reveals, documents opened): a supervisor's
    inquiry is not the broker's to see.
    """
    return (
        AuditEvent.objects.filter(
            Q(target=profile.user.username) | Q(target=f"kyc {profile.pk}"), action__startswith="kyc_"
        )
        .exclude(actor__role=Role.REGULATOR)
        .order_by("at", "pk")
    )


def reveals_visible(user: User) -> QuerySet[IdentityReveal]:
    if user.role not in (Role.REGULATOR, Role.AUDITOR):
        return IdentityReveal.objects.none()
    return IdentityReveal.objects.select_related("profile__user__account", "profile__broker", "regulator").order_by(
        "-at", "-pk"
    )


def identities_of(account_codes: list[str]) -> dict[str, str]:
    """The real identity (the ID number's blind index) behind each of these accounts that has a KYC profile
    (``balances.register.identity_readers``: the register counts holders as the holder cap does)."""
    if not account_codes:
        return {}
    return dict(
        KycProfile.objects.filter(user__account__code__in=account_codes).values_list("user__account__code", "identity")
    )


def is_qualified(*, state: str, expires_at: dt.datetime | None, attested: bool, now: dt.datetime) -> bool:
    """The qualified-investor rule, for a purchase (``exchange.pretrade``) as for a new holder by issuance
    (``unqualified_investors``): the profile's attestation (``qualified_investor``) counts only on an approved and
    unexpired profile, since the investor sets it by attesting, on a draft, before any review accepts it."""
    return attested and state == KycProfile.State.APPROVED and expires_at is not None and expires_at > now


def unqualified_investors(account_ids: list[int]) -> set[int]:
    """The investor accounts among these whose owner is not a qualified investor (``is_qualified``; no KYC profile
    is not one): ``balances.services.check_qualified_holders`` refuses them as new holders of a security for
    qualified investors."""
    if not account_ids:
        return set()
    owners = dict(Account.objects.filter(pk__in=account_ids, kind=Account.Kind.INVESTOR).values_list("pk", "owner_id"))
    profiles = {
        user_id: (state, expires_at, attested)
        for user_id, state, expires_at, attested in KycProfile.objects.filter(user_id__in=owners.values()).values_list(
            "user_id", "state", "expires_at", "qualified_investor"
        )
    }
    now = timezone.now()
    return {
        pk
        for pk, owner in owners.items()
        if (row := profiles.get(owner)) is None
        or not is_qualified(state=row[0], expires_at=row[1], attested=row[2], now=now)
    }
