"""The depository's forms: an issuance (holders with optional lock-ups) and the register's date."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from core.forms import IntegerField
from registry.models import Security


class IssuanceForm(forms.Form):
    security = forms.ModelChoiceField(
        label=_("Security"),
        queryset=Security.objects.exclude(status=Security.Status.DELISTED).order_by("code"),
        to_field_name="code",
    )
    reference = forms.CharField(
        label=_("Reference (e.g. initial registration, placement, bonus shares)"), max_length=200, required=False
    )


class HolderForm(forms.Form):
    account = forms.CharField(label=_("Account"), max_length=32)
    quantity = IntegerField(label=_("Shares"), min_value=1, max_value=10**12)
    locked_quantity = IntegerField(label=_("Locked up"), min_value=0, max_value=10**12, required=False)
    locked_until = forms.DateField(
        label=_("Lock-up ends"), required=False, widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"})
    )


HolderFormSet = forms.formset_factory(HolderForm, extra=4, max_num=50, validate_max=True)


class RegisterForm(forms.Form):
    security = forms.ModelChoiceField(
        label=_("Security"), queryset=Security.objects.order_by("code"), to_field_name="code"
    )
    as_of = forms.DateField(
        label=_("As of (end of day)"), widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"})
    )
