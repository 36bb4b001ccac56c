"""Write one day's regulatory feed as a JSON-lines file: the records of the entries recorded that day.

    manage.py regulatory_feed_export --date 2026-03-02 --out /srv/feed/2026-03-02.jsonl

The day is the market's (Asia/Shanghai, ``TIME_ZONE``). One record per line, in leaf order, exactly as
``GET /api/v1/regulatory-feed/`` gives them (``auditing.feed``). A day's file is complete or not written:
while an entry of that day waits for the sealer, the command refuses (exit status 1) and writes nothing.

The records are read on the database replica when one is usable (``core.db.replica``). Whether the day is whole
is asked of the primary (a lagging replica would not know of an entry it has not received yet), and so is how
many of the day's entries are sealed: when the replica gives fewer, the day is read again on the primary.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError
from django.utils import timezone

from auditing import feed
from core.db.replica import PRIMARY, read_alias


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--date", required=True, help="the day, YYYY-MM-DD (market time)")
        parser.add_argument("--out", required=True, help="the file to write (replaced atomically)")

    def handle(self, *args, date, out, **options):
        try:
            day = dt.date.fromisoformat(date)
        except ValueError:
            raise CommandError(f"--date wants YYYY-MM-DD, got {date!r}") from None
        tz = timezone.get_default_timezone()
        start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
        waiting = feed.unsealed_between(start, end)
        if waiting:
            raise CommandError(f"{waiting} entries of {day} are not sealed yet: run the export again later")
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        alias = read_alias()
        if alias != PRIMARY:
            sealed = feed.sealed_count_between(start, end)
            try:
                count, leaves = _write(path, start, end, alias, sealed)
            except DatabaseError:  # the replica went away: the primary's copy
                count, leaves = _write(path, start, end, PRIMARY)
            if leaves is None:  # the replica does not hold the whole day yet: the primary's copy
                count, leaves = _write(path, start, end, PRIMARY)
        else:
            count, leaves = _write(path, start, end, PRIMARY)
        self.stdout.write(f"wrote {count} records of {day} to {path}")


def _write(path: Path, start, end, alias: str, expected: int | None = None) -> tuple[int, int | None]:
    """Write the records of the day read on ``alias`` to ``path``, replaced atomically: (records, leaves). When
    ``expected`` is given and a different number of leaves was read, nothing is written: (0, None)."""
    count = leaves = 0
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for leaf in feed.sealed_between(start, end, using=alias):
                leaves += 1
                for record in feed.feed_records([leaf]):
                    fh.write(json.dumps(record, cls=DjangoJSONEncoder, ensure_ascii=False, sort_keys=True) + "\n")
                    count += 1
        if expected is not None and leaves != expected:
            Path(tmp).unlink(missing_ok=True)
            return 0, None
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count, leaves
