"""What the pages share about forms."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal

from django import forms
from django.contrib import messages
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.forms.formsets import BaseFormSet
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from .audit import refusal_noted, refused_fields
from .errors import DomainError, InvalidInput, PermissionDenied


def domain_error_message(exc: DomainError) -> str:
    """The error's message in the active language: messages are made text when the error is raised. A page that
    shows it answers a refusal: noted for the audit trail (``core.audit.refusal_noted``)."""
    refusal_noted(exc)
    return exc.message


def add_service_error(form: forms.Form, exc: DomainError) -> None:
    """Put a service's error on the form: on the fields it names (``exc.fields``, messages already in the active
    language: a KYC application's identity and login details, the counter's account opening), else above it."""
    fields = getattr(exc, "fields", None) or {}
    placed = False
    for name, message in fields.items():
        if name in form.fields:
            form.add_error(name, message)
            placed = True
    if not placed:
        form.add_error(None, domain_error_message(exc))


def _form_errors(forms) -> Iterator[tuple[str, list, bool]]:
    """The errors of page forms and formsets, by the field's name as posted (``freeze-legal_reference``,
    ``holders-0-quantity``; a form's own errors under its ``non_field_errors``, a formset's under its prefix), and
    whether a field's."""
    for form in forms:
        if isinstance(form, BaseFormSet):
            yield from _form_errors(form.forms)
            if errors := form.non_form_errors():
                yield form.prefix, list(errors), False
            continue
        for name, errors in form.errors.items():
            field = name != NON_FIELD_ERRORS
            yield form.add_prefix(name if field else "non_field_errors"), list(errors), field


def form_refusal_noted(*forms) -> None:
    """A staff page's write whose forms came back with errors, refused before any service ran (a freeze with no
    legal reference, an issuance of 0 shares): noted for the audit trail as the API's refusal of the same input is
    (``invalid_input``, the first error as the message, each field's errors in the detail's ``fields``). Nothing
    when the forms have no error, or when a refusal was noted already (the service's, with its own code): one record
    a submission. The audit middleware records it for staff writes only (``core.audit.refusal_audited``)."""
    errors = list(_form_errors(forms))
    if not errors:
        return
    name, messages, field = errors[0]
    message = f"{name}: {messages[0]}" if field else str(messages[0])
    refusal_noted(InvalidInput(message), fields=refused_fields((n, m) for n, m, _f in errors))


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


class _GroupedInt(int):
    """A field's bound as the pages write numbers, "1,000,000,000,000" where it is said (``%s``), and still the number
    it is where it is counted (a plural's)."""

    def __str__(self) -> str:
        return f"{int(self):,}"


class _GroupedDecimal(Decimal):
    def __str__(self) -> str:
        return f"{Decimal(self):,}"


class _GroupedBound:
    """Django's bound validator, saying its limit grouped: "Ensure this value is less than or equal to
    1,000,000,000,000." where Django wrote 1000000000000 (found by a walk)."""

    def __call__(self, value):
        cleaned = self.clean(value)
        limit = self.limit_value() if callable(self.limit_value) else self.limit_value
        if self.compare(cleaned, limit):
            grouped = _GroupedInt(limit) if isinstance(limit, int) else _GroupedDecimal(limit)
            raise ValidationError(
                self.message, code=self.code, params={"limit_value": grouped, "show_value": cleaned, "value": value}
            )


class _GroupedMaxValue(_GroupedBound, MaxValueValidator):
    pass


class _GroupedMinValue(_GroupedBound, MinValueValidator):
    pass


class GroupedBounds:
    """A number field whose bounds' errors write the bound as the pages write numbers."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        grouped = {MaxValueValidator: _GroupedMaxValue, MinValueValidator: _GroupedMinValue}
        self.validators = [
            grouped[type(v)](v.limit_value, v.message) if type(v) in grouped else v for v in self.validators
        ]


class IntegerField(GroupedBounds, forms.IntegerField):
    """Django's ``IntegerField``, its bounds said grouped."""


# What a person writes as an amount: ASCII digits with at most one point, and a minus sign the field's minimum
# then refuses as too small.
_PLAIN_DECIMAL = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII)


class PlainDecimalField(GroupedBounds, forms.DecimalField):
    """Django's ``DecimalField``, reading only a plain number. Django's reads what Python's ``Decimal`` reads:
    "1e5" (a deposit of "1e5" moved 100,000 yuan), "Infinity"'s kin and digits of other scripts. Its bounds are
    said grouped."""

    default_error_messages = {"invalid": _("Enter a number such as 10.50: digits, with at most one decimal point.")}

    def to_python(self, value):
        if isinstance(value, str) and value.strip() and not _PLAIN_DECIMAL.fullmatch(value.strip()):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


# Django's own Chinese for these reads wrong (an English full stop; "empty string" for a NUL character; "该变量",
# "this variable", for a field's length), in forms
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
    ngettext_lazy(
        "Ensure this value has at most %(limit_value)d character (it has %(show_value)d).",
        "Ensure this value has at most %(limit_value)d characters (it has %(show_value)d).",
        "limit_value",
    ),
    ngettext_lazy(
        "Ensure this value has at least %(limit_value)d character (it has %(show_value)d).",
        "Ensure this value has at least %(limit_value)d characters (it has %(show_value)d).",
        "limit_value",
    ),
)
