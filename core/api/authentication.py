"""Token authentication with an end (core.tokens): ``Authorization: Token <key>``, as DRF's, refused once expired."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from core import tokens


class TokenExpired(AuthenticationFailed):
    default_detail = _("The API token has expired. Request a new one with POST /api/v1/auth/token/.")
    default_code = "token_expired"
    error_code = "token_expired"  # the API's error code (core.api.errors)


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, which also refuses (and deletes) a token older than ``API_TOKEN_TTL``.

    A token of an inactive user is deleted too: a user deactivated by a bulk update, which bypasses
    ``User.save``, loses the token at its first use.
    """

    def authenticate_credentials(self, key):
        token = self.get_model().objects.select_related("user").filter(key=key).first()
        if token is None or not token.user.is_active:
            if token is not None:
                tokens.tokens_revoke(user=token.user, reason="deactivated")
            # The key is unknown now: DRF refuses it, in its own words and translations.
            return super().authenticate_credentials(key)
        if tokens.token_is_expired(token):
            tokens.token_expire(token)
            raise TokenExpired()
        return token.user, token
