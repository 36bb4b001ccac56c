"""Web pages. Each view reads through selectors and writes through services."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render


def _wants_json(request) -> bool:
    return request.path.startswith("/api/")


def _error(request, status: int, code: str, message: str):
    if _wants_json(request):
        return JsonResponse({"code": code, "message": message}, status=status)
    return render(request, "error.html", {"status": status, "message": message}, status=status)


def error_400(request, exception=None):
    return _error(request, 400, "bad_request", "Bad request.")


def error_403(request, exception=None):
    return _error(request, 403, "permission_denied", "You are not allowed to see this page.")


def error_404(request, exception=None):
    return _error(request, 404, "not_found", "Not found.")


def error_500(request):
    return _error(request, 500, "server_error", "Something went wrong on our side.")


@login_required
def market(request):
    return render(request, "exchange/market.html", {})
