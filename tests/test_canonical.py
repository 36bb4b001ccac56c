"""The canonical encoding is pinned: changing it would change every leaf hash."""

import datetime as dt
import hashlib
from decimal import Decimal

import pytest

from ledger.canonical import encode, entry_bytes, leaf_hash, new_salt


def test_golden_entry_bytes_and_leaf_hash():
    recorded = dt.datetime(2026, 11, 23, 1, 2, 3, 4, tzinfo=dt.UTC)
    data = entry_bytes(
        kind="TRADE",
        recorded_at=recorded,
        payload={"security": "830001", "price": Decimal("10.50"), "quantity": 300, "buyer": "INV000001", "z": None},
        salt=None,
    )
    assert data == (
        b'{"kind":"TRADE","payload":{"buyer":"INV000001","price":"10.50","quantity":300,"security":"830001",'
        b'"z":null},"recorded_at":"2026-11-23T01:02:03.000004Z","v":1}'
    )
    assert leaf_hash(data).hex() == hashlib.sha256(b"\x00" + data).hexdigest()
    assert leaf_hash(data).hex() == "884293332138be28340e50ceff42b9d6d854a8d4e1734372f104cd61a7378190"


def test_golden_salted_entry_bytes_version_2():
    recorded = dt.datetime(2026, 12, 2, 1, 2, 3, 4, tzinfo=dt.UTC)
    data = entry_bytes(
        kind="DEPOSIT",
        recorded_at=recorded,
        payload={"account": "INV000010", "amount": Decimal("1000.00"), "currency": "CNY", "reference": ""},
        salt="000102030405060708090a0b0c0d0e0f",
    )
    assert data == (
        b'{"kind":"DEPOSIT","payload":{"account":"INV000010","amount":"1000.00","currency":"CNY","reference":""},'
        b'"recorded_at":"2026-12-02T01:02:03.000004Z","salt":"000102030405060708090a0b0c0d0e0f","v":2}'
    )
    assert leaf_hash(data).hex() == hashlib.sha256(b"\x00" + data).hexdigest()


@pytest.mark.parametrize("salt", ["", "00" * 15, "ABCDEF" * 6, "zz" * 16])
def test_a_salt_under_128_bits_or_not_lowercase_hex_is_refused(salt):
    with pytest.raises(ValueError):
        entry_bytes(kind="DEPOSIT", recorded_at=dt.datetime(2026, 12, 2, tzinfo=dt.UTC), payload={}, salt=salt)


def test_each_new_salt_is_128_fresh_bits():
    salts = {new_salt() for _ in range(1000)}
    assert len(salts) == 1000 and all(len(s) == 32 and int(s, 16) >= 0 for s in salts)


def test_keys_sorted_no_whitespace_utf8():
    assert encode({"b": 1, "a": {"d": [1, 2], "c": "华兴"}}) == '{"a":{"c":"华兴","d":[1,2]},"b":1}'.encode()


def test_decimals_keep_their_places_and_large_integers_become_strings():
    assert encode({"m": Decimal("0.10"), "n": 2**53 - 1, "big": 2**53, "neg": -(2**60)}) == (
        b'{"big":"9007199254740992","m":"0.10","n":9007199254740991,"neg":"-1152921504606846976"}'
    )


def test_times_are_utc_with_microseconds():
    shanghai = dt.timezone(dt.timedelta(hours=8))
    assert encode(dt.datetime(2026, 1, 2, 9, 30, tzinfo=shanghai)) == b'"2026-01-02T01:30:00.000000Z"'
    assert encode(dt.date(2026, 1, 2)) == b'"2026-01-02"'


@pytest.mark.parametrize(
    "bad",
    [1.5, Decimal("NaN"), Decimal("Infinity"), dt.datetime(2026, 1, 1), {1: "x"}, object(), {"x": float("inf")}],
)
def test_refuses_what_has_no_canonical_form(bad):
    with pytest.raises(TypeError):
        encode(bad)
