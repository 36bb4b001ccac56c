"""The staff's second factor and the login lockout (docs/operations.md, "Second factor and lockout").

* Every role in ``core.roles.STAFF_ROLES`` completes a TOTP code after the password: django-otp's
  ``TOTPDevice`` (RFC 6238, 6 digits, 30 s) and ``StaticDevice`` for ten single-use recovery codes. A web
  session is "verified" (``request.user.is_verified()``, django-otp's ``OTPMiddleware``) only once a code
  was accepted; until then ``core.middleware.staff_second_factor`` lets the session reach nothing but the
  login, the code and enrolment pages, the logout and static files. ``POST auth/token/`` asks a staff
  user for the code in an ``otp`` field.
* A staff member without a confirmed device is enrolled at the first login: the code page sends them to
  the enrolment page (a QR code of the device's ``otpauth://`` URL), a first code confirms the device and
  the recovery codes are shown once.
* Investors and market makers have no second factor; nothing changes for them.
* django-axes counts failed logins (``authenticate`` with the request, on the login page and on
  ``auth/token/``); ``lockout_response`` answers a locked-out user name and address.

A device, a confirmation and a recovery code used are audit records.
"""

from __future__ import annotations

import base64
import io
import math

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off
from django.contrib.auth.signals import user_login_failed
from django.db import transaction
from django.db.models import Max
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import rotate_token
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import ngettext
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from .audit import audit_record, client_ip
from .models import User
from .roles import STAFF_ROLES

RECOVERY_CODES = 10
DEVICE_NAME = "authenticator"
RECOVERY_NAME = "recovery"


def second_factor_required(user) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and user.role in STAFF_ROLES


def totp_device(user: User, *, confirmed: bool | None = True) -> TOTPDevice | None:
    devices = TOTPDevice.objects.filter(user=user)
    if confirmed is not None:
        devices = devices.filter(confirmed=confirmed)
    return devices.order_by("pk").first()


@transaction.atomic
def totp_enrolment_start(*, user: User) -> TOTPDevice:
    """The user's unconfirmed device, created with a fresh random key if there is none yet."""
    device = totp_device(user, confirmed=False)
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


@transaction.atomic
def totp_enrolment_confirm(*, user: User, device: TOTPDevice, code: str, ip: str | None = None) -> list[str] | None:
    """Confirm ``device`` with a first code; returns the new recovery codes, or None if the code is wrong.

    Any other TOTP device and the old recovery codes of the user are deleted: one authenticator at a time.
    """
    if device.user_id != user.pk or not device.verify_token(code):
        return None
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = recovery_codes_issue(user=user)
    audit_record(actor=user, action="otp_enrolled", target=user.username, ip=ip)
    return codes


@transaction.atomic
def recovery_codes_issue(*, user: User) -> list[str]:
    """Ten new single-use recovery codes; the old ones stop working."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def otp_check(*, user: User, code: str, ip: str | None = None):
    """The confirmed device (authenticator, else recovery codes) that accepts ``code``, or None.

    A recovery code is deleted as it is used (django-otp's StaticDevice) and its use is audited.
    """
    code = (code or "").strip().replace(" ", "")
    if not code:
        return None
    totp = totp_device(user)
    if totp is not None and code.isdigit() and totp.verify_token(code):
        return totp
    for device in StaticDevice.objects.filter(user=user, confirmed=True):
        if device.verify_token(code.lower()):
            audit_record(actor=user, action="otp_recovery_code", target=user.username, ip=ip)
            return device
    return None


def otp_failed(request: HttpRequest, *, user: User) -> None:
    """A wrong code counts as a failed login: django-axes counts it (the lockout covers guessing codes with a
    known password) and ``core.audit`` records it, both through Django's ``user_login_failed`` signal."""
    user_login_failed.send(sender=__name__, credentials={"username": user.username, "otp": True}, request=request)


def session_verify(request: HttpRequest, device) -> None:
    """Mark the session as having passed the second factor (django-otp keeps the device id in it), under a new
    session key and CSRF token, as Django's login does for the password: a session id seen between the password
    and the code (a shared machine, a log, a fixated cookie) must not become the verified staff session."""
    otp_login(request, device)
    request.session.cycle_key()
    rotate_token(request)
    audit_record(actor=request.user, action="otp_verified", target=request.user.username, ip=client_ip(request))


def qr_data_uri(text: str) -> str:
    """An SVG QR code of ``text`` as a data: URI (the CSP allows data: images, no script is needed)."""
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def secret_base32(device: TOTPDevice) -> str:
    """The device's key as authenticator apps take it when typed in (groups of four)."""
    text = base64.b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


# django-axes hooks (settings.AXES_CLIENT_IP_CALLABLE, settings.AXES_LOCKOUT_CALLABLE).


def axes_client_ip(request) -> str | None:
    return client_ip(getattr(request, "_request", request))


def lockout_seconds_left(request, credentials=None) -> int:
    """How long the locked-out user name and address still wait: the cool-off from their latest counted failure.
    django-axes records a failure made while locked out too (``AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT``, on
    by default), so the login being answered has just started the whole cool-off again; with that setting off, it
    is what is left of the cool-off from the failure that locked. The whole cool-off when the handler keeps no
    records to read (not the database's)."""
    cool_off = get_cool_off(request)
    if not cool_off:
        return 0
    whole = int(cool_off.total_seconds())
    handler = AxesProxyHandler.get_implementation()
    if not hasattr(handler, "get_user_attempts"):
        return whole
    latest = None
    for attempts in handler.get_user_attempts(request, credentials):
        newest = attempts.aggregate(newest=Max("attempt_time"))["newest"]
        if newest is not None and (latest is None or newest > latest):
            latest = newest
    if latest is None:
        return whole
    left = (latest + cool_off - timezone.now()).total_seconds()
    return max(1, min(whole, math.ceil(left)))


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    """A locked-out login: a 429 JSON error on the API, the login page with the reason on the web. Both say how
    long is left, in ``Retry-After`` (RFC 6585 §4) as seconds and in the message as minutes (found by an outside
    integrator: ``Retry-After`` said the whole cool-off, however much of it had passed)."""
    seconds = lockout_seconds_left(request, credentials)
    minutes = max(1, math.ceil(seconds / 60))
    message = ngettext(
        "Too many failed logins: this account is locked from your address. Try again in %(minutes)d minute.",
        "Too many failed logins: this account is locked from your address. Try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}
    if request.path_info.startswith("/api/"):
        response = JsonResponse({"code": "login_locked", "message": message}, status=429)
    else:
        from .forms import LoginForm

        # An unbound form: binding it would call authenticate() again and count one more failure.
        form = LoginForm(request, initial={"username": (credentials or {}).get("username", "")})
        context = {"form": form, "next": "", "login_errors": [message]}
        response = TemplateResponse(request, "registration/login.html", context, status=429).render()
    if seconds:
        response["Retry-After"] = str(seconds)
    return response
