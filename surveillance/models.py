"""Surveillance rules and the alerts they raise.

* A ``Rule`` is data: one row per rule the engine knows (``surveillance.rules``), seeded by a data
  migration; the regulator switches it on or off and edits its thresholds (``services.rule_change``,
  validated against ``rules.THRESHOLDS``, an audit record each time).
* An ``Alert`` is what one rule found in one sealed block. ``(rule, block_height, key)`` is unique, so
  the engine (``services.block_scan``) may run any number of times over a block and writes each alert once.
  Alerts move new → under review → closed; a closed alert has a note (the database refuses a closed alert
  without one) and stays closed unless a regulator reopens it, with a note, to under review.
* An ``AlertEvent`` is one step of an alert's history (a move, a note, a reopening), written by the service
  in the transaction of the change it records. The table is append-only (triggers, migration 0004): what an
  earlier reviewer wrote stays. ``Alert.note`` is the latest note only.
* A ``ScannedBlock`` says that the rules ran over a block (written in the scan's transaction), so that beat's
  sweep (``services.missed_scan``) finds a sealed block whose scan task was lost (a worker killed holding it, a
  Redis restarted without its queue) and scans it: DESIGN §6, rules run on every sealed block.
* Alerts name accounts by their codes, never by a person: the real identity behind an account stays behind
  the recorded identity reveal (``kyc``).
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from core.models import User
from registry.models import Security


class Rule(models.Model):
    class Code(models.TextChoices):
        WASH_TRADE = "wash_trade", _("Wash trade (one identity on both sides)")
        HOLDER_CAP = "holder_cap", _("Holder cap close to its limit")
        BAND_EDGE = "band_edge", _("Price at the edge of the band")
        VALUE_SPIKE = "value_spike", _("Traded value far above the account's usual")
        ORDER_BURST = "order_burst", _("Burst of orders and cancels")
        PRE_DISCLOSURE = "pre_disclosure", _("Trading just before a disclosure")
        SPLIT_VIEW = "split_view", _("A witness refused a checkpoint (split view or fork)")

    code = models.CharField(max_length=32, unique=True, choices=Code.choices)
    enabled = models.BooleanField(default=True)
    thresholds = models.JSONField(default=dict)
    updated_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(code__in=["wash_trade", "holder_cap", "band_edge", "value_spike", "order_burst",
                                      "pre_disclosure", "split_view"]),
                name="surveillance_rule_code_known",
            ),
        ]  # fmt: skip

    def __str__(self) -> str:
        return self.code

    @property
    def name(self) -> str:
        return str(self.get_code_display())


class Alert(models.Model):
    class State(models.TextChoices):
        NEW = "new", _("New")
        UNDER_REVIEW = "under_review", _("Under review")
        CLOSED = "closed", _("Closed")

    rule = models.ForeignKey(Rule, on_delete=models.PROTECT, related_name="alerts")
    block_height = models.BigIntegerField()
    # What the alert is about within its rule and block ("trade:12", "security:S1", "account:INV3"): with the
    # rule and the block, the idempotency key of the engine.
    key = models.CharField(max_length=200)
    security = models.ForeignKey(Security, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    accounts = models.JSONField(default=list, help_text="Account codes")
    trades = models.JSONField(default=list, help_text="Trade ids")
    leaves = models.JSONField(default=list, help_text="Leaf indexes of the trades' TRADE entries")
    detail = models.JSONField(default=dict)
    state = models.CharField(max_length=16, choices=State.choices, default=State.NEW)
    note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    updated_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "block_height", "key"], name="surveillance_alert_once"),
            models.CheckConstraint(
                condition=Q(state__in=["new", "under_review", "closed"]), name="surveillance_alert_state_known"
            ),
            models.CheckConstraint(condition=~Q(state="closed") | ~Q(note=""), name="surveillance_alert_closed_note"),
            models.CheckConstraint(condition=Q(block_height__gte=0), name="surveillance_alert_height_nonneg"),
        ]
        indexes = [models.Index(fields=["state", "-id"], name="surveillance_alert_by_state")]

    def __str__(self) -> str:
        return f"{self.rule_id} #{self.pk}"


class AlertEvent(models.Model):
    """One step of an alert's history: ``from_state`` → ``to_state`` (the same state when a note alone was
    added), with the note written then, by whom and when. Append-only."""

    alert = models.ForeignKey(Alert, on_delete=models.PROTECT, related_name="events")
    from_state = models.CharField(max_length=16, choices=Alert.State.choices)
    to_state = models.CharField(max_length=16, choices=Alert.State.choices)
    note = models.TextField(blank=True, default="")
    by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(from_state__in=["new", "under_review", "closed"])
                & Q(to_state__in=["new", "under_review", "closed"]),
                name="surveillance_alertevent_states_known",
            ),
            # A step records something: a move, or a note.
            models.CheckConstraint(
                condition=~Q(from_state=F("to_state")) | ~Q(note=""), name="surveillance_alertevent_not_empty"
            ),
            # Closing and reopening say why.
            models.CheckConstraint(
                condition=(~Q(to_state="closed") & ~Q(from_state="closed")) | ~Q(note=""),
                name="surveillance_alertevent_close_reopen_note",
            ),
        ]

    def __str__(self) -> str:
        return f"alert {self.alert_id}: {self.from_state} → {self.to_state}"


class ScannedBlock(models.Model):
    """The rules ran over the block of this height (``services.block_scan``), whatever they found."""

    height = models.BigIntegerField(primary_key=True)
    scanned_at = models.DateTimeField()

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(height__gte=0), name="scanned_block_height_nonneg")]
