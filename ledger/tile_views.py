"""The tree served as C2SP tlog-tiles under the log's prefix ``/ledger/`` (the checkpoint origin's path).

* ``/ledger/checkpoint``: the latest signed checkpoint note, text/plain, cached for seconds;
* ``/ledger/tile/<L>/<N>[.p/<W>]``: hash tiles, full or partial, immutable (``public, max-age=31536000,
  immutable``): a partial tile's width fixes its content;
* ``/ledger/tile/entries/<N>[.p/<W>]``: entry bundles, for supervisors and replicas only (the bytes of
  entries, as ``/api/v1/ledger/entries/``), gzip-compressed for a client that accepts it; ``no-store``, as
  every private answer to a signed-in user (``core.middleware.no_store_private``). ``manage.py
  ledger_tiles_export`` writes them for a static server behind the regulators' own access control.

The checkpoint and the hash tiles are hashes only (every leaf salted, docs/ledger.md "Privacy"), and are
readable without signing in so that a static server or a CDN can serve them to any number of replicas; they
keep their caching for a signed-in user too (``public``: ``core.middleware.no_store_private`` leaves them be).

They are left out of the OpenAPI schema: C2SP tlog-tiles specifies them, and a tile index is a path of
several segments (``x001/x234/067``), which an OpenAPI path parameter cannot describe.
"""

from __future__ import annotations

import gzip
import re

from django.http import HttpResponse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext, gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from core import errors as err
from core.permissions import require_role
from core.roles import SUPERVISORS

from . import selectors, tiles
from .services import signed_note

IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=5"
# "gzip" among the accepted encodings, unless refused with q=0 (RFC 9110 §12.5.3).
_ACCEPTS_GZIP = re.compile(r"(?:^|,)\s*gzip\s*(?:;\s*q\s*=\s*(?!0(?:\.0*)?\s*(?:,|$))[0-9.]+\s*)?(?:,|$)", re.I)


class EntryTooLarge(err.DomainError):
    code = "entry_too_large"
    status = 409
    default_message = gettext_lazy(
        "An entry of this bundle is longer than 65,535 bytes; read it from /api/v1/ledger/entries/."
    )


class _TileView(APIView):
    # Not counted against the API's rates (core.api.throttles): tiles are files a static server or a CDN may serve
    # instead, fetched by a CDN's few addresses for all its readers and by a replica catching up by the thousand.
    throttle_classes = []

    def perform_content_negotiation(self, request, force=False):
        # Success answers are raw bytes (HttpResponse); errors are JSON whatever the client accepts.
        return JSONRenderer(), JSONRenderer.media_type

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code >= 400:
            # A tile or checkpoint missing now may exist in a second: no cache keeps the refusal (RFC 9111
            # §4.2.2 lets a cache guess a lifetime for a 404 that says none).
            response["Cache-Control"] = "no-store"
        return response


def _tree_size() -> int:
    head = selectors.head()
    return head.tree_size if head else 0


def _binary(data: bytes, cache_control: str) -> HttpResponse:
    response = HttpResponse(data, content_type="application/octet-stream")
    response["Cache-Control"] = cache_control
    return response


def _parse(n: str, width: str | None) -> tuple[int, int]:
    try:
        return tiles.decode_index(n), tiles.parse_width(width)
    except tiles.TileUnavailable:
        raise err.NotFound(gettext("No such tile.")) from None


class CheckpointView(_TileView):
    """The latest signed checkpoint (C2SP tlog-checkpoint), as a signed note."""

    permission_classes = [AllowAny]

    @extend_schema(exclude=True)
    def get(self, request):
        head = selectors.head()
        if head is None:
            raise err.NotFound(gettext("Nothing is sealed yet."))
        response = HttpResponse(signed_note(head), content_type="text/plain; charset=utf-8")
        response["Cache-Control"] = SHORT
        return response


class HashTileView(_TileView):
    """A hash tile: 256 (or W) consecutive Merkle tree hashes at height 8·L."""

    permission_classes = [AllowAny]

    @extend_schema(exclude=True)
    def get(self, request, level: str, n: str, width: str | None = None):
        index, w = _parse(n, width)
        try:
            data = tiles.hash_tile(int(level), index, w, _tree_size())
        except tiles.TileUnavailable:
            raise err.NotFound(gettext("No such tile.")) from None
        # A partial tile is immutable too (C2SP tlog-tiles): its width fixes its content.
        return _binary(data, IMMUTABLE)


class EntryBundleView(_TileView):
    """An entry bundle: the canonical bytes of 256 (or W) consecutive leaves, each after its uint16 length."""

    @extend_schema(exclude=True)
    def get(self, request, n: str, width: str | None = None):
        require_role(request.user, SUPERVISORS, gettext("Only supervisors and replicas read the ledger in bulk."))
        index, w = _parse(n, width)
        try:
            data = tiles.entry_bundle(index, w, _tree_size())
        except tiles.TileUnavailable:
            raise err.NotFound(gettext("No such tile.")) from None
        except tiles.EntryTooLarge:
            raise EntryTooLarge() from None
        response = HttpResponse(data, content_type="application/octet-stream")
        # C2SP tlog-tiles: entry bundles SHOULD be compressed; gzip to a client that accepts it (canonical JSON
        # compresses about threefold). Private answers: no cache keeps them, whatever the encoding.
        patch_vary_headers(response, ["Accept-Encoding"])
        if _ACCEPTS_GZIP.search(request.headers.get("Accept-Encoding", "")):
            response.content = gzip.compress(data, compresslevel=6, mtime=0)
            response["Content-Encoding"] = "gzip"
        return response


class NoSuchTileView(_TileView):
    """Any other path under ``tile/`` (``0/0.p/23``, ``0/000.p/-1``, a trailing slash): a JSON 404, as for a tile
    beyond the tree, not the site's HTML page."""

    permission_classes = [AllowAny]

    @extend_schema(exclude=True)
    def get(self, request, rest: str):
        raise err.NotFound(gettext("No such tile: tiles are tile/<L>/<N>[.p/<W>] (C2SP tlog-tiles)."))
