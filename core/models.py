"""The ground floor: users and their roles, member brokers, accounts, the audit trail.

Every other app builds on these. The tables keep the names they were created
with (``exchange_*``): the models moved here from the exchange app without
touching a row (``core/migrations/0001_initial.py``).

* A user has one role (``Role``); the role sets in ``core.roles`` decide what
  each may see and do.
* An account holds cash and shares (``balances``): an investor's, a market
  maker's desk, or a broker's fee account, at most one of those per broker.
* ``AuditEvent`` is append-only: a trigger rejects UPDATE and DELETE.
* Saving a user whose password changed, or who is inactive, revokes every
  API token of the user (``User.save``, ``core.tokens``).
* ``ApiToken`` holds only a SHA-256 digest of each API key (unique, the key is
  looked up by it), never the key; a revoked token keeps its row, with when,
  by whom and why.
"""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth.models import AbstractUser
from django.db import models, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

PRICE = {"max_digits": 14, "decimal_places": 2}
MONEY = {"max_digits": 20, "decimal_places": 2}


class Role(models.TextChoices):
    INVESTOR = "investor", _("Investor")
    MARKET_MAKER = "market_maker", _("Market maker")
    BROKER_STAFF = "broker_staff", _("Broker staff")
    EXCHANGE_OPERATOR = "exchange_operator", _("Exchange operator")
    DEPOSITORY_OPERATOR = "depository_operator", _("Depository operator")
    REGULATOR = "regulator", _("Regulator")
    AUDITOR = "auditor", _("Auditor")


class Broker(models.Model):
    """A member firm with client counters. Its fee schedule applies to its clients."""

    code = models.CharField(max_length=16, unique=True)
    name = models.CharField(max_length=200)
    fee_bps = models.DecimalField(max_digits=6, decimal_places=2, default=Decimal("2.50"))
    fee_minimum = models.DecimalField(**MONEY, default=Decimal("5.00"))
    # Cash at the counter (``balances.services``): a deposit or withdrawal strictly above the threshold needs a
    # second staff member's approval (``counter.models.CashRequest``); none may exceed the limit (nor the
    # global ceiling ``settings.CASH_MOVEMENT_MAX``).
    cash_approval_threshold = models.DecimalField(**MONEY, default=Decimal("1000000.00"))
    cash_movement_limit = models.DecimalField(**MONEY, default=Decimal("100000000.00"))

    class Meta:
        db_table = "exchange_broker"
        constraints = [
            models.CheckConstraint(condition=Q(fee_bps__gte=0), name="broker_fee_bps_nonneg"),
            models.CheckConstraint(condition=Q(fee_minimum__gte=0), name="broker_fee_min_nonneg"),
            models.CheckConstraint(condition=Q(cash_approval_threshold__gte=0), name="broker_cash_threshold_nonneg"),
            models.CheckConstraint(condition=Q(cash_movement_limit__gt=0), name="broker_cash_limit_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class User(AbstractUser):
    role = models.CharField(max_length=32, choices=Role.choices, default=Role.INVESTOR)
    # Broker staff work for a broker; investors are its clients.
    broker = models.ForeignKey(Broker, null=True, blank=True, on_delete=models.PROTECT, related_name="users")

    class Meta(AbstractUser.Meta):
        db_table = "exchange_user"
        constraints = [
            # One user name whatever its case: registration refuses "Alice" beside "alice" (kyc.services), and two
            # registrations at once would each find the other not yet there.
            models.UniqueConstraint(Lower("username"), name="user_username_unique_any_case"),
        ]

    # A password change or a deactivation ends every API token of the user (core.tokens). It happens here, not
    # in a signal or in each caller, because every way to change either (manage.py changepassword, the
    # shell, a page that calls set_password) ends in save(). set_password leaves the new password in
    # _password until the save; a hash upgrade at login clears it first, so it revokes nothing.
    _password_disabled = False

    def set_unusable_password(self) -> None:
        super().set_unusable_password()
        self._password_disabled = True

    def save(self, *args, **kwargs) -> None:
        if self._state.adding:
            reason = None
        elif self._password is not None or self._password_disabled:
            reason = "password_changed"
        elif not self.is_active:
            reason = "deactivated"
        else:
            reason = None
        if reason is None:
            super().save(*args, **kwargs)
            return
        from core.tokens import tokens_revoke  # core.tokens imports this module

        with transaction.atomic():
            super().save(*args, **kwargs)
            tokens_revoke(user=self, reason=reason)
        self._password_disabled = False

    @property
    def is_investor(self) -> bool:
        return self.role == Role.INVESTOR

    @property
    def is_market_maker(self) -> bool:
        return self.role == Role.MARKET_MAKER


class Account(models.Model):
    """A holder of cash and shares: an investor, a market maker's desk, or a fee account."""

    class Kind(models.TextChoices):
        INVESTOR = "investor", _("Investor")
        MARKET_MAKER = "market_maker", _("Market maker")
        FEE = "fee", _("Fee")

    code = models.CharField(max_length=32, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # The name anyone may see: a firm's name, or an investor's real name masked to its first character
    # (``core.names.mask_name``). An investor's name in full is personal data, kept only encrypted
    # (``core.crypto``) in ``holder_name_enc``, and decrypted by ``core.names`` for those who may see it.
    name = models.CharField(max_length=200)
    holder_name_enc = models.BinaryField(null=True, blank=True, editable=False)
    owner = models.OneToOneField(User, null=True, blank=True, on_delete=models.PROTECT, related_name="account")
    broker = models.ForeignKey(Broker, null=True, blank=True, on_delete=models.PROTECT, related_name="accounts")
    # A whole-account judicial freeze is active (``supervision``): no orders, quotes, withdrawals or transfers out.
    frozen = models.BooleanField(default=False)
    # A trading restriction is active (``supervision``, a freeze of scope ``trading``): no orders, quotes, requests
    # for quote or negotiated trades; its cash and shares stay its own (deposits, withdrawals, settlement go on).
    trading_restricted = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "exchange_account"
        constraints = [
            models.UniqueConstraint(
                fields=["broker"], condition=Q(kind="fee"), name="account_one_fee_account_per_broker"
            ),
            # DESIGN.md §7: personal data is encrypted at rest. An investor account's plain name is its mask.
            models.CheckConstraint(
                condition=~Q(kind="investor") | Q(holder_name_enc__isnull=False, name__regex=r"^.\*{1,3}$"),
                name="account_investor_name_encrypted",
            ),
        ]

    @staticmethod
    def typed_code(code):
        """An account code as a person typed it, made the code it names: codes are a prefix in capitals and digits
        (``balances.services.account_open``), so "inv000005 " names INV000005. Anything not text is left as it
        is, for the caller's own check."""
        return code.strip().upper() if isinstance(code, str) else code

    def __str__(self) -> str:
        return self.code


class AuditEvent(models.Model):
    """Who did what, when, from where, with what outcome. Append-only (trigger)."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(User, null=True, on_delete=models.PROTECT, related_name="+")
    actor_username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    outcome = models.CharField(max_length=16, default="ok")
    target = models.CharField(max_length=200, blank=True)
    ip = models.GenericIPAddressField(null=True)
    detail = models.JSONField(default=dict)

    class Meta:
        db_table = "exchange_auditevent"


class ApiToken(models.Model):
    """An API key of a user, sent as ``Authorization: Token <key>`` (core.tokens).

    The key is shown once, when issued; the row keeps its SHA-256 digest (hex, unique: the key is looked up by
    it) and its first 8 characters to tell tokens apart. A login token comes from ``POST auth/token/`` and
    ends with a web logout; a system token is created by name on the settings page (or ``POST auth/tokens/``
    with a web session) and does not. Revoking sets ``revoked_at``, ``revoked_by`` and ``revoked_reason``
    together; nothing else changes after issue but ``last_used_at``.
    """

    class Kind(models.TextChoices):
        LOGIN = "login", _("Login token")
        SYSTEM = "system", _("System token")

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=100)
    digest = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8)
    created = models.DateTimeField()
    expires_at = models.DateTimeField()
    # Coarse: written at most once a minute per token (core.tokens.TOUCH_EVERY), not on every request.
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    revoked_reason = models.CharField(max_length=32, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(digest__regex=r"^[0-9a-f]{64}$"), name="apitoken_digest_sha256_hex"),
            models.CheckConstraint(condition=Q(kind__in=["login", "system"]), name="apitoken_kind_known"),
            models.CheckConstraint(condition=Q(name__regex=r"\S"), name="apitoken_name_not_blank"),
            models.CheckConstraint(condition=Q(expires_at__gt=models.F("created")), name="apitoken_ends_after_issue"),
            models.CheckConstraint(
                condition=(Q(revoked_at__isnull=True) & Q(revoked_reason="") & Q(revoked_by__isnull=True))
                | (Q(revoked_at__isnull=False) & ~Q(revoked_reason="")),
                name="apitoken_revocation_whole",
            ),
        ]
        indexes = [models.Index(fields=["user", "kind"], name="apitoken_user_kind")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
