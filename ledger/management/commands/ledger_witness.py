"""Run this node as a witness (C2SP tlog-witness) of another node's ledger.

    manage.py ledger_witness init                       create the witness key; print its verifier key
    manage.py ledger_witness trust ORIGIN VKEY [VKEY…]  witness the log with that origin line and keys
    manage.py ledger_witness untrust ORIGIN VKEY [VKEY…]  stop accepting those (retired) keys of the log
    manage.py ledger_witness show                       verifier key, logs, split-view evidence
    manage.py ledger_witness serve --bind HOST:PORT     serve add-checkpoint (gunicorn, NODE_ROLE=witness)

The witness keeps its state in the database of DATABASE_URL (give it its own) and its key in
WITNESS_KEY_FILE (default .data/witness/witness.pem); WITNESS_NAME names it. Give the printed verifier key to
the exchange (LEDGER_WITNESSES="<url> <key>") and to verifiers (ledger/verifier.py --witness).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ledger import checkpoint, witness
from ledger.models import SplitViewEvidence, WitnessedLog


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("init", help="create the witness key if there is none; print the verifier key")
        trust = sub.add_parser("trust", help="witness a log: its origin line and its verifier keys")
        trust.add_argument("origin")
        trust.add_argument("keys", nargs="+")
        untrust = sub.add_parser("untrust", help="stop accepting a log's retired keys (after a key rotation)")
        untrust.add_argument("origin")
        untrust.add_argument("keys", nargs="+")
        sub.add_parser("show", help="the verifier key, the logs and any split-view evidence")
        serve = sub.add_parser("serve", help="serve add-checkpoint with gunicorn")
        serve.add_argument("--bind", default=os.environ.get("WITNESS_BIND", "127.0.0.1:8001"))
        serve.add_argument("--workers", default="2")

    def handle(self, *args, action, **opts):
        if action == "init":
            created = witness.key_create()
            self.stderr.write(f"{'created' if created else 'kept'} the witness key at {witness.key_path()}")
            self.stdout.write(witness.verifier_key())
        elif action == "trust":
            try:
                row = witness.log_trust(origin=opts["origin"], verifier_keys=opts["keys"])
            except (ValueError, checkpoint.CheckpointError) as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"witnessing {row.origin} (co-signed up to size {row.tree_size})")
        elif action == "untrust":
            try:
                row = witness.log_untrust(origin=opts["origin"], verifier_keys=opts["keys"])
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"witnessing {row.origin} with {len(row.verifier_keys.split())} key(s)")
        elif action == "show":
            try:
                self.stdout.write(f"verifier key: {witness.verifier_key()}")
            except RuntimeError as exc:
                raise CommandError(str(exc)) from exc
            for row in WitnessedLog.objects.order_by("origin"):
                self.stdout.write(f"log {row.origin}: co-signed up to size {row.tree_size}")
                for vkey in row.verifier_keys.split():
                    self.stdout.write(f"  trusts {vkey}")
            for e in SplitViewEvidence.objects.order_by("recorded_at"):
                self.stdout.write(f"SPLIT VIEW {e.origin} {e.kind} at {e.recorded_at.isoformat()} (evidence {e.id})")
        elif action == "serve":
            try:
                witness.signer()
            except RuntimeError as exc:
                raise CommandError(str(exc)) from exc
            gunicorn = str(Path(sys.executable).with_name("gunicorn"))
            env = dict(os.environ, NODE_ROLE="witness")
            argv = [gunicorn, "config.wsgi", "--bind", opts["bind"], "--workers", opts["workers"]]
            # Threads keep connections alive (C2SP tlog-witness: SHOULD support keep-alive); sync workers close
            # every one.
            argv += ["--worker-class", "gthread", "--threads", "4", "--keep-alive", "5"]
            argv += ["--access-logfile", "-", "--graceful-timeout", "5"]
            os.execve(gunicorn, argv, env)
