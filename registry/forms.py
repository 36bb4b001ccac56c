"""Forms of the registry's pages: listing and changing a security (with a reason), publishing a disclosure
document, checking a file against one."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from core import errors as err
from core.forms import IntegerField, PlainDecimalField

from .listing import MAX_HOLDERS_LIMIT, MAX_HOLDING_DAYS, Parameters
from .models import Disclosure, Security

MODE_CHOICES = [("market_making", _("Market making")), ("rfq", _("Request for quote")), ("negotiated", _("Negotiated"))]


class SecurityForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    issuer = forms.CharField(label=_("Issuer"), max_length=200)
    risk_rating = forms.TypedChoiceField(
        label=_("Risk rating"), coerce=int, choices=[(n, f"R{n}") for n in range(1, 6)]
    )
    lot_size = IntegerField(label=_("Lot size (shares)"), min_value=1, max_value=1_000_000, initial=100)
    tick_size = PlainDecimalField(label=_("Tick size"), min_value=Decimal("0.01"), decimal_places=2, initial="0.01")
    reference_price = PlainDecimalField(label=_("Reference price"), min_value=Decimal("0.01"), decimal_places=2)
    band_pct = PlainDecimalField(
        label=_("Price band (± %)"),
        min_value=Decimal("0.01"),
        max_value=Decimal("99.99"),
        decimal_places=2,
        initial="30",
    )
    max_holders = IntegerField(label=_("Holder cap"), min_value=1, max_value=MAX_HOLDERS_LIMIT, initial=200)
    trading_modes = forms.MultipleChoiceField(
        label=_("Trading modes"), choices=MODE_CHOICES, widget=forms.CheckboxSelectMultiple, initial=["market_making"]
    )
    settlement_mode = forms.ChoiceField(label=_("Settlement"), choices=Security.SettlementMode.choices)
    qualified_only = forms.BooleanField(label=_("Qualified investors only"), required=False)
    min_holding_days = IntegerField(
        label=_("Minimum holding period (trading days)"), min_value=0, max_value=MAX_HOLDING_DAYS, initial=0
    )

    def parameters(self) -> dict:
        data = dict(self.cleaned_data)
        for name in ("code", "reason", "confirm_holder_cap_below_holders"):
            data.pop(name, None)
        return data

    @classmethod
    def initial_of(cls, security: Security) -> dict:
        params = Parameters.of(security)
        return {**params.__dict__, "trading_modes": list(params.trading_modes)}


class SecurityListForm(SecurityForm):
    code = forms.CharField(label=_("Code"), max_length=16, help_text=_("2 to 16 letters or digits, e.g. 830010"))
    field_order = ["code"]


class SecurityChangeForm(SecurityForm):
    reason = forms.CharField(
        label=_("Reason for the change (recorded on the ledger)"), max_length=err.REASON_MAX_LENGTH
    )
    # Shown once the change was refused for a holder cap below the current holders (``holder_cap_below_holders``,
    # the refusal under it), or when ticked: the staff member confirms explicitly before the change goes through.
    confirm_holder_cap_below_holders = forms.BooleanField(
        label=_(
            "I understand existing holders keep their shares; no new holder may buy until the count is below the cap"
        ),
        required=False,
    )


class DisclosureForm(forms.Form):
    # No kind chosen beforehand: a first choice taken by default filed annual reports as prospectuses.
    kind = forms.ChoiceField(
        label=_("Kind of document"), choices=[("", _("Choose the kind…")), *Disclosure.Kind.choices]
    )
    title = forms.CharField(label=_("Title"), max_length=Disclosure.TITLE_MAX_LENGTH)
    # Empty files reach the service, which refuses them with the API's message.
    file = forms.FileField(label=_("File (PDF, PNG, JPEG or plain text)"), allow_empty_file=True, max_length=1000)


class DisclosureCheckForm(forms.Form):
    file = forms.FileField(label=_("A file you hold"), allow_empty_file=True, max_length=1000)
