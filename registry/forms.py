"""Forms of the registry's pages: publishing a disclosure document, checking a file against one."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Disclosure


class DisclosureForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind of document"), choices=Disclosure.Kind.choices)
    title = forms.CharField(label=_("Title"), max_length=Disclosure.TITLE_MAX_LENGTH)
    # Empty files reach the service, which refuses them with the API's message.
    file = forms.FileField(label=_("File (PDF, PNG, JPEG or plain text)"), allow_empty_file=True, max_length=1000)


class DisclosureCheckForm(forms.Form):
    file = forms.FileField(label=_("A file you hold"), allow_empty_file=True, max_length=1000)
