"""Quotes, orders and trades: the market-making book.

Invariants kept by PostgreSQL itself (see the constraints below):

* quantities are positive integers, prices positive with two places;
* an order never fills more than its quantity, a quote never goes negative;
* a ``client_order_id`` is unique per account (idempotent order entry);
* a trade has two different accounts (no self-trade).

Concurrency rule: the quotes and orders of a security change only while the
changing transaction holds that security's row lock (``SELECT … FOR UPDATE``).
The matching engine is therefore single-threaded per security and needs no
row locks on quotes or orders. Balances are locked after the security, in
account-pk order (cash rows first, then positions); see ``balances.models``.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from core.models import MONEY, PRICE, Account, User
from registry.models import Security
from registry.wording import change_summary_text


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
            models.CheckConstraint(
                condition=Q(status__in=["active", "filled", "replaced", "pulled"]), name="quote_status_known"
            ),
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

    class ClosedBy(models.TextChoices):
        """Who closed the order when it was not its owner (nor a fill, nor the day's end)."""

        NOBODY_ELSE = "", _("Its owner, a fill or the day's end")
        SECURITY_CHANGED = "security_changed", _("A change to the security")
        SECURITY_DELISTED = "security_delisted", _("The security's delisting")
        ACCOUNT_FROZEN = "account_frozen", _("A legal order froze the account")
        VENUE_RULES = "venue_rules", _("The venue's rules allow no orders in the security")
        TRADE_RESTRICTED = "trade_restricted", _("A regulator restricted the account's trading")

    OPEN_STATUSES = (Status.OPEN, Status.PARTIALLY_FILLED)

    # Indexed by order_by_account and the client_order_id constraint, which both lead with it.
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="orders", db_index=False)
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
    # The commission is the order's, not each fill's: its fills so far cost ``filled_value`` and paid ``fees``,
    # the commission on that value (one minimum an order however many quotes fill it; Book.fill_buy_order).
    filled_value = models.DecimalField(**MONEY, default=Decimal("0.00"))
    fees = models.DecimalField(**MONEY, default=Decimal("0.00"))
    placed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    # When the exchange closed the order, why: ``closed_by`` says what did, ``closed_reason`` the particulars in
    # no one's language (a security change's fields, "lot_size 100 → 300"; a delisting's reason as the operator
    # wrote it; a freeze's number), which ``closed_reason_text`` puts in a sentence in the reader's language.
    # Both empty when it was the client. ``db_default``: a process still running the code from before the column
    # (an upgrade's old workers) inserts orders without it.
    closed_by = models.CharField(max_length=17, choices=ClosedBy.choices, blank=True, default="", db_default="")
    closed_reason = models.CharField(max_length=600, blank=True, default="")
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
            models.CheckConstraint(condition=Q(filled_value__gte=0, fees__gte=0), name="order_fills_cost_nonneg"),
            # What the fills cost and paid is nothing until something fills.
            models.CheckConstraint(
                condition=Q(filled_quantity__gt=0) | Q(filled_value=0, fees=0), name="order_unfilled_cost_nothing"
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["open", "partially_filled"]) | Q(filled_quantity__lt=F("quantity")),
                name="order_open_has_remaining",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["open", "partially_filled"]) | Q(reserved_cash=0),
                name="order_closed_holds_nothing",
            ),
            models.CheckConstraint(
                condition=Q(
                    closed_by__in=[
                        "",
                        "security_changed",
                        "security_delisted",
                        "account_frozen",
                        "venue_rules",
                        "trade_restricted",
                    ]
                ),
                name="order_closed_by_known",
            ),
            # What the exchange closes it cancels: an order it closed is not open, filled nor expired.
            models.CheckConstraint(condition=Q(closed_by="") | Q(status="cancelled"), name="order_closed_by_cancelled"),
            models.CheckConstraint(
                condition=Q(status__in=["open", "partially_filled", "filled", "cancelled", "expired"]),
                name="order_status_known",
            ),
            # An IOC order never rests: what it does not fill at once is cancelled.
            models.CheckConstraint(
                condition=~Q(time_in_force="IOC", status__in=["open", "partially_filled"]), name="order_ioc_never_rests"
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

    def closed_reason_text(self) -> str:
        """Why the exchange closed the order, in the active language; empty when it did not."""
        if self.closed_by == self.ClosedBy.ACCOUNT_FROZEN:
            return gettext("Cancelled: the account is frozen by a legal order (freeze %(n)s).") % {
                "n": self.closed_reason
            }
        if self.closed_by == self.ClosedBy.TRADE_RESTRICTED:
            return gettext("Cancelled: a regulator restricted the account's trading (restriction %(n)s).") % {
                "n": self.closed_reason
            }
        if self.closed_by == self.ClosedBy.VENUE_RULES:
            return gettext("Cancelled: the venue's rules (%(profile)s) allow no orders in this security.") % {
                "profile": self.closed_reason
            }
        if self.closed_by == self.ClosedBy.SECURITY_CHANGED:
            return gettext("Cancelled: the security changed (%(changes)s) and the order no longer fits it.") % {
                "changes": change_summary_text(self.closed_reason)
            }
        if self.closed_by == self.ClosedBy.SECURITY_DELISTED:
            if not self.closed_reason:
                return gettext("Cancelled: the security was delisted.")
            # The operator's words, in their language: labelled, not run into the reader's sentence.
            return gettext("Cancelled: the security was delisted. Reason given by the exchange: %(reason)s") % {
                "reason": self.closed_reason
            }
        return self.closed_reason


class Trade(models.Model):
    """A match. It settles later (settlement app).

    ``status`` is stored as matched, settled, held or failed. SEALED is never
    stored (a constraint says so): a matched trade is *shown* as sealed once its
    TRADE entry is in a block (``exchange.selectors.trade_status``), because the
    ledger, a lower layer, does not write trading rows.
    """

    class Mode(models.TextChoices):
        MARKET_MAKING = "market_making", _("Market making")
        NEGOTIATED = "negotiated", _("Negotiated transfer")
        RFQ = "rfq", _("Request for quote")

    class Status(models.TextChoices):
        MATCHED = "matched", _("Matched")
        SEALED = "sealed", _("Sealed")  # shown, never stored
        SETTLED = "settled", _("Settled")
        HELD = "held", _("Held")
        FAILED = "failed", _("Failed")

    # security, buyer and seller are indexed by trade_by_security_time, trade_by_buyer and trade_by_seller,
    # which lead with them: an index of their own would only cost each insert and update.
    security = models.ForeignKey(Security, on_delete=models.PROTECT, related_name="trades", db_index=False)
    price = models.DecimalField(**PRICE)
    quantity = models.BigIntegerField()
    buyer = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="buys", db_index=False)
    seller = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="sells", db_index=False)
    buy_order = models.ForeignKey(Order, null=True, on_delete=models.PROTECT, related_name="buy_trades")
    sell_order = models.ForeignKey(Order, null=True, on_delete=models.PROTECT, related_name="sell_trades")
    quote = models.ForeignKey(Quote, null=True, on_delete=models.PROTECT, related_name="trades")
    buyer_fee = models.DecimalField(**MONEY)
    seller_fee = models.DecimalField(**MONEY)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.MATCHED)
    # How the trade was agreed: against a market maker's quote, a negotiated transfer, an answer to an RFQ.
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.MARKET_MAKING)
    entry = models.OneToOneField("ledger.Entry", on_delete=models.PROTECT, related_name="trade")
    matched_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(price__gt=0), name="trade_price_positive"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="trade_qty_positive"),
            models.CheckConstraint(condition=~Q(buyer=F("seller")), name="trade_no_self_trade"),
            models.CheckConstraint(condition=Q(buyer_fee__gte=0, seller_fee__gte=0), name="trade_fees_nonneg"),
            models.CheckConstraint(
                condition=Q(status__in=["matched", "settled", "held", "failed"]), name="trade_status_stored"
            ),
            models.CheckConstraint(
                condition=Q(mode__in=["market_making", "negotiated", "rfq"]), name="trade_mode_known"
            ),
            # Only a market-making trade meets a quote (surveillance.rehearsal stages quote-less ones too).
            models.CheckConstraint(
                condition=Q(mode="market_making") | Q(quote=None), name="trade_quote_only_market_making"
            ),
        ]
        indexes = [
            models.Index(fields=["buyer", "-id"], name="trade_by_buyer"),
            models.Index(fields=["seller", "-id"], name="trade_by_seller"),
            # A security's trades in time: its candles (a range of matched_at) and time and sales (newest first).
            models.Index(fields=["security", "-matched_at", "-id"], name="trade_by_security_time"),
            # A buyer's pending buys of a security (the KYC look-up of every buy order asks whether one exists):
            # one index probe, whatever the day's trades.
            models.Index(
                fields=["buyer", "security"], name="trade_pending_buy", condition=Q(status__in=["matched", "held"])
            ),
        ]

    @property
    def value(self) -> Decimal:
        return (self.price * self.quantity).quantize(Decimal("0.01"))


class DayClose(models.Model):
    """A trading day that has been closed (``exchange.services.close``): one row a date, so one close a day
    whatever the retries or concurrent workers."""

    date = models.DateField(unique=True)
    closed_at = models.DateTimeField()
    entry = models.OneToOneField("ledger.Entry", on_delete=models.PROTECT, related_name="day_close")

    class Meta:
        ordering = ["-date"]


class ExpiresWhileWaiting:
    """A row that waits in its ``WAITING`` status until ``expires_at``; a sweep (every few seconds,
    ``exchange.tasks``) then closes it as expired and releases what it holds. ``status_at(now)`` is the status a
    reader is told meanwhile: past its expiry it is expired, even before the sweep has come."""

    WAITING: str

    def status_at(self, now) -> str:
        if self.status == self.WAITING and self.expires_at <= now:
            return "expired"
        return self.status

    def status_label_at(self, now) -> str:
        return str(self.Status(self.status_at(now)).label)


# --------------------------------------------------------------------------
# Request for quote (DESIGN.md §2; ``exchange.services.rfq``)


class RfqRequest(ExpiresWhileWaiting, models.Model):
    """An investor asks the market makers for a firm price for ``quantity`` shares. It reserves nothing itself:
    the answers reserve the market makers' side, the acceptance the investor's."""

    class Status(models.TextChoices):
        # An open request waits for answers: not an order's "Open", which Chinese reads as "not yet filled".
        OPEN = "open", pgettext_lazy("a request for quote", "Open")
        ACCEPTED = "accepted", _("Accepted")
        CANCELLED = "cancelled", _("Cancelled")
        EXPIRED = "expired", _("Expired")

    WAITING = Status.OPEN

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="rfqs")
    security = models.ForeignKey(Security, on_delete=models.PROTECT, related_name="rfqs")
    side = models.CharField(max_length=4, choices=Order.Side.choices)
    quantity = models.BigIntegerField()
    client_request_id = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    requested_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "client_request_id"], name="rfq_client_request_id_unique"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="rfq_qty_positive"),
            models.CheckConstraint(condition=Q(side__in=["buy", "sell"]), name="rfq_side_known"),
            models.CheckConstraint(
                condition=Q(status__in=["open", "accepted", "cancelled", "expired"]), name="rfq_status_known"
            ),
            models.CheckConstraint(
                condition=Q(status="open", closed_at__isnull=True) | Q(~Q(status="open"), closed_at__isnull=False),
                name="rfq_closed_when_not_open",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "expires_at"], name="rfq_open_by_expiry", condition=Q(status="open")),
            models.Index(fields=["account", "-id"], name="rfq_by_account"),
        ]


class RfqAnswer(ExpiresWhileWaiting, models.Model):
    """A market maker's firm price for a request, valid until ``expires_at``. While firm it reserves the market
    maker's side: its shares when the investor buys, ``price × quantity`` cash when the investor sells. Accepted,
    it names its trade; otherwise its reservation is released when it closes."""

    class Status(models.TextChoices):
        FIRM = "firm", _("Firm")
        ACCEPTED = "accepted", _("Accepted")
        REPLACED = "replaced", _("Replaced")
        RELEASED = "released", _("Not chosen")
        EXPIRED = "expired", _("Expired")

    WAITING = Status.FIRM

    request = models.ForeignKey(RfqRequest, on_delete=models.PROTECT, related_name="answers")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="rfq_answers")
    price = models.DecimalField(**PRICE)
    quantity = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.FIRM)
    answered_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    trade = models.OneToOneField(Trade, null=True, blank=True, on_delete=models.PROTECT, related_name="rfq_answer")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(price__gt=0), name="rfq_answer_price_positive"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="rfq_answer_qty_positive"),
            models.CheckConstraint(condition=Q(expires_at__gt=F("created_at")), name="rfq_answer_expiry_after"),
            models.CheckConstraint(
                condition=Q(status__in=["firm", "accepted", "replaced", "released", "expired"]),
                name="rfq_answer_status_known",
            ),
            # An accepted answer names its trade, and only an accepted one does.
            models.CheckConstraint(
                condition=Q(status="accepted", trade__isnull=False) | Q(~Q(status="accepted"), trade__isnull=True),
                name="rfq_answer_trade_iff_accepted",
            ),
            models.UniqueConstraint(
                fields=["request", "account"], condition=Q(status="firm"), name="rfq_answer_one_firm_per_maker"
            ),
            # Two acceptances of one request trade once.
            models.UniqueConstraint(fields=["request"], condition=Q(status="accepted"), name="rfq_answer_one_accepted"),
        ]
        indexes = [
            models.Index(fields=["status", "expires_at"], name="rfq_answer_firm_by_expiry", condition=Q(status="firm")),
        ]


# Wrong codes a negotiated proposal takes: the last withdraws it, releasing the proposer's side, so that a code
# cannot be guessed by trying (32^8 codes; the proposer proposes again and passes on the new code).
NEGOTIATED_MAX_WRONG_CODES = 5


class NegotiatedTrade(ExpiresWhileWaiting, models.Model):
    """A negotiated transfer (协议转让, DESIGN.md §2): one party proposes a trade with a named counterparty; the
    counterparty confirms it with the code the proposer passed on, which trades at once (``exchange.services.
    negotiated``).

    The proposer's side is reserved while the proposal waits: ``reserved_cash`` for a buy (price × quantity
    plus its broker's fee), the quantity's shares for a sell. Only the SHA-256 of the confirmation code is
    kept. A proposal ends confirmed (with its trade), withdrawn by either party, or expired; an ended
    proposal holds nothing.
    """

    class Side(models.TextChoices):
        BUY = "buy", _("Buy")
        SELL = "sell", _("Sell")

    class Status(models.TextChoices):
        PROPOSED = "proposed", _("Proposed")
        CONFIRMED = "confirmed", _("Confirmed")
        WITHDRAWN = "withdrawn", _("Withdrawn")
        EXPIRED = "expired", _("Expired")

    WAITING = Status.PROPOSED

    MAX_WRONG_CODES = NEGOTIATED_MAX_WRONG_CODES

    security = models.ForeignKey(Security, on_delete=models.PROTECT, related_name="negotiated_trades")
    # The proposer's side; the counterparty takes the other.
    side = models.CharField(max_length=4, choices=Side.choices)
    quantity = models.BigIntegerField()
    price = models.DecimalField(**PRICE)
    proposer = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="negotiated_proposed")
    counterparty = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="negotiated_received")
    client_request_id = models.CharField(max_length=64)
    code_hash = models.CharField(max_length=64)
    reserved_cash = models.DecimalField(**MONEY, default=Decimal("0.00"))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PROPOSED)
    proposed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    # Entered by the broker's staff at the counter on the client's behalf.
    proposed_at_counter = models.BooleanField(default=False)
    closed_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    closed_at_counter = models.BooleanField(default=False)
    # Wrong confirmation codes tried so far; the last allowed one withdraws the proposal (``MAX_WRONG_CODES``),
    # in the same update.
    wrong_codes = models.PositiveSmallIntegerField(default=0)
    trade = models.OneToOneField(Trade, null=True, blank=True, on_delete=models.PROTECT, related_name="negotiated")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["proposer", "client_request_id"], name="negotiated_client_request_unique"),
            models.CheckConstraint(condition=Q(price__gt=0), name="negotiated_price_positive"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="negotiated_qty_positive"),
            models.CheckConstraint(condition=~Q(proposer=F("counterparty")), name="negotiated_two_parties"),
            models.CheckConstraint(condition=Q(side__in=["buy", "sell"]), name="negotiated_side_known"),
            models.CheckConstraint(
                condition=Q(status__in=["proposed", "confirmed", "withdrawn", "expired"]),
                name="negotiated_status_known",
            ),
            models.CheckConstraint(condition=Q(reserved_cash__gte=0), name="negotiated_reserved_nonneg"),
            models.CheckConstraint(
                condition=Q(status="proposed") | Q(reserved_cash=0), name="negotiated_closed_holds_nothing"
            ),
            models.CheckConstraint(
                condition=Q(status="confirmed", trade__isnull=False) | (~Q(status="confirmed") & Q(trade=None)),
                name="negotiated_trade_iff_confirmed",
            ),
            models.CheckConstraint(
                condition=Q(status="proposed", closed_at=None) | (~Q(status="proposed") & Q(closed_at__isnull=False)),
                name="negotiated_closed_at_iff_closed",
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("created_at")), name="negotiated_expires_after_created"
            ),
            # Whoever entered a proposal never confirms it (the code stands for the other side's consent).
            models.CheckConstraint(
                condition=~Q(status="confirmed") | ~Q(closed_by=F("proposed_by")),
                name="negotiated_confirmed_by_another",
            ),
            # The code limit, counted under the proposal's row lock, held by the database too: never more
            # tries than allowed, and none left open once the last is spent.
            models.CheckConstraint(
                condition=Q(wrong_codes__lte=NEGOTIATED_MAX_WRONG_CODES), name="negotiated_wrong_codes_at_most"
            ),
            models.CheckConstraint(
                condition=~Q(status="proposed") | Q(wrong_codes__lt=NEGOTIATED_MAX_WRONG_CODES),
                name="negotiated_open_while_tries_left",
            ),
        ]
        indexes = [
            models.Index(fields=["expires_at"], condition=Q(status="proposed"), name="negotiated_open_by_expiry"),
            models.Index(fields=["proposer", "-id"], name="negotiated_by_proposer"),
            models.Index(fields=["counterparty", "-id"], name="negotiated_by_counterparty"),
        ]

    @property
    def buyer_id(self) -> int:
        return self.proposer_id if self.side == self.Side.BUY else self.counterparty_id

    @property
    def seller_id(self) -> int:
        return self.counterparty_id if self.side == self.Side.BUY else self.proposer_id
