"""The API's JSON parser: what the standard one does, plus a 400 for JSON nested too deep to decode."""

from __future__ import annotations

from django.utils.translation import gettext
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser as _JSONParser


class JSONParser(_JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            # The json module gives up on deep nesting ("[[[[…") with RecursionError, not ValueError.
            raise ParseError(gettext("JSON parse error - nested too deeply.")) from None
