"""Rotate the node's checkpoint-signing key.

Creates a new Ed25519 key (under LEDGER_KEY_DIR, mode 600), writes a
KEY_ROTATION entry that retires the current key, and seals: that block is
signed by both keys; from the next block on only the new key signs, and the
old private key file is deleted.
"""

from django.core.management.base import BaseCommand, CommandError

from ledger.keys import KeyError_, key_rotate
from ledger.services import block_seal


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options):
        try:
            new = key_rotate()
        except KeyError_ as exc:
            raise CommandError(str(exc)) from exc
        result = block_seal()
        height = result.block.height if result else "the next block"
        self.stdout.write(self.style.SUCCESS(f"new key {new.key_id}; rotation sealed in block {height}"))
