"""The order path's answer, from one output serializer per class instead of a new one per order.

DRF builds a serializer's fields anew for each instance: a deep copy of every declared field, each re-running
the field's ``__init__``; on ``POST orders/`` shaping the answer cost 520 µs that way (``make bench``;
docs/benchmarks.md). ``represent(serializer_class, instance)`` is ``serializer_class(instance).data`` from one
instance of the output serializer per class, kept for the process: ``to_representation`` only reads it.

Input serializers keep DRF's copies: a field's validators hold their error messages, formatted once in the
language of the first request that fails them, so sharing them across requests would answer in that language.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

_outputs: dict[type[serializers.Serializer], serializers.Serializer] = {}


def represent(serializer_class: type[serializers.Serializer], instance: Any) -> dict[str, Any]:
    serializer = _outputs.get(serializer_class)
    if serializer is None:
        serializer = _outputs[serializer_class] = serializer_class()
    return serializer.to_representation(instance)
