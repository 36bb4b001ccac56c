"""Canonical bytes of a ledger entry, and its RFC 6962 leaf hash.

Pure Python, no Django: the offline verifier imports it alone.

The encoding (version 1), in the spirit of RFC 8785:

* JSON, object keys sorted by code point, no insignificant whitespace, UTF-8
  (non-ASCII characters as themselves, not ``\\u`` escapes);
* ``Decimal`` as a string exactly as given (money is quantized before it gets
  here, so ``"10.50"`` stays ``"10.50"``);
* integers as JSON numbers when |n| < 2**53 (exact in every JSON reader), as
  strings beyond that;
* aware datetimes as UTC ISO-8601 with microseconds and ``Z``; dates ISO;
* floats, naive datetimes and unknown types are refused (``TypeError``).

The bytes of an entry are ``encode({"v": 2, "kind": …, "recorded_at": …,
"salt": …, "payload": {…}})``: the leaf commits to its kind and time as well
as the payload. Leaf hash = SHA-256(0x00 ‖ bytes).

The salt (version 2) is 128 random bits as 32 lowercase hex digits, drawn when
the entry is written. Every proof exposes leaf hashes, and without a salt a
small payload (a deposit: an account code and an amount) can be recovered
from its hash by trying every candidate; with one, the hash says nothing to
whoever may not read the bytes (docs/ledger.md, "Privacy"). Entries written
before salting are version 1, ``{"v": 1, "kind", "recorded_at", "payload"}``,
and keep their bytes: the version field tells the two forms apart, and a
verifier hashes the stored bytes whatever their version.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
from decimal import Decimal
from typing import Any

VERSION = 2
SALT_BYTES = 16
_SALT = re.compile(r"[0-9a-f]{32,}")
_MAX_SAFE_INT = 2**53


def _normalize(value: Any) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if -_MAX_SAFE_INT < value < _MAX_SAFE_INT else str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise TypeError(f"non-finite decimal {value!r} cannot be encoded")
        return format(value, "f")
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise TypeError("naive datetimes cannot be encoded; use aware UTC times")
        return value.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"object keys must be strings, not {type(k).__name__}")
            out[k] = _normalize(v)
        return out
    if isinstance(value, list | tuple):
        return [_normalize(v) for v in value]
    raise TypeError(f"{type(value).__name__} cannot be canonically encoded: {value!r}")


def encode(value: Any) -> bytes:
    """Canonical JSON bytes of ``value``."""
    return json.dumps(
        _normalize(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def new_salt() -> str:
    """A fresh entry salt: 128 random bits from the operating system, as hex."""
    return os.urandom(SALT_BYTES).hex()


def entry_bytes(*, kind: str, recorded_at: _dt.datetime, payload: dict, salt: str | None) -> bytes:
    """The canonical bytes of an entry: version 2 with ``salt`` (``new_salt()``); ``salt=None`` gives the
    version 1 form of the entries written before salting, for checking them, never for new entries."""
    if salt is None:
        return encode({"v": 1, "kind": kind, "recorded_at": recorded_at, "payload": payload})
    if not _SALT.fullmatch(salt):
        raise ValueError("an entry salt is at least 128 bits as lowercase hex")
    return encode({"v": VERSION, "kind": kind, "recorded_at": recorded_at, "salt": salt, "payload": payload})


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()
