"""A user's own settings at ``settings/`` (every role), and the forgotten-password pages at ``password-reset/``.

* ``settings/``: who the user is (user name, role, account or broker, email address, second factor) and the
  sections: password, email address (and the API tokens page, which its own module adds).
* ``settings/password/``: the current password and the new one twice; the session stays signed in
  (``update_session_auth_hash``), the API token ends.
* ``settings/email/``: a new address and the current password send a confirmation link to that address;
  ``settings/email/confirm/<token>/`` opened by the same user, signed in, makes it theirs (a button: a mail
  scanner's GET changes nothing). ``settings/email/remove/`` removes it.
* A wrong current password is audited as refused and counts as a failed login for django-axes: at the limit the
  session ends and the login is locked from that address, as for a wrong second-factor code.
* ``password-reset/``: Django's views, sending through ``core.account_settings`` (verified addresses only, never
  saying whether an account exists, limited per client and per address).

No page sends mail itself: the services queue it for the worker after their commit (``core.tasks.account_mail``).

Writes are ``core.account_settings``'s.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_login_failed
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache

from . import account_settings, twofactor
from .audit import client_ip
from .errors import DomainError
from .forms import domain_error_message
from .labels import duration_text
from .models import Account
from .settings_forms import (
    EmailChangeForm,
    EmailRemoveForm,
    PasswordChangePageForm,
    ResetPasswordForm,
    ResetRequestForm,
)


def _refusal_shown(form, exc: DomainError) -> None:
    """A service's refusal as the form's errors: on the fields it names, else above the form."""
    message = domain_error_message(exc)
    fields = getattr(exc, "fields", None) or {}
    named = [name for name in fields if name in form.fields]
    for name in named:
        form.add_error(name, fields[name])
    if not named:
        form.add_error(None, message)


def _site(request) -> str:
    """What a mailed link starts with: ``EXCHANGE_SITE_URL``, else the request's scheme and host (ALLOWED_HOSTS)."""
    return settings.EXCHANGE_SITE_URL or f"{request.scheme}://{request.get_host()}"


def wrong_password(request, action: str):
    """The current password typed was wrong: audited as a refused ``action``, and a failed login for django-axes
    (Django's signal, as a wrong second-factor code is). Once that locks the user name from this address the
    session ends: the answer is then the lockout (django-axes' middleware). None while it does not."""
    user = request.user
    account_settings.password_refused(user=user, action=action, ip=client_ip(request))
    user_login_failed.send(sender=__name__, credentials={"username": user.username, "recorded": True}, request=request)
    if getattr(request, "axes_locked_out", False):
        logout(request)
        return redirect(settings.LOGIN_URL)
    return None


@never_cache
@login_required
def settings_home(request):
    user = request.user
    staff = twofactor.second_factor_required(user)
    context = {
        "account": Account.objects.filter(owner=user).first(),
        "email_masked": account_settings.email_masked(user.email),
        "second_factor_required": staff,
        "second_factor_on": staff and twofactor.totp_device(user) is not None,
    }
    return render(request, "settings/index.html", context)


@never_cache
@login_required
def password_change(request):
    form = PasswordChangePageForm(request.user, request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            try:
                account_settings.password_set(
                    user=request.user,
                    new_password=form.cleaned_data["new_password1"],
                    reason="change",
                    ip=client_ip(request),
                )
            except DomainError as exc:
                _refusal_shown(form, exc)
            else:
                update_session_auth_hash(request, request.user)  # this session stays signed in; others end
                messages.success(request, gettext("Your password is changed. Every API token you had has ended."))
                return redirect("settings")
        elif form.wrong_password and (ended := wrong_password(request, "password_change")) is not None:
            return ended
    return render(request, "settings/password.html", {"form": form})


def _email_page(request, *, form=None, remove_form=None, status: int = 200):
    user = request.user
    context = {
        "form": form or EmailChangeForm(user),
        "remove_form": remove_form or EmailRemoveForm(user),
    }
    return render(request, "settings/email.html", context, status=status)


@never_cache
@login_required
def email_change(request):
    form = EmailChangeForm(request.user, request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                account_settings.email_change_request(
                    user=request.user,
                    new_email=form.cleaned_data["new_email"],
                    site=_site(request),
                    ip=client_ip(request),
                )
            except DomainError as exc:
                _refusal_shown(form, exc)
                if isinstance(exc, account_settings.EmailChangeRateLimited):
                    status = exc.status
            else:
                sent = gettext(
                    "We sent a link to %(address)s. Open it within %(lifetime)s, signed in as now, and it becomes "
                    "your address. Until then your address stays as it is."
                ) % {
                    "address": form.cleaned_data["new_email"],
                    "lifetime": duration_text(settings.EMAIL_CHANGE_LINK_SECONDS),
                }
                messages.success(request, sent)
                return redirect("settings-email")
        elif form.wrong_password and (ended := wrong_password(request, "email_change_request")) is not None:
            return ended
    return _email_page(request, form=form, status=status)


@never_cache
@login_required
def email_remove(request):
    if request.method != "POST":
        return redirect("settings-email")
    form = EmailRemoveForm(request.user, request.POST)
    if form.is_valid():
        try:
            account_settings.email_remove(user=request.user, ip=client_ip(request))
        except DomainError as exc:
            _refusal_shown(form, exc)
        else:
            messages.success(request, gettext("Your email address is removed. Notifications are no longer emailed."))
            return redirect("settings-email")
    elif form.wrong_password and (ended := wrong_password(request, "email_remove")) is not None:
        return ended
    return _email_page(request, remove_form=form)


@never_cache
@login_required
def email_confirm(request, token: str):
    """The link of the confirmation email: a page naming the new address and a button (GET changes nothing);
    the button makes it the user's. A link that cannot be used says why, with its code, and a 4xx."""
    error = None
    if request.method == "POST":
        try:
            address = account_settings.email_change_confirm(user=request.user, token=token, ip=client_ip(request))
        except DomainError as exc:
            error = exc
        else:
            messages.success(request, gettext("Your email address is now %(address)s.") % {"address": address})
            return redirect("settings")
    else:
        try:
            address = account_settings.email_link_read(user=request.user, token=token)
        except DomainError as exc:
            error = exc
    if error is not None:
        context = {"error": domain_error_message(error), "error_code": error.code}
        return render(request, "settings/email_confirm.html", context, status=error.status)
    return render(request, "settings/email_confirm.html", {"address": address})


# --------------------------------------------------------------------------
# A forgotten password: Django's views, sending through core.account_settings


class PasswordResetView(auth_views.PasswordResetView):
    """Asks for an email address; whatever it is, the next page says the same (a link is on its way if an
    account has that verified address)."""

    template_name = "registration/password_reset_form.html"
    form_class = ResetRequestForm
    success_url = reverse_lazy("password_reset_done")

    def form_valid(self, form):
        ip = client_ip(self.request)
        address = form.cleaned_data["email"]
        try:
            account_settings.password_reset_throttle(address=address, ip=ip)
        except account_settings.ResetRateLimited as exc:
            form.add_error(None, exc.message)
            return self.render_to_response(self.get_context_data(form=form), status=exc.status)
        account_settings.password_reset_send(address=address, site=_site(self.request), ip=ip)
        return HttpResponseRedirect(self.get_success_url())


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "registration/password_reset_done.html"

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "seconds": settings.PASSWORD_RESET_TIMEOUT}


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """The reset link's page: the new password twice. Logs nobody in: the next login asks for the password (and a
    staff member's second factor) as always."""

    template_name = "registration/password_reset_confirm.html"
    form_class = ResetPasswordForm
    success_url = reverse_lazy("password_reset_complete")
    post_reset_login = False

    def get_user(self, uidb64):
        # Django's link is bound to the password hash, the last login and the address, not to the user being
        # active: a login deactivated since the link was sent gets the invalid link's page, and nothing is set.
        user = super().get_user(uidb64)
        return user if user is not None and user.is_active else None

    def form_valid(self, form):
        try:
            account_settings.password_set(
                user=form.user,
                new_password=form.cleaned_data["new_password1"],
                reason="reset",
                ip=client_ip(self.request),
            )
        except DomainError as exc:
            _refusal_shown(form, exc)
            return self.form_invalid(form)
        del self.request.session[auth_views.INTERNAL_RESET_SESSION_TOKEN]
        return HttpResponseRedirect(self.get_success_url())


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "registration/password_reset_complete.html"
