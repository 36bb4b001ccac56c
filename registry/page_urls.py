from django.urls import path

from . import views

urlpatterns = [
    path("", views.console, name="operations"),
    path("securities/new/", views.security_new, name="operations-security-new"),
    path("securities/<str:code>/edit/", views.security_edit, name="operations-security-edit"),
    path("securities/<str:code>/delist/", views.security_delist, name="operations-security-delist"),
    path("securities/<str:code>/<str:action>/", views.security_switch, name="operations-security"),
    path("market/<str:action>/", views.market_switch, name="operations-market"),
    path("holidays/", views.holiday_add, name="operations-holiday-add"),
    path("holidays/<str:date>/remove/", views.holiday_remove, name="operations-holiday-remove"),
]
