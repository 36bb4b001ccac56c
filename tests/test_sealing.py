"""Sealing waiting entries into signed blocks (PostgreSQL)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.db import transaction

from ledger import checkpoint, merkle
from ledger.models import Block, Entry, Leaf, PendingEntry, SigningKey
from ledger.services import block_seal, entry_append, signed_note


def deposit(n: int) -> list[Entry]:
    with transaction.atomic():
        return [entry_append(kind="DEPOSIT", payload={"account": f"A{i}", "amount": Decimal("1.00")}) for i in range(n)]


def test_seal_builds_the_genesis_block_then_continues_the_tree(
    db, settings, tmp_path, django_capture_on_commit_callbacks
):
    # given three waiting entries
    first = deposit(3)
    assert PendingEntry.objects.count() == 3

    # when the sealer runs
    with django_capture_on_commit_callbacks(execute=True):
        genesis = block_seal().block

    # then the genesis block holds the three entries and the genesis key's entry, signed by that key
    key = SigningKey.objects.get()
    assert (genesis.height, genesis.first_leaf_index, genesis.tree_size) == (0, 0, 4)
    assert bytes(genesis.prev_hash) == bytes(32)
    leaves = list(Leaf.objects.order_by("leaf_index").select_related("entry"))
    assert [lf.entry.kind for lf in leaves] == ["DEPOSIT", "DEPOSIT", "DEPOSIT", "KEY_ROTATION"]
    assert [lf.entry_id for lf in leaves[:3]] == [e.pk for e in first]
    assert bytes(genesis.root) == merkle.root_from_leaf_hashes([bytes(lf.entry.leaf_hash) for lf in leaves])
    assert bytes(genesis.block_hash) == checkpoint.block_hash(bytes(genesis.header))
    parsed = checkpoint.parse(signed_note(genesis))
    assert (parsed.origin, parsed.tree_size, parsed.root, parsed.height) == (
        settings.LEDGER_ORIGIN,
        4,
        bytes(genesis.root),
        0,
    )
    assert checkpoint.verified_signers(parsed, [(key.name, bytes(key.public_key))]) == [
        (key.name, bytes(key.public_key))
    ]
    assert not PendingEntry.objects.exists()
    # the private key is on disk, owner-only, and the checkpoint is logged outside the database
    key_file = tmp_path / "keys" / f"{key.key_id}.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600
    logged = (tmp_path / "checkpoints.log").read_text().splitlines()
    assert [json.loads(line)["checkpoint"] for line in logged] == [signed_note(genesis)]

    # when two more entries wait and the sealer runs again
    deposit(2)
    second = block_seal().block

    # then the next block continues at leaf 4 and links to the genesis block
    assert (second.height, second.first_leaf_index, second.tree_size) == (1, 4, 6)
    assert bytes(second.prev_hash) == bytes(genesis.block_hash)
    all_hashes = [bytes(lf.entry.leaf_hash) for lf in Leaf.objects.order_by("leaf_index").select_related("entry")]
    assert bytes(second.root) == merkle.root_from_leaf_hashes(all_hashes)


def test_nothing_waiting_seals_nothing(db):
    deposit(1)
    block_seal()
    assert block_seal() is None
    assert Block.objects.count() == 1


def test_a_block_holds_at_most_max_leaves_and_says_more_wait(db):
    deposit(1)
    block_seal()  # the genesis block and its key
    deposit(9)
    result = block_seal(max_leaves=4)
    assert (result.leaves, result.more_waiting) == (4, True)
    assert PendingEntry.objects.count() == 5


def _kinds(block: Block) -> list[str]:
    return list(Leaf.objects.filter(block=block).order_by("leaf_index").values_list("entry__kind", flat=True))


def test_a_key_entry_joins_the_full_block_its_key_signs(db):
    from ledger.keys import key_rotate
    from ledger.verification import Report, verify_chain

    # given more waiting entries than a block holds, on a new ledger
    deposit(9)

    # when the first block is sealed, then it holds its genesis key's entry beside the oldest entries
    genesis = block_seal(max_leaves=4)
    assert (genesis.leaves, genesis.more_waiting) == (5, True)
    assert _kinds(genesis.block) == ["DEPOSIT"] * 4 + ["KEY_ROTATION"]

    # and when a rotation waits behind a full block's worth of entries, the rotation block seals it too
    deposit(6)
    key_rotate()
    rotation = block_seal(max_leaves=4)
    assert _kinds(rotation.block) == ["DEPOSIT"] * 4 + ["KEY_ROTATION"]
    assert rotation.block.signatures.count() == 2

    # and the rest seals in order, and the whole chain verifies
    while block_seal(max_leaves=4) is not None:
        pass
    assert not PendingEntry.objects.exists()
    report = Report()
    verify_chain(report)
    assert report.ok, [str(p) for p in report.problems]
    assert Leaf.objects.count() == Entry.objects.count() == 9 + 1 + 6 + 1


def test_key_rotation_block_is_signed_by_both_keys_then_the_old_key_stops(db):
    from ledger.keys import key_rotate

    deposit(1)
    block_seal()
    old = SigningKey.objects.get()

    new = key_rotate()
    rotation = block_seal().block
    deposit(1)
    after = block_seal().block

    signed_by = lambda b: sorted(b.signatures.values_list("key_id", flat=True))  # noqa: E731
    assert signed_by(rotation) == sorted([old.key_id, new.key_id])
    assert signed_by(after) == [new.key_id]
    old.refresh_from_db()
    assert (old.status, old.retired_in_block) == (SigningKey.Status.RETIRED, rotation.height)


def test_a_co_signer_signs_too_and_verifiers_ignore_keys_they_do_not_trust(db):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ledger.keys import cosigner_register
    from ledger.services import block_cosign
    from ledger.verification import Report, verify_chain

    # given a sealed block and a depository's key registered as co-signer
    deposit(1)
    csd_private = Ed25519PrivateKey.generate()
    csd = cosigner_register(name="csd.example", public_key=checkpoint.public_bytes(csd_private.public_key()))
    block = block_seal().block

    # when the depository co-signs the checkpoint
    block_cosign(height=block.height, key_id=csd.key_id, signature=csd_private.sign(block.checkpoint.encode()))

    # then the note carries both signatures; each verifier counts the keys it trusts and ignores the rest
    parsed = checkpoint.parse(signed_note(block))
    node = SigningKey.objects.get(local=True)
    only_node = [(node.name, bytes(node.public_key))]
    assert len(parsed.signatures) == 2
    assert checkpoint.verified_signers(parsed, only_node) == only_node
    assert len(checkpoint.verified_signers(parsed, [*only_node, ("csd.example", bytes(csd.public_key))])) == 2
    report = Report()
    verify_chain(report)
    assert report.ok and report.signatures == 2  # the co-signer is introduced on the ledger too, and verifies
    # and a forged co-signature is refused
    with pytest.raises(ValueError):
        block_cosign(height=block.height, key_id=csd.key_id, signature=bytes(64))


def test_rotate_key_command_seals_the_rotation(db, capsys):
    from django.core.management import call_command

    deposit(1)
    block_seal()
    call_command("ledger_rotate_key")
    assert "rotation sealed in block 1" in capsys.readouterr().out
    assert SigningKey.objects.filter(status=SigningKey.Status.RETIRED).count() == 1


def test_a_retired_key_cannot_sign_a_later_block(db, settings, tmp_path, django_capture_on_commit_callbacks):
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from ledger.keys import key_rotate
    from ledger.models import BlockSignature
    from ledger.verification import Report, verify_chain

    # given a node key whose private file someone copied before the key was rotated out
    deposit(1)
    block_seal()
    old = SigningKey.objects.get()
    old_file = tmp_path / "keys" / f"{old.key_id}.pem"
    stolen = load_pem_private_key(old_file.read_bytes(), password=None)
    key_rotate()
    with django_capture_on_commit_callbacks(execute=True):
        rotation = block_seal().block
    assert not old_file.exists()  # the node dropped the retired key's file
    deposit(1)
    after = block_seal().block

    # when the retired key's signature is added to a block sealed after its retirement
    BlockSignature.objects.create(block=after, key=old, signature=stolen.sign(after.checkpoint.encode()))

    # then verification names that block and that key; the rotation block, signed by both, stays valid
    report = Report()
    verify_chain(report)
    assert [(p.block, p.message) for p in report.problems] == [
        (after.height, f"signed by key {old.key_id}, which is not valid at this height")
    ]
    assert rotation.height < after.height


def test_the_node_key_is_owner_only_and_never_logged(
    db, settings, tmp_path, caplog, django_capture_on_commit_callbacks
):
    import base64
    import logging

    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    from ledger.keys import key_rotate

    caplog.set_level(logging.DEBUG)
    deposit(1)
    block_seal()
    key_rotate()
    with django_capture_on_commit_callbacks(execute=True):
        block_seal()

    key_dir = tmp_path / "keys"
    assert key_dir.stat().st_mode & 0o777 == 0o700
    files = list(key_dir.iterdir())
    assert len(files) == 1 and files[0].stat().st_mode & 0o777 == 0o600
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    private = load_pem_private_key(files[0].read_bytes(), password=None)
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    secrets = [files[0].read_text().splitlines()[1], base64.b64encode(raw).decode(), raw.hex()]
    assert not any(s in caplog.text for s in secrets)
    # and no setting holds key material, only where the files live
    from django.conf import settings as django_settings

    names = [n for n in dir(django_settings) if n.isupper()]
    assert not any(s in str(getattr(django_settings, n)) for n in names for s in secrets)


def test_a_key_from_the_environment_signs_and_is_never_written_to_disk(db, settings, tmp_path, monkeypatch):
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    monkeypatch.setenv("LEDGER_SIGNING_KEY", base64.b64encode(seed).decode())

    deposit(1)
    block = block_seal().block

    key = SigningKey.objects.get()
    assert bytes(key.public_key) == checkpoint.public_bytes(private.public_key())
    assert list(block.signatures.values_list("key_id", flat=True)) == [key.key_id]
    assert not (tmp_path / "keys").exists() or not any((tmp_path / "keys").iterdir())
