"""The offline verifier given a keys file saved before a key rotation, and one saved after it."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.db import transaction

from core.models import Role
from ledger import checkpoint
from ledger.keys import key_rotate
from ledger.models import Block, SigningKey
from ledger.services import block_seal, entry_append, signed_note
from ledger.verifier import main
from tests.conftest import api_for, build_market

pytestmark = pytest.mark.django_db


def seal_one() -> Block:
    with transaction.atomic():
        entry_append(kind="DEPOSIT", payload={"account": "A1", "amount": Decimal("1.00")})
    return block_seal().block


def test_a_keys_file_of_before_a_rotation_fails_a_later_checkpoint_naming_its_signer_and_the_remedy(tmp_path, capsys):
    # given a keys file saved before the exchange rotated its key, and one saved after
    regulator = api_for(build_market().user(Role.REGULATOR))
    before_block = seal_one()
    before = tmp_path / "keys-before.json"
    before.write_text(json.dumps(regulator.get("/api/v1/ledger/keys/").json()))
    new = key_rotate()
    rotation = block_seal().block
    after_block = seal_one()
    after = tmp_path / "keys-after.json"
    after.write_text(json.dumps(regulator.get("/api/v1/ledger/keys/").json()))
    notes = {}
    for label, block in (("before", before_block), ("rotation", rotation), ("after", after_block)):
        notes[label] = tmp_path / f"{label}.txt"
        notes[label].write_text(signed_note(block))

    def verify(label: str, keys) -> tuple[int, str]:
        code = main(["checkpoint", str(notes[label]), "--keys-file", str(keys)])
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    # when each checkpoint is checked with each keys file
    # then the old file vouches for the checkpoints up to the rotation block (signed by both keys), not after
    assert verify("before", before)[0] == 0
    assert verify("rotation", before)[0] == 0
    code, said = verify("after", before)
    assert code == 1
    assert said.startswith(f"FAILED: checkpoint of block {after_block.height}: not signed by any trusted key")
    new_hash = checkpoint.note_key_hash(new.name, bytes(new.public_key)).hex()
    assert f"{new.name} (key hash {new_hash})" in said and "get a fresh copy of GET /api/v1/ledger/keys/" in said
    assert said.count("\n") == 1  # one line
    # and the new file vouches for all three, the old key only up to the block that retired it
    assert [verify(label, after)[0] for label in ("before", "rotation", "after")] == [0, 0, 0]
    old = SigningKey.objects.get(status=SigningKey.Status.RETIRED)
    assert old.retired_in_block == rotation.height
