"""Our own password rules, beside Django's validators in ``AUTH_PASSWORD_VALIDATORS``.

Django's validators refuse short, all-digit, common and user-like passwords,
but a password of ten spaces passes every one of them. ``BlankPasswordValidator``
refuses a password with nothing in it but whitespace, counting invisible
format and control characters (a zero-width space, a tab) as blank too.

It follows Django's validator interface (``validate`` raising
``ValidationError`` with a code, and ``get_help_text``), so ``validate_password``
runs it wherever a password is set: online registration, the counter's initial
password, and Django's password-setting forms and commands.
"""

from __future__ import annotations

import unicodedata

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.utils.translation import gettext, ngettext

# Categories of characters that show nothing: control (tab, newline) and format (zero-width space, BOM).
_INVISIBLE = {"Cc", "Cf"}


def is_blank(password: str) -> bool:
    """True when nothing in the password would show on paper: only whitespace and invisible characters."""
    return all(c.isspace() or unicodedata.category(c) in _INVISIBLE for c in password)


class BlankPasswordValidator:
    """Refuse a password made of whitespace (and invisible characters) only."""

    code = "password_entirely_blank"

    def validate(self, password: str, user=None) -> None:
        if is_blank(password):
            raise ValidationError(gettext("This password is only spaces."), code=self.code)

    def get_help_text(self) -> str:
        return gettext("Your password must contain more than spaces.")


class MinimumLengthValidator(password_validation.MinimumLengthValidator):
    """Django's, with its error message in our catalog: Django 5.2 writes it with ``%d`` while its own Chinese
    catalog translates the ``%(min_length)d`` form, so the message stayed English on Chinese pages."""

    def get_error_message(self) -> str:
        return ngettext(
            "This password is too short. It must contain at least %(min_length)d character.",
            "This password is too short. It must contain at least %(min_length)d characters.",
            self.min_length,
        ) % {"min_length": self.min_length}
