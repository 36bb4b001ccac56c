"""Balances: cash per account, shares per (account, security).

Each balance has a total and the parts of it that are not free:

* ``reserved``: held for open orders and quotes, and for matched trades
  waiting to settle (so a matched trade can always settle);
* ``frozen``: held by a legal order;
* ``locked`` (shares only): under lock-up until ``locked_until``.

``available = total − reserved − frozen − locked`` and PostgreSQL rejects any
row where it would be negative, or where a part is negative. Balances are a
projection of the ledger: ISSUE, DEPOSIT, WITHDRAWAL and SETTLEMENT entries
rebuild them exactly (``balances.replay``).

The tables keep their first names (``settlement_*``): the models moved here
from the settlement app without touching a row (``balances/migrations/0001_initial.py``).

Lock order, everywhere: the security row first (if any), then cash rows by
account pk, then position rows by account pk.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from core.models import MONEY, Account, User
from registry.models import Security


class CashBalance(models.Model):
    account = models.OneToOneField(Account, primary_key=True, on_delete=models.PROTECT, related_name="cash")
    total = models.DecimalField(**MONEY, default=Decimal("0.00"))
    reserved = models.DecimalField(**MONEY, default=Decimal("0.00"))
    frozen = models.DecimalField(**MONEY, default=Decimal("0.00"))

    class Meta:
        db_table = "settlement_cashbalance"
        constraints = [
            models.CheckConstraint(condition=Q(total__gte=0, reserved__gte=0, frozen__gte=0), name="cash_parts_nonneg"),
            models.CheckConstraint(condition=Q(total__gte=F("reserved") + F("frozen")), name="cash_available_nonneg"),
        ]

    @property
    def available(self) -> Decimal:
        return self.total - self.reserved - self.frozen


class Position(models.Model):
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="positions")
    security = models.ForeignKey(Security, on_delete=models.PROTECT, related_name="positions")
    total = models.BigIntegerField(default=0)
    reserved = models.BigIntegerField(default=0)
    frozen = models.BigIntegerField(default=0)
    locked = models.BigIntegerField(default=0)
    locked_until = models.DateField(null=True, blank=True)

    class Meta:
        db_table = "settlement_position"
        constraints = [
            models.UniqueConstraint(fields=["account", "security"], name="position_one_per_holder"),
            models.CheckConstraint(
                condition=Q(total__gte=0, reserved__gte=0, frozen__gte=0, locked__gte=0), name="position_parts_nonneg"
            ),
            models.CheckConstraint(
                condition=Q(total__gte=F("reserved") + F("frozen") + F("locked")), name="position_available_nonneg"
            ),
        ]

    @property
    def available(self) -> int:
        return self.total - self.reserved - self.frozen - self.locked


class LockUp(models.Model):
    """Shares of an initial holder that may not be sold before ``until`` (released on that date, Asia/Shanghai).

    ``Position.locked`` is the sum of the holder's unreleased lock-ups in the security, and
    ``Position.locked_until`` the earliest of their dates; both move only with these rows, in the same
    transaction, and the UNLOCK entry records each release (``balances.services.lockups_release``).
    """

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="lockups")
    security = models.ForeignKey(Security, on_delete=models.PROTECT, related_name="lockups")
    quantity = models.BigIntegerField()
    until = models.DateField()
    issue_entry = models.BigIntegerField(help_text="id of the ISSUE entry that set the lock-up")
    released_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["until"], condition=Q(released_at__isnull=True), name="lockup_due")]
        constraints = [models.CheckConstraint(condition=Q(quantity__gt=0), name="lockup_quantity_positive")]


class IssuanceProposal(models.Model):
    """An issuance proposed by one depository operator and approved by another (maker-checker, DESIGN §1), as
    supervision's freezes, forced transfers and corrections are (``supervision.models``).

    The proposal is checked in full when it is made (``balances.services.issuance_checked``); nothing is issued
    until a *different* depository operator approves it: ``balances.services.securities_issue`` then runs in the
    approval's transaction, its checks again (the holder cap as it stands then), and writes the ISSUE entry whose
    id ``entry`` keeps. A rejection (with its reason) or a withdrawal (by the proposer) issues nothing.
    PostgreSQL refuses a proposal decided by its proposer (``issuance_decided_by_another``).

    ``allocations`` are the holders as the ISSUE entry's allocations name them:
    ``[{"account": code, "quantity": n, "locked_quantity": n or null, "locked_until": "YYYY-MM-DD" or null}]``.
    """

    class Status(models.TextChoices):
        PROPOSED = "proposed", _("Proposed")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PROPOSED)
    security = models.ForeignKey(Security, on_delete=models.PROTECT, related_name="+")
    allocations = models.JSONField()
    quantity = models.BigIntegerField(help_text="the shares issued to all holders together")
    reference = models.CharField(max_length=200, blank=True)
    proposed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField()
    decided_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.CharField(max_length=500, blank=True)
    entry = models.BigIntegerField(null=True, blank=True, help_text="id of the ISSUE entry of the approved issuance")
    # An API client's own key for the proposal: a retry with it answers the first proposal, not a second one
    # (``balances.issuances.issuance_propose_once``); one proposer's keys are unique, blank when none is given.
    client_request_id = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["id"], condition=Q(status="proposed"), name="issuance_proposed")]
        constraints = [
            # The database refuses a proposal decided (approved or rejected) by its proposer, as supervision's
            # ``*_decided_by_another`` (balances cannot import supervision: the layers point down).
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("proposed_by")),
                name="issuance_decided_by_another",
            ),
            models.UniqueConstraint(
                fields=["proposed_by", "client_request_id"],
                condition=~Q(client_request_id=""),
                name="issuance_request_once",
            ),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True, decided_at__isnull=True)
                | Q(decided_by__isnull=False, decided_at__isnull=False),
                name="issuance_decision_has_who_and_when",
            ),
            # Approved: decided, with its ISSUE entry; rejected: decided; proposed or withdrawn: not decided.
            models.CheckConstraint(
                condition=Q(status="approved", decided_by__isnull=False, entry__isnull=False)
                | Q(status="rejected", decided_by__isnull=False, entry__isnull=True)
                | Q(status__in=["proposed", "withdrawn"], decided_by__isnull=True, entry__isnull=True),
                name="issuance_status_matches_decision",
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="issuance_quantity_positive"),
        ]
