"""Forms of the KYC pages.

A form only turns what the browser sent into the arguments a ``kyc.services``
function takes; every rule (ID checksum, phone, document type and size,
questionnaire completeness, states, maker-checker) stays in the services,
whose errors the views put on the form with ``core.forms.add_service_error``.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from core.models import Broker

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
        self.fields["real_name"].widget.attrs.update({"autocomplete": "name"})
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
        # The venue's rule (DESIGN §2, cn-regional-2017): an individual is qualified with financial assets of at
        # least CNY 500,000. Staff check the evidence; the code keeps only the attestation.
        help_text=_(
            "Financial assets of at least 500,000 CNY (deposits, securities, funds and the like): say what shows "
            "them, for example a bank or securities account statement."
        ),
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
