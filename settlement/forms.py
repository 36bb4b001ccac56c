"""The settlement monitor's forms: a standing settlement instruction, and its early end."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core import errors as err
from core.forms import IntegerField, PlainDecimalField
from core.models import Account, Role

from .instructions import MAX_AMOUNT
from .statements import BEIJING, certificate_year_error, certificate_years, statement_dates_error

SHANGHAI = ZoneInfo("Asia/Shanghai")


class InstructionForm(forms.Form):
    """At least one of account, security and minimum amount; the end is Asia/Shanghai time. ``setter_role``: who
    fills it in, which decides whether the investors concerned are shown the reason
    (``instructions.reason_disclosed``), as the reason's help says."""

    account = forms.CharField(label=_("Account code"), max_length=32, required=False)
    security = forms.CharField(label=_("Security code"), max_length=16, required=False)
    min_amount = PlainDecimalField(
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

    def __init__(self, *args, setter_role: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if setter_role == Role.REGULATOR:
            self.fields["reason"].help_text = _(
                "Not shown to the investors whose trades it holds: they are told only that a standing "
                "instruction of the regulator holds the trade."
            )
        elif setter_role == Role.DEPOSITORY_OPERATOR:
            self.fields["reason"].help_text = _(
                "Shown to the investors whose trades it holds (in their notifications and on the trade's page), "
                "with the fact that a standing instruction of the depository holds the trade."
            )

    def clean_ends_at(self) -> dt.datetime:
        value = self.cleaned_data["ends_at"]
        # The field made it aware in the active time zone; the page says Beijing time, so read it as such.
        return value.replace(tzinfo=None).replace(tzinfo=SHANGHAI)


class InstructionEndForm(forms.Form):
    """The early end of one instruction, from its row of the monitor. Its error names the field (found by a probe:
    "This field is required.", posted without the browser's check, said neither which field nor where)."""

    reason = forms.CharField(
        label=_("Reason for ending it"),
        max_length=err.REASON_MAX_LENGTH,
        error_messages={"required": _("Give a reason for ending it."), "max_length": err.ReasonTooLong.default_message},
    )


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


class StatementForm(forms.Form):
    """A statement period of Beijing dates; this month so far by default."""

    start = forms.DateField(label=_("From"), widget=DateInput())
    end = forms.DateField(label=_("To"), widget=DateInput())

    @staticmethod
    def default_period() -> dict[str, dt.date]:
        today = timezone.now().astimezone(BEIJING).date()
        return {"start": today.replace(day=1), "end": today}

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and (problem := statement_dates_error(start, end)):
            raise forms.ValidationError(problem)
        return data


class CertificateForm(forms.Form):
    # One rule and one message for every year out of range, the holdings certificate's own (from the year the
    # account was opened to this one, ``certificate_year_error``): bounds of 1990 and 2999 here said "less than or
    # equal to 2999" to 99999, and 2999 was refused after it.
    year = IntegerField(label=_("Year"))

    def __init__(self, *args, account: Account, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.account = account
        first, last = certificate_years(account)
        self.fields["year"].widget.attrs.update({"min": first, "max": last})

    def clean_year(self) -> int:
        year = self.cleaned_data["year"]
        if problem := certificate_year_error(self.account, year):
            raise forms.ValidationError(problem)
        return year

    @staticmethod
    def default_year(account: Account) -> int:
        """Last year's, or this year's for an account opened this year."""
        first, last = certificate_years(account)
        return max(first, last - 1)
