"""Rotate the key that encrypts personal data, then re-encrypt every KYC record and ID document with it.

With keys in the data folder (the default), a new AES-256 key is created
(mode 600) and made primary; older keys stay to decrypt until every value has
been rewritten, which this command does next. With ``KYC_DATA_KEYS`` set, put
the new key first in that variable, restart, and run this with ``--reencrypt-only``.
"""

from django.core.management.base import BaseCommand, CommandError

from core import crypto
from kyc.services import kyc_reencrypt


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument(
            "--reencrypt-only", action="store_true", help="make no new key; rewrite values with the primary key"
        )

    def handle(self, *args, reencrypt_only: bool = False, **options):
        if not reencrypt_only:
            try:
                kid = crypto.rotate()
            except RuntimeError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"new primary key {kid}")
        done = kyc_reencrypt()
        self.stdout.write(
            self.style.SUCCESS(
                f"{done.profiles} KYC records, {done.accounts} account names and {done.documents} ID documents"
                f" re-encrypted with key {crypto.ring().primary}"
            )
        )
        if done.unreadable:
            # Left under their old key: keep it in the ring until they are uploaded again (or restored).
            raise CommandError(
                f"ID documents {', '.join(map(str, done.unreadable))} fail their integrity check and were left as"
                " they are: have them uploaded again, and keep the old keys until then"
            )
