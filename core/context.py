"""What every page's head needs from core (a template context processor)."""

from __future__ import annotations

from django.conf import settings

from . import fonts
from .roles import STAFF_ROLES


def web_font(request) -> dict:
    """Whether the pages' Chinese web font is built, so that base.html links its stylesheet (one stat a page):
    before ``manage.py statement_fonts`` has built it, no page asks for a font that is not there."""
    return {"web_font": fonts.web_font_path().exists()}


def staff_session(request) -> dict:
    """A staff member's idle limit in seconds, for the warning before it (static/js/session.js); none for others,
    whose sessions keep Django's age."""
    user = getattr(request, "user", None)
    staff = user is not None and user.is_authenticated and user.role in STAFF_ROLES
    # Before the second factor (the code and enrolment pages) every page but those leads back to them
    # (core.middleware.staff_second_factor): the header then offers no link of the role (found by a walk: a new
    # regulator's enrolment page showed the whole supervision menu, each link landing on the enrolment again).
    verified = getattr(user, "is_verified", None)
    pending = staff and not (callable(verified) and verified())
    return {
        "staff_idle_seconds": settings.STAFF_SESSION_IDLE_SECONDS if staff else None,
        "second_factor_pending": pending,
    }
