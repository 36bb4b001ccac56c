"""Server-side prepared statements for the statements every order runs.

PostgreSQL plans a statement each time it arrives as text. For the reads of the order path (the account, the
security lock, the crossing quotes, the KYC profile, the cash lock) planning cost more than running: the KYC
look-up took 0.7 ms to plan and 0.1 ms to run (``pg_stat_statements`` under ``make bench``). A ``Statement``
is prepared once per database session, by ``PREPARE`` sent in the same round trip as its first ``EXECUTE``,
and then only executed; PostgreSQL keeps its plan for the session (a generic plan after five runs, when that
is no worse than planning each time).

``PREPARE`` is not transactional: a statement prepared in a transaction that rolls back stays prepared, and so
does one whose ``EXECUTE``, sent after it in the same round trip, failed; such a first use leaves the name in
doubt, and the next use reads ``pg_prepared_statements`` once to settle it. So "prepared" is known per session:
per raw connection, forgotten with it when Django reconnects, kept with it in the pool of ``core.db.base``. A
statement names its columns, never ``*``: a migration that adds a column would otherwise change the result type
of a plan that sessions already hold, and PostgreSQL refuses that. One that changes the type of a column a
statement returns still does, in every session that prepared it, for as long as the session lasts (a kept one
of the pool: indefinitely): such a refusal makes the statement stale in that session, deallocated and prepared
again at its next use, so it fails once a session, not every time. So does a statement the session lost (a
``DEALLOCATE ALL`` or ``DISCARD ALL`` run on it): "does not exist" puts it in doubt.

``Insert`` is a model's ``INSERT`` of any number of rows as one such statement, ``Update`` a model's ``UPDATE`` of
one row. A ``Batch`` sends several statements in one round trip: an order's writes (the order, its TRADE
entries, its trades, the quotes and balance rows it changed) go as one, their keys drawn beforehand.
"""

from __future__ import annotations

import re
import threading
import weakref
import zlib
from collections.abc import Callable, Sequence

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import AutoField, BigAutoField, Model, SmallAutoField
from psycopg2 import errorcodes


class Statement:
    """A statement with ``$1 … $n`` placeholders of the given PostgreSQL ``types``.

    Its name in the session is ``name`` and a checksum of its text and types (``self.name``), so a name stands
    for one text: two statements given the same ``name`` are two statements, and a session that already holds
    an older text of it (a pooled session kept across a deploy, never ``DISCARD``ed) does not run that one."""

    def __init__(self, name: str, sql: str, types: Sequence[str]) -> None:
        self.name = f"{name}_{zlib.crc32(repr((sql, tuple(types))).encode()):08x}"
        if len(self.name) > 63:  # PostgreSQL would cut it, and never find it again in pg_prepared_statements
            raise ValueError(f"the prepared statement name {self.name} is longer than 63 characters")
        self.sql = sql
        self.types = tuple(types)
        # Each argument cast to its declared type: a list of NULLs alone would otherwise arrive as text[].
        args = ", ".join(f"%s::{t}" for t in self.types)
        self._execute = f"EXECUTE {self.name}({args})" if self.types else f"EXECUTE {self.name}"
        declared = f"({', '.join(self.types)})" if self.types else ""
        self._prepare = f"PREPARE {self.name}{declared} AS {sql.replace('%', '%%')}"

    def check(self, params: Sequence[object]) -> None:
        if len(params) != len(self.types):
            raise TypeError(f"{self.name} takes {len(self.types)} parameters, not {len(params)}")

    def execute(self, cursor, params: Sequence[object] = (), *, first: Sequence[Statement] = ()) -> None:
        """Run the statement on a Django cursor; its rows are then the cursor's. ``first``: statements without
        parameters sent before it in the same round trip (each a statement of its own, with its own snapshot)."""
        self.check(params)
        for statement in first:
            statement.check(())
        _send(cursor, [*((statement, ()) for statement in first), (self, params)])


def _send(cursor, steps: list[tuple[Statement, Sequence[object]]]) -> None:
    """Execute ``steps`` in one round trip, preceded by a ``PREPARE`` of each statement the session lacks; those
    count as prepared once it succeeded. After a failure they are in doubt: a ``PREPARE`` may have run before an
    ``EXECUTE`` failed, and stays (it is not transactional)."""
    session = _session(cursor)
    new = {s.name: s for s, _ in steps if not session.knows(s.name, cursor)}
    again = [f"DEALLOCATE {name}" for name in new if name in session.stale]
    sql = "; ".join(again + [s._prepare for s in new.values()] + [s._execute for s, _ in steps])
    try:
        cursor.execute(sql, [value for _, params in steps for value in params])
    except Exception as exc:
        session.in_doubt.update(new)
        session.stale.difference_update(new)
        # Which of the statements it held prepared PostgreSQL refused, it does not say: each of them, then.
        held = {s.name for s, _ in steps if s.name in session.prepared}
        code = _pgcode(exc)
        if code == errorcodes.FEATURE_NOT_SUPPORTED:
            # "cached plan must not change result type": a migration changed the type of a column a prepared
            # statement returns (a DecimalField's digits, a CharField's length). PostgreSQL then refuses every
            # EXECUTE of it in that session, for as long as the session lasts: deallocated and prepared again, it runs.
            session.prepared.difference_update(held)
            session.stale.update(held)
        elif code == errorcodes.INVALID_SQL_STATEMENT_NAME:
            # "prepared statement … does not exist": the session lost it (DEALLOCATE ALL, DISCARD ALL run on it);
            # the next use asks pg_prepared_statements which it still has.
            session.prepared.difference_update(held)
            session.in_doubt.update(held)
        raise
    session.prepared.update(new)
    session.stale.difference_update(new)


def _pgcode(exc: Exception) -> str | None:
    # psycopg2's SQLSTATE, on the error itself or on the psycopg2 error Django's wraps (its __cause__).
    return getattr(exc, "pgcode", None) or getattr(exc.__cause__, "pgcode", None)


class _Session:
    """What one database session has prepared, and the names a failed first use left in doubt."""

    def __init__(self) -> None:
        self.prepared: set[str] = set()
        self.in_doubt: set[str] = set()
        self.stale: set[str] = set()  # prepared on a plan PostgreSQL refuses now: deallocated before preparing

    def knows(self, name: str, cursor) -> bool:
        if name in self.in_doubt:
            # Settles every name in doubt at once (a failed batch leaves several).
            cursor.execute("SELECT name FROM pg_prepared_statements WHERE name = ANY(%s)", [sorted(self.in_doubt)])
            self.prepared.update(row[0] for row in cursor.fetchall())
            self.in_doubt.clear()
        return name in self.prepared


_sessions: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_sessions_lock = threading.Lock()


def _session(cursor) -> _Session:
    # Kept with the raw connection, which one thread uses at a time, and forgotten with it: a connection the pool
    # (core.db.base) hands to another thread keeps its statements prepared, and that thread knows it.
    raw = cursor.db.connection
    session = _sessions.get(raw)
    if session is None:
        with _sessions_lock:
            session = _sessions.setdefault(raw, _Session())
    return session


class Batch:
    """Prepared statements sent in one round trip, in the order added.

    The statements this session has not prepared get their ``PREPARE`` in the same round trip, and count as
    prepared once it succeeded; a failure leaves them in doubt, as a failed first ``Statement.execute`` does.
    Inside a transaction the first statement that fails stops the rest and leaves the transaction aborted, for
    the caller's ``atomic`` to roll back: the batch is all or nothing with it. Nothing is read back: a write
    whose generated key the next one needs has its key drawn before (``ENTRY_ID_DRAWN``, ``TRADE_ID_DRAWN``).
    """

    def __init__(self) -> None:
        self._steps: list[tuple[Statement, Sequence[object]]] = []
        self._then: list[Callable[[], None]] = []

    def add(self, statement: Statement, params: Sequence[object], then: Callable[[], None] | None = None) -> None:
        """Queue ``statement``; ``then`` runs once the batch succeeded."""
        statement.check(params)
        self._steps.append((statement, params))
        if then is not None:
            self._then.append(then)

    def run(self) -> None:
        """Send the queued statements (nothing when none is)."""
        if not self._steps:
            return
        steps, self._steps = self._steps, []
        then, self._then = self._then, []
        with connection.cursor() as cur:
            _send(cur, steps)
        for step in then:
            step()


def _param_type(field, *, array: bool = False) -> str:
    # A parameter's type without modifiers (numeric(14, 2) → numeric): the column keeps its own.
    return re.sub(r"\(.*?\)", "", field.db_type(connection)).strip() + ("[]" if array else "")


class Update:
    """``UPDATE`` of the given fields of one row, by primary key, as a prepared statement (for a ``Batch``)."""

    def __init__(self, model: type[Model], fields: Sequence[str]) -> None:
        meta = model._meta
        self.fields = [meta.get_field(name) for name in fields]
        quote = connection.ops.quote_name
        sets = ", ".join(f"{quote(f.column)} = ${i}" for i, f in enumerate(self.fields, 1))
        sql = f"UPDATE {quote(meta.db_table)} SET {sets} WHERE {quote(meta.pk.column)} = ${len(self.fields) + 1}"
        self.statement = Statement(f"update_{meta.db_table}", sql, [_param_type(f) for f in [*self.fields, meta.pk]])

    def add(self, batch: Batch, row: Model) -> None:
        db = connections[DEFAULT_DB_ALIAS]  # the thread's own, looked up once (``connection`` is a proxy)
        values = [f.get_db_prep_save(getattr(row, f.attname), db) for f in self.fields]
        batch.add(self.statement, [*values, row.pk])


class Insert:
    """``Model.objects.bulk_create(rows)`` for the order path, as a prepared statement: ``INSERT … VALUES`` of
    one row (an order, a fill's entry and trade), ``INSERT … SELECT * FROM unnest($1, …, $n)`` of several, an
    array per column; either costs a fraction of the CPU of the ORM building its SQL for every call (``make
    bench``). Fields' ``pre_save`` and ``get_db_prep_save`` give the values, as in ``bulk_create``; like it, no
    signal is sent. Rows with their primary key set are inserted with it; the others get it from its sequence,
    read back in row order (a sequence hands one statement's rows increasing values).
    """

    def __init__(self, model: type[Model]) -> None:
        meta = model._meta
        self.model = model
        self.pk = meta.pk
        fields = list(meta.concrete_fields)
        generated = isinstance(self.pk, AutoField | BigAutoField | SmallAutoField)
        self.statements: dict[tuple[bool, bool], tuple[Statement, list]] = {}
        for with_pk in (True, False) if generated else (True,):
            columns = fields if with_pk else [f for f in fields if f is not self.pk]
            for one in (True, False):
                name = f"insert_{meta.db_table}{'_with_pk' if with_pk else ''}{'' if one else '_rows'}"
                self.statements[with_pk, one] = self._statement(name, columns, one=one)

    def _statement(self, name: str, fields: list, *, one: bool) -> tuple[Statement, list]:
        types = [_param_type(f, array=not one) for f in fields]
        columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        params = ", ".join(f"${i}" for i in range(1, len(fields) + 1))
        table = connection.ops.quote_name(self.model._meta.db_table)
        sql = f"INSERT INTO {table} ({columns}) " + (f"VALUES ({params})" if one else f"SELECT * FROM unnest({params})")
        if fields[0] is not self.pk:
            sql += f" RETURNING {connection.ops.quote_name(self.pk.column)}"
        return Statement(name, sql, types), fields

    def _params(self, rows: list[Model]) -> tuple[Statement, list, bool]:
        with_pk = rows[0].pk is not None
        if any((row.pk is not None) != with_pk for row in rows):
            raise ValueError("insert rows that all have their primary key, or none")
        one = len(rows) == 1
        if (with_pk, one) not in self.statements:
            raise ValueError(f"{self.model.__name__} rows need their primary key")
        statement, fields = self.statements[with_pk, one]
        db = connections[DEFAULT_DB_ALIAS]  # the thread's own, looked up once (``connection`` is a proxy)
        values = [[f.get_db_prep_save(f.pre_save(row, True), db) for row in rows] for f in fields]
        return statement, [column[0] for column in values] if one else values, with_pk

    def rows(self, rows: list[Model]) -> list[Model]:
        """Insert ``rows`` (all with their primary key, or none) and return them, saved."""
        if not rows:
            return rows
        statement, params, with_pk = self._params(rows)
        with connection.cursor() as cur:
            statement.execute(cur, params)
            if not with_pk:
                for row, (pk,) in zip(rows, sorted(cur.fetchall()), strict=True):
                    row.pk = pk
        _saved(rows)
        return rows

    def add(self, batch: Batch, rows: list[Model]) -> None:
        """Queue the insert of ``rows``, all with their primary key; they are saved once the batch ran."""
        if not rows:
            return
        if any(row.pk is None for row in rows):
            raise ValueError(f"{self.model.__name__} rows inserted in a batch need their primary key")
        statement, params, _ = self._params(rows)
        batch.add(statement, params, then=lambda: _saved(rows))


def _saved(rows: list[Model]) -> None:
    for row in rows:
        row._state.adding = False
        row._state.db = connection.alias
