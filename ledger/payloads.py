"""Typed payloads of ledger entries: one frozen dataclass per entry kind, in the ``entries.py`` of the app
that writes the kind, so that every writer and every reader of a kind uses one definition.

``payload()`` builds the dict that ``ledger.canonical`` encodes: field names are the JSON keys and the
values stay as the encoder takes them (``Decimal``, ``int``, ``str``, aware ``datetime``, ``None``, lists),
nested payloads become objects. ``read(payload)`` rebuilds the dataclass from decoded JSON, turning
decimal, large-integer and time strings back into their types by the field annotations. For the payloads
written before they were typed, ``payload()`` gives the same keys and values, so the same bytes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import types
import typing
from decimal import Decimal
from functools import cache
from typing import Any, ClassVar, Self


@dataclasses.dataclass(frozen=True)
class Payload:
    kind: ClassVar[str] = ""

    def payload(self) -> dict[str, Any]:
        return {f.name: _out(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def read(cls, data: dict[str, Any]) -> Self:
        hints = _hints(cls)
        return cls(**{f.name: _in(hints[f.name], data.get(f.name)) for f in dataclasses.fields(cls)})


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _out(value: Any) -> Any:
    if isinstance(value, Payload):
        return value.payload()
    if isinstance(value, list | tuple):
        return [_out(v) for v in value]
    return value


def _in(tp: Any, value: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        return _in(inner, value)
    if origin in (list, tuple):
        (inner, *_) = typing.get_args(tp)
        return tuple(_in(inner, v) for v in value) if origin is tuple else [_in(inner, v) for v in value]
    if value is None:
        return None
    if tp is Decimal:
        return Decimal(value)
    if tp is int:
        return int(value)
    if tp is dt.datetime:
        return dt.datetime.fromisoformat(value)
    if tp is dt.date:
        return dt.date.fromisoformat(value)
    if isinstance(tp, type) and issubclass(tp, Payload):
        return tp.read(value)
    return value
