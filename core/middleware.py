"""Requests whose path or query string carries a NUL byte are refused with a 400 before any view runs.

PostgreSQL text cannot hold NUL, so such a value reaching a query (a security code in
the path, a ``?status=`` filter) raised ValueError and became a 500. Form and
serializer fields already refuse NUL in bodies; this covers what views read raw.
"""

from __future__ import annotations

from django.http import HttpResponseBadRequest, JsonResponse
from django.utils import translation


def reject_nul_bytes(get_response):
    def middleware(request):
        if "\x00" in request.path or "%00" in request.META.get("QUERY_STRING", ""):
            # This runs before LocaleMiddleware: pick the request's language as it would.
            with translation.override(translation.get_language_from_request(request)):
                message = translation.gettext("NUL characters are not allowed in the URL.")
            if request.path.startswith("/api/"):
                return JsonResponse({"code": "invalid_input", "message": message}, status=400)
            return HttpResponseBadRequest(message)
        return get_response(request)

    return middleware
