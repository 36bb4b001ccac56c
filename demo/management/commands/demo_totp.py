"""Print the current second-factor code of a demo staff user. Demo mode only (EXCHANGE_DEMO=1)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.models import User
from demo.totp import DEMO_STAFF, demo_totp_now


class Command(BaseCommand):
    help = "Print the current 6-digit code of a demo staff user's authenticator (demo mode only)."

    def add_arguments(self, parser):
        parser.add_argument("username", help=f"one of {', '.join(DEMO_STAFF)}")

    def handle(self, *args, username: str, **options):
        if not settings.DEMO_MODE:
            raise CommandError("Demo codes exist only in demo mode (EXCHANGE_DEMO=1).")
        try:
            code, left = demo_totp_now(username=username)
        except (User.DoesNotExist, TOTPDevice.DoesNotExist) as exc:
            raise CommandError(f"{username} has no demo authenticator (run manage.py demo_data).") from exc
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(code)
        self.stderr.write(f"(good for {left} more seconds; the next code follows)")
