"""Build the statements' Chinese font at the regular weight, if it is not built yet, and print its path.

    manage.py statement_fonts

The first PDF statement would otherwise build it (about 12 s of CPU, once per data folder: ``settlement.fonts``).
"""

from django.core.management.base import BaseCommand

from settlement.fonts import cjk_regular


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options):
        self.stdout.write(str(cjk_regular()))
