from django.urls import path

from . import api

urlpatterns = [
    path("head/", api.HeadApi.as_view(), name="api-ledger-head"),
    path("blocks/", api.BlockListApi.as_view(), name="api-ledger-blocks"),
    path("blocks/<int:height>/", api.BlockDetailApi.as_view(), name="api-ledger-block"),
    path("entries/", api.EntryListApi.as_view(), name="api-ledger-entries"),
    path("entries/<int:index>/", api.EntryDetailApi.as_view(), name="api-ledger-entry"),
    path("entries/<int:index>/proof/", api.EntryProofApi.as_view(), name="api-ledger-proof"),
    path("consistency/", api.ConsistencyApi.as_view(), name="api-ledger-consistency"),
    path("keys/", api.KeyListApi.as_view(), name="api-ledger-keys"),
    path("witnesses/", api.WitnessListApi.as_view(), name="api-ledger-witnesses"),
]
