"""Leaf hashes reveal nothing of an entry one may not read (issue: a counter deposit was recovered from its
unsalted leaf hash by brute force in seconds)."""

from __future__ import annotations

import base64
import itertools
import json
from decimal import Decimal

import pytest

from balances.services import cash_deposit, cash_withdraw
from core.models import Broker, Role
from ledger.canonical import entry_bytes, leaf_hash
from ledger.models import Entry, Leaf
from ledger.services import block_seal
from tests.conftest import api_for

BUDGET = 100_000  # hashes the attacker may try: 50 accounts × 2,000 amounts


def brute_force(target: bytes, *, near: int, recorded_at, salt: str | None) -> tuple[str, Decimal] | None:
    """Try every (account, whole-yuan amount) a deposit of the demo's size could have, over the 50 account
    numbers around ``near``; the attacker even knows the kind and the microsecond time. Returns the pair that
    hashes to ``target``, or None."""
    accounts = [f"INV{n:06d}" for n in range(max(1, near - 25), max(1, near - 25) + 50)]
    amounts = [Decimal(n).quantize(Decimal("0.01")) for n in range(1, 2001)]
    for tries, (account, amount) in enumerate(itertools.product(accounts, amounts)):
        assert tries < BUDGET
        payload = {"account": account, "amount": amount, "currency": "CNY", "reference": ""}
        if leaf_hash(entry_bytes(kind="DEPOSIT", recorded_at=recorded_at, payload=payload, salt=salt)) == target:
            return account, amount
    return None


@pytest.fixture
def deposit(market):
    """A counter deposit of 1,234.00 CNY to a client, sealed; and another investor who is not its party."""
    client = market.investor()
    cash_deposit(actor=market.staff, account=client, amount=Decimal("1234.00"))
    block_seal()
    entry = Entry.objects.filter(kind="DEPOSIT").order_by("-id").first()
    return market, client, entry, market.investor()


def test_an_unsalted_leaf_falls_to_brute_force_and_a_salted_one_does_not(deposit):
    _market, client, entry, _other = deposit
    doc = json.loads(bytes(entry.canonical))
    assert doc["v"] == 2 and len(doc["salt"]) == 32

    # given the same deposit in the form before salting, its leaf hash gives the deposit away
    unsalted = leaf_hash(entry_bytes(kind="DEPOSIT", recorded_at=entry.recorded_at, payload=doc["payload"], salt=None))
    assert brute_force(unsalted, near=client.pk, recorded_at=entry.recorded_at, salt=None) == (
        client.code,
        Decimal("1234.00"),
    )

    # when the attacker tries the same candidates against the stored, salted leaf hash, then nothing matches
    assert brute_force(bytes(entry.leaf_hash), near=client.pk, recorded_at=entry.recorded_at, salt=None) is None


def test_a_non_party_sees_only_what_checking_inclusion_needs(deposit):
    market, client, entry, other = deposit
    index = Leaf.objects.get(entry=entry).leaf_index

    # when another investor asks for the entry and its proof
    seen = api_for(other.owner).get(f"/api/v1/ledger/entries/{index}/").json()
    proof = api_for(other.owner).get(f"/api/v1/ledger/entries/{index}/proof/").json()

    # then they get its index, salted leaf hash and block, and the proof without the entry: no kind, time or id
    assert set(seen) == {"leaf_index", "leaf_hash", "block_height"}
    assert seen["leaf_hash"] == bytes(entry.leaf_hash).hex()
    assert "entry" not in proof and proof["leaf_hash"] == seen["leaf_hash"]

    # while a supervisor reads the bytes, salt included, which hash to the same leaf
    auditor = market.user("auditor")
    full = api_for(auditor).get(f"/api/v1/ledger/entries/{index}/").json()
    data = base64.b64decode(full["canonical"])
    assert (
        leaf_hash(data).hex() == seen["leaf_hash"]
        and json.loads(data)["salt"] == json.loads(bytes(entry.canonical))["salt"]
    )
    assert (full["kind"], full["entry_id"]) == ("DEPOSIT", entry.pk)


@pytest.mark.parametrize("reader", ["holder", "broker staff"])
def test_the_holder_and_its_broker_read_the_accounts_own_cash_entries_to_check_its_statement(deposit, reader):
    # given a client's counter deposit and a withdrawal, sealed, each listed on its statement with its leaf
    market, client, entry, other = deposit
    cash_withdraw(actor=market.staff, account=client, amount=Decimal("34.00"))
    block_seal()
    payout = Entry.objects.filter(kind="WITHDRAWAL").order_by("-id").first()
    user = client.owner if reader == "holder" else market.staff

    for cash, kind, amount in ((entry, "DEPOSIT", "1234.00"), (payout, "WITHDRAWAL", "34.00")):
        index = Leaf.objects.get(entry=cash).leaf_index

        # when the holder (or its broker's staff) asks for the entry and its proof
        seen = api_for(user).get(f"/api/v1/ledger/entries/{index}/").json()
        proof = api_for(user).get(f"/api/v1/ledger/entries/{index}/proof/").json()

        # then they read its bytes, which hash to the leaf the proof proves, naming the account and amount
        data = base64.b64decode(seen["canonical"])
        assert leaf_hash(data).hex() == seen["leaf_hash"] == proof["leaf_hash"]
        assert base64.b64decode(proof["entry"]) == data
        assert (seen["kind"], seen["entry_id"]) == (kind, cash.pk)
        assert json.loads(data)["payload"]["account"] == client.code
        assert json.loads(data)["payload"]["amount"] == amount

        # while another investor still gets only the leaf, as before
        assert set(api_for(other.owner).get(f"/api/v1/ledger/entries/{index}/").json()) == {
            "leaf_index",
            "leaf_hash",
            "block_height",
        }


def test_staff_of_another_broker_do_not_read_a_clients_cash_entry(deposit):
    # given a client's deposit and the staff of another broker
    market, _client, entry, _other = deposit
    rival = Broker.objects.create(code=f"R{entry.pk}", name="Rival")
    staff = market.user(Role.BROKER_STAFF, broker=rival)
    index = Leaf.objects.get(entry=entry).leaf_index

    # when they ask for the entry, then they get only what checking inclusion needs
    seen = api_for(staff).get(f"/api/v1/ledger/entries/{index}/").json()
    assert set(seen) == {"leaf_index", "leaf_hash", "block_height"}
