"""The ledger explorer's pages (``ledger.views``), mounted at /ledger/; the ledger API is ``ledger.urls``."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.blocks, name="ledger-blocks"),
    path("blocks/<int:height>/", views.block_detail, name="ledger-block"),
    path("entries/<int:leaf_index>/", views.entry_detail, name="ledger-entry"),
    path("keys/", views.keys, name="ledger-keys"),
    path("verify/", views.verify, name="ledger-verify"),
]
