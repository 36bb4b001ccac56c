"""Django's ``flush``, able to empty the append-only tables when run by their owner.

Tests flush the database between transactional tests; the append-only
triggers let the table owner TRUNCATE only with ``exchange.allow_reset`` set
(see ledger migration 0002). Anyone else is still refused.
"""

from django.core.management.commands import flush
from django.db import connections


class Command(flush.Command):
    def handle(self, **options):
        connection = connections[options["database"]]
        with connection.cursor() as cursor:
            cursor.execute("SET exchange.allow_reset = 'on'")
        try:
            return super().handle(**options)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET exchange.allow_reset")
