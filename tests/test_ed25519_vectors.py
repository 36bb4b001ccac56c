"""Ed25519 as the ledger signs checkpoints, against the public RFC 8032 §7.1 vectors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger import checkpoint

VECTORS = json.loads((Path(__file__).resolve().parent / "vectors" / "ed25519-rfc8032.json").read_text())["vectors"]
CASES = [
    pytest.param(
        bytes.fromhex(v["secret_key_hex"]),
        bytes.fromhex(v["public_key_hex"]),
        bytes.fromhex(v["message_hex"]),
        bytes.fromhex(v["signature_hex"]),
        id=f"rfc8032-{i + 1}",
    )
    for i, v in enumerate(VECTORS)
]


def _flipped(data: bytes, i: int) -> bytes:
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]


@pytest.mark.parametrize(("secret", "public", "message", "signature"), CASES)
def test_signing_gives_exactly_the_vector_signature(secret, public, message, signature):
    # given the vector's secret key, loaded as the node key is
    private = Ed25519PrivateKey.from_private_bytes(secret)

    # when it signs the message
    signed = private.sign(message)

    # then the public key and the signature are the vector's, byte for byte
    assert checkpoint.public_bytes(private.public_key()) == public
    assert signed == signature
    assert len(checkpoint.key_id(public)) > 0


@pytest.mark.parametrize(("secret", "public", "message", "signature"), CASES)
def test_verification_passes_and_fails_for_any_changed_byte(secret, public, message, signature):
    key = Ed25519PublicKey.from_public_bytes(public)
    key.verify(signature, message)  # the vector verifies

    for i in range(len(signature)):
        with pytest.raises(InvalidSignature):
            key.verify(_flipped(signature, i), message)
    for i in range(len(message)):
        with pytest.raises(InvalidSignature):
            key.verify(signature, _flipped(message, i))
    with pytest.raises(InvalidSignature):
        key.verify(signature, message + b"\x00")


@pytest.mark.parametrize(("secret", "public", "message", "signature"), CASES)
def test_a_checkpoint_signed_with_a_vector_key_verifies_only_unchanged(secret, public, message, signature):
    # given a checkpoint signed by the vector's key
    signer = checkpoint.Signer(name="vector.example", private_key=Ed25519PrivateKey.from_private_bytes(secret))
    text = checkpoint.body(origin="vector.example", tree_size=7, root=b"\x11" * 32, height=3, block_hash=b"\x22" * 32)
    note = checkpoint.sign(text, [signer])

    # then the verifier accepts it with the vector's public key, ignores an untrusted key...
    assert checkpoint.verified_signers(checkpoint.parse(note), [("vector.example", public)]) == [
        ("vector.example", public)
    ]
    other = checkpoint.public_bytes(Ed25519PrivateKey.generate().public_key())
    assert checkpoint.verified_signers(checkpoint.parse(note), [("other.example", other)]) == []

    # ...and refuses the same signature over a changed tree size
    forged = note.replace("\n7\n", "\n8\n", 1)
    with pytest.raises(checkpoint.CheckpointError):
        checkpoint.verified_signers(checkpoint.parse(forged), [("vector.example", public)])
