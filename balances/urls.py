from django.urls import path

from . import api

urlpatterns = [
    path("securities/<str:code>/issuances/", api.IssuanceApi.as_view(), name="api-security-issuances"),
    path("securities/<str:code>/register/", api.RegisterApi.as_view(), name="api-security-register"),
]
