"""The settlement monitor's forms: a standing settlement instruction, and its early end."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from django import forms
from django.utils.translation import gettext_lazy as _

from core import errors as err

from .instructions import MAX_AMOUNT

SHANGHAI = ZoneInfo("Asia/Shanghai")


class InstructionForm(forms.Form):
    """At least one of account, security and minimum amount; the end is Asia/Shanghai time."""

    account = forms.CharField(label=_("Account code"), max_length=32, required=False)
    security = forms.CharField(label=_("Security code"), max_length=16, required=False)
    min_amount = forms.DecimalField(
        label=_("Minimum trade value (CNY)"),
        required=False,
        min_value=Decimal("0.01"),
        max_value=MAX_AMOUNT,
        decimal_places=2,
    )
    reason = forms.CharField(label=_("Reason"), max_length=err.REASON_MAX_LENGTH)
    ends_at = forms.DateTimeField(
        label=_("Ends at (Beijing time)"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
        widget=forms.DateTimeInput(format="%Y-%m-%dT%H:%M", attrs={"type": "datetime-local"}),
    )

    def clean_ends_at(self) -> dt.datetime:
        value = self.cleaned_data["ends_at"]
        # The field made it aware in the active time zone; the page says Beijing time, so read it as such.
        return value.replace(tzinfo=None).replace(tzinfo=SHANGHAI)


class InstructionEndForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=err.REASON_MAX_LENGTH)
