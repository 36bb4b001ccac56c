"""The node's signing key on several worker hosts: whichever host's worker takes a seal signs, so each needs the
key; a host without it refuses to seal and says what it needs; ``ledger_keys --private`` prints what to give the
others, and ``ledger_rotate_key --from-env`` rotates to a key every host was given beforehand."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction

from ledger.keys import KeyError_
from ledger.models import Block, BlockSignature, PendingEntry, SigningKey
from ledger.services import block_seal, entry_append


def deposit(n: int) -> None:
    with transaction.atomic():
        for i in range(n):
            entry_append(kind="DEPOSIT", payload={"account": f"A{i}", "amount": Decimal("1.00")})


def keygen() -> str:
    out = io.StringIO()
    call_command("ledger_keygen", stdout=out)
    return next(line for line in out.getvalue().splitlines() if line.startswith("LEDGER_SIGNING_KEY="))


def host(settings, tmp_path, name: str):
    """Become worker host ``name``: its own data folder, hence its own LEDGER_KEY_DIR."""
    settings.LEDGER_KEY_DIR = tmp_path / name / "keys"
    return settings.LEDGER_KEY_DIR


def files(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_worker_host_without_the_key_refuses_to_seal_and_says_what_it_needs(db, settings, tmp_path, monkeypatch):
    # given host A sealed the genesis block, its key created in A's key folder
    monkeypatch.delenv("LEDGER_SIGNING_KEY", raising=False)
    a_keys = host(settings, tmp_path, "a")
    deposit(1)
    block_seal()
    key = SigningKey.objects.get()
    assert files(a_keys) == [f"{key.key_id}.pem"]

    # when host B's worker takes the next seal
    host(settings, tmp_path, "b")
    deposit(2)
    with pytest.raises(KeyError_) as refused:
        block_seal()

    # then it refuses, naming the key, both ways to give it, and the command that prints it; nothing is sealed
    message = str(refused.value)
    assert f"the node's signing key {key.key_id} is not on this host" in message
    assert "set the same LEDGER_SIGNING_KEY on every worker host" in message
    assert "manage.py ledger_keys --private" in message and f"copy {key.key_id}.pem" in message
    assert (Block.objects.count(), PendingEntry.objects.count()) == (1, 2)
    # and host B has no key of its own (it did not make one)
    assert files(tmp_path / "b" / "keys") == []

    # when host A prints the key for the others, and host B is given it
    host(settings, tmp_path, "a")
    out = io.StringIO()
    call_command("ledger_keys", "--private", stdout=out)
    line = out.getvalue().strip()
    assert line.startswith("LEDGER_SIGNING_KEY=") and "\n" not in line
    host(settings, tmp_path, "b")
    monkeypatch.setenv("LEDGER_SIGNING_KEY", line.split("=", 1)[1])

    # then host B seals, signing with the same key, and writes no key file
    result = block_seal()
    assert result is not None and result.block.height == 1
    assert list(BlockSignature.objects.filter(block=result.block).values_list("key_id", flat=True)) == [key.key_id]
    assert SigningKey.objects.count() == 1 and files(tmp_path / "b" / "keys") == []


def test_private_keys_are_printed_only_by_a_host_that_holds_them(db, settings, tmp_path, monkeypatch):
    monkeypatch.delenv("LEDGER_SIGNING_KEY", raising=False)
    host(settings, tmp_path, "a")
    with pytest.raises(Exception, match="no block has been sealed yet"):
        call_command("ledger_keys", "--private", stdout=io.StringIO())
    deposit(1)
    block_seal()
    host(settings, tmp_path, "b")
    with pytest.raises(Exception, match="is not on this host"):
        call_command("ledger_keys", "--private", stdout=io.StringIO())


def test_a_rotation_to_a_key_every_host_was_given_lets_any_host_seal_after_it(db, settings, tmp_path, monkeypatch):
    # given every host runs with the genesis seed, and then the next one added after it
    first = keygen().split("=", 1)[1]
    monkeypatch.setenv("LEDGER_SIGNING_KEY", first)
    host(settings, tmp_path, "a")
    deposit(1)
    block_seal()
    old = SigningKey.objects.get()
    second = keygen().split("=", 1)[1]
    monkeypatch.setenv("LEDGER_SIGNING_KEY", f"{first},{second}")

    # when host A rotates to the key from the environment
    out = io.StringIO()
    call_command("ledger_rotate_key", "--from-env", stdout=out)

    # then the new key is the second seed's, no key file was written, and host B seals the next block with it
    new = SigningKey.objects.get(status=SigningKey.Status.ACTIVE)
    assert new.key_id != old.key_id and SigningKey.objects.get(pk=old.pk).status == SigningKey.Status.RETIRED
    host(settings, tmp_path, "b")
    deposit(1)
    result = block_seal()
    assert list(BlockSignature.objects.filter(block=result.block).values_list("key_id", flat=True)) == [new.key_id]
    assert files(tmp_path / "a" / "keys") == [] and files(tmp_path / "b" / "keys") == []

    # and rotating again from the environment, with no new seed in it, is refused and changes nothing
    keys_before = list(SigningKey.objects.values_list("key_id", "status"))
    with pytest.raises(Exception, match="exactly one seed the ledger does not know yet"):
        call_command("ledger_rotate_key", "--from-env", stdout=io.StringIO())
    assert list(SigningKey.objects.values_list("key_id", "status")) == keys_before


def test_a_seed_that_is_not_one_is_refused_by_name(db, settings, tmp_path, monkeypatch):
    monkeypatch.setenv("LEDGER_SIGNING_KEY", "not base64!")
    host(settings, tmp_path, "a")
    deposit(1)
    with pytest.raises(KeyError_, match="seed 1 is not the base64 of a 32-byte Ed25519 seed"):
        block_seal()
    assert Block.objects.count() == 0


def test_rotating_to_a_key_file_is_refused_while_the_keys_come_from_the_environment(
    db, settings, tmp_path, monkeypatch
):
    # (found by a review: the new key was a file on the rotating host alone, and every other worker host then
    # refused to seal)
    monkeypatch.setenv("LEDGER_SIGNING_KEY", keygen().split("=", 1)[1])
    a_keys = host(settings, tmp_path, "a")
    deposit(1)
    block_seal()
    before = list(SigningKey.objects.values_list("key_id", "status"))
    # when an operator rotates without --from-env
    with pytest.raises(CommandError) as refused:
        call_command("ledger_rotate_key", stdout=io.StringIO())
    # then it is refused saying how, and nothing changed: no key, no entry, no file
    assert "rotate with --from-env" in str(refused.value) and "on every worker host" in str(refused.value)
    assert list(SigningKey.objects.values_list("key_id", "status")) == before
    assert not PendingEntry.objects.exists() and files(a_keys) == []
    # and another host, given the same seed, still seals
    host(settings, tmp_path, "b")
    deposit(1)
    assert block_seal() is not None


def test_a_host_of_several_makes_no_genesis_key_of_its_own(db, settings, tmp_path, monkeypatch):
    monkeypatch.delenv("LEDGER_SIGNING_KEY", raising=False)
    settings.SEVERAL_HOSTS = True
    a_keys = host(settings, tmp_path, "a")
    deposit(1)
    with pytest.raises(KeyError_) as refused:
        block_seal()
    assert "manage.py ledger_keygen" in str(refused.value)
    assert not SigningKey.objects.exists() and files(a_keys) == [] and not Block.objects.exists()
