"""Block headers and signed checkpoints. Pure Python + ``cryptography``, no Django.

A block's header is canonical JSON (``ledger.canonical.encode``)::

    {"v": 1, "height", "first_leaf_index", "tree_size", "root" (hex),
     "prev_hash" (hex; 32 zero bytes for genesis), "sealed_at", "signers": [key ids]}

and ``block_hash = SHA-256(header)``.

The checkpoint is a signed note, as transparency logs publish them (C2SP
signed-note / tlog-checkpoint)::

    <origin>
    <tree size>
    <base64 root>
    block <height> <base64 block hash>
                                         (blank line)
    — <key name> <base64(key hash[4] ‖ Ed25519 signature[64])>
    — <another key name> …

The signature is over the body (the first four lines with their newlines).
``key hash = SHA-256(name ‖ "\\n" ‖ 0x01 ‖ public key)[:4]``, so a verifier
matches a line to a key it trusts by name and hash and ignores the lines of
keys it does not know (other institutions' co-signatures).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .canonical import encode

ZERO_HASH = bytes(32)
ED25519 = b"\x01"  # the signed-note signature type of Ed25519


def public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public_key: bytes) -> str:
    """A key's stable id: the first 8 bytes of SHA-256 of its raw public key, in hex."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def note_key_hash(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public_key).digest()[:4]


def header_bytes(
    *,
    height: int,
    first_leaf_index: int,
    tree_size: int,
    root: bytes,
    prev_hash: bytes,
    sealed_at: dt.datetime,
    signers: list[str],
) -> bytes:
    return encode(
        {
            "v": 1,
            "height": height,
            "first_leaf_index": first_leaf_index,
            "tree_size": tree_size,
            "root": root.hex(),
            "prev_hash": prev_hash.hex(),
            "sealed_at": sealed_at,
            "signers": sorted(signers),
        }
    )


def block_hash(header: bytes) -> bytes:
    return hashlib.sha256(header).digest()


def body(*, origin: str, tree_size: int, root: bytes, height: int, block_hash: bytes) -> str:
    if not origin or "\n" in origin:
        raise ValueError("the origin is one non-empty line")
    b64 = base64.b64encode
    return f"{origin}\n{tree_size}\n{b64(root).decode()}\nblock {height} {b64(block_hash).decode()}\n"


@dataclass(frozen=True)
class Signer:
    name: str
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> bytes:
        return public_bytes(self.private_key.public_key())


def signature_line(text: str, signer: Signer) -> str:
    sig = signer.private_key.sign(text.encode())
    blob = note_key_hash(signer.name, signer.public_key) + sig
    return f"— {signer.name} {base64.b64encode(blob).decode()}\n"


def sign(text: str, signers: list[Signer]) -> str:
    """The signed note: the body, a blank line, one signature line per signer."""
    return text + "\n" + "".join(signature_line(text, s) for s in signers)


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    tree_size: int
    root: bytes
    height: int
    block_hash: bytes
    text: str  # the signed body
    signatures: tuple[tuple[str, bytes, bytes], ...]  # (name, key hash, signature)


class CheckpointError(ValueError):
    pass


def parse(note: str) -> Checkpoint:
    text, sep, sigs = note.partition("\n\n")
    if not sep:
        raise CheckpointError("a signed note has a blank line between body and signatures")
    text += "\n"
    lines = text.split("\n")[:-1]
    if len(lines) != 4 or not lines[3].startswith("block "):
        raise CheckpointError("the checkpoint body has four lines: origin, size, root, block")
    try:
        size = int(lines[1])
        root = base64.b64decode(lines[2], validate=True)
        _, height_s, bhash_s = lines[3].split(" ")
        height, bhash = int(height_s), base64.b64decode(bhash_s, validate=True)
    except ValueError as exc:
        raise CheckpointError(f"malformed checkpoint body: {exc}") from exc
    if len(root) != 32 or len(bhash) != 32 or size < 0 or height < 0:
        raise CheckpointError("malformed checkpoint body")
    signatures = []
    for line in sigs.split("\n"):
        if not line:
            continue
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "—":
            raise CheckpointError(f"malformed signature line: {line!r}")
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except ValueError as exc:
            raise CheckpointError("malformed signature") from exc
        if len(blob) != 4 + 64:
            raise CheckpointError("an Ed25519 signature line carries 4 + 64 bytes")
        signatures.append((parts[1], blob[:4], blob[4:]))
    return Checkpoint(lines[0], size, root, height, bhash, text, tuple(signatures))


def verified_signers(checkpoint: Checkpoint, trusted: Iterable[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The trusted keys, as (name, raw public key), whose signatures on the checkpoint verify.

    Lines of unknown keys are ignored (other institutions' co-signatures). A
    line that matches a trusted key by name and key hash but does not verify
    raises: it is a forgery, not an unknown co-signer.
    """
    by_hash = {(name, note_key_hash(name, public)): public for name, public in trusted}
    good = []
    for name, khash, sig in checkpoint.signatures:
        public = by_hash.get((name, khash))
        if public is None:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(public).verify(sig, checkpoint.text.encode())
        except InvalidSignature as exc:
            raise CheckpointError(f"the signature of {name} ({key_id(public)}) does not verify") from exc
        good.append((name, public))
    return good
