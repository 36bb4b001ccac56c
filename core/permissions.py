"""Role gates shared by the pages and the API: one rule, two ways to refuse.

A page refuses with Django's ``PermissionDenied`` (the 403 page) and sends an
anonymous visitor to the login page; an API view refuses with the domain
``PermissionDenied`` (a 403 JSON error with a stable code). Which roles see
what is in ``core.roles``; what a user may do to a given account or trade is
decided by the service that does it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as PagePermissionDenied

from . import errors as err
from .audit import refusal_noted
from .models import User


def has_role(user: User, roles: Collection[str]) -> bool:
    return bool(user.is_authenticated) and user.role in roles


def require_role(user: User, roles: Collection[str], message: str | None = None) -> None:
    """For API views: a 403 JSON error unless the user has one of ``roles``."""
    if not has_role(user, roles):
        raise err.PermissionDenied(message)


def role_required(*roles: str) -> Callable:
    """For pages: log in first, then a 403 page unless the user has one of ``roles``."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not has_role(request.user, roles):
                refused = PagePermissionDenied()
                refusal_noted(refused)  # a staff member's write its role may not make is audited (core.audit)
                raise refused
            return view(request, *args, **kwargs)

        return login_required(wrapper)

    return decorate
