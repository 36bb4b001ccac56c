"""Forms of the request-for-quote pages: text from the browser to typed values; rules stay in the services."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from core.forms import IntegerField, PlainDecimalField
from registry.models import Security

from .forms import MAX_QUANTITY, PRICE_DIGITS
from .models import Order
from .services.rfq import MAX_VALID_SECONDS


class RfqForm(forms.Form):
    security = forms.ChoiceField(label=_("Security"))
    side = forms.ChoiceField(
        label=_("Side"), choices=Order.Side.choices, initial=Order.Side.BUY, widget=forms.RadioSelect
    )
    quantity = IntegerField(label=_("Quantity (shares)"), min_value=1, max_value=MAX_QUANTITY)
    client_request_id = forms.CharField(max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args, securities: list[Security], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["security"].choices = [(s.code, f"{s.code} {s.name}") for s in securities]
        self.fields["quantity"].widget.attrs.update({"inputmode": "numeric", "autocomplete": "off"})


class RfqAnswerForm(forms.Form):
    """An answer's price and seconds. Its errors are shown together in one line of the inbox's row, away from the
    fields, so each names its field (Django's say "this value": found by a walk-through)."""

    price = PlainDecimalField(
        label=_("Price"),
        min_value=Decimal("0.01"),
        max_digits=PRICE_DIGITS,
        error_messages={
            "required": _("Give a price."),
            "min_value": _("The price must be at least %(limit_value)s."),
        },
    )
    valid_seconds = IntegerField(
        label=_("Valid for (seconds)"),
        min_value=1,
        max_value=MAX_VALID_SECONDS,
        initial=30,
        error_messages={
            "required": _("Give the seconds the answer stays firm."),
            "invalid": _("Give the seconds the answer stays firm as a whole number."),
            "min_value": ngettext_lazy(
                "An answer must stay firm for at least %(limit_value)s second.",
                "An answer must stay firm for at least %(limit_value)s seconds.",
                "limit_value",
            ),
            "max_value": ngettext_lazy(
                "An answer may stay firm for at most %(limit_value)s second.",
                "An answer may stay firm for at most %(limit_value)s seconds.",
                "limit_value",
            ),
        },
    )
