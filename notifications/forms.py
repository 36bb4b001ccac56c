from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Kind


class PreferenceForm(forms.Form):
    """The kinds the user wants (ticked: on) of those their role may be told (``kinds``), and email."""

    wanted = forms.MultipleChoiceField(
        label=_("Notify me of"), choices=Kind.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    email = forms.BooleanField(label=_("Also send each notification by email"), required=False)

    def __init__(self, *args, kinds: list[str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if kinds is not None:
            self.fields["wanted"].choices = [(k, label) for k, label in Kind.choices if k in kinds]
