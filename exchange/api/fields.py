"""Strict JSON input fields: money and prices as strings, quantities as integers."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


@extend_schema_field(OpenApiTypes.STR)
class DecimalString(serializers.Field):
    """A decimal that travels as a JSON string. Numbers (floats above all) are refused."""

    default_error_messages = {
        "not_string": 'Send decimals as strings, for example "10.50", not as JSON numbers.',
        "invalid": "Not a decimal number.",
        "places": "At most {places} decimal places.",
        "positive": "Must be greater than zero.",
    }

    def __init__(self, *, places: int = 2, **kwargs) -> None:
        self.places = places
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> Decimal:
        if not isinstance(data, str):
            self.fail("not_string")
        try:
            value = Decimal(data.strip())
        except (InvalidOperation, ValueError):
            self.fail("invalid")
        if not value.is_finite():
            self.fail("invalid")
        if value <= 0:
            self.fail("positive")
        if -value.as_tuple().exponent > self.places:
            self.fail("places", places=self.places)
        return value

    def to_representation(self, value) -> str:
        return str(value)


@extend_schema_field(OpenApiTypes.INT)
class StrictInteger(serializers.Field):
    """A positive JSON integer; strings, floats and booleans are refused."""

    default_error_messages = {
        "invalid": "Must be a whole number (a JSON integer).",
        "positive": "Must be greater than zero.",
    }

    def to_internal_value(self, data) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        if data <= 0:
            self.fail("positive")
        return data

    def to_representation(self, value) -> int:
        return int(value)
