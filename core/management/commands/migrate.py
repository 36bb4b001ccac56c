"""Django's ``migrate``, able to upgrade a database made before the apps were layered.

The user model moved from ``exchange`` to ``core`` with state-only migrations
(``core/migrations/0001_initial.py``). Django's own ``admin`` and ``authtoken``
migrations depend on the user model's first migration, so on a database whose
``exchange.0001_initial`` (and admin's) are applied, ``core.0001_initial`` must
be recorded as applied before Django checks the history, or it refuses to
migrate (InconsistentMigrationHistory). That migration changes nothing in the
database (its operations are state only), so recording it is running it.
"""

from django.core.management.commands import migrate
from django.db import connections
from django.db.migrations.recorder import MigrationRecorder

CORE_INITIAL = ("core", "0001_initial")


def record_core_initial(connection) -> bool:
    """Record ``core.0001_initial`` on a pre-layering database. True if it did."""
    recorder = MigrationRecorder(connection)
    if not recorder.has_table():
        return False
    applied = recorder.applied_migrations()
    if ("exchange", "0001_initial") in applied and CORE_INITIAL not in applied:
        recorder.record_applied(*CORE_INITIAL)
        return True
    return False


class Command(migrate.Command):
    def handle(self, *args, **options):
        if options.get("check_unapplied") or options.get("plan"):
            # A read-only probe writes nothing; it shows core.0001 as pending on a pre-layering database.
            return super().handle(*args, **options)
        if record_core_initial(connections[options["database"]]) and options["verbosity"] >= 1:
            self.stdout.write("Recorded core.0001_initial (state only) on a database made before the move.")
        return super().handle(*args, **options)
