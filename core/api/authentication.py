"""Token authentication with an end (core.tokens): ``Authorization: Token <key>``, as DRF's, refused once expired."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.authentication import SessionScheme
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied

from core import tokens


class TokenExpired(AuthenticationFailed):
    default_detail = _("The API token has expired. Request a new one with POST /api/v1/auth/token/.")
    default_code = "token_expired"
    error_code = "token_expired"  # the API's error code (core.api.errors)


class CsrfFailed(PermissionDenied):
    default_detail = _(
        "The request has no valid CSRF token: reload the page and send it again, or sign API requests with a token "
        "(Authorization: Token …), which needs none."
    )
    error_code = "csrf_failed"


class CsrfSessionAuthentication(SessionAuthentication):
    """DRF's session authentication, whose CSRF refusal says what to do in the user's language (DRF's repeats
    Django's reason, in English only)."""

    def enforce_csrf(self, request):
        try:
            super().enforce_csrf(request)
        except PermissionDenied as exc:
            raise CsrfFailed() from exc


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


class CsrfSessionScheme(SessionScheme):
    """The schema's cookie login for ``CsrfSessionAuthentication``, as drf-spectacular documents DRF's own."""

    target_class = "core.api.authentication.CsrfSessionAuthentication"
