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
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .canonical import encode

ZERO_HASH = bytes(32)
ED25519 = b"\x01"  # the signed-note signature type of Ed25519
COSIGNATURE_V1 = b"\x04"  # C2SP tlog-cosignature: timestamped Ed25519 witness co-signatures
MAX_SIGNATURES = 64  # C2SP signed-note: verifiers must accept at least 16
DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")  # a C2SP decimal: a tree size or an old size, no leading zero
UINT64_MAX = 2**64 - 1


def uint64(text: str) -> int | None:
    """A C2SP decimal (a tree size, an old size, a height): ASCII digits without a leading zero, at most
    2^64 - 1; ``None`` otherwise. Bounded before it is converted: a body of thousands of digits is malformed,
    not an overflow."""
    return int(text) if DECIMAL.fullmatch(text) and int(text) <= UINT64_MAX else None


_BLOCK_LINE = re.compile(r"block (0|[1-9][0-9]{0,19}) ([A-Za-z0-9+/]{43}=)")
_VKEY_PREFIX = re.compile(r"[^+=\s]+\+[0-9a-fA-F]{8}\+")  # tells a verifier key from NAME=BASE64


def public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public_key: bytes) -> str:
    """A key's stable id: the first 8 bytes of SHA-256 of its raw public key, in hex."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def valid_key_name(name: str) -> bool:
    """C2SP signed-note: a key name is non-empty, without Unicode spaces or plus signs."""
    return bool(name) and "+" not in name and not any(c.isspace() for c in name) and name.isprintable()


def note_key_hash(name: str, public_key: bytes, key_type: bytes = ED25519) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + key_type + public_key).digest()[:4]


def verifier_key(name: str, public_key: bytes, key_type: bytes = ED25519) -> str:
    """The key as a verifier key string, ``<name>+<hash hex>+<base64(type ‖ public key)>`` (Go's ``note``)."""
    if not valid_key_name(name):
        raise ValueError(f"{name!r} is not a valid key name (non-empty, no spaces, no '+')")
    khash = note_key_hash(name, public_key, key_type).hex()
    return f"{name}+{khash}+{base64.b64encode(key_type + public_key).decode()}"


def looks_like_verifier_key(text: str) -> bool:
    return bool(_VKEY_PREFIX.match(text))


def parse_verifier_key(vkey: str) -> tuple[str, bytes, bytes]:
    """``(name, type byte, public key)`` of a verifier key string; raises ``CheckpointError`` if malformed.

    Types 0x01 (Ed25519 note signatures) and 0x04 (cosignature/v1) carry a 32-byte Ed25519 key.
    """
    name, _, rest = vkey.strip().partition("+")
    hash_hex, sep, key_b64 = rest.partition("+")
    if not sep or not valid_key_name(name) or not re.fullmatch(r"[0-9a-fA-F]{8}", hash_hex):
        raise CheckpointError(f"not a verifier key <name>+<8 hex digits>+<base64>: {vkey!r}")
    try:
        blob = base64.b64decode(key_b64, validate=True)
    except ValueError as exc:
        raise CheckpointError(f"the verifier key's key data is not base64: {vkey!r}") from exc
    if len(blob) < 2:
        raise CheckpointError(f"the verifier key carries no key: {vkey!r}")
    key_type, public = blob[:1], blob[1:]
    if note_key_hash(name, public, key_type) != bytes.fromhex(hash_hex):
        raise CheckpointError(f"the verifier key's hash does not match its name and key: {vkey!r}")
    if key_type not in (ED25519, COSIGNATURE_V1):
        raise CheckpointError(f"unsupported signature type 0x{key_type.hex()} in the verifier key of {name}")
    if len(public) != 32:
        raise CheckpointError(f"an Ed25519 verifier key carries 32 bytes, {name}'s carries {len(public)}")
    return name, key_type, public


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
    height: int | None  # from the ``block`` extension line; None when the checkpoint has none
    block_hash: bytes | None
    text: str  # the signed body
    signatures: tuple[tuple[str, bytes, bytes], ...]  # (name, key hash, signature), of known and unknown keys
    extensions: tuple[str, ...] = ()  # every extension line (ours, ``block …``, included)


class CheckpointError(ValueError):
    pass


def _split_note(note: str) -> tuple[str, list[str]]:
    """The note text and its signature lines (C2SP signed-note)."""
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise CheckpointError("a signed note has no control characters other than newline")
    note = note.rstrip("\n") + "\n"
    cut = note.rfind("\n\n")
    if cut < 0:
        raise CheckpointError("a signed note has a blank line between body and signatures")
    lines = note[cut + 2 :].split("\n")[:-1]
    if not lines:
        raise CheckpointError("a signed note has at least one signature line")
    if len(lines) > MAX_SIGNATURES:
        raise CheckpointError(f"a signed note with more than {MAX_SIGNATURES} signatures is refused")
    return note[: cut + 1], lines


def _signature(line: str) -> tuple[str, bytes, bytes]:
    parts = line.split(" ")
    if len(parts) != 3 or parts[0] != "—" or not valid_key_name(parts[1]):
        raise CheckpointError(f"malformed signature line: {line!r}")
    try:
        blob = base64.b64decode(parts[2], validate=True)
    except ValueError as exc:
        raise CheckpointError(f"malformed signature of {parts[1]}") from exc
    if len(blob) < 5:
        raise CheckpointError(f"a signature line carries a key hash and a signature: {line!r}")
    return parts[1], blob[:4], blob[4:]


def parse(note: str) -> Checkpoint:
    """A C2SP checkpoint: origin, tree size, root and any number of extension lines, then signatures.

    Signature lines of every key are kept, known or not and of any type; which of them count is
    for ``verified_signers`` and ``verified_cosigners`` to decide. Our ``block <height> <hash>``
    extension line gives ``height`` and ``block_hash``.
    """
    text, sig_lines = _split_note(note)
    lines = text.split("\n")[:-1]
    if len(lines) < 3 or not all(lines):
        raise CheckpointError("the checkpoint body has at least three non-empty lines: origin, size, root")
    tree_size = uint64(lines[1])
    if tree_size is None:
        raise CheckpointError(
            "malformed checkpoint body: the tree size is a decimal without leading zeros, at most 2^64 - 1"
        )
    try:
        root = base64.b64decode(lines[2], validate=True)
    except ValueError as exc:
        raise CheckpointError(f"malformed checkpoint body: {exc}") from exc
    if len(root) != 32:
        raise CheckpointError("malformed checkpoint body: the root hash is 32 bytes")
    height = bhash = None
    for ext in lines[3:]:
        if (match := _BLOCK_LINE.fullmatch(ext)) and uint64(match.group(1)) is not None:
            height, bhash = int(match.group(1)), base64.b64decode(match.group(2))
            break
    signatures = tuple(_signature(line) for line in sig_lines)
    return Checkpoint(lines[0], tree_size, root, height, bhash, text, signatures, tuple(lines[3:]))


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
        if len(sig) != 64:
            raise CheckpointError(f"the signature of {name} ({key_id(public)}) is not an Ed25519 signature")
        try:
            Ed25519PublicKey.from_public_bytes(public).verify(sig, checkpoint.text.encode())
        except InvalidSignature as exc:
            raise CheckpointError(f"the signature of {name} ({key_id(public)}) does not verify") from exc
        good.append((name, public))
    return good


def cosigned_message(text: str, timestamp: int) -> bytes:
    """What a cosignature/v1 signs: the header line, the time line, then the checkpoint body."""
    return f"cosignature/v1\ntime {timestamp}\n".encode() + text.encode()


def cosignature_line(text: str, signer: Signer, timestamp: int) -> str:
    """A witness's ``cosignature/v1`` line over a checkpoint body (C2SP tlog-cosignature)."""
    if not 0 <= timestamp < 2**63:
        raise ValueError("a cosignature timestamp is between 0 and 2^63 - 1")
    sig = signer.private_key.sign(cosigned_message(text, timestamp))
    blob = note_key_hash(signer.name, signer.public_key, COSIGNATURE_V1) + timestamp.to_bytes(8, "big") + sig
    return f"— {signer.name} {base64.b64encode(blob).decode()}\n"


def verified_cosigners(checkpoint: Checkpoint, witnesses: Iterable[tuple[str, bytes]]) -> list[tuple[str, bytes, int]]:
    """The witnesses, as (name, raw public key), whose cosignature/v1 lines verify, with their timestamps.

    Lines of other keys are ignored. A line that matches a witness by name and key hash but does
    not verify raises: it is a forgery or a damaged co-signature, not an absent one.
    """
    by_hash = {(name, note_key_hash(name, public, COSIGNATURE_V1)): public for name, public in witnesses}
    good = []
    for name, khash, blob in checkpoint.signatures:
        public = by_hash.get((name, khash))
        if public is None:
            continue
        if len(blob) != 8 + 64:
            raise CheckpointError(f"the co-signature of {name} is not a timestamp and an Ed25519 signature")
        timestamp = int.from_bytes(blob[:8], "big")
        if timestamp >= 2**63:
            raise CheckpointError(f"the co-signature of {name} has an invalid timestamp")
        try:
            Ed25519PublicKey.from_public_bytes(public).verify(blob[8:], cosigned_message(checkpoint.text, timestamp))
        except InvalidSignature as exc:
            raise CheckpointError(f"the co-signature of {name} ({key_id(public)}) does not verify") from exc
        good.append((name, public, timestamp))
    return good
