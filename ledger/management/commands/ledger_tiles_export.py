"""Write the ledger as C2SP tlog-tiles into a folder, for a static file server or a CDN.

    manage.py ledger_tiles_export --out /srv/tiles/ledger [--entries]

Writes ``checkpoint``, every full hash tile (``tile/<L>/<N>``) not yet in the folder, and the partial tiles
of the latest checkpoint's size (``tile/<L>/<N>.p/<W>``); with ``--entries`` the entry bundles too
(``tile/entries/…``: the bytes of every entry, so only onto a server with the regulators' own access control).
Run it after each seal (or every few seconds): full tiles never change, so each run adds only the new
ones; the checkpoint is written last, and atomically, so a reader never sees a checkpoint whose tiles
are missing. Serve the folder at the log's prefix (``https://<host>/ledger/``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand

from ledger import selectors, tiles
from ledger.services import signed_note


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="the folder served at the log's prefix")
        parser.add_argument("--entries", action="store_true", help="also the entry bundles (private data)")

    def handle(self, *args, out, entries, **options):
        head = selectors.head()
        if head is None:
            self.stdout.write("nothing is sealed yet")
            return
        root, size, written = Path(out), head.tree_size, 0
        levels: list[int | str] = [lv for lv in range(tiles.MAX_LEVEL + 1) if size >= tiles.TILE_WIDTH**lv]
        if entries:
            levels.insert(0, "entries")
        for level in levels:
            span = tiles.TILE_WIDTH ** (0 if level == "entries" else level)
            hashes = size // span  # hashes (or entries) at this level
            for n in range(hashes // tiles.TILE_WIDTH + 1):
                width = min(tiles.TILE_WIDTH, hashes - n * tiles.TILE_WIDTH)
                if width <= 0:
                    break
                path = root / tiles.tile_path(level, n, width)
                if width == tiles.TILE_WIDTH and path.exists():
                    continue
                if level == "entries":
                    data = tiles.entry_bundle(n, width, size)
                else:
                    data = tiles.hash_tile(level, n, width, size)
                _write(path, data)
                written += 1
        _write(root / "checkpoint", signed_note(head).encode())
        self.stdout.write(f"wrote {written} tile(s) and the checkpoint of tree size {size} to {root}")
