"""The regulator's forms: propose a freeze, a forced transfer or a correction; a reason for a decision."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from core.errors import REASON_MAX_LENGTH
from core.forms import IntegerField, PlainDecimalField
from exchange.forms import PRICE_DIGITS

from .models import Freeze


class FreezeForm(forms.Form):
    account = forms.CharField(label=_("Account"), max_length=32)
    kind = forms.ChoiceField(label=_("What to freeze"), choices=Freeze.Kind.choices, widget=forms.RadioSelect)
    security = forms.CharField(label=_("Security (shares only)"), max_length=16, required=False)
    quantity = IntegerField(label=_("Shares"), min_value=1, max_value=10**12, required=False)
    amount = PlainDecimalField(
        label=_("Amount (CNY)"), min_value=Decimal("0.01"), decimal_places=2, max_digits=20, required=False
    )
    legal_reference = forms.CharField(
        label=_("Legal order (court or authority, document number, date)"), max_length=300
    )
    reason = forms.CharField(label=_("Reason"), max_length=REASON_MAX_LENGTH)
    expires_at = forms.DateTimeField(
        label=_("Expires (Beijing time, optional)"),
        required=False,
        widget=forms.DateTimeInput(format="%Y-%m-%dT%H:%M", attrs={"type": "datetime-local"}),
    )

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        # Only when the field is empty: one that is there but wrong already says what is wrong with it.
        if kind == Freeze.Kind.CASH and not data.get("amount") and "amount" not in self.errors:
            self.add_error("amount", _("A freeze of cash needs an amount."))
        missing_shares = not (data.get("security") and data.get("quantity"))
        if kind == Freeze.Kind.SHARES and missing_shares and "quantity" not in self.errors:
            self.add_error("quantity", _("A freeze of shares needs the security and a quantity."))
        return data


class ForcedTransferForm(forms.Form):
    freeze = IntegerField(label=_("Freeze number"), min_value=1)
    receiver = forms.CharField(label=_("Receiving account"), max_length=32)
    security = forms.CharField(label=_("Security (shares only)"), max_length=16, required=False)
    quantity = IntegerField(label=_("Shares"), min_value=1, max_value=10**12, required=False)
    amount = PlainDecimalField(
        label=_("Amount (CNY)"), min_value=Decimal("0.01"), decimal_places=2, max_digits=20, required=False
    )
    legal_reference = forms.CharField(label=_("Court order"), max_length=300)
    reason = forms.CharField(label=_("Reason"), max_length=REASON_MAX_LENGTH)


class CorrectionForm(forms.Form):
    trade = IntegerField(label=_("Trade number"), min_value=1)
    # No decimal_places: a price off the tick gets the market's tick message from the service, not Django's.
    new_price = PlainDecimalField(label=_("Corrected price"), min_value=Decimal("0.01"), max_digits=PRICE_DIGITS)
    new_quantity = IntegerField(label=_("Corrected quantity (0 reverses the trade)"), min_value=0)
    reason = forms.CharField(label=_("Reason"), max_length=REASON_MAX_LENGTH)


class AccountLookupForm(forms.Form):
    code = forms.CharField(
        label=_("Account code"),
        max_length=32,
        help_text=_("As INV000005 (an investor), MM000002 (a market maker) or FEE000001 (a fee account); any case."),
    )
