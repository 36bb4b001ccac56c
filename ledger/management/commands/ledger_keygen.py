"""Print a new Ed25519 seed for LEDGER_SIGNING_KEY (base64), and its public key and key id.

For deployments that keep the node key in a secret store rather than in the
data folder. The seed is printed once, to standard output only.
"""

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from django.core.management.base import BaseCommand

from ledger.checkpoint import key_id, public_bytes


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options):
        private = Ed25519PrivateKey.generate()
        seed = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        public = public_bytes(private.public_key())
        self.stdout.write(f"LEDGER_SIGNING_KEY={base64.b64encode(seed).decode()}")
        self.stdout.write(f"# public key {base64.b64encode(public).decode()}  key id {key_id(public)}")
