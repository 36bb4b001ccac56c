"""The API's JSON parser: DRF's, made strict about two things the json module lets through.

* A key twice in one object (``{"side": "buy", "side": "sell"}``, at any depth):
  the json module keeps the last value, so what a client's log, a proxy or a
  signature check reads is not what the exchange acts on. It is a 400
  ``duplicate_key``. The error is a ``DomainError`` because the one handler
  (``core.api.errors``) turns every ``ParseError`` into ``malformed_json``,
  while a domain error keeps its own code; DRF's request re-raises whatever the
  parser raises, so it reaches that handler like any error of the view.
* JSON nested too deep to decode (``[[[[…``): the json module gives up with
  ``RecursionError``, not ``ValueError``; it is a 400 ``malformed_json``.
* A string with an unpaired surrogate escape (``"\\ud800"``): valid JSON syntax, but not Unicode text, so
  nothing can store, log or echo it (an error message quoting it failed to encode: a 500, after a batch had
  placed its first orders). It is a 400 ``malformed_json``.

Everything else is DRF's ``JSONParser.parse``, restated here only to pass the
``object_pairs_hook``: the request's charset, checked to be a text encoding,
and NaN and ±Infinity refused (``STRICT_JSON``), as a ``malformed_json`` 400.
Its messages are ours, in the request's language (found by a probe: DRF's
``JSON parse error - Expecting ',' delimiter…`` reached a Chinese client in
English); of the json module's complaint only the position is kept.

The form parsers (``MultiPartParser``, ``FormParser``: the upload endpoints) are DRF's with the same care: a
multipart body without a valid boundary, or one Django's multipart parser cannot read, is a 400
``malformed_multipart``, and a charset that is not a text encoding a 400 ``malformed_multipart`` or
``malformed_form``, each with our message in the request's language. DRF's own said ``Multipart form parse
error - Invalid boundary in multipart: None`` in English, under ``malformed_json`` (found by a probe). The
code is the exception class's ``error_code``, which the one handler prefers to its ``ParseError`` default.
"""

from __future__ import annotations

import codecs
from json import JSONDecodeError

from django.http.multipartparser import MultiPartParser as DjangoMultiPartParser
from django.http.multipartparser import MultiPartParserError
from django.utils.http import parse_header_parameters
from django.utils.translation import gettext, gettext_lazy
from rest_framework.exceptions import ParseError
from rest_framework.parsers import DataAndFiles, get_encoding
from rest_framework.parsers import FormParser as _FormParser
from rest_framework.parsers import JSONParser as _JSONParser
from rest_framework.parsers import MultiPartParser as _MultiPartParser
from rest_framework.utils import json

from core.errors import DomainError

# How much of a duplicated key the error message repeats.
SHOWN_KEY_LENGTH = 50


class DuplicateKey(DomainError):
    code = "duplicate_key"
    status = 400
    default_message = gettext_lazy("A key appears more than once in one JSON object.")


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """One JSON object as a dict, or DuplicateKey if a key appears twice in it."""
    obj: dict[str, object] = {}
    for key, value in pairs:
        if key in obj:
            # The key as text that can be written back: an unpaired surrogate in it (not Unicode) is escaped.
            shown = key[:SHOWN_KEY_LENGTH].encode("utf-8", "backslashreplace").decode("utf-8")
            raise DuplicateKey(gettext('The key "%(key)s" appears more than once in one JSON object.') % {"key": shown})
        obj[key] = value
    return obj


def _unicode(value: object) -> bool:
    """Whether every string in ``value`` (keys included) is Unicode text: no unpaired surrogate."""
    if isinstance(value, str):
        if value.isascii():
            return True
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_unicode(k) and _unicode(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_unicode(v) for v in value)
    return True


def _not_json(exc: ValueError) -> str:
    """The message of a body the json module (or the charset's decoder) refused, in the request's language."""
    if isinstance(exc, JSONDecodeError):
        return gettext("The request body is not valid JSON (line %(line)d, column %(column)d).") % {
            "line": exc.lineno,
            "column": exc.colno,
        }
    if isinstance(exc, UnicodeError):
        return gettext("The request body is not text in its charset (UTF-8 unless the Content-Type names another).")
    # ``STRICT_JSON``: DRF's parse_constant refuses NaN and ±Infinity with a plain ValueError.
    return gettext("The request body is not valid JSON: NaN and Infinity are not numbers in JSON.")


class MalformedMultipart(ParseError):
    error_code = "malformed_multipart"


class MalformedForm(ParseError):
    error_code = "malformed_form"


def _text_encoding(parser_context: dict | None, refusal: type[ParseError] = ParseError) -> str:
    """The request's charset, or ``refusal`` if it is not a text encoding (DRF's message, which repeats the
    header's charset in English, is not passed on)."""
    try:
        return get_encoding(parser_context or {})
    except ParseError:
        raise refusal(gettext("The Content-Type names a charset that is not a text encoding: send UTF-8.")) from None


class JSONParser(_JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = _text_encoding(parser_context)
        try:
            decoded_stream = codecs.getreader(encoding)(stream)
            parse_constant = json.strict_constant if self.strict else None
            data = json.load(decoded_stream, parse_constant=parse_constant, object_pairs_hook=_unique_keys)
        except ValueError as exc:
            raise ParseError(_not_json(exc)) from None
        except RecursionError:
            raise ParseError(gettext("JSON parse error - nested too deeply.")) from None
        try:
            unicode = _unicode(data)
        except RecursionError:
            raise ParseError(gettext("JSON parse error - nested too deeply.")) from None
        if not unicode:
            raise ParseError(
                gettext("JSON parse error - a string holds an unpaired surrogate (\\ud800–\\udfff): not Unicode text.")
            )
        return data


class MultiPartParser(_MultiPartParser):
    """DRF's, restated to give our messages: Django's ``MultiPartParserError`` text (the boundary it could not
    read, a header size) stays out of the answer."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        request = parser_context["request"]
        encoding = _text_encoding(parser_context, MalformedMultipart)
        content_type = media_type or ""
        if not content_type.isascii():
            raise MalformedMultipart(gettext("The Content-Type holds characters that are not ASCII."))
        boundary = parse_header_parameters(content_type)[1].get("boundary")
        if not boundary or not DjangoMultiPartParser.boundary_re.fullmatch(boundary):
            raise MalformedMultipart(
                gettext(
                    "The Content-Type names no valid boundary: send multipart/form-data; boundary=…, "
                    "with the boundary that separates the body's parts."
                )
            )
        meta = request.META.copy()
        meta["CONTENT_TYPE"] = content_type
        try:
            data, files = DjangoMultiPartParser(meta, stream, request.upload_handlers, encoding).parse()
        except MultiPartParserError:
            raise MalformedMultipart(gettext("The request body is not valid multipart/form-data.")) from None
        return DataAndFiles(data, files)


class FormParser(_FormParser):
    """DRF's, with the refusal of a charset that is not a text encoding in the request's language."""

    def parse(self, stream, media_type=None, parser_context=None):
        _text_encoding(parser_context, MalformedForm)
        return super().parse(stream, media_type, parser_context)
