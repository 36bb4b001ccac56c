"""Forms of the request-for-quote pages: text from the browser to typed values; rules stay in the services."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from core.forms import PlainDecimalField
from registry.models import Security

from .forms import MAX_QUANTITY, PRICE_DIGITS
from .models import Order
from .services.rfq import MAX_VALID_SECONDS


class RfqForm(forms.Form):
    security = forms.ChoiceField(label=_("Security"))
    side = forms.ChoiceField(
        label=_("Side"), choices=Order.Side.choices, initial=Order.Side.BUY, widget=forms.RadioSelect
    )
    quantity = forms.IntegerField(label=_("Quantity (shares)"), min_value=1, max_value=MAX_QUANTITY)
    client_request_id = forms.CharField(max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args, securities: list[Security], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["security"].choices = [(s.code, f"{s.code} {s.name}") for s in securities]
        self.fields["quantity"].widget.attrs.update({"inputmode": "numeric", "autocomplete": "off"})


class RfqAnswerForm(forms.Form):
    price = PlainDecimalField(label=_("Price"), min_value=Decimal("0.01"), max_digits=PRICE_DIGITS)
    valid_seconds = forms.IntegerField(
        label=_("Valid for (seconds)"), min_value=1, max_value=MAX_VALID_SECONDS, initial=30
    )
