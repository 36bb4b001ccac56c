"""The KYC pages (``kyc.views``), mounted at /kyc/; the KYC API is ``kyc.api_urls``."""

from django.urls import path

from . import views

urlpatterns = [
    path("register/", views.register, name="kyc-register"),
    path("me/", views.me, name="kyc-me"),
    path("me/<slug:action>/", views.me_action, name="kyc-me-action"),
    path("applications/", views.queue, name="kyc-queue"),
    path("applications/<int:profile_id>/", views.application, name="kyc-application"),
    path("applications/<int:profile_id>/<slug:action>/", views.application_action, name="kyc-application-action"),
    path("documents/<int:document_id>/", views.document, name="kyc-document"),
    path("reveal/", views.reveal, name="kyc-reveal"),
    path("reveal/<int:profile_id>/", views.reveal_do, name="kyc-reveal-do"),
    path("reveal/shown/<int:reveal_id>/", views.revealed, name="kyc-revealed"),
]
