"""Forms of the KYC pages.

A form only turns what the browser sent into the arguments a ``kyc.services``
function takes; every rule (ID checksum, phone, document type and size,
questionnaire completeness, states, maker-checker) stays in the services,
whose errors the views put on the form with ``add_service_error``.
"""

from __future__ import annotations

import re

from django import forms
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from exchange.exceptions import DomainError
from exchange.forms import domain_error_message
from exchange.models import Broker

from . import questionnaire, services
from .models import KycDocument, KycProfile

# Bounds that keep absurd input out of the services; the services decide what is valid.
MAX_TEXT = 300
MAX_REASON = 2000


class IdentityForm(forms.Form):
    real_name = forms.CharField(label=_("Real name"), max_length=100)
    id_type = forms.ChoiceField(label=_("ID type"), choices=KycProfile.IdType.choices)
    id_number = forms.CharField(label=_("ID number"), max_length=40)
    phone = forms.CharField(label=_("Mobile phone"), max_length=20)
    address = forms.CharField(label=_("Residential address"), max_length=MAX_TEXT)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["id_number"].widget.attrs.update({"autocomplete": "off", "spellcheck": "false"})
        self.fields["phone"].widget.attrs.update({"inputmode": "tel", "autocomplete": "tel"})
        self.fields["address"].widget.attrs.update({"autocomplete": "street-address"})

    def identity(self) -> services.Identity:
        return services.Identity.of(self.cleaned_data)


class RegistrationForm(IdentityForm):
    """Online registration: a broker, a user name and password, and the identity."""

    broker = forms.ModelChoiceField(label=_("Broker"), queryset=Broker.objects.order_by("code"), empty_label=None)
    username = forms.CharField(label=_("User name"), max_length=150)
    password = forms.CharField(label=_("Password"), strip=False, widget=forms.PasswordInput(render_value=False))
    password2 = forms.CharField(label=_("Password again"), strip=False, widget=forms.PasswordInput(render_value=False))

    field_order = ["broker", "username", "password", "password2", "real_name", "id_type", "id_number", "phone"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].widget.attrs.update({"autocomplete": "username", "autocapitalize": "none"})
        for name in ("password", "password2"):
            self.fields[name].widget.attrs.update({"autocomplete": "new-password"})

    def clean(self):
        data = super().clean()
        if data.get("password") and data.get("password2") and data["password"] != data["password2"]:
            self.add_error("password2", _("The two passwords differ."))
        return data


def _answer_field(question: dict) -> forms.ChoiceField:
    return forms.ChoiceField(
        label=question["text"],
        choices=[(key, text) for key, text, _points in question["options"]],
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose an answer.")},
    )


class QuestionnaireForm(forms.Form):
    """One radio group per question of ``kyc.questionnaire.QUESTIONS``, named by the question's key."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for question in questionnaire.QUESTIONS:
            self.fields[question["key"]] = _answer_field(question)

    def answers(self) -> dict[str, str]:
        return {q["key"]: self.cleaned_data[q["key"]] for q in questionnaire.QUESTIONS}


class DocumentForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind of document"), choices=KycDocument.Kind.choices)
    file = forms.FileField(
        label=_("File (JPEG, PNG or PDF, at most 5 MB)"),
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,application/pdf"}),
    )


class QualificationForm(forms.Form):
    qualified = forms.BooleanField(label=_("I am a qualified investor"), required=False)
    evidence = forms.CharField(
        label=_("Evidence"),
        required=False,
        max_length=MAX_REASON,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("For example: financial assets of at least 3 million CNY, or income of 500,000 CNY a year."),
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=MAX_REASON, widget=forms.Textarea(attrs={"rows": 2}))


class RejectForm(ReasonForm):
    reason = forms.CharField(
        label=_("Reason the investor will see"), max_length=MAX_REASON, widget=forms.Textarea(attrs={"rows": 2})
    )


class RevealForm(ReasonForm):
    reason = forms.CharField(
        label=_("Legal reason for the reveal"),
        max_length=MAX_REASON,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("For example the court order or the case number. The reason is recorded with your name."),
    )


# --------------------------------------------------------------------------
# Service messages on the pages
#
# kyc.services and kyc.idcard raise plain English messages (the API returns
# them as they are); they are listed here so that makemessages collects them,
# and translated on the pages by ``service_message``.

SERVICE_MESSAGES = [
    gettext_noop("Enter the name as on the ID document."),
    gettext_noop("Choose an ID type."),
    gettext_noop("Enter the document number (5 to 30 letters and digits)."),
    gettext_noop("Enter a phone number of 7 to 15 digits."),
    gettext_noop("Enter the residential address."),
    gettext_noop("A resident ID number has 17 digits and a check digit (0-9 or X)."),
    gettext_noop("The date of birth in the ID number is not a real date."),
    gettext_noop("The date of birth in the ID number is not plausible."),
    gettext_noop("The ID number's check digit is wrong."),
    gettext_noop("Choose a user name."),
    gettext_noop("Use only letters, digits and @ . + - _ in the user name."),
    gettext_noop("That user name is taken."),
    gettext_noop("Only staff of this broker open its accounts."),
    gettext_noop("No such application."),
    gettext_noop("No such document."),
    gettext_noop("No such investor."),
    gettext_noop("The application is not in a state that allows this."),
    gettext_noop("A second staff member must approve: you entered, edited or submitted this application."),
    gettext_noop("Describe the evidence of qualified-investor status."),
    gettext_noop("Choose the kind of document."),
    gettext_noop("Upload a JPEG, PNG or PDF file."),
    gettext_noop("Fill in the risk questionnaire first."),
    gettext_noop("Upload the front of the ID document first."),
    gettext_noop("Give the reason the investor will see."),
    gettext_noop("Only the regulator may reveal an identity."),
    gettext_noop("Give the legal reason for the reveal."),
]

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"The file is larger than (?P<mb>[0-9]+) MB\."), gettext_noop("The file is larger than %(mb)s MB.")),
    (re.compile(r"answer the question '(?P<key>\w+)'"), gettext_noop("Answer every question (%(key)s).")),
]


def service_message(message: str) -> str:
    """A service's English message in the active language (figures kept); unknown ones as they are."""
    translated = gettext(message)
    if translated != message:
        return translated
    for pattern, template in _PATTERNS:
        match = pattern.fullmatch(message)
        if match:
            return gettext(template) % match.groupdict()
    return message


def add_service_error(form: forms.Form, exc: DomainError) -> None:
    """Put a service error on the form: per field when the service named fields, else above the form."""
    fields = getattr(exc, "fields", None) or {}
    placed = False
    for name, message in fields.items():
        if name in form.fields:
            form.add_error(name, service_message(message))
            placed = True
    if not placed:
        form.add_error(None, error_message(exc))


def error_message(exc: DomainError) -> str:
    translated = service_message(exc.message)
    return translated if translated != exc.message else domain_error_message(exc)
