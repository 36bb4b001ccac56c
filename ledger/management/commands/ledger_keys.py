"""Print this node's checkpoint origin and the verifier keys of its signing keys in use, one per line.

    manage.py ledger_keys            origin on the first line, then one verifier key per line
    manage.py ledger_keys --private  LEDGER_SIGNING_KEY=<seeds>: the private keys that sign, for the other hosts

Give the verifier keys to a witness (``manage.py ledger_witness trust ORIGIN KEY…`` on the witness's node) and
to verifiers. Prints only the origin while no block has been sealed (the first seal creates the key).

``--private`` prints, from the host that holds them (its LEDGER_KEY_DIR or LEDGER_SIGNING_KEY), the line to set
in the environment of every other host that runs a Celery worker: each of them may take a seal, and sealing
signs. It is a secret: copy it as you copy the database password, never into a file others read.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ledger import checkpoint
from ledger.keys import KeyError_, private_keys_in_use, seed_of
from ledger.models import SigningKey


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument(
            "--private",
            action="store_true",
            help="print LEDGER_SIGNING_KEY=… with the signing keys' seeds, for the other worker hosts (a secret)",
        )

    def handle(self, *args, **options):
        if options["private"]:
            try:
                keys = private_keys_in_use()
            except KeyError_ as exc:
                raise CommandError(str(exc)) from exc
            if not keys:
                raise CommandError("no block has been sealed yet: there is no signing key (manage.py ledger_keygen)")
            self.stdout.write("LEDGER_SIGNING_KEY=" + ",".join(seed_of(private) for _key, private in keys))
            return
        self.stdout.write(settings.LEDGER_ORIGIN)
        for key in SigningKey.objects.filter(local=True).exclude(status=SigningKey.Status.RETIRED).order_by("key_id"):
            if checkpoint.valid_key_name(key.name):
                self.stdout.write(checkpoint.verifier_key(key.name, bytes(key.public_key)))
