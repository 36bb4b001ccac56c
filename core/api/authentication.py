"""Token authentication with an end (core.tokens): ``Authorization: Token <key>``, as DRF's, refused once ended."""

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
    """DRF's ``Token <key>`` header, checked against ``core.models.ApiToken`` by the key's digest.

    An unknown or revoked key is DRF's 401 ("Invalid token."); an expired one a 401 ``token_expired``. A
    token of an inactive user is refused and every token of the user revoked: a user deactivated by a bulk
    update, which bypasses ``User.save``, loses them at the first use of one. ``request.auth`` is the
    ``ApiToken``.
    """

    def authenticate_credentials(self, key):
        token = tokens.token_authenticate(key)
        if token is not None and token.revoked_at is None and not token.user.is_active:
            tokens.tokens_revoke(user=token.user, reason="deactivated")
            token = None
        if token is None or token.revoked_at is not None:
            # DRF's own words, in DRF's translations.
            raise AuthenticationFailed(_("Invalid token."))
        if tokens.token_is_expired(token):
            raise TokenExpired()
        tokens.token_touch(token)
        return token.user, token


class CsrfSessionScheme(SessionScheme):
    """The schema's cookie login for ``CsrfSessionAuthentication``, as drf-spectacular documents DRF's own."""

    target_class = "core.api.authentication.CsrfSessionAuthentication"
