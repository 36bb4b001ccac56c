"""Serializers for the order path, where DRF's per-use copies of the fields cost more than the checks.

DRF builds a serializer's fields anew for each instance: a deep copy of every declared field, each re-running
the field's ``__init__``. On ``POST orders/`` that was most of validating the request and of shaping the
answer (``make bench``; docs/benchmarks.md). These two keep DRF's fields, checks, messages and schema:

* ``FlatSerializer``: an input serializer of plain fields, copied shallowly per use. A plain field keeps no
  state between uses beyond what ``bind`` sets on the copy (its name, parent, label, source); its
  validators and choices, set up once when it was declared, are only read.
* ``represent(serializer_class, instance)``: ``serializer_class(instance).data`` from one instance of the
  output serializer per class, kept for the process: ``to_representation`` only reads the serializer.
"""

from __future__ import annotations

import copy
from typing import Any

from rest_framework import serializers


class FlatSerializer(serializers.Serializer):
    def get_fields(self) -> dict[str, serializers.Field]:
        fields = {}
        for name, field in self._declared_fields.items():
            if isinstance(field, serializers.BaseSerializer):  # a nested serializer has state of its own
                raise TypeError(f"{type(self).__name__}.{name}: a FlatSerializer has plain fields only")
            fields[name] = copy.copy(field)
        return fields


_outputs: dict[type[serializers.Serializer], serializers.Serializer] = {}


def represent(serializer_class: type[serializers.Serializer], instance: Any) -> dict[str, Any]:
    serializer = _outputs.get(serializer_class)
    if serializer is None:
        serializer = _outputs[serializer_class] = serializer_class()
    return serializer.to_representation(instance)
