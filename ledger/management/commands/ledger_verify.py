"""Verify the whole ledger; exit non-zero and name the first bad block and entry on any mismatch."""

from __future__ import annotations

import sys
import time

from django.core.management.base import BaseCommand, CommandError

from ledger.verification import ledger_verify


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--checkpoint-log", help="external signed checkpoints to compare (default: the node's)")
        parser.add_argument("--no-progress", action="store_true")
        parser.add_argument(
            "--workers",
            type=int,
            help="processes reading the ledger's chunks side by side (default: one a core this process may use)",
        )
        parser.add_argument("--serial", action="store_true", help="read every chunk in this process (--workers 1)")

    def handle(self, *args, **options):
        started = time.monotonic()
        show = not options["no_progress"]

        def progress(done: int, total: int) -> None:
            if not show or not total:
                return
            width = 30
            filled = int(width * done / total)
            sys.stderr.write(f"\rverifying [{'#' * filled}{'.' * (width - filled)}] {done}/{total} leaves")
            sys.stderr.flush()

        if options["workers"] is not None and options["workers"] < 1:
            raise CommandError("--workers takes a number of processes, at least 1")
        report = ledger_verify(
            progress=progress,
            checkpoint_log=options["checkpoint_log"],
            parallel=not options["serial"],
            workers=options["workers"],
        )
        if show:
            sys.stderr.write("\n")
        elapsed = time.monotonic() - started
        self.stdout.write(
            f"{report.blocks} blocks, {report.leaves} leaves, {report.signatures} signatures, "
            f"{report.trades} trades, {report.external_checkpoints} external checkpoints in {elapsed:.2f}s"
        )
        if report.ok:
            self.stdout.write(self.style.SUCCESS("ledger OK"))
            return
        for problem in report.problems[:50]:
            self.stderr.write(f"  {problem}")
        first = report.first
        raise CommandError(f"ledger verification FAILED: {len(report.problems)} problem(s); first: {first}")
