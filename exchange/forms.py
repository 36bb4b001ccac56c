"""Forms of the web pages.

A form only turns text from the browser into the typed request a service
takes (an int, a ``Decimal``, a known choice). Every market rule — tick, band,
lots, cash, shares, halts — stays in the services, whose ``DomainError`` the
views add to the form with ``domain_error_message``.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError
from core.forms import IntegerField, PlainDecimalField, domain_error_message
from registry.models import Security

from . import pretrade, services
from .models import Order

# Bounds that keep absurd input out of the integer and decimal columns; the
# services decide what is actually allowed.
MAX_QUANTITY = 10**12
PRICE_DIGITS = 14


def _security_choices(securities) -> list[tuple[str, str]]:
    return [(s.code, f"{s.code} {s.name}") for s in securities]


def investor_refusal(exc: DomainError) -> str:
    """A refusal as the investor's own pages say it: the service's message, and where one can do something about
    it, what (found by a walk-through: "Only qualified investors may buy this security" said nothing of how to
    become one). The API and the counter keep the service's message."""
    said = domain_error_message(exc)
    # Not a proposal's counterparty's (``CounterpartyNotQualified``): that one is not the reader's to mend.
    if exc.code == pretrade.NotQualified.code and not isinstance(exc, pretrade.CounterpartyNotQualified):
        said += " " + gettext(
            "To buy it, attest your qualified-investor status on My account opening; your broker then reviews your "
            "application again."
        )
    return said


def new_client_order_id() -> str:
    """A fresh idempotency key, written into the ticket when it is shown: a double submit places one order."""
    return uuid.uuid4().hex


class OrderTicketForm(forms.Form):
    # Said before it happens (WCAG 3.2.2): choosing another security reloads the ticket with its quotes.
    security = forms.ChoiceField(
        label=_("Security"), help_text=_("Choosing another security reloads the ticket with its quotes.")
    )
    side = forms.ChoiceField(
        label=_("Side"), choices=Order.Side.choices, initial=Order.Side.BUY, widget=forms.RadioSelect
    )
    quantity = IntegerField(label=_("Quantity (shares)"), min_value=1, max_value=MAX_QUANTITY)
    limit_price = PlainDecimalField(label=_("Limit price (CNY)"), min_value=Decimal("0.01"), max_digits=PRICE_DIGITS)
    time_in_force = forms.ChoiceField(
        label=_("Time in force"),
        choices=[(Order.TimeInForce.DAY, _("Day")), (Order.TimeInForce.IOC, _("Immediate or cancel"))],
        initial=Order.TimeInForce.DAY,
        widget=forms.RadioSelect,
    )
    client_order_id = forms.CharField(max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args, securities: list[Security], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["security"].choices = _security_choices(securities)
        self.fields["quantity"].widget.attrs.update({"inputmode": "numeric", "autocomplete": "off"})
        self.fields["limit_price"].widget.attrs.update({"inputmode": "decimal", "autocomplete": "off"})

    def order_request(self) -> services.OrderRequest:
        data = self.cleaned_data
        return services.OrderRequest(
            security=data["security"],
            side=data["side"],
            quantity=data["quantity"],
            limit_price=data["limit_price"],
            time_in_force=data["time_in_force"],
            client_order_id=data["client_order_id"],
        )


class BandSelect(forms.Select):
    """A select of securities whose options carry each security's price band today (``data-band-low``,
    ``data-band-high``): the page asks no confirmation of a quote the band check will refuse (``confirm.js``)."""

    def __init__(self, *args, bands: dict[str, tuple[Decimal, Decimal]] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.bands = bands or {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex=subindex, attrs=attrs)
        if str(value) in self.bands:
            low, high = self.bands[str(value)]
            option["attrs"] = {**option["attrs"], "data-band-low": f"{low:f}", "data-band-high": f"{high:f}"}
        return option


class QuoteForm(forms.Form):
    security = forms.ChoiceField(label=_("Security"), widget=BandSelect)
    bid_price = PlainDecimalField(label=_("Bid price (CNY)"), min_value=Decimal("0.01"), max_digits=PRICE_DIGITS)
    bid_quantity = IntegerField(label=_("Bid size (shares)"), min_value=1, max_value=MAX_QUANTITY)
    ask_price = PlainDecimalField(label=_("Ask price (CNY)"), min_value=Decimal("0.01"), max_digits=PRICE_DIGITS)
    ask_quantity = IntegerField(label=_("Ask size (shares)"), min_value=1, max_value=MAX_QUANTITY)

    def __init__(self, *args, securities: list[Security], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["security"].choices = _security_choices(securities)
        self.fields["security"].widget.bands = {s.code: (s.band_low, s.band_high) for s in securities}
        for name in ("bid_price", "ask_price"):
            self.fields[name].widget.attrs.update({"inputmode": "decimal", "autocomplete": "off"})
        for name in ("bid_quantity", "ask_quantity"):
            self.fields[name].widget.attrs.update({"inputmode": "numeric", "autocomplete": "off"})

    def quote_request(self) -> services.QuoteRequest:
        data = self.cleaned_data
        return services.QuoteRequest(
            security=data["security"],
            bid_price=data["bid_price"],
            bid_quantity=data["bid_quantity"],
            ask_price=data["ask_price"],
            ask_quantity=data["ask_quantity"],
        )
