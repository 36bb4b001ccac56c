"""What the pages share about forms."""

from __future__ import annotations

import re

from django import forms
from django.contrib import messages
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from .audit import refusal_noted
from .errors import DomainError, PermissionDenied


def domain_error_message(exc: DomainError) -> str:
    """The error's message in the active language: messages are made text when the error is raised. A page that
    shows it answers a refusal: noted for the audit trail (``core.audit.refusal_noted``)."""
    refusal_noted(exc)
    return exc.message


def report_refusal(request, exc: DomainError) -> None:
    """A page action the service refused. When the caller may not do it at all (``permission_denied``: the wrong
    role, not the proposer) it is a 403 page with the reason, as the API answers; otherwise the reason is a
    message on the page the view returns to. Either way nothing changed."""
    if exc.code == PermissionDenied.code:
        raise DjangoPermissionDenied(domain_error_message(exc))
    messages.error(request, domain_error_message(exc))


class LoginForm(AuthenticationForm):
    """The login page's form: Django's, with its user name's length checked.

    ``AuthenticationForm`` sets the field's ``max_length`` (the user model's, 150) after the field is built, so it
    reaches only the HTML attribute, not a validator: a longer name went on to ``authenticate()``, where
    django-axes stores it in a 255-character column (a 500 above that). Checked here, it is a form error and
    nothing authenticates.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["username"]
        field.validators.append(MaxLengthValidator(field.max_length))


# What a person writes as an amount: ASCII digits with at most one point, and a minus sign the field's minimum
# then refuses as too small.
_PLAIN_DECIMAL = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII)


class PlainDecimalField(forms.DecimalField):
    """Django's ``DecimalField``, reading only a plain number. Django's reads what Python's ``Decimal`` reads:
    "1e5" (a deposit of "1e5" moved 100,000 yuan), "Infinity"'s kin and digits of other scripts."""

    default_error_messages = {"invalid": _("Enter a number such as 10.50: digits, with at most one decimal point.")}

    def to_python(self, value):
        if isinstance(value, str) and value.strip() and not _PLAIN_DECIMAL.fullmatch(value.strip()):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


# Django's own Chinese for these reads wrong (an English full stop; "empty string" for a NUL character), in forms
# and in the API alike: the project's catalog, which outranks Django's, says them again. Never read: listed here
# so that makemessages keeps them in the catalog.
DJANGO_MESSAGES_RETRANSLATED = (
    _("Null characters are not allowed."),
    ngettext_lazy(
        "Ensure that there are no more than %(max)s digit in total.",
        "Ensure that there are no more than %(max)s digits in total.",
        "max",
    ),
    ngettext_lazy(
        "Ensure that there are no more than %(max)s decimal place.",
        "Ensure that there are no more than %(max)s decimal places.",
        "max",
    ),
)
