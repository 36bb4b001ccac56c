"""Rotate the node's checkpoint-signing key.

Creates a new Ed25519 key (under LEDGER_KEY_DIR, mode 600), writes a
KEY_ROTATION entry that retires the current key, and seals: that block is
signed by both keys; from the next block on only the new key signs, and the
old private key file is deleted.

``--name`` names the new key (default LEDGER_KEY_NAME). C2SP tlog-checkpoint
recommends that the log's key name equal the checkpoint's origin line
(LEDGER_ORIGIN): ``--name-origin`` rotates to such a key. Blocks already signed
keep their signature lines; verifiers learn the new key from the KEY_ROTATION
entry or from GET /api/v1/ledger/keys/.

``--from-env`` (several worker hosts): the new key is not created here but is
the seed of LEDGER_SIGNING_KEY the ledger does not know yet. Add it (from
``manage.py ledger_keygen``) after the current seed on every worker host,
restart the workers, then rotate; any host can then seal. Afterwards the old
seed may be removed.

Run again after it was cut short (the rotation written, its block not sealed yet), it makes no second rotation:
it seals the one that waits and says so.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from ledger.keys import KeyError_, RotationPending, key_rotate, pending_rotation
from ledger.models import SigningKey
from ledger.published import LedgerHeld, refuse_if_held
from ledger.services import SEAL_LOCK_KEY, block_seal


def _sealed() -> str:
    """Where the rotation was sealed: by this seal, by another one already, or by the next. Read from the key it
    retired, not from this seal's block: a seal run in between may have taken the rotation, and this one then
    sealed only the entries written after it. (One rotation waits at a time: the last retirement is this one's.)"""
    if pending_rotation() is None:
        last = SigningKey.objects.filter(local=True, retired_in_block__isnull=False).order_by("-retired_in_block")
        return f"in block {last.values_list('retired_in_block', flat=True).first()}"
    return "by the next seal (another seal is running)"


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        names = parser.add_mutually_exclusive_group()
        names.add_argument("--name", help="the new key's name (default: LEDGER_KEY_NAME)")
        names.add_argument(
            "--name-origin", action="store_true", help="name the new key like the checkpoints' origin (LEDGER_ORIGIN)"
        )
        parser.add_argument(
            "--from-env",
            action="store_true",
            help="the new key is the seed of LEDGER_SIGNING_KEY the ledger does not know yet (no key file is written)",
        )

    def handle(self, *args, **options):
        name = settings.LEDGER_ORIGIN if options["name_origin"] else options["name"]
        # No key to retire into a block that cannot be sealed: the checkpoint log, and the witnesses (a restored log
        # holds nothing back; the witness's answer was raised only by the seal, after the rotation was written).
        # Under the sealers' lock, as a seal asks: else a block sealed and co-signed elsewhere between the read of
        # the head and the question would look like a witness holding more than this database.
        try:
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", [SEAL_LOCK_KEY])
                refuse_if_held()
        except LedgerHeld as exc:
            raise CommandError(f"ledger sealing held: {exc}") from exc
        try:
            new = key_rotate(name=name, from_env=options["from_env"])
        except RotationPending as exc:
            # A run cut short after writing the rotation (or another shell's): seal that one, make no second.
            block_seal()
            where = _sealed()
            self.stdout.write(
                self.style.WARNING(
                    f"a rotation to key {exc.key.key_id} named {exc.key.name} was already written: no new key was "
                    f"made; rotation sealed {where}"
                )
            )
            return
        except KeyError_ as exc:
            raise CommandError(str(exc)) from exc
        block_seal()
        where = _sealed()
        self.stdout.write(self.style.SUCCESS(f"new key {new.key_id} named {new.name}; rotation sealed {where}"))
