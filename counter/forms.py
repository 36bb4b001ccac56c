"""Forms of the counter pages: browser text → the typed arguments the services take.

Rules (who may act, available cash, KYC checks, …) stay in the services; the
views add their ``DomainError`` to the form.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from core.forms import PlainDecimalField
from core.models import MONEY
from kyc.models import KycProfile
from kyc.services import Identity
from settlement.forms import StatementForm  # noqa: F401 - the counter's statement page uses the shared form


class OpenAccountForm(forms.Form):
    real_name = forms.CharField(label=_("Real name"), max_length=100)
    id_type = forms.ChoiceField(
        label=_("ID type"), choices=KycProfile.IdType.choices, initial=KycProfile.IdType.RESIDENT_ID
    )
    id_number = forms.CharField(label=_("ID number"), max_length=40)
    phone = forms.CharField(label=_("Phone"), max_length=20)
    address = forms.CharField(label=_("Address"), max_length=300)
    username = forms.CharField(label=_("User name for online access"), max_length=150)
    password = forms.CharField(
        label=_("Initial password (optional)"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("Leave empty if the client will not use online access yet."),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["id_number"].widget.attrs.update({"autocomplete": "off"})
        self.fields["phone"].widget.attrs.update({"inputmode": "tel", "autocomplete": "off"})
        self.fields["username"].widget.attrs.update({"autocomplete": "off"})

    def identity(self) -> Identity:
        return Identity.of(self.cleaned_data)


class CashForm(forms.Form):
    amount = PlainDecimalField(
        label=_("Amount (CNY)"),
        min_value=Decimal("0.01"),
        # Below the services' limit of 10^15 (settlement.services.MAX_AMOUNT): 15 digits before the point.
        max_digits=15 + MONEY["decimal_places"],
        decimal_places=MONEY["decimal_places"],
    )
    reference = forms.CharField(label=_("Reference (optional)"), max_length=100, required=False)
    # A token each form shown carries, so that the movement it sends is carried out once however often it is
    # submitted (a double click, the confirmation page sent twice): ``counter.services.counter_cash``'s ``once``.
    once = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)

    def __init__(self, *args, **kwargs) -> None:
        if not args and "data" not in kwargs:
            kwargs.setdefault("initial", {}).setdefault("once", uuid.uuid4().hex)
        super().__init__(*args, **kwargs)
        self.fields["amount"].widget.attrs.update({"inputmode": "decimal", "autocomplete": "off"})
