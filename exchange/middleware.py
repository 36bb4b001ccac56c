"""Requests whose path or query string carries a NUL byte are refused with a 400 before any view runs.

PostgreSQL text cannot hold NUL, so such a value reaching a query (a security code in
the path, a ``?status=`` filter) raised ValueError and became a 500. Form and
serializer fields already refuse NUL in bodies; this covers what views read raw.
"""

from __future__ import annotations

from django.http import HttpResponseBadRequest, JsonResponse


def reject_nul_bytes(get_response):
    def middleware(request):
        if "\x00" in request.path or "%00" in request.META.get("QUERY_STRING", ""):
            if request.path.startswith("/api/"):
                body = {"code": "invalid_input", "message": "NUL characters are not allowed in the URL."}
                return JsonResponse(body, status=400)
            return HttpResponseBadRequest("NUL characters are not allowed in the URL.")
        return get_response(request)

    return middleware
