"""Participants, securities, quotes, orders and trades.

Invariants kept by PostgreSQL itself (see the constraints below):

* quantities are positive integers, prices positive with two places;
* an order never fills more than its quantity, a quote never goes negative;
* a ``client_order_id`` is unique per account (idempotent order entry);
* a trade has two different accounts (no self-trade).

Concurrency rule: the quotes and orders of a security change only while the
changing transaction holds that security's row lock (``SELECT … FOR UPDATE``).
The matching engine is therefore single-threaded per security and needs no
row locks on quotes or orders. Balances are locked after the security, in
account-pk order (cash rows first, then positions); see ``settlement``.
"""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import F, Q
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

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(fee_bps__gte=0), name="broker_fee_bps_nonneg"),
            models.CheckConstraint(condition=Q(fee_minimum__gte=0), name="broker_fee_min_nonneg"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class User(AbstractUser):
    role = models.CharField(max_length=32, choices=Role.choices, default=Role.INVESTOR)
    # Broker staff work for a broker; investors are its clients.
    broker = models.ForeignKey(Broker, null=True, blank=True, on_delete=models.PROTECT, related_name="users")

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
    name = models.CharField(max_length=200)
    owner = models.OneToOneField(User, null=True, blank=True, on_delete=models.PROTECT, related_name="account")
    broker = models.ForeignKey(Broker, null=True, blank=True, on_delete=models.PROTECT, related_name="accounts")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["broker"], condition=Q(kind="fee"), name="account_one_fee_account_per_broker"
            ),
        ]

    def __str__(self) -> str:
        return self.code


class Security(models.Model):
    class Status(models.TextChoices):
        LISTED = "listed", _("Listed")
        HALTED = "halted", _("Halted")
        DELISTED = "delisted", _("Delisted")

    class SettlementMode(models.TextChoices):
        GROSS = "gross", _("Gross")
        NET = "net", _("Net")

    code = models.CharField(max_length=16, unique=True)
    name = models.CharField(max_length=200)
    issuer = models.CharField(max_length=200)
    risk_rating = models.PositiveSmallIntegerField(help_text="R1 (lowest) … R5 (highest)")
    lot_size = models.PositiveIntegerField(default=100)
    tick_size = models.DecimalField(**PRICE, default=Decimal("0.01"))
    reference_price = models.DecimalField(**PRICE)
    band_pct = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("30.00"))
    max_holders = models.PositiveIntegerField(default=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.LISTED)
    mode_market_making = models.BooleanField(default=True)
    mode_rfq = models.BooleanField(default=True)
    mode_negotiated = models.BooleanField(default=True)
    settlement_mode = models.CharField(max_length=8, choices=SettlementMode.choices, default=SettlementMode.GROSS)
    qualified_only = models.BooleanField(default=False)
    min_holding_days = models.PositiveSmallIntegerField(default=0)
    issued_quantity = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "securities"
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(risk_rating__gte=1, risk_rating__lte=5), name="security_risk_1_5"),
            models.CheckConstraint(condition=Q(lot_size__gt=0), name="security_lot_positive"),
            models.CheckConstraint(condition=Q(tick_size__gt=0), name="security_tick_positive"),
            models.CheckConstraint(condition=Q(reference_price__gt=0), name="security_ref_price_positive"),
            models.CheckConstraint(condition=Q(band_pct__gt=0, band_pct__lt=100), name="security_band_0_100"),
            models.CheckConstraint(condition=Q(issued_quantity__gte=0), name="security_issued_nonneg"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def band_low(self) -> Decimal:
        return (self.reference_price * (1 - self.band_pct / 100)).quantize(self.tick_size)

    @property
    def band_high(self) -> Decimal:
        return (self.reference_price * (1 + self.band_pct / 100)).quantize(self.tick_size)


class Quote(models.Model):
    """One side of a market maker's two-sided quote. ``quantity`` is what remains."""

    class Side(models.TextChoices):
        BID = "bid", _("Bid")
        ASK = "ask", _("Ask")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        FILLED = "filled", _("Filled")
        REPLACED = "replaced", _("Replaced")
        PULLED = "pulled", _("Pulled")

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="quotes")
    security = models.ForeignKey(Security, on_delete=models.PROTECT, related_name="quotes")
    side = models.CharField(max_length=3, choices=Side.choices)
    price = models.DecimalField(**PRICE)
    quantity = models.BigIntegerField()
    original_quantity = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(price__gt=0), name="quote_price_positive"),
            models.CheckConstraint(condition=Q(original_quantity__gt=0), name="quote_qty_positive"),
            models.CheckConstraint(
                condition=Q(quantity__gte=0, quantity__lte=F("original_quantity")), name="quote_remaining_in_range"
            ),
            models.CheckConstraint(condition=~Q(status="active") | Q(quantity__gt=0), name="quote_active_has_quantity"),
            models.UniqueConstraint(
                fields=["account", "security", "side"], condition=Q(status="active"), name="quote_one_active_per_side"
            ),
        ]
        indexes = [
            models.Index(fields=["security", "side", "price", "id"], condition=Q(status="active"), name="quote_book"),
        ]


class Order(models.Model):
    class Side(models.TextChoices):
        BUY = "buy", _("Buy")
        SELL = "sell", _("Sell")

    class TimeInForce(models.TextChoices):
        IOC = "IOC", _("Immediate or cancel")
        DAY = "DAY", _("Day")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        PARTIALLY_FILLED = "partially_filled", _("Partially filled")
        FILLED = "filled", _("Filled")
        CANCELLED = "cancelled", _("Cancelled")
        EXPIRED = "expired", _("Expired")

    OPEN_STATUSES = (Status.OPEN, Status.PARTIALLY_FILLED)

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="orders")
    security = models.ForeignKey(Security, on_delete=models.PROTECT, related_name="orders")
    side = models.CharField(max_length=4, choices=Side.choices)
    limit_price = models.DecimalField(**PRICE)
    quantity = models.BigIntegerField()
    filled_quantity = models.BigIntegerField(default=0)
    time_in_force = models.CharField(max_length=3, choices=TimeInForce.choices)
    status = models.CharField(max_length=16, choices=Status.choices)
    client_order_id = models.CharField(max_length=64)
    # Cash still reserved for the unfilled quantity of a buy (price × qty + fee).
    reserved_cash = models.DecimalField(**MONEY, default=Decimal("0.00"))
    placed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "client_order_id"], name="order_client_order_id_unique"),
            models.CheckConstraint(condition=Q(limit_price__gt=0), name="order_price_positive"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="order_qty_positive"),
            models.CheckConstraint(
                condition=Q(filled_quantity__gte=0, filled_quantity__lte=F("quantity")), name="order_fill_in_range"
            ),
            models.CheckConstraint(condition=Q(reserved_cash__gte=0), name="order_reserved_nonneg"),
            models.CheckConstraint(
                condition=~Q(status__in=["open", "partially_filled"]) | Q(filled_quantity__lt=F("quantity")),
                name="order_open_has_remaining",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["open", "partially_filled"]) | Q(reserved_cash=0),
                name="order_closed_holds_nothing",
            ),
        ]
        indexes = [
            models.Index(
                fields=["security", "side", "limit_price", "id"],
                condition=Q(status__in=["open", "partially_filled"]),
                name="order_resting_book",
            ),
            models.Index(fields=["account", "-id"], name="order_by_account"),
        ]

    @property
    def remaining_quantity(self) -> int:
        return self.quantity - self.filled_quantity

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class Trade(models.Model):
    """A match. It settles later (settlement app); until sealed it is ``matched``."""

    class Status(models.TextChoices):
        MATCHED = "matched", _("Matched")
        SEALED = "sealed", _("Sealed")
        SETTLED = "settled", _("Settled")
        HELD = "held", _("Held")
        FAILED = "failed", _("Failed")

    security = models.ForeignKey(Security, on_delete=models.PROTECT, related_name="trades")
    price = models.DecimalField(**PRICE)
    quantity = models.BigIntegerField()
    buyer = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="buys")
    seller = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="sells")
    buy_order = models.ForeignKey(Order, null=True, on_delete=models.PROTECT, related_name="buy_trades")
    sell_order = models.ForeignKey(Order, null=True, on_delete=models.PROTECT, related_name="sell_trades")
    quote = models.ForeignKey(Quote, null=True, on_delete=models.PROTECT, related_name="trades")
    buyer_fee = models.DecimalField(**MONEY)
    seller_fee = models.DecimalField(**MONEY)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.MATCHED)
    entry = models.OneToOneField("ledger.Entry", on_delete=models.PROTECT, related_name="trade")
    matched_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(price__gt=0), name="trade_price_positive"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="trade_qty_positive"),
            models.CheckConstraint(condition=~Q(buyer=F("seller")), name="trade_no_self_trade"),
            models.CheckConstraint(condition=Q(buyer_fee__gte=0, seller_fee__gte=0), name="trade_fees_nonneg"),
        ]
        indexes = [
            models.Index(fields=["buyer", "-id"], name="trade_by_buyer"),
            models.Index(fields=["seller", "-id"], name="trade_by_seller"),
        ]

    @property
    def value(self) -> Decimal:
        return (self.price * self.quantity).quantize(Decimal("0.01"))


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
