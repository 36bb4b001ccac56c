"""Block headers, signed checkpoints, verifier keys and co-signatures. Pure Python + ``cryptography``, no Django.

A block's header is canonical JSON (``ledger.canonical.encode``)::

    {"v": 1, "height", "first_leaf_index", "tree_size", "root" (hex),
     "prev_hash" (hex; 32 zero bytes for genesis), "sealed_at", "signers": [key ids]}

and ``block_hash = SHA-256(header)``.

The checkpoint is a signed note, as transparency logs publish them (C2SP
signed-note / tlog-checkpoint)::

    <origin>
    <tree size>
    <base64 root>
    block <height> <base64 block hash>   (an extension line; others may follow)
                                         (blank line)
    — <key name> <base64(key hash[4] ‖ signature)>
    — <another key name> …

The exchange's signature is Ed25519 (signature type 0x01) over the body (every
line before the blank line, with its newline). ``key hash = SHA-256(name ‖
"\n" ‖ type ‖ public key)[:4]``, so a verifier matches a line to a key it
trusts by name and hash and ignores the lines of keys it does not know, of
any type (other institutions' signatures, witnesses' ``cosignature/v1``
lines). A witness's co-signature (C2SP tlog-cosignature, type 0x04) is
``timestamp[8, big-endian] ‖ Ed25519 signature[64]`` over
``"cosignature/v1\ntime <timestamp>\n" ‖ body``.

Keys travel as verifier key strings (``golang.org/x/mod/sumdb/note``):
``<name>+<key hash, 8 hex digits>+<base64(type ‖ public key)>``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .canonical import encode
from .verifier import _BLOCK_LINE as _BLOCK_LINE
from .verifier import _VKEY_PREFIX as _VKEY_PREFIX

# The checks an outside verifier runs are defined once, in the standalone offline verifier (it runs as one
# file, with Python and cryptography alone); the exchange uses the same code.
from .verifier import COSIGNATURE_V1 as COSIGNATURE_V1
from .verifier import DECIMAL as DECIMAL
from .verifier import ED25519 as ED25519
from .verifier import MAX_SIGNATURES as MAX_SIGNATURES
from .verifier import UINT64_MAX as UINT64_MAX
from .verifier import Checkpoint as Checkpoint
from .verifier import CheckpointError as CheckpointError
from .verifier import _signature as _signature
from .verifier import _split_note as _split_note
from .verifier import cosigned_message as cosigned_message
from .verifier import key_id as key_id
from .verifier import looks_like_verifier_key as looks_like_verifier_key
from .verifier import note_key_hash as note_key_hash
from .verifier import parse as parse
from .verifier import parse_verifier_key as parse_verifier_key
from .verifier import uint64 as uint64
from .verifier import valid_key_name as valid_key_name
from .verifier import verified_cosigners as verified_cosigners
from .verifier import verified_signers as verified_signers
from .verifier import verifier_key as verifier_key

ZERO_HASH = bytes(32)


def public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


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


def cosignature_line(text: str, signer: Signer, timestamp: int) -> str:
    """A witness's ``cosignature/v1`` line over a checkpoint body (C2SP tlog-cosignature)."""
    if not 0 <= timestamp < 2**63:
        raise ValueError("a cosignature timestamp is between 0 and 2^63 - 1")
    sig = signer.private_key.sign(cosigned_message(text, timestamp))
    blob = note_key_hash(signer.name, signer.public_key, COSIGNATURE_V1) + timestamp.to_bytes(8, "big") + sig
    return f"— {signer.name} {base64.b64encode(blob).decode()}\n"
