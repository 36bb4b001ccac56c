from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Kind


class PreferenceForm(forms.Form):
    """The kinds the investor wants (ticked: on), and email."""

    wanted = forms.MultipleChoiceField(
        label=_("Notify me of"), choices=Kind.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    email = forms.BooleanField(label=_("Also send each notification by email"), required=False)
