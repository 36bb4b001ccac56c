"""Content negotiation of the API: DRF's, held to RFC 9110 where it is lenient.

* A media type the client refuses is not chosen: ``Accept: application/json;q=0`` is a 406, not JSON. The
  most specific range that matches a type gives its weight (RFC 9110 §12.5.1): ``application/json,
  */*;q=0`` still takes JSON, and ``*/*;q=0`` alone refuses everything.
* An unknown or empty ``?format=`` is a 400 naming the formats the operation answers in, not DRF's 404,
  which read as "no such resource" (an empty one read as none).
"""

from __future__ import annotations

from django.utils.http import parse_header_parameters
from django.utils.translation import gettext
from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation


def _weight(params: dict[str, str]) -> float:
    try:
        return float(params.get("q", "1"))
    except ValueError:  # a malformed weight reads as the default, as DRF reads the rest of the header
        return 1.0


def _refused(media_type: str, accepted: list[tuple[str, str, float]]) -> bool:
    """Whether the most specific of the ``accepted`` ranges matching ``media_type`` weighs 0."""
    main, _, sub = media_type.partition("/")
    best = None  # (specificity, weight)
    for a_main, a_sub, weight in accepted:
        if a_main == "*" or (a_main == main and a_sub in ("*", sub)):
            specificity = 0 if a_main == "*" else 1 if a_sub == "*" else 2
            if best is None or specificity > best[0]:
                best = (specificity, weight)
    return best is not None and best[1] == 0


class ContentNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        given = request.query_params.get(self.settings.URL_FORMAT_OVERRIDE)
        wanted = format_suffix or given
        if (given == "" and not format_suffix) or (wanted and not any(r.format == wanted for r in renderers)):
            # An empty ?format= names no format, as an unknown one (it read as none: JSON).
            # Named from every format the operation has, before any is set aside as refused by the Accept header.
            formats = ", ".join(sorted({r.format for r in renderers}))
            raise exceptions.ValidationError(
                {"format": [gettext("Must be one of: %(choices)s.") % {"choices": formats}]}
            )
        accepted = []
        for token in self.get_accept_list(request):
            try:
                full, params = parse_header_parameters(token)
            except ValueError:
                continue
            main, _, sub = full.lower().partition("/")
            accepted.append((main, sub, _weight(params)))
        kept = [r for r in renderers if not _refused(r.media_type.lower(), accepted)]
        if not kept or (wanted and not any(r.format == wanted for r in kept)):
            raise exceptions.NotAcceptable(available_renderers=renderers)
        return super().select_renderer(request, kept, format_suffix)
