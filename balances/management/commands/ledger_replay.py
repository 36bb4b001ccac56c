"""Rebuild every balance from the ledger alone and compare with the balance tables (--check)."""

from django.core.management.base import BaseCommand, CommandError

from balances.replay import replay_check


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", required=True, help="compare; change nothing")

    def handle(self, *args, **options):
        diffs = replay_check()
        if not diffs:
            self.stdout.write(self.style.SUCCESS("replay OK: every balance matches the ledger"))
            return
        for diff in diffs[:100]:
            self.stderr.write(f"  {diff}")
        raise CommandError(f"replay FAILED: {len(diffs)} difference(s); first: {diffs[0]}")
