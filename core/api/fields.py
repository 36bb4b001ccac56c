"""Strict JSON input: money and prices as strings, quantities as integers, and input serializers that take
only what their schema describes (``StrictInput``)."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from decimal import Decimal

from django.http import QueryDict
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

# Plain ASCII digits with an optional fraction: no exponent ("1e400"), plus sign, NaN or Unicode digits. A minus
# sign is read, to be refused as not positive rather than as not a number.
_DECIMAL = re.compile(r"(?P<minus>-)?(?P<whole>[0-9]+)(?:\.(?P<fraction>[0-9]+))?", re.ASCII)


# Its schema (a pattern of its digits) is core.api.schema.DecimalStringSchema's, per field.
class DecimalString(serializers.Field):
    """A decimal that travels as a JSON string. Numbers (floats above all) are refused.

    ``max_digits`` matches the database columns (14 digits for prices, 20 for cash),
    so that a value too large for them is a 400 here rather than a 500 in PostgreSQL.
    """

    default_error_messages = {
        "not_string": _('Send decimals as strings, for example "10.50", not as JSON numbers.'),
        "invalid": _('Not a decimal number; write it like "10.50".'),
        "places": _("At most {places} decimal places."),
        "too_large": _("At most {digits} digits before the decimal point."),
        "positive": _("Must be greater than zero."),
    }

    def __init__(self, *, places: int = 2, max_digits: int = 14, **kwargs) -> None:
        self.places = places
        self.max_digits = max_digits
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> Decimal:
        if not isinstance(data, str):
            self.fail("not_string")
        match = _DECIMAL.fullmatch(data)  # no surrounding space either: " 8.80" is not how a price is written
        if match is None:
            self.fail("invalid")
        if match["minus"]:
            self.fail("positive")
        if len(match["fraction"] or "") > self.places:
            self.fail("places", places=self.places)
        if len(match["whole"].lstrip("0")) > self.max_digits - self.places:
            self.fail("too_large", digits=self.max_digits - self.places)
        value = Decimal(match[0])
        if value <= 0:
            self.fail("positive")
        return value

    def to_representation(self, value) -> str:
        return str(value)


# Its schema (with its bounds) is core.api.schema.StrictIntegerSchema's, per field.
class StrictInteger(serializers.Field):
    """A positive JSON integer; strings, floats and booleans are refused.

    Capped (10^12 by default) so that quantity × price stays within the money columns
    and Decimal's precision instead of overflowing into a 500.
    """

    default_error_messages = {
        "invalid": _("Must be a whole number (a JSON integer)."),
        "positive": _("Must be greater than zero."),
        "too_large": _("Must be at most {max_value}."),
    }

    def __init__(self, *, max_value: int = 10**12, **kwargs) -> None:
        self.max_value = max_value
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        if data <= 0:
            self.fail("positive")
        if data > self.max_value:
            self.fail("too_large", max_value=self.max_value)
        return data

    def to_representation(self, value) -> int:
        return int(value)


# Its schema (this pattern, with its lengths) is core.api.schema.IdempotencyKeySchema's.
class IdempotencyKey(serializers.CharField):
    """A client's idempotency key (``client_order_id``, ``client_request_id``): 1 to 64 visible ASCII characters,
    taken exactly as sent. A text field trims surrounding white space, so " k1" and "k1" named one order; and
    invisible characters (a bidi override, a byte-order mark) made two keys that look alike."""

    PATTERN = r"^[!-~]{1,64}$"

    default_error_messages = {
        "key": _("1 to 64 visible ASCII characters (letters, digits, punctuation), with no spaces."),
    }

    def __init__(self, **kwargs) -> None:
        super().__init__(max_length=64, trim_whitespace=False, **kwargs)

    def to_internal_value(self, data) -> str:
        value = super().to_internal_value(data)
        if not _KEY.fullmatch(value):
            self.fail("key")
        return value


_KEY = re.compile(IdempotencyKey.PATTERN)  # "!" is 0x21, "~" 0x7e: the visible ASCII characters


class Moment(serializers.DateTimeField):
    """A date and time in the input, with its offset from UTC (``2027-01-01T00:00:00+08:00`` or ``…Z``), as the
    schema's ``date-time`` (RFC 3339) says: a time without one, or a date alone, is refused rather than read in
    the server's zone. A time near year 1 or 9999 that no time zone can hold (``0001-01-01`` in Shanghai) is this
    field's 400 ("out of range"), where DRF's own field raised ``OverflowError`` (a 500)."""

    default_error_messages = {
        "range": _("The date is out of range."),
        "naive": _("Give the time with its offset from UTC, for example 2027-01-01T09:30:00+08:00."),
    }

    def to_internal_value(self, value):
        if isinstance(value, str) and _NAIVE.fullmatch(value.strip()):
            self.fail("naive")
        return super().to_internal_value(value)

    def enforce_timezone(self, value):
        try:
            return super().enforce_timezone(value)
        except OverflowError:
            self.fail("range")


# Its schema (the shortest length the password validators take) is core.api.schema.NewPasswordSchema's.
class NewPassword(serializers.CharField):
    """A password being set, taken as typed (no trimming); ``validate_password`` judges it in the service."""

    def __init__(self, **kwargs) -> None:
        super().__init__(max_length=128, trim_whitespace=False, **kwargs)


class RegisteredChoice(serializers.CharField):
    """An answer's text whose values apps above register once they are ready (a statement line's kind, a trade
    note's): ``choices``, a function, gives them. Written as it is; the schema documents it as their enum, read when
    the schema is made (``core.api.schema.RegisteredChoiceSchema``)."""

    def __init__(self, choices, **kwargs) -> None:
        self.registered = choices
        super().__init__(**kwargs)


@extend_schema_field({"type": "string", "format": "binary"})
class Upload(serializers.FileField):
    """A file sent as a part of a ``multipart/form-data`` body: ``format: binary`` in the schema, as OpenAPI 3.0
    describes an upload. drf-spectacular gives a ``FileField`` the ``uri`` of its output form, so a client
    generated from the schema (openapi-python-client) sent the document as a text part holding its name (found
    by an outside integrator)."""


# A date, or a date and time, with no offset after it (RFC 3339's time-offset: Z or ±hh:mm).
_NAIVE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ][0-9:.,]+)?")

# C0 controls but tab, line feed and carriage return, DEL, and the C1 controls (U+0080-U+009F: U+009B is a whole
# escape sequence introducer to a terminal that reads the logs): an escape sequence in a halt reason reached every
# role's screen. NUL is refused earlier, by the parser and the fields. Also the bidirectional embeddings, overrides
# and isolates (U+202A-U+202E, U+2066-U+2069): a right-to-left override in a name or a reason turned the text after
# it around on every page that showed it (U+202E then "gnp.exe" read "exe.png"; found by a security walk). The
# marks U+200E and U+200F, which mixed Chinese and Arabic text may need, stay. Page forms are held to the same
# (core.middleware.RejectNulInForms).
CONTROL_CHARACTERS = r"\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[{CONTROL_CHARACTERS}]")


def is_password(name: str) -> bool:
    """A password field, by its name, is left as typed (by the API's text rule and the page forms' alike): a
    password is never shown, and one set before a rule must still sign in."""
    return "password" in name


# A mixin for input serializers (first among the bases): a request may carry only the fields the serializer
# describes, and a text field takes only a JSON string. DRF's ``CharField`` turns a number into its text, and a
# serializer ignores keys it does not know, so ``{"reason": 0}`` halted the market with the reason "0" and a
# misspelt field was dropped without a word; both are now a 400 naming the field.
# (A comment, not a docstring: drf-spectacular would show a docstring as every input schema's description.)
class StrictInput:
    default_error_messages = {
        "unknown_field": _("Unknown field: this request takes no such field."),
        "not_text": _("Must be text (a JSON string)."),
        "not_integer": _("Must be a whole number (a JSON integer)."),
        "not_boolean": _("Must be true or false (a JSON boolean)."),
        "control": _(
            "Must not hold control characters (an escape, a bell, a text direction override): tabs and line breaks"
            " only."
        ),
    }

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            errors = {}
            writable = {name for name, field in self.fields.items() if not field.read_only}
            # A form's values are all text (the few multipart uploads): only a JSON body is held to its types.
            typed = not isinstance(data, QueryDict)
            for name in data.keys() - writable:
                errors[name] = [self.error_messages["unknown_field"]]
            for name in data.keys() & writable:
                value, field = data[name], self.fields[name]
                if value is not None and (wrong := _wrong_type(field, value, typed=typed)):
                    errors[name] = [self.error_messages[wrong]]
                elif isinstance(value, str) and not is_password(name) and _CONTROL.search(value):
                    errors[name] = [self.error_messages["control"]]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


def _wrong_type(field: serializers.Field, value, *, typed: bool) -> str | None:
    """Why ``value`` is not of the JSON type ``field`` documents, or None. DRF's own fields read "1" and 1.0 as
    the integer 1, and 0, "0" and "false" as false: a trade id sent as 1.5 or a boolean as "no" would be guessed
    at, where the schema says integer or boolean."""
    if _takes_text(field):
        return None if isinstance(value, str) else "not_text"
    if not typed:
        return None
    if isinstance(field, serializers.BooleanField):
        return None if isinstance(value, bool) else "not_boolean"
    if isinstance(field, serializers.IntegerField):
        return None if isinstance(value, int) and not isinstance(value, bool) else "not_integer"
    return None


def _takes_text(field: serializers.Field) -> bool:
    """A field whose JSON value is a string: text, or a choice among strings."""
    if isinstance(field, serializers.MultipleChoiceField):
        return False
    if isinstance(field, serializers.ChoiceField):
        return all(isinstance(key, str) for key in field.choices)
    return isinstance(field, serializers.CharField)


# The body of an action that takes none: nothing, or ``{}``.
class _NoInput(StrictInput, serializers.Serializer):
    pass


def takes_no_body(method):
    """For an API action that takes no body (an approval, a cancel, a DELETE): a body that is not JSON, or that
    carries any field, is a 400 and nothing is done. Ignored before, ``{"approve": false}`` approved a forced
    transfer, and a broken body approved a cash movement."""

    @functools.wraps(method)
    def checked(self, request, *args, **kwargs):
        require_no_body(request)
        return method(self, request, *args, **kwargs)

    return checked


def require_no_body(request) -> None:
    """``takes_no_body``'s check, for a view whose one method serves actions with and without a body."""
    body = request.data  # a body that is not JSON is a 400 here (core.api.parsers)
    _NoInput(data=body if body else {}).is_valid(raise_exception=True)
