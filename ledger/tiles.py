"""The tree as C2SP tlog-tiles: hash tiles, entry bundles and their paths (DESIGN.md §4; docs/ledger.md, "Tiles").

* ``tile/<L>/<N>[.p/<W>]``: hash ``i`` of the level-``L`` tile ``N`` is
  MTH(D[(N·256 + i)·256^L : (N·256 + i + 1)·256^L]), the perfect subtree of
  height 8·L at index N·256 + i. Those are exactly the rows of
  ``ledger.models.Node`` at level 8·L, which sealing stores for every perfect
  subtree it completes: a tile is one indexed read, no hashing.
* ``tile/entries/<N>[.p/<W>]``: the canonical bytes of leaves N·256 … N·256 + W − 1,
  each as a big-endian uint16 length and the bytes.
* ``<N>`` is written as 3-digit groups, all but the last prefixed with ``x``
  (1234067 → ``x001/x234/067``); ``W`` is 1…255 for a partial tile.

A full tile never changes once the tree covers it, so it is cached (Django's
cache) for good; a partial tile exists for any width the tree already covers.
"""

from __future__ import annotations

import re

from django.core.cache import cache

from .models import Block, Leaf, Node

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT  # 256 hashes per full tile
MAX_LEVEL = 63
MAX_ENTRY_BYTES = 0xFFFF  # an entry bundle prefixes each entry with a uint16 length
_CACHE_SECONDS = None  # full tiles are immutable: cache without expiry

# ASCII digits only (C2SP: decimal ASCII): Python's \d and int() also read other scripts' digits.
_INDEX = re.compile(r"(?:x[0-9]{3}/)*[0-9]{3}")


class TileUnavailable(ValueError):
    """The tile is outside the tree, or its path is not the canonical encoding of a tile."""


class EntryTooLarge(ValueError):
    """An entry longer than 65,535 bytes cannot go into an entry bundle."""


def encode_index(n: int) -> str:
    """The tile index ``n`` as a path: 3-digit groups, all but the last prefixed with ``x``."""
    if n < 0:
        raise ValueError("a tile index is not negative")
    groups = []
    while True:
        groups.append(f"{n % 1000:03d}")
        n //= 1000
        if n == 0:
            break
    groups.reverse()
    return "/".join([f"x{g}" for g in groups[:-1]] + [groups[-1]])


def decode_index(path: str) -> int:
    """The inverse of ``encode_index``; only the canonical form is accepted (no extra leading groups)."""
    if not _INDEX.fullmatch(path):
        raise TileUnavailable("not a tile index")
    n = int("".join(group.lstrip("x") for group in path.split("/")))
    if encode_index(n) != path:
        raise TileUnavailable("not the canonical encoding of a tile index")
    return n


def tile_path(level: int | str, n: int, width: int = TILE_WIDTH) -> str:
    """``tile/<L>/<N>[.p/<W>]`` (``level`` = "entries" for an entry bundle)."""
    suffix = "" if width == TILE_WIDTH else f".p/{width}"
    return f"tile/{level}/{encode_index(n)}{suffix}"


def parse_width(raw: str | None) -> int:
    if raw is None:
        return TILE_WIDTH
    if not re.fullmatch(r"[1-9][0-9]{0,2}", raw) or int(raw) >= TILE_WIDTH:
        raise TileUnavailable("a partial tile's width is 1 to 255")
    return int(raw)


def _cache_key(what: str, n: int) -> str:
    """Keyed by the genesis block's hash too: a ledger reset (demo data, tests) never meets another's tiles."""
    genesis = Block.objects.filter(height=0).values_list("block_hash", flat=True).first()
    return f"ledger-{what}:{bytes(genesis or b'').hex()[:16]}:{n}"


def _covered(level: int, n: int, width: int, tree_size: int) -> bool:
    """Whether a tree of ``tree_size`` leaves holds the first ``width`` hashes of tile ``level``/``n``."""
    return (n * TILE_WIDTH + width) * (TILE_WIDTH**level) <= tree_size


def hash_tile(level: int, n: int, width: int, tree_size: int) -> bytes:
    """The bytes of hash tile ``level``/``n`` of width ``width`` (256 for a full one) in a tree of ``tree_size``."""
    if not 0 <= level <= MAX_LEVEL or not _covered(level, n, width, tree_size):
        raise TileUnavailable("the tree does not cover that tile")
    key = _cache_key(f"tile-{level}", n) if width == TILE_WIDTH else ""
    if key and (cached := cache.get(key)) is not None:
        return cached
    first = n * TILE_WIDTH
    rows = Node.objects.filter(level=TILE_HEIGHT * level, index__gte=first, index__lt=first + width).order_by("index")
    hashes = [bytes(h) for h in rows.values_list("hash", flat=True)]
    if len(hashes) != width:
        raise TileUnavailable(f"the node cache lacks hashes of tile {level}/{n}")
    data = b"".join(hashes)
    if key:
        cache.set(key, data, _CACHE_SECONDS)
    return data


def entry_bundle(n: int, width: int, tree_size: int) -> bytes:
    """Entry bundle ``n``: each leaf's canonical bytes, prefixed by their length as a big-endian uint16."""
    if not _covered(0, n, width, tree_size):
        raise TileUnavailable("the tree does not cover that entry bundle")
    key = _cache_key("entries", n) if width == TILE_WIDTH else ""
    if key and (cached := cache.get(key)) is not None:
        return cached
    first = n * TILE_WIDTH
    rows = (
        Leaf.objects.filter(leaf_index__gte=first, leaf_index__lt=first + width)
        .order_by("leaf_index")
        .values_list("entry__canonical", flat=True)
    )
    parts = []
    for raw in rows:
        data = bytes(raw)
        if len(data) > MAX_ENTRY_BYTES:
            raise EntryTooLarge(f"an entry of bundle {n} has {len(data)} bytes, more than a bundle can carry")
        parts.append(len(data).to_bytes(2, "big") + data)
    if len(parts) != width:
        raise TileUnavailable(f"leaves of entry bundle {n} are missing")
    out = b"".join(parts)
    if key:
        cache.set(key, out, _CACHE_SECONDS)
    return out


def split_bundle(data: bytes) -> list[bytes]:
    """The entries of an entry bundle; ``ValueError`` if its length prefixes do not add up."""
    out, at = [], 0
    while at < len(data):
        if at + 2 > len(data):
            raise ValueError("an entry bundle ends inside a length prefix")
        size = int.from_bytes(data[at : at + 2], "big")
        if at + 2 + size > len(data):
            raise ValueError("an entry bundle ends inside an entry")
        out.append(data[at + 2 : at + 2 + size])
        at += 2 + size
    return out
