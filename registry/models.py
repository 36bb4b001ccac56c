"""Securities: listing data, trading modes, rule switches, status.

The table keeps its first name (``exchange_security``); the model moved here
from the exchange app without touching a row (``registry/migrations/0001_initial.py``).
Issued shares are credited to holders by ``balances.services.securities_issue``,
which keeps ``issued_quantity`` equal to the ISSUE entries' sum.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from django.db import models
from django.db.models import F, Func, Q, Value
from django.utils.translation import gettext_lazy as _

from core.models import PRICE


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
    # Why the security is halted (the operator's reason), shown with every refusal; empty unless halted.
    halt_reason = models.CharField(max_length=500, blank=True, default="")
    mode_market_making = models.BooleanField(default=True)
    mode_rfq = models.BooleanField(default=True)
    mode_negotiated = models.BooleanField(default=True)
    settlement_mode = models.CharField(max_length=8, choices=SettlementMode.choices, default=SettlementMode.GROSS)
    qualified_only = models.BooleanField(default=False)
    min_holding_days = models.PositiveSmallIntegerField(default=0)
    issued_quantity = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "exchange_security"
        verbose_name_plural = "securities"
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(risk_rating__gte=1, risk_rating__lte=5), name="security_risk_1_5"),
            models.CheckConstraint(condition=Q(lot_size__gt=0), name="security_lot_positive"),
            models.CheckConstraint(condition=Q(tick_size__gt=0), name="security_tick_positive"),
            models.CheckConstraint(condition=Q(reference_price__gt=0), name="security_ref_price_positive"),
            models.CheckConstraint(condition=Q(band_pct__gt=0, band_pct__lt=100), name="security_band_0_100"),
            models.CheckConstraint(condition=Q(issued_quantity__gte=0), name="security_issued_nonneg"),
            # A halt reason belongs to a halted security only (resume clears it).
            models.CheckConstraint(
                condition=Q(status="halted") | Q(halt_reason=""), name="security_halt_reason_only_when_halted"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def band_around(self, reference: Decimal) -> tuple[Decimal, Decimal]:
        """The lowest and highest price the band allows around ``reference``: multiples of the tick, rounded
        inward, so that every price the band allows is on the tick and within ``band_pct`` of the reference (found
        by a probe: half-to-even rounding widened some bands and narrowed others, by whether the digit before a
        5 was odd, and a tick of 0.05 gave edges off the tick).

        An edge that would be the reference itself (a band narrower than a tick on that side: a low price, a coarse
        tick) is one tick beyond it instead, as the mainland exchanges set a limit that differs from the previous
        close by less than a tick; the low edge stays a positive price. So the band always holds a bid below an
        ask, whatever price a day's close makes the reference (found by a probe: a close at a low price left a
        band of one price)."""
        tick = self.tick_size
        low = (reference * (1 - self.band_pct / 100) / tick).to_integral_value(rounding=ROUND_CEILING) * tick
        high = (reference * (1 + self.band_pct / 100) / tick).to_integral_value(rounding=ROUND_FLOOR) * tick
        if low >= reference:
            low = max((reference / tick).to_integral_value(rounding=ROUND_CEILING) * tick - tick, tick)
        if high <= reference:
            high = (reference / tick).to_integral_value(rounding=ROUND_FLOOR) * tick + tick
        return low.quantize(tick), high.quantize(tick)

    @property
    def band_low(self) -> Decimal:
        return self.band_around(self.reference_price)[0]

    @property
    def band_high(self) -> Decimal:
        return self.band_around(self.reference_price)[1]


class MarketState(models.Model):
    """The whole market's switch, one row (id 1): halted, trading stops everywhere and settlement pauses.

    Sealing goes on while the market is halted (the record keeps being made); on resume the settlement
    sweep settles what waited, each trade once (``settlement.services``).
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    halted = models.BooleanField(default=False)
    reason = models.TextField(blank=True)
    changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="market_state_one_row")]


class Holiday(models.Model):
    """A weekday on which the market does not trade (the operator's list; ``registry.holidays``).

    Only future dates are added or removed, so a holiday never changes a day that has traded.
    """

    date = models.DateField(unique=True)
    name = models.CharField(max_length=100)
    created_by = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["date"]
        constraints = [
            # Weekends are closed anyway: a holiday is a weekday (ISO day of week 1–5).
            models.CheckConstraint(condition=Q(date__iso_week_day__lte=5), name="holiday_on_a_weekday"),
            models.CheckConstraint(condition=~Q(name=""), name="holiday_has_a_name"),
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.name}"


class Disclosure(models.Model):
    """An issuer's document (prospectus, report, announcement): its metadata and SHA-256, anchored by a
    DISCLOSURE ledger entry written in the same transaction (``registry.disclosures``).

    The file's bytes are a ``DisclosureFile`` row named by the same SHA-256, written in the same transaction;
    the database refuses a new document whose bytes are not stored (a foreign key from migration 0007, ``NOT
    VALID`` so that documents published before, whose file was missing when 0007 imported them, stay). A
    document is never edited or deleted (a correction is a new document): the table is append-only (triggers
    from migration 0005), and the database refuses a hash that is not 64 lowercase hex digits.
    """

    class Kind(models.TextChoices):
        PROSPECTUS = "prospectus", _("Prospectus")
        ANNUAL_REPORT = "annual_report", _("Annual report")
        INTERIM_REPORT = "interim_report", _("Interim report")
        ANNOUNCEMENT = "announcement", _("Announcement")
        OTHER = "other", _("Other")

    TITLE_MAX_LENGTH = 200
    FILENAME_MAX_LENGTH = 200

    security = models.ForeignKey(Security, on_delete=models.PROTECT, related_name="disclosures")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    title = models.CharField(max_length=TITLE_MAX_LENGTH)
    filename = models.CharField(max_length=FILENAME_MAX_LENGTH)
    content_type = models.CharField(max_length=50)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="+")
    published_at = models.DateTimeField()
    entry = models.OneToOneField("ledger.Entry", on_delete=models.PROTECT, related_name="disclosure")

    class Meta:
        ordering = ["-published_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(sha256__regex=r"^[0-9a-f]{64}$"), name="disclosure_sha256_hex"),
            models.CheckConstraint(condition=Q(size__gt=0), name="disclosure_size_positive"),
            models.CheckConstraint(condition=~Q(title=""), name="disclosure_title_not_blank"),
            models.CheckConstraint(
                condition=Q(kind__in=["prospectus", "annual_report", "interim_report", "announcement", "other"]),
                name="disclosure_kind_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.security_id} {self.kind} {self.title}"


class DisclosureFile(models.Model):
    """The bytes of a disclosure document, named by their SHA-256: content-addressed, so documents with the same
    bytes share one row. In PostgreSQL rather than on a web host's disk, so that any host serves any document.

    Written in the publication's transaction (a rolled-back publication leaves nothing); append-only (triggers
    from migration 0007); the database itself refuses bytes that do not hash to their name or whose size is
    not theirs (PostgreSQL's ``sha256()``), and the download hashes them again before serving a byte.
    """

    sha256 = models.CharField(max_length=64, primary_key=True)
    content = models.BinaryField()
    size = models.BigIntegerField()
    content_type = models.CharField(max_length=50)
    stored_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(sha256__regex=r"^[0-9a-f]{64}$"), name="disclosurefile_sha256_hex"),
            models.CheckConstraint(
                condition=Q(sha256=Func(Func(F("content"), function="sha256"), Value("hex"), function="encode")),
                name="disclosurefile_named_by_its_hash",
            ),
            models.CheckConstraint(
                condition=Q(size=Func(F("content"), function="octet_length")), name="disclosurefile_size_is_its_own"
            ),
            models.CheckConstraint(condition=Q(size__gt=0), name="disclosurefile_size_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.sha256} ({self.size} bytes)"
