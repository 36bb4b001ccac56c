"""Two people for large cash movements at the counter.

A deposit or withdrawal strictly above the broker's ``cash_approval_threshold``
is not carried out by the staff member who enters it: it becomes a
``CashRequest`` (proposed), and a second staff member of the same broker
approves it (the cash moves then, with its DEPOSIT / WITHDRAWAL entry, in the
approval's transaction) or rejects it with a reason; the proposer may withdraw
it. The database refuses a request decided by its proposer
(``cash_request_decided_by_a_second_person``), not only the service.

A withdrawal request reserves nothing: the available cash is checked when it
is proposed and again, under the cash row's lock, when it is approved.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from core.models import MONEY, Account, User


class CashRequest(models.Model):
    class Direction(models.TextChoices):
        DEPOSIT = "deposit", _("Deposit")
        WITHDRAW = "withdraw", _("Withdrawal")

    class Status(models.TextChoices):
        PROPOSED = "proposed", _("Waiting for approval")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    direction = models.CharField(max_length=8, choices=Direction.choices)
    amount = models.DecimalField(**MONEY)
    reference = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PROPOSED)
    proposed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField(auto_now_add=True)
    # The checker who approved or rejected; a withdrawn request has none (its proposer withdrew it).
    decided_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "id"], name="cashrequest_status_id")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="cash_request_amount_positive"),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("proposed_by")),
                name="cash_request_decided_by_a_second_person",
            ),
            models.CheckConstraint(
                condition=Q(status="proposed", decided_by__isnull=True, decided_at__isnull=True)
                | Q(status__in=["approved", "rejected"], decided_by__isnull=False, decided_at__isnull=False)
                | Q(status="withdrawn", decided_by__isnull=True, decided_at__isnull=False),
                name="cash_request_decision_complete",
            ),
            models.CheckConstraint(condition=~Q(status="rejected") | ~Q(reason=""), name="cash_request_reject_reason"),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.amount} {self.account_id} ({self.status})"


class CashOnce(models.Model):
    """What makes a counter cash movement the one it is, kept once per account and direction (a unique index):
    its bank reference ("ref:…"), the page form it was sent from ("form:…", a token each form carries) and the
    API client's ``client_request_id`` ("api:…"). The same slip deposited twice, a confirmation page submitted
    twice, or two staff sending the same deposit at once: the second is refused, not carried out. A request
    rejected or withdrawn frees its keys (the slip may be entered again)."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    direction = models.CharField(max_length=8, choices=CashRequest.Direction.choices)
    key = models.CharField(max_length=110)
    request = models.ForeignKey(CashRequest, null=True, blank=True, on_delete=models.CASCADE, related_name="keys")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "direction", "key"], name="cash_movement_once"),
        ]
