"""URLs of a witness node (NODE_ROLE=witness): the tlog-witness call and the witness's own status page."""

from django.urls import include, path

from ledger import witness_views

urlpatterns = [
    path("add-checkpoint", witness_views.add_checkpoint, name="witness-add-checkpoint"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", witness_views.status, name="witness-status"),
]
