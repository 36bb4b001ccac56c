from django.urls import path

from . import api

urlpatterns = [
    path("alerts/", api.AlertListApi.as_view(), name="api-alerts"),
    path("alerts/rules/", api.RuleListApi.as_view(), name="api-surveillance-rules"),
    path("alerts/rules/<str:code>/", api.RuleDetailApi.as_view(), name="api-surveillance-rule"),
    path("alerts/<int:alert_id>/", api.AlertDetailApi.as_view(), name="api-alert"),
    path("alerts/<int:alert_id>/reopen/", api.AlertReopenApi.as_view(), name="api-alert-reopen"),
]
