"""The surveillance console (``surveillance.views``), mounted at /surveillance/; its API is ``surveillance.urls``."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.alerts, name="surveillance-alerts"),
    path("alerts/", views.alerts_moved, name="surveillance-alerts-moved"),
    path("alerts/<int:alert_id>/", views.alert_detail, name="surveillance-alert"),
    path("alerts/<int:alert_id>/change/", views.alert_change, name="surveillance-alert-change"),
    path("alerts/<int:alert_id>/reopen/", views.alert_reopen, name="surveillance-alert-reopen"),
    path("rules/", views.rule_list, name="surveillance-rules"),
    path("rules/<str:code>/", views.rule_change, name="surveillance-rule-change"),
]
