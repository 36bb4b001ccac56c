"""Build the statements' Chinese fonts (regular and bold) and the pages' web font, if they are not built yet,
and print their paths.

    manage.py statement_fonts

The first PDF statement would otherwise build them (about 12 s of CPU each, once per data folder:
``core.fonts``).
"""

from django.core.management.base import BaseCommand

from core.fonts import cjk_bold, cjk_regular, web_font


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options):
        self.stdout.write(str(cjk_regular()))
        self.stdout.write(str(cjk_bold()))
        self.stdout.write(str(web_font()))
