"""The forms of a user's own settings pages and of the forgotten-password pages (``core.settings_views``).

They check what was typed; the changes are ``core.account_settings``'s. The password forms are Django's (its
validators are the project's ``AUTH_PASSWORD_VALIDATORS``), saved through ``account_settings.password_set``.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import PasswordChangeForm, SetPasswordForm
from django.utils.translation import gettext_lazy as _

from .models import User


class CurrentPasswordMixin:
    """A form with the user's current password, checked against ``self.user``. ``wrong_password`` tells the view
    to count the failure (django-axes) and audit it."""

    wrong_password = False

    def clean_password(self):
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            self.wrong_password = True
            raise forms.ValidationError(_("Your current password is wrong."), code="wrong_password")
        return password


def current_password() -> forms.CharField:
    return forms.CharField(
        label=_("Current password"),
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class EmailChangeForm(CurrentPasswordMixin, forms.Form):
    new_email = forms.EmailField(
        label=_("New email address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        help_text=_("We send a link to this address; it becomes your address when you open the link."),
    )
    password = current_password()

    def __init__(self, user: User, *args, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)


class EmailRemoveForm(CurrentPasswordMixin, forms.Form):
    password = current_password()

    def __init__(self, user: User, *args, **kwargs):
        self.user = user
        super().__init__(*args, prefix="remove", **kwargs)


class NewPasswordErrorsOnItsField:
    """The new password's own faults (too short, too common, all digits…) under the new password's field, where
    Django's form puts them under the confirmation's (found by a probe: a screen reader heard "too common" on the
    field that only repeats it); a mismatch stays the confirmation's."""

    def clean(self):
        self.validate_passwords("new_password1", "new_password2")
        self.validate_password_for_user(self.user, "new_password1")
        return forms.Form.clean(self)


class PasswordChangePageForm(NewPasswordErrorsOnItsField, PasswordChangeForm):
    """Django's form (current password, the new one twice); its ``password_incorrect`` error is the count's cue.
    The current password is named as on the email form ("Current password", not Django's "Old password")."""

    error_messages = {
        **PasswordChangeForm.error_messages,
        "password_incorrect": _("Your current password is wrong."),
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["old_password"].label = _("Current password")

    def clean(self):
        data = super().clean()
        # The same password again changes nothing but ends every session and API token (found by a walk): refused.
        new, old = data.get("new_password1"), data.get("old_password")
        if new and old and new == old and not self.has_error("new_password1"):
            self.add_error(
                "new_password1",
                forms.ValidationError(
                    _("The new password is the same as the current one: choose another."), code="password_unchanged"
                ),
            )
        return data

    @property
    def wrong_password(self) -> bool:
        return self.has_error("old_password", "password_incorrect")


class ResetRequestForm(forms.Form):
    email = forms.EmailField(
        label=_("Email address"), max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )


class ResetPasswordForm(NewPasswordErrorsOnItsField, SetPasswordForm):
    """Django's form of a reset link's page (the new password twice); saved by the view's service call."""
