"""What every page's head needs from core (a template context processor)."""

from __future__ import annotations

from . import fonts


def web_font(request) -> dict:
    """Whether the pages' Chinese web font is built, so that base.html links its stylesheet (one stat a page):
    before ``manage.py statement_fonts`` has built it, no page asks for a font that is not there."""
    return {"web_font": fonts.web_font_path().exists()}
