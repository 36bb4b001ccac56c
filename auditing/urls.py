from django.urls import path

from . import api, feed_api

urlpatterns = [
    path("audit/", api.AuditListApi.as_view(), name="api-audit"),
    path("audit/evidence/", api.AuditEvidenceApi.as_view(), name="api-audit-evidence"),
    path("audit/<int:event_id>/", api.AuditDetailApi.as_view(), name="api-audit-event"),
    path("regulatory-feed/", feed_api.RegulatoryFeedApi.as_view(), name="api-regulatory-feed"),
]
