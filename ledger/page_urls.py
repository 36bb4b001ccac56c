"""The ledger explorer's pages (``ledger.views``), mounted at /ledger/; the ledger API is ``ledger.urls``.

/ledger/ is also the log's prefix (the checkpoint origin ``<host>/ledger``), so the C2SP tlog-tiles
resources live here too: /ledger/checkpoint, /ledger/tile/… (``ledger.tile_views``).
"""

from django.urls import path, re_path
from django.views.generic import RedirectView

from . import tile_views, views

# ASCII digits, not \d (which matches any script's digits); the views check the canonical form again.
_N = r"(?P<n>(?:x[0-9]{3}/)*[0-9]{3})"
_W = r"(?:\.p/(?P<width>[0-9]+))?"

urlpatterns = [
    path("", views.blocks, name="ledger-blocks"),
    path("blocks/<int:height>/", views.block_detail, name="ledger-block"),
    path("entries/<int:leaf_index>/", views.entry_detail, name="ledger-entry"),
    path("keys/", views.keys, name="ledger-keys"),
    path("verify/", views.verify, name="ledger-verify"),
    path("verifier.py", views.verifier_download, name="ledger-verifier"),
    path("checkpoint", tile_views.CheckpointView.as_view(), name="ledger-tiles-checkpoint"),
    # The address a browser (or a person) writes with a slash, as every page's: it was the site's HTML 404. C2SP
    # names the checkpoint without one, so this one leads there.
    path("checkpoint/", RedirectView.as_view(pattern_name="ledger-tiles-checkpoint", permanent=True)),
    re_path(rf"^tile/entries/{_N}{_W}$", tile_views.EntryBundleView.as_view(), name="ledger-tiles-entries"),
    re_path(rf"^tile/(?P<level>0|[1-9][0-9]?)/{_N}{_W}$", tile_views.HashTileView.as_view(), name="ledger-tiles-tile"),
    # [\s\S]: "." stops at a newline, and such a path fell through to the site's HTML 404.
    re_path(r"^tile/(?P<rest>[\s\S]*)$", tile_views.NoSuchTileView.as_view(), name="ledger-tiles-none"),
]
