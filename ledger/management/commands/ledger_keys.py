"""Print this node's checkpoint origin and the verifier keys of its signing keys in use, one per line.

    manage.py ledger_keys            origin on the first line, then one verifier key per line

Give them to a witness (``manage.py ledger_witness trust ORIGIN KEY…`` on the witness's node) and to
verifiers. Prints only the origin while no block has been sealed (the first seal creates the key).
"""

from django.conf import settings
from django.core.management.base import BaseCommand

from ledger import checkpoint
from ledger.models import SigningKey


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options):
        self.stdout.write(settings.LEDGER_ORIGIN)
        for key in SigningKey.objects.filter(local=True).exclude(status=SigningKey.Status.RETIRED).order_by("key_id"):
            if checkpoint.valid_key_name(key.name):
                self.stdout.write(checkpoint.verifier_key(key.name, bytes(key.public_key)))
