"""The OpenAPI schema's description names the venue rule profile in force, as every page's footer does
(DESIGN §2: shown on every page; found by a review: /api/docs/ did not say it). A drf-spectacular postprocessing
hook (``SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]``)."""

from __future__ import annotations

from django.utils.translation import gettext

from . import profile


def venue_rules_described(result: dict, generator, request, public) -> dict:
    info = result.setdefault("info", {})
    rules = f"{gettext('Venue rules:')} {profile.current().label}"
    info["description"] = f"{info.get('description', '')}\n\n{rules}".strip()
    return result
