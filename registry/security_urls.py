"""The security page and its disclosure documents (mounted at ``securities/``)."""

from django.urls import path

from . import views

urlpatterns = [
    path("<str:code>/", views.security_page, name="security"),
    path("<str:code>/disclosures/", views.disclosure_upload, name="security-disclosure-upload"),
    path("<str:code>/disclosures/<int:document_id>/", views.disclosure_download, name="security-disclosure"),
    path("<str:code>/disclosures/<int:document_id>/check/", views.disclosure_check, name="security-disclosure-check"),
]
