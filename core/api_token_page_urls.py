"""The user's API tokens page (core.api_token_views), mounted at /settings/api-tokens/."""

from django.urls import path

from . import api_token_views as views

urlpatterns = [
    path("", views.api_tokens, name="api-tokens-page"),
    path("<int:token_id>/revoke/", views.api_token_revoke, name="api-token-revoke"),
]
