"""What the pages share about forms."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.validators import MaxLengthValidator

from .errors import DomainError, PermissionDenied


def domain_error_message(exc: DomainError) -> str:
    """The error's message in the active language: messages are made text when the error is raised."""
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
