"""The demo staff's authenticators: known secrets, so that a new user of the demo gets in within a minute.

Demo mode only (``settings.DEMO_MODE``): ``demo_data`` enrols each demo staff user with a TOTP device whose
key is derived from the user name, and ``manage.py demo_totp <user>`` prints its current code. Outside demo
mode neither runs, and no key is derivable: staff enrol their own authenticator by QR code at the first
login (core.twofactor).
"""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.models import User
from core.roles import STAFF_ROLES
from core.twofactor import DEVICE_NAME, recovery_codes_issue

DEMO_STAFF = (
    "staff1",
    "staff2",
    "operator",
    "operator2",
    "depository",
    "depository2",
    "regulator",
    "regulator2",
    "auditor",
)


def _demo_only() -> None:
    if not settings.DEMO_MODE:
        raise ImproperlyConfigured("Demo authenticators exist only in demo mode (EXCHANGE_DEMO=1).")


def demo_totp_key(username: str) -> str:
    """The 20-byte key (hex, as django-otp stores it) of a demo staff user's authenticator."""
    _demo_only()
    return hashlib.sha256(f"otc-exchange-demo-totp:{username}".encode()).hexdigest()[:40]


@transaction.atomic
def demo_staff_enrol(*, user: User) -> TOTPDevice:
    """Give a demo staff user their known authenticator (idempotent)."""
    _demo_only()
    key = demo_totp_key(user.username)
    device = TOTPDevice.objects.filter(user=user, confirmed=True, key=key).first()
    if device is None:
        TOTPDevice.objects.filter(user=user).delete()
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, key=key, confirmed=True)
        recovery_codes_issue(user=user)
    return device


def demo_totp_now(*, username: str) -> tuple[str, int]:
    """The current code of a demo staff user's authenticator and the seconds it stays good."""
    _demo_only()
    user = User.objects.get(username=username)
    if user.role not in STAFF_ROLES:
        raise ValueError(f"{username} is not a staff user: no second factor")
    device = TOTPDevice.objects.get(user=user, confirmed=True, key=demo_totp_key(username))
    engine = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    engine.time = now = time.time()
    code = engine.token()
    left = device.step - int(now - device.t0) % device.step
    return f"{code:0{device.digits}d}", left
