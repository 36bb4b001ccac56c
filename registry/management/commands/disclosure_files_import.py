"""Import into the database the disclosure files its documents lack, from a folder of files named by their SHA-256.

    manage.py disclosure_files_import                  from DISCLOSURE_DIR (default EXCHANGE_DATA_DIR/disclosures)
    manage.py disclosure_files_import --dir FOLDER     from another folder (a copy of another host's)

Documents published before their bytes were kept in PostgreSQL (registry migration 0007) have their file on
the web host that took the upload. Migration 0007 imported the files of the host that ran it; run this on
every other host that took uploads (or on a copy of its folder). Each file is imported only if its bytes
hash to its name; what stays missing or does not match is listed. Idempotent. Exit status 1 while some
document's file is still missing or mismatched.
"""

from django.conf import settings
from django.core.management.base import BaseCommand

from registry.disclosures import files_import


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--dir", help="the folder to import from (default: DISCLOSURE_DIR)")

    def handle(self, *args, **options):
        report = files_import(folder=options["dir"] or settings.DISCLOSURE_DIR)
        for line in report.lines():
            self.stdout.write(line)
        if not report.complete:
            raise SystemExit(1)
