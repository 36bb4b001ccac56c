"""Write one day's regulatory feed as a JSON-lines file: the records of the entries recorded that day.

    manage.py regulatory_feed_export --date 2026-03-02 --out /srv/feed/2026-03-02.jsonl

The day is the market's (Asia/Shanghai, ``TIME_ZONE``). One record per line, in leaf order, exactly as
``GET /api/v1/regulatory-feed/`` gives them (``auditing.feed``). A day's file is complete or not written:
while an entry of that day waits for the sealer, the command refuses (exit status 1) and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from auditing import feed


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
        count = 0
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                for record in feed.feed_records(feed.sealed_between(start, end)):
                    fh.write(json.dumps(record, cls=DjangoJSONEncoder, ensure_ascii=False, sort_keys=True) + "\n")
                    count += 1
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.stdout.write(f"wrote {count} records of {day} to {path}")
