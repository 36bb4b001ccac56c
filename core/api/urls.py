"""The API of core itself, mounted under /api/v1/: the user's named API tokens (core.api.tokens)."""

from django.urls import path

from . import tokens

urlpatterns = [
    path("auth/tokens/", tokens.ApiTokenListApi.as_view(), name="api-tokens"),
    path("auth/tokens/<int:token_id>/", tokens.ApiTokenDetailApi.as_view(), name="api-token-detail"),
]
