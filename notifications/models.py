"""In-app notifications of an investor or a market maker, and what each wants to hear about.

A notification is written once per event and recipient: ``(user, key)`` is unique, the key naming the event
(``fill:<trade>``, ``settlement:<action>``, ``kyc:<profile>:<decided at>``, …), so a task delivered twice
writes one row. It keeps the event's facts (``params``: ids, codes, amounts as strings, a reason) and is
worded when shown, in the reader's language (``notifications.messages``).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.models import Role


class Kind(models.TextChoices):
    FILL = "fill", _("Order filled")
    SETTLED = "settled", _("Trade settled")
    HELD = "held", _("Settlement held")
    RELEASED = "released", _("Settlement hold released")
    REFUSED = "refused", _("Settlement refused")
    KYC = "kyc", _("Account opening decision")
    FREEZE = "freeze", _("Assets frozen")
    UNFREEZE = "unfreeze", _("Freeze ended")
    RFQ_ANSWER = "rfq_answer", _("Quote received")
    NEGOTIATED = "negotiated", _("Negotiated transfer proposed")
    NEGOTIATED_ENDED = "negotiated_end", _("Negotiated transfer ended")
    FORCED_TRANSFER = "forced_transfer", _("Assets moved by legal order")
    CORRECTION = "correction", _("Trade corrected")
    ORDERS_CLOSED = "orders_closed", _("Orders cancelled by the exchange")
    ISSUANCE = "issuance", _("Shares credited by an issuance")
    DEPOSIT = "deposit", _("Cash deposited")
    WITHDRAWAL = "withdrawal", _("Cash withdrawn")


# Who is told (``RECIPIENTS``), and what a market maker is told: what happens to its account (a freeze or a
# trading restriction and its end, a forced transfer, a correction, a settlement held, released or refused) and
# the negotiated transfers proposed to it or by it ending unconfirmed (a party must act on them, and no quote
# feed carries them), not each fill or settlement of its trades, which its own systems tell it
# (``notifications.services``).
RECIPIENTS = (Role.INVESTOR, Role.MARKET_MAKER)
MARKET_MAKER_KINDS = (
    Kind.HELD,
    Kind.RELEASED,
    Kind.REFUSED,
    Kind.FREEZE,
    Kind.UNFREEZE,
    Kind.NEGOTIATED,
    Kind.NEGOTIATED_ENDED,
    Kind.FORCED_TRANSFER,
    Kind.CORRECTION,
)


def kinds_for(role: str) -> list[str]:
    """The kinds a user of ``role`` may be told, in ``Kind``'s order (the preferences offer these)."""
    return [str(k) for k in MARKET_MAKER_KINDS] if role == Role.MARKET_MAKER else list(Kind.values)


class Notification(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="notifications")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    key = models.CharField(max_length=100)
    params = models.JSONField(default=dict)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)
    # When its email went out (``services.notification_email_send``), for a recipient who asked for email.
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One notification per event and recipient, whatever the retries and duplicate deliveries.
            models.UniqueConstraint(fields=["user", "key"], name="notification_one_per_event"),
            models.CheckConstraint(condition=Q(kind__in=Kind.values), name="notification_kind_known"),
        ]
        indexes = [
            models.Index(fields=["user", "-id"], name="notification_by_user"),
            # The bell's count on every page.
            models.Index(fields=["user"], condition=Q(read_at__isnull=True), name="notification_unread"),
        ]

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class Preference(models.Model):
    """The kinds an investor or a market maker switched off, and whether they also want each by email."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, primary_key=True, related_name="notification_preference"
    )
    muted = ArrayField(models.CharField(max_length=16, choices=Kind.choices), default=list, blank=True)
    email = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(muted__contained_by=Kind.values), name="preference_muted_known"),
        ]


class Outbox(models.Model):
    """An event whose notifications are still to be written: the transactional outbox.

    Written in the transaction of the change it tells of (``core.hooks.AfterCommit`` listeners registered
    ``in_transaction``, and ``ledger.hooks.in_seal`` for a block's fills), so it exists exactly when the change
    does; deleted in the transaction that writes its notifications (``services.outbox_deliver``). The task queued
    after the commit delivers it at once; beat's sweep delivers what a lost message (Redis restarted without its
    queue, a worker killed between a commit and its hooks) left behind. ``attempts`` counts deliveries that failed
    on the event itself (not on the database), so that one bad event is set aside, not retried for ever."""

    event = models.CharField(max_length=40)
    facts = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveSmallIntegerField(default=0)
