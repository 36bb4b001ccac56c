"""Key rotations that meet a running seal, and a rotation command run again after it was cut short."""

from __future__ import annotations

import json
import threading
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from ledger import keys
from ledger.models import Block, Entry, EntryKind, PendingEntry, SigningKey
from ledger.services import block_seal, entry_append
from ledger.verification import Report, verify_chain


def deposit(n: int = 1) -> None:
    with transaction.atomic():
        for i in range(n):
            entry_append(kind="DEPOSIT", payload={"account": f"A{i}", "amount": Decimal("1.00")})


def signed_by(block: Block) -> list[str]:
    return sorted(block.signatures.values_list("key_id", flat=True))


def rotation_heights() -> list[int]:
    """The heights of the blocks that seal a node key rotation, one per rotation entry."""
    heights = []
    for entry in Entry.objects.filter(kind=EntryKind.KEY_ROTATION).select_related("leaf").order_by("id"):
        if json.loads(bytes(entry.canonical))["payload"]["action"] == "rotate":
            heights.append(entry.leaf.block_id if hasattr(entry, "leaf") else None)
    return heights


@pytest.mark.django_db(transaction=True)
def test_a_rotation_committed_while_a_seal_runs_waits_for_it_and_its_block_is_signed_by_both_keys(monkeypatch):
    # given a sealed ledger and a seal that has picked its signing keys
    deposit()
    block_seal()
    old = SigningKey.objects.get()
    deposit()
    rotated: list[SigningKey] = []

    def rotate_in_another_session() -> None:
        try:
            rotated.append(keys.key_rotate())
        finally:
            connection.close()

    other = threading.Thread(target=rotate_in_another_session)
    real_signers = keys.signers_for_seal

    def signers_then_a_rotation_commits():
        signing = real_signers()
        # when an operator's rotation commits between the seal's choice of keys and its read of the waiting entries
        other.start()
        other.join(timeout=2)
        return signing

    monkeypatch.setattr(keys, "signers_for_seal", signers_then_a_rotation_commits)
    during = block_seal().block
    monkeypatch.setattr(keys, "signers_for_seal", real_signers)
    other.join(timeout=10)
    assert rotated, "the rotation never committed"
    new = rotated[0]
    rotation = block_seal().block
    deposit()
    after = block_seal().block

    # then the block the seal was making holds no rotation and only the old key signs it; the rotation's own
    # block is signed by both keys and retires the old one; later blocks carry the new key alone
    assert signed_by(during) == [old.key_id]
    assert rotation_heights() == [rotation.height]
    assert signed_by(rotation) == sorted([old.key_id, new.key_id])
    assert signed_by(after) == [new.key_id]
    old.refresh_from_db()
    assert (old.status, old.retired_in_block) == (SigningKey.Status.RETIRED, rotation.height)
    report = Report()
    verify_chain(report)
    assert report.ok, report.problems


@pytest.mark.parametrize("from_env", [False, True])
def test_the_rotate_command_run_again_after_it_was_cut_short_seals_that_rotation_and_makes_no_second(
    db, capsys, monkeypatch, from_env
):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    # given a ledger sealed by a key, and a rotation whose command was killed after writing it, before its seal
    genesis, fresh = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    if from_env:
        monkeypatch.setenv("LEDGER_SIGNING_KEY", keys.seed_of(genesis))
    deposit()
    block_seal()
    old = SigningKey.objects.get()
    if from_env:
        monkeypatch.setenv("LEDGER_SIGNING_KEY", f"{keys.seed_of(genesis)},{keys.seed_of(fresh)}")
    new = keys.key_rotate(from_env=from_env)
    blocks_before = Block.objects.count()

    # when the operator runs the command again, as it was
    call_command("ledger_rotate_key", *(["--from-env"] if from_env else []))

    # then it seals the written rotation, says so, and makes no other key nor rotation entry
    out = capsys.readouterr().out
    assert f"a rotation to key {new.key_id} named {new.name} was already written" in out
    assert f"rotation sealed in block {blocks_before}" in out
    assert sorted(SigningKey.objects.values_list("key_id", flat=True)) == sorted([old.key_id, new.key_id])
    assert Entry.objects.filter(kind=EntryKind.KEY_ROTATION).count() == 2  # the genesis key's and this rotation's
    rotation = Block.objects.get(height=blocks_before)
    assert rotation_heights() == [rotation.height]
    assert signed_by(rotation) == sorted([old.key_id, new.key_id])
    assert not PendingEntry.objects.exists()
    report = Report()
    verify_chain(report)
    assert report.ok, report.problems

    # and a third run, with nothing waiting, is an ordinary new rotation from the new key
    if not from_env:
        call_command("ledger_rotate_key")
        assert SigningKey.objects.get(status=SigningKey.Status.ACTIVE).key_id not in (old.key_id, new.key_id)
        assert len(rotation_heights()) == 2


def test_a_rotation_is_refused_while_another_waits_for_its_block(db):
    # given a written rotation not sealed yet
    deposit()
    block_seal()
    new = keys.key_rotate()
    entries = Entry.objects.count()

    # when a second rotation is asked for
    with pytest.raises(keys.RotationPending) as refused:
        keys.key_rotate()

    # then it is refused, naming the waiting one, and nothing is written
    assert new.key_id in str(refused.value)
    assert refused.value.key == new
    assert Entry.objects.count() == entries
    assert SigningKey.objects.filter(local=True).count() == 2


def test_rotating_from_the_environment_to_a_retired_key_is_refused_naming_it(db, monkeypatch):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    # given a ledger whose genesis key (from the environment) was rotated out for a second one
    first, second = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    monkeypatch.setenv("LEDGER_SIGNING_KEY", keys.seed_of(first))
    deposit()
    block_seal()
    monkeypatch.setenv("LEDGER_SIGNING_KEY", f"{keys.seed_of(first)},{keys.seed_of(second)}")
    keys.key_rotate(from_env=True)
    rotation = block_seal().block
    retired = SigningKey.objects.get(status=SigningKey.Status.RETIRED)
    entries, blocks = Entry.objects.count(), Block.objects.count()

    # when an operator rotates again "to" the retired key's seed, given back after the current one
    monkeypatch.setenv("LEDGER_SIGNING_KEY", f"{keys.seed_of(second)},{keys.seed_of(first)}")
    with pytest.raises(keys.KeyError_) as refused:
        keys.key_rotate(from_env=True)

    # then it is refused, naming the retired key and its block, and nothing is written
    assert f"{retired.key_id} (retired in block {rotation.height})" in str(refused.value)
    assert "(it holds 0)" in str(refused.value)
    assert (Entry.objects.count(), Block.objects.count()) == (entries, blocks)
    assert SigningKey.objects.filter(status=SigningKey.Status.ACTIVE).count() == 1
    assert not SigningKey.objects.filter(status=SigningKey.Status.RETIRING).exists()


def test_the_rotate_command_names_the_rotations_block_when_another_seal_took_it(db, capsys, monkeypatch):
    from ledger.management.commands import ledger_rotate_key

    # given a sealed ledger, and a seal on another host that takes the rotation as soon as it is written
    deposit()
    block_seal()
    old = SigningKey.objects.get()
    blocks: list[int] = []

    def another_seal_first_then_this_one():
        blocks.append(block_seal().block.height)  # the other host's seal: the rotation's block
        deposit()  # an entry written meanwhile
        return block_seal()  # this command's own seal: a block of that entry alone

    monkeypatch.setattr(ledger_rotate_key, "block_seal", another_seal_first_then_this_one)

    # when the operator rotates
    call_command("ledger_rotate_key")

    # then the command names the block that sealed the rotation, not the one its own seal made after it
    out = capsys.readouterr().out
    old.refresh_from_db()
    assert old.retired_in_block == blocks[0] == rotation_heights()[0]
    assert f"rotation sealed in block {blocks[0]}" in out
    assert Block.objects.count() == blocks[0] + 2  # the genesis block is 0: the command's seal made one more
