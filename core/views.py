"""The second step of a staff login (core.twofactor): the code page and the enrolment page."""

from __future__ import annotations

import time

from django import forms
from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext, pgettext_lazy
from django.views.decorators.cache import never_cache

from . import twofactor
from .audit import client_ip
from .middleware import LAST_ACTIVITY, POLL_HEADER

NEXT_SESSION_KEY = "_otp_next"  # where the login was going, kept while the code page sends on to enrolment


class CodeForm(forms.Form):
    code = forms.CharField(
        label=pgettext_lazy("second factor", "Code"),
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )


def _next_url(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or request.session.get(NEXT_SESSION_KEY) or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return resolve_url(settings.LOGIN_REDIRECT_URL)


@never_cache
@login_required
def otp_verify(request):
    """Step 2 of a staff login: the 6-digit code of the authenticator, or a recovery code."""
    if not twofactor.second_factor_required(request.user) or request.user.is_verified():
        return redirect(_next_url(request))
    if twofactor.totp_device(request.user) is None:
        request.session[NEXT_SESSION_KEY] = _next_url(request)
        return redirect("otp-enrol")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        ip = client_ip(request)
        device = twofactor.otp_check(user=request.user, code=form.cleaned_data["code"], ip=ip)
        if device is not None:
            twofactor.session_verify(request, device)
            target = _next_url(request)
            request.session.pop(NEXT_SESSION_KEY, None)
            return redirect(target)
        twofactor.otp_failed(request, user=request.user)
        if getattr(request, "axes_locked_out", False):
            logout(request)  # locked: the password step again, which axes refuses until the cool-off ends
            return redirect(settings.LOGIN_URL)
        form.add_error("code", gettext("Wrong or expired code. Wait for the next code and try again."))
    return render(request, "registration/otp_verify.html", {"form": form, "next": _next_url(request)})


@never_cache
@login_required
def otp_enrol(request):
    """First login of a staff member: scan the QR code, confirm with a first code, keep the recovery codes."""
    user = request.user
    if not twofactor.second_factor_required(user) or twofactor.totp_device(user) is not None:
        return redirect("otp-verify")
    device = twofactor.totp_enrolment_start(user=user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = twofactor.totp_enrolment_confirm(
            user=user, device=device, code=form.cleaned_data["code"], ip=client_ip(request)
        )
        if codes is not None:
            twofactor.session_verify(request, device)
            target = _next_url(request)
            request.session.pop(NEXT_SESSION_KEY, None)
            return render(request, "registration/otp_recovery_codes.html", {"codes": codes, "next": target})
        form.add_error("code", gettext("Wrong or expired code. Wait for the next code and try again."))
    context = {
        "form": form,
        "qr": twofactor.qr_data_uri(device.config_url),
        "secret": twofactor.secret_base32(device),
    }
    return render(request, "registration/otp_enrol.html", context)


@login_required
@never_cache
def session_keepalive(request):
    """A staff member's "Stay signed in" (static/js/session.js): a request that is not a background poll counts
    as activity for ``core.middleware.staff_session_idle_timeout``, which records it; 204.

    Asked as a poll (``X-Exchange-Poll``), it records nothing and tells how many seconds the session has left,
    so that a page left open is not warned while the member works in another tab: ``{"seconds_left": n}``."""
    if POLL_HEADER in request.headers:
        last = request.session.get(LAST_ACTIVITY)
        left = settings.STAFF_SESSION_IDLE_SECONDS - (int(time.time()) - last) if last is not None else None
        return JsonResponse({"seconds_left": left})
    return HttpResponse(status=204)
