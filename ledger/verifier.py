#!/usr/bin/env python3
"""Offline verifier of ledger proofs. Needs only Python 3.11+ and ``cryptography``, and is one file: it imports
nothing of the exchange, so it runs copied alone (``ledger/verifier.py`` in the exchange's source).

    python ledger/verifier.py inclusion trade-17-proof.json --keys-file keys.json
    python ledger/verifier.py consistency consistency.json --key otc-exchange.local=BASE64PUBKEY
    python ledger/verifier.py checkpoint checkpoint.txt --keys-file keys.json
    python ledger/verifier.py disclosure disclosure-proof.json prospectus.pdf --keys-file keys.json
    python ledger/verifier.py evidence bundle.json --keys-file keys.json

``evidence`` checks an evidence bundle of the audit trail (``GET /api/v1/audit/evidence/``): the one signed
checkpoint it carries; every entry in it hashes to its leaf, is what its listed kind and time say, and is in
that checkpoint's tree; and each audit record that names an entry has it in the bundle and agrees with it
(the action writes that kind of entry; the record's object, outcome, time and user are the entry's; its
details the entry's values). Entries still waiting for the
sealer and records that name no entry are listed, not verified: what the checkpoint does not sign (the
records, the bundle's completeness) an offline check cannot prove.

``disclosure`` checks the inclusion proof of a DISCLOSURE entry (which must carry the entry's bytes),
then that the file's SHA-256 is the one that entry records.

Trusted keys come from ``--key NAME=BASE64`` or ``--key <verifier key string>``
or ``--keys-file`` (a saved copy of ``GET /api/v1/ledger/keys/``, obtained
separately from the proof). Keys in the proof file itself are never trusted.

A policy that trusts no single party adds witnesses: every checkpoint a
command checks must also carry valid co-signatures of at least
``--min-witnesses`` (default: all) of the ``--witness`` keys, given as
verifier key strings ``name+hash+base64(type ‖ key)``: type 0x04 for C2SP
``cosignature/v1`` witnesses, 0x01 for plain Ed25519 co-signers.
``--require none`` drops the exchange's signature from the policy (the
witnesses alone vouch for the checkpoint)::

    python ledger/verifier.py inclusion proof.json --keys-file keys.json \
        --require exchange --witness regulator.example/witness+1a2b3c4d+BASE64 --min-witnesses 1

Signature lines of keys the policy does not name are ignored, of any type.
Exit status 0 when the proof holds, 1 when it does not (including a checkpoint
the required witnesses have not co-signed, and a file it cannot read: missing,
not UTF-8, not JSON, or not of the shape the check reads; each one line
``FAILED: …``, never a traceback), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

# --- Signed notes and Merkle proofs ---------------------------------------------------------------------
#
# Defined here, once, for the exchange and its auditors: ledger/checkpoint.py (signed notes, verifier keys,
# co-signatures) and ledger/merkle.py (RFC 9162 proof checking) import them from this file, so that it runs
# alone (an auditor is handed it, not the exchange's source tree). Two are named with a merkle_ prefix here,
# beside this file's own verify_inclusion and verify_consistency. tests/test_verifier_standalone.py checks that
# the exchange's names are these objects and runs the file alone, from a folder of its own.

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
# What a verifier key starts with (a key name may hold "=": C2SP refuses only spaces, "+" and controls); a NAME=BASE64
# whose base64 happens to look so is told apart by ``load_trusted``, which reads it so when it is no verifier key.
_VKEY_PREFIX = re.compile(r"[^+\s]+\+[0-9a-fA-F]{8}\+")


def key_id(public_key: bytes) -> str:
    """A key's stable id: the first 8 bytes of SHA-256 of its raw public key, in hex."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def valid_key_name(name: str) -> bool:
    """C2SP signed-note: a key name is non-empty, without Unicode spaces or plus signs (nor, as nowhere in a note,
    an ASCII control character). Nothing else is forbidden: a format or private-use character, DEL or a C1 control
    is part of a valid name (Go's note reads them), so another key's line under such a name is ignored, not a
    malformed note. The names the exchange gives its own keys are held to more (``ledger.keys``)."""
    return bool(name) and "+" not in name and not any(c.isspace() or c < " " for c in name)


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
    if not note.endswith("\n"):
        # C2SP signed-note: every signature line ends with a newline (Go's note.Open refuses a note without)
        raise CheckpointError("a signed note ends with a newline after its last signature line")
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


HASH_SIZE = 32


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class ProofError(ValueError):
    """A proof that does not verify, or is malformed."""


def _check_hashes(items: Sequence[bytes], what: str) -> None:
    for h in items:
        if not isinstance(h, bytes | bytearray) or len(h) != HASH_SIZE:
            raise ProofError(f"{what} must be 32-byte hashes")


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    _check_hashes([leaf, *proof], "leaf and proof")
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    return r


def merkle_verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Raise ``ProofError`` unless ``leaf`` is at ``index`` in the tree of ``size`` with ``root``."""
    if root_from_inclusion_proof(index, size, leaf, proof) != root:
        raise ProofError("inclusion proof does not lead to the root")


def merkle_verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise ``ProofError`` unless the tree of ``new_size`` extends the tree of ``old_size``."""
    _check_hashes([old_root, new_root, *proof], "roots and proof")
    if not 0 <= old_size <= new_size:
        raise ProofError("need 0 ≤ old size ≤ new size")
    if old_size == new_size:
        if proof:
            raise ProofError("proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError("same size, different roots")
        return
    if old_size == 0:
        raise ProofError("no consistency proof exists from the empty tree")
    if not proof:
        raise ProofError("consistency proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != old_root:
        raise ProofError("consistency proof does not lead to the old root")
    if sr != new_root:
        raise ProofError("consistency proof does not lead to the new root")


# --- The checks ----------------------------------------------------------------------------------------


class VerificationFailed(Exception):
    pass


# A trusted key: (name, raw public key, last block height it may sign, or None while active).
Trusted = list[tuple[str, bytes, int | None]]


@dataclass(frozen=True)
class Policy:
    """Who must have signed a checkpoint: the exchange (a trusted key) and/or enough witnesses."""

    trusted: Trusted = field(default_factory=list)
    witnesses: tuple[tuple[str, bytes, bytes], ...] = ()  # (name, type byte, public key)
    min_witnesses: int = 0
    require_exchange: bool = True


def _as_policy(trusted: Trusted | Policy) -> Policy:
    return trusted if isinstance(trusted, Policy) else Policy(trusted=list(trusted))


def _as_verifier_key(item: str) -> tuple[str, bytes, bytes] | None:
    """``item`` read as a verifier key, or None when it is a NAME=BASE64 (whose base64 may even look like one)."""
    if not looks_like_verifier_key(item):
        return None
    try:
        return parse_verifier_key(item)
    except CheckpointError as exc:
        if "=" in item:
            return None  # NAME=BASE64, its base64 holding "+<8 hex digits>+"
        raise SystemExit(str(exc)) from exc


def load_trusted(keys: list[str], keys_file: str | None, *, required: bool = True) -> Trusted:
    trusted: Trusted = []
    for item in keys:
        if (vkey := _as_verifier_key(item)) is not None:
            name, key_type, public = vkey
            if key_type != ED25519:
                raise SystemExit(f"{name}: a cosignature/v1 key is a witness; give it with --witness")
            trusted.append((name, public, None))
            continue
        name, sep, b64 = item.partition("=")
        if not sep:
            raise SystemExit(f"--key wants NAME=BASE64 or a verifier key name+hash+base64, got {item!r}")
        try:
            public = base64.b64decode(b64, validate=True)
        except ValueError as exc:
            raise SystemExit(f"--key {name}: the key is not base64") from exc
        trusted.append((name, public, None))
    if keys_file:
        trusted.extend(_keys_file(keys_file))
    if not trusted and required:
        raise SystemExit("no trusted key: give --key NAME=BASE64 or --keys-file")
    return trusted


def _keys_file(path: str) -> Trusted:
    """The keys of a saved copy of ``GET /api/v1/ledger/keys/``; ``VerificationFailed`` when it is not one."""
    try:
        keys = json.loads(_text(path))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise VerificationFailed(f"{path}: not JSON ({exc}); damaged?") from exc
    if not isinstance(keys, list):
        raise VerificationFailed(f"{path}: not a list of keys (a saved copy of GET /api/v1/ledger/keys/)")
    trusted: Trusted = []
    for n, key in enumerate(keys, 1):
        try:
            name, public, until = (
                key["name"],
                base64.b64decode(key["public_key"], validate=True),
                key.get("retired_in_block"),
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise VerificationFailed(f"{path}: key {n} is not a name and a base64 public key") from exc
        if not isinstance(name, str) or len(public) != 32 or not (until is None or type(until) is int):
            raise VerificationFailed(f"{path}: key {n} is not a name, a 32-byte public key and a block height")
        trusted.append((name, public, until))
    return trusted


def load_policy(
    keys: list[str], keys_file: str | None, witnesses: list[str], min_witnesses: int | None, require: str
) -> Policy:
    require_exchange = require == "exchange"
    parsed: list[tuple[str, bytes, bytes]] = []
    for vkey in witnesses:
        try:
            witness = parse_verifier_key(vkey)
        except CheckpointError as exc:
            raise SystemExit(f"--witness: {exc}") from exc
        if witness not in parsed:
            parsed.append(witness)
    needed = len(parsed) if min_witnesses is None else min_witnesses
    if not 0 <= needed <= len(parsed):
        raise SystemExit(f"--min-witnesses {needed}: give between 0 and the {len(parsed)} --witness keys")
    if not require_exchange and needed == 0:
        raise SystemExit("--require none trusts nobody unless --witness keys and --min-witnesses >= 1 are given")
    trusted = load_trusted(keys, keys_file, required=require_exchange)
    exchange_keys = {public for _, public, _ in trusted}
    if any(public in exchange_keys for _, _, public in parsed):
        raise SystemExit("--witness: a witness must not be one of the exchange's keys (it would vouch for itself)")
    return Policy(trusted, tuple(parsed), needed, require_exchange)


def _witnesses(cp: Checkpoint, policy: Policy) -> list[str]:
    """The policy's witnesses whose co-signatures on the checkpoint verify, as "name (time)"; raises if too few."""
    cosig = [(n, p) for n, t, p in policy.witnesses if t == COSIGNATURE_V1]
    plain = [(n, p) for n, t, p in policy.witnesses if t == ED25519]
    good = {(n, COSIGNATURE_V1, p): f"{n} (co-signed at {_utc(ts)})" for n, p, ts in verified_cosigners(cp, cosig)}
    good.update({(n, ED25519, p): n for n, p in verified_signers(cp, plain)})
    if len(good) < policy.min_witnesses:
        missing = [verifier_key(n, p, t) for n, t, p in policy.witnesses if (n, t, p) not in good]
        raise VerificationFailed(
            f"checkpoint {cp.origin} size {cp.tree_size}: NOT CO-SIGNED by the required witnesses: "
            f"{len(good)} of the {policy.min_witnesses} required co-signatures; "
            f"no valid co-signature from {', '.join(missing)}"
        )
    return list(good.values())


def _utc(timestamp: int) -> str:
    """A cosignature's time (seconds since the Unix epoch, as signed) as people read it, with the number signed."""
    try:
        moment = datetime.fromtimestamp(timestamp, tz=UTC)
    except (OverflowError, OSError, ValueError):  # a 64-bit time past the calendar's end: only the number
        return str(timestamp)
    return f"{moment:%Y-%m-%dT%H:%M:%SZ} = {timestamp}"


def _checkpoint(note: str, trusted: Trusted | Policy) -> Checkpoint:
    policy = _as_policy(trusted)
    try:
        cp = parse(note)
        signers = verified_signers(cp, [(name, public) for name, public, _ in policy.trusted])
        _witnesses(cp, policy)
    except CheckpointError as exc:
        raise VerificationFailed(f"checkpoint: {exc}") from exc
    if policy.require_exchange:
        last_height = {(name, public): until for name, public, until in policy.trusted}

        def valid_at(signer: tuple[str, bytes]) -> bool:
            until = last_height[signer]
            return until is None or (cp.height is not None and cp.height <= until)

        if not any(valid_at(s) for s in signers):
            raise VerificationFailed(_unsigned(cp, signers, last_height))
    return cp


def _unsigned(cp: Checkpoint, signers: list[tuple[str, bytes]], last_height: dict) -> str:
    """Why no trusted key vouches for ``cp``, naming what signed it: a keys file saved before a key rotation
    does not hold the key that signs after it, and the reader is told where the fresh one is."""
    at = f" of block {cp.height}" if cp.height is not None else ""
    if signers:
        retired = ", ".join(f"{name} (last valid in block {last_height[(name, public)]})" for name, public in signers)
        return f"checkpoint{at}: not signed by any trusted key valid at its height: signed by {retired}"
    lines = ", ".join(f"{name} (key hash {kh.hex()})" for name, kh, _ in cp.signatures) or "none"
    return (
        f"checkpoint{at}: not signed by any trusted key valid at its height; its signature lines: {lines}. If the"
        " exchange rotated its key after your keys file was saved, get a fresh copy of GET /api/v1/ledger/keys/"
        " (not from this proof) and check again"
    )


def _cosigned(cp: Checkpoint, trusted: Trusted | Policy) -> str:
    """ "; co-signed by …" for a policy with witnesses (already checked by ``_checkpoint``), else ""."""
    policy = _as_policy(trusted)
    if not policy.witnesses:
        return ""
    names = _witnesses(cp, policy)
    return f"; co-signed by {len(names)} of {len(policy.witnesses)} witnesses ({', '.join(names) or 'none'})"


def verify_checkpoint(note: str, trusted: Trusted | Policy) -> str:
    policy = _as_policy(trusted)
    cp = _checkpoint(note, policy)
    block = f" block {cp.height}" if cp.height is not None else ""
    line = f"checkpoint {cp.origin} size {cp.tree_size}{block}: signature OK"
    if not policy.require_exchange:
        line = f"checkpoint {cp.origin} size {cp.tree_size}{block}: exchange signature not required"
    return line + _cosigned(cp, policy)


def verify_inclusion(bundle: dict, trusted: Trusted | Policy) -> str:
    _parts(bundle, INCLUSION_PARTS, "the inclusion proof")
    cp = _checkpoint(bundle["checkpoint"], trusted)
    index, size = bundle["leaf_index"], bundle["tree_size"]
    if cp.tree_size != size:
        raise VerificationFailed(f"the proof is for tree size {size}, the checkpoint has {cp.tree_size}")
    leaf = bytes.fromhex(bundle["leaf_hash"])
    described = ""
    if "entry" in bundle:
        data = base64.b64decode(bundle["entry"])
        if leaf_hash(data) != leaf:
            raise VerificationFailed("the entry's bytes do not hash to the leaf hash")
        entry = json.loads(data)
        described = f" ({entry.get('kind')} {json.dumps(entry.get('payload'), ensure_ascii=False, sort_keys=True)})"
    try:
        merkle_verify_inclusion(index, size, leaf, [bytes.fromhex(h) for h in bundle["proof"]], cp.root)
    except ProofError as exc:
        raise VerificationFailed(f"inclusion: {exc}") from exc
    return (
        f"leaf {index} is in the signed tree of size {size} (block {cp.height}){described}: OK{_cosigned(cp, trusted)}"
    )


def verify_disclosure(bundle: dict, trusted: Trusted | Policy, file: Path) -> str:
    """The DISCLOSURE entry is in the signed tree, and ``file`` is byte for byte the document it records."""
    if "entry" not in bundle:
        raise VerificationFailed("the proof carries no entry bytes; fetch it signed in, from the document's proof_url")
    included = verify_inclusion(bundle, trusted)
    entry = json.loads(base64.b64decode(bundle["entry"]))
    if entry.get("kind") != "DISCLOSURE":
        raise VerificationFailed(f"the entry is a {entry.get('kind')} entry, not a DISCLOSURE entry")
    payload = entry.get("payload") or {}
    digest = hashlib.sha256()
    with file.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    actual, recorded = digest.hexdigest(), str(payload.get("sha256"))
    if actual != recorded:
        raise VerificationFailed(
            f"the file {file.name} does not match the disclosed document: its SHA-256 is {actual}, "
            f"the DISCLOSURE entry at leaf {bundle['leaf_index']} records {recorded}"
        )
    return (
        f"{included}\nthe file {file.name} is the document {payload.get('title')!r} of {payload.get('security')} "
        f"(SHA-256 {actual}): OK"
    )


# The payload field naming who did what an audit record says its user did: the first of these the entry has.
ACTOR_FIELDS = ("approved_by", "revealed_by", "by")
# What each audited action that names an entry writes: the entry's kind, and the payload field its record's
# object (``target``) must equal ("trade": the target is "trade N" or a bare N, the field the number N;
# "instruction" the same with "instruction N"). Tests
# keep this equal to the exchange's actions both ways; a record of any other action that names an entry is
# refused, as an entry it cannot be checked against.
ACTION_ENTRIES: dict[str, tuple[str, str | None, str]] = {
    "cash_deposit": ("DEPOSIT", "account", "code"),
    "cash_withdraw": ("WITHDRAWAL", "account", "code"),
    "settlement_hold": ("SETTLEMENT_HOLD", "trade_id", "trade"),
    "settlement_release": ("SETTLEMENT_RELEASE", "trade_id", "trade"),
    "settlement_refuse": ("SETTLEMENT_FAILED", "trade_id", "trade"),
    "identity_reveal": ("IDENTITY_REVEAL", None, "code"),  # its object is a user name; the account is a detail
    "freeze_approve": ("FREEZE", "account", "code"),
    "freeze_release": ("UNFREEZE", "account", "code"),
    "freeze_expire": ("UNFREEZE", "account", "code"),
    "forced_transfer_approve": ("FORCED_TRANSFER", "sender", "code"),
    "correction_approve": ("CORRECTION", "trade_id", "trade"),
    "security_halt": ("HALT", "security", "code"),
    "security_resume": ("RESUME", "security", "code"),
    "market_halt": ("HALT", None, "code"),
    "market_resume": ("RESUME", None, "code"),
    "security_list": ("LISTING", "security", "code"),
    "security_change": ("SECURITY_CHANGE", "security", "code"),
    "security_delist": ("DELISTING", "security", "code"),
    "securities_issue": ("ISSUE", "security", "code"),
    "disclosure_publish": ("DISCLOSURE", "security", "code"),
    "settlement_instruction_create": ("SETTLEMENT_INSTRUCTION", "instruction", "instruction"),
    "settlement_instruction_end": ("SETTLEMENT_INSTRUCTION_END", "instruction", "instruction"),
}
# A record is written in the transaction that writes its entry: its time is the entry's, give or take this.
RECORD_SKEW = timedelta(seconds=60)
# Details that name the object a record is about: when a record has one, the entry it names must hold it too.
OBJECT_KEYS = ("freeze", "transfer", "correction")


def _same(a: object, b: object) -> bool:
    """Two scalar values of a record and an entry agree: equal, or the same decimal written two ways."""
    if a == b or str(a) == str(b):
        return True
    try:
        return Decimal(str(a)) == Decimal(str(b))
    except (InvalidOperation, ValueError):
        return False


def _entry_item(item: dict, where: str) -> dict:
    """An entry of the bundle, checked against its own bytes: the leaf hash, and the unsigned ``kind`` and
    ``recorded_at`` beside them equal to what the bytes say. Returns the decoded entry."""
    data = base64.b64decode(item["canonical"], validate=True)
    if "leaf_hash" in item and bytes.fromhex(item["leaf_hash"]) != leaf_hash(data):
        raise VerificationFailed(f"{where}: the entry's bytes do not hash to the leaf hash")
    entry = json.loads(data)
    if not isinstance(entry, dict) or not isinstance(entry.get("payload"), dict):
        raise VerificationFailed(f"{where}: the entry's bytes are not an entry")
    if "kind" in item and item["kind"] != entry.get("kind"):
        raise VerificationFailed(f"{where}: the bundle says {item['kind']}, the entry's bytes say {entry.get('kind')}")
    if "recorded_at" in item:
        try:
            listed, signed = datetime.fromisoformat(item["recorded_at"]), datetime.fromisoformat(entry["recorded_at"])
        except (KeyError, TypeError, ValueError) as exc:
            raise VerificationFailed(f"{where}: a time that is not ISO 8601") from exc
        if listed != signed:
            raise VerificationFailed(f"{where}: the bundle's time {listed} is not the entry's {signed}")
    return entry


def _record_backed(record: dict, entry: dict) -> bool:
    """An audit record that names an entry agrees with it: its user is the entry's actor, and each of its
    details that the entry also holds has the entry's value (the entry is signed, the record is not). Returns
    whether the entry names an actor to check the record's user against: an entry that names none (a deposit, an
    issue without a proposal, a refusal of settlement) backs what was done, not who did it (found by outside
    testers: a record's user, role and address rewritten passed as "backed")."""
    payload = entry["payload"]
    rid, action = record.get("id"), record.get("action")
    if action not in ACTION_ENTRIES:
        raise VerificationFailed(f"audit record {rid}: a {action!r} record names an entry, which no such action writes")
    kind, field, reading = ACTION_ENTRIES[action]
    if entry.get("kind") != kind:
        raise VerificationFailed(f"audit record {rid}: a {action} writes {kind}, not {entry.get('kind')}")
    if record.get("outcome") != "ok":
        raise VerificationFailed(f"audit record {rid}: it names the entry its action wrote, but says it failed")
    if field is not None:
        target = str(record.get("target") or "")
        wanted: object = target
        if reading in ("trade", "instruction"):
            number = target.removeprefix(f"{reading} ")
            wanted = int(number) if number.isascii() and number.isdigit() else None
        if wanted is None or not _same(wanted, payload.get(field)):
            raise VerificationFailed(
                f"audit record {rid}: its object is {target!r}, the entry's {field} is {payload.get(field)!r}"
            )
    try:
        at, recorded = datetime.fromisoformat(record["at"]), datetime.fromisoformat(entry["recorded_at"])
    except (KeyError, TypeError, ValueError) as exc:
        raise VerificationFailed(f"audit record {rid}: a time that is not ISO 8601") from exc
    if not recorded - RECORD_SKEW <= at <= recorded + RECORD_SKEW:
        raise VerificationFailed(f"audit record {rid}: recorded at {at}, its entry at {recorded}")
    detail = record.get("detail") if isinstance(record.get("detail"), dict) else {}
    for key in OBJECT_KEYS:
        if key in detail and key not in payload:
            raise VerificationFailed(f"audit record {rid}: its {key} {detail[key]!r} is not in the entry it names")
    actor_checked = False
    for name in ACTOR_FIELDS:
        if payload.get(name) is not None:
            if payload[name] != record.get("user"):
                raise VerificationFailed(
                    f"audit record {rid}: its user is {record.get('user')!r}, the entry's {name} is {payload[name]!r}"
                )
            actor_checked = True
            break
    for key, value in detail.items():
        signed = payload.get(key)
        if key == "entry" or key not in payload or isinstance(value, dict | list) or isinstance(signed, dict | list):
            continue
        if not _same(value, signed):
            raise VerificationFailed(f"audit record {rid}: its {key} is {value!r}, the entry's is {signed!r}")
    return actor_checked


# A bundle's index, size or id: a JSON integer, never its text ("5"), a fraction (5.0, 5.7), a boolean (true is
# not leaf 1) or below 0; a bundle that spells a number another way is not the one the server sent.
WHOLE = (int, "a whole number (a JSON integer, 0 or more)")
# What each kind of bundle must carry, and as what: without any of it it is refused, not half verified (found
# by outside testers: a bundle whose checkpoint was null, its entries and records emptied, "verified").
INCLUSION_PARTS: dict[str, tuple[type, str]] = {
    "checkpoint": (str, "a signed note"),
    "leaf_index": WHOLE,
    "tree_size": WHOLE,
    "leaf_hash": (str, "hex text"),
    "proof": (list, "a list"),
}
CONSISTENCY_PARTS: dict[str, tuple[type, str]] = {
    "from_checkpoint": (str, "a signed note"),
    "to_checkpoint": (str, "a signed note"),
    "from": WHOLE,
    "to": WHOLE,
    "proof": (list, "a list"),
}
EVIDENCE_PARTS: dict[str, tuple[type, str]] = {
    "checkpoint": (str, "a signed note"),
    "tree_size": WHOLE,
    "entries": (list, "a list"),
    "waiting": (list, "a list"),
    "audit": (list, "a list"),
}
# What each of its entries must carry (``leaf_hash`` may be left out of a sealed entry: its proof checks its
# bytes; a waiting entry has no proof, so its leaf hash is all there is to check).
ENTRY_PARTS: dict[str, tuple[type, str]] = {
    "canonical": (str, "base64 text"),
    "leaf_index": WHOLE,
    "proof": (list, "a list"),
}
WAITING_PARTS: dict[str, tuple[type, str]] = {
    "entry_id": WHOLE,
    "canonical": (str, "base64 text"),
    "leaf_hash": (str, "hex text"),
}


def _parts(item: object, parts: dict[str, tuple[type, str]], where: str) -> None:
    """``item`` is a JSON object carrying each of ``parts`` (not null), of its type; raises naming the first not."""
    if not isinstance(item, dict):
        raise VerificationFailed(f"{where} is not a JSON object")
    for name, (kind, described) in parts.items():
        if item.get(name) is None:
            raise VerificationFailed(f"{where} has no {name!r}: refused, as nothing can be verified without it")
        value = item[name]
        if not isinstance(value, kind) or (kind is int and (isinstance(value, bool) or value < 0)):
            raise VerificationFailed(f"{where}: its {name!r} is not {described}: {json.dumps(value)[:40]}")


def _evidence_parts(bundle: object) -> None:
    if not isinstance(bundle, dict) or bundle.get("type") != "evidence":
        raise VerificationFailed("not an evidence bundle")
    _parts(bundle, EVIDENCE_PARTS, "the evidence bundle")
    for n, item in enumerate(bundle["entries"]):
        _parts(item, ENTRY_PARTS, f"entry {n + 1} of 'entries'")
        if "entry_id" in item:  # optional for a sealed entry, a whole number where given
            _parts(item, {"entry_id": WHOLE}, f"entry {n + 1} of 'entries'")
    for n, item in enumerate(bundle["waiting"]):
        _parts(item, WAITING_PARTS, f"entry {n + 1} of 'waiting'")
    for n, record in enumerate(bundle["audit"]):
        _parts(record, {}, f"audit record {n + 1}")


def verify_evidence(bundle: dict, trusted: Trusted | Policy) -> str:
    """An evidence bundle: every part present (``EVIDENCE_PARTS``: a bundle without a signed checkpoint proves
    nothing and is refused), every sealed entry in the signed tree of its one checkpoint (which is always
    checked), every entry's listed kind and time its bytes', no entry twice, every waiting entry hashing to
    its leaf hash, and every audit record that names an entry backed by it: the entry is in the bundle, and
    the record's user and details agree with what the entry signs. Records that name no entry, and entries
    still waiting for the sealer, are listed as not verified."""
    _evidence_parts(bundle)
    lines = []
    entries, waiting, records = bundle["entries"], bundle["waiting"], bundle["audit"]
    cp = _checkpoint(bundle["checkpoint"], trusted)
    size = bundle["tree_size"]
    if cp.tree_size != size:
        raise VerificationFailed(f"the bundle is for tree size {size}, the checkpoint has {cp.tree_size}")
    lines.append(f"checkpoint {cp.origin} size {size} block {cp.height}: signature OK{_cosigned(cp, trusted)}")
    by_id: dict[int, dict] = {}
    leaves: set[int] = set()
    for item in entries:
        index = item["leaf_index"]
        if index in leaves:
            raise VerificationFailed(f"leaf {index} is in the bundle twice")
        leaves.add(index)
        entry = _entry_item(item, f"leaf {index}")
        try:
            leaf = leaf_hash(base64.b64decode(item["canonical"], validate=True))
            merkle_verify_inclusion(index, size, leaf, [bytes.fromhex(h) for h in item["proof"]], cp.root)
        except ProofError as exc:
            raise VerificationFailed(f"leaf {index}: inclusion: {exc}") from exc
        if "entry_id" in item:
            by_id[item["entry_id"]] = entry
        payload = json.dumps(entry.get("payload"), ensure_ascii=False, sort_keys=True)
        lines.append(f"leaf {index} {entry.get('kind')} {payload}: OK")
    waiting_ids: set[int] = set()
    for item in waiting:
        entry_id = item["entry_id"]
        _entry_item(item, f"entry {entry_id} (waiting)")
        waiting_ids.add(entry_id)
        lines.append(f"entry {entry_id} {item.get('kind')}: not sealed yet, no proof (not verified)")
    ids = [item["entry_id"] for item in [*entries, *waiting] if "entry_id" in item]
    if len(ids) != len(set(ids)):
        raise VerificationFailed("an entry id is in the bundle twice")
    backed = unvouched = 0
    for record in records:
        detail = record.get("detail") if isinstance(record.get("detail"), dict) else {}
        named = detail.get("entry")
        if record.get("entry_id") != (named if isinstance(named, int) else None):
            raise VerificationFailed(f"audit record {record.get('id')}: its entry_id is not the entry its detail names")
        if not isinstance(named, int):
            continue
        if named in waiting_ids:
            continue
        if named not in by_id:
            raise VerificationFailed(f"audit record {record.get('id')} names entry {named}, which the bundle lacks")
        if not _record_backed(record, by_id[named]):
            lines.append(
                f"audit record {record.get('id')} ({record.get('action')}): backed by entry {named}, which does "
                f"not name who acted: its user {record.get('user')!r}, role and address are the exchange's word only"
            )
            unvouched += 1
        backed += 1
    lines.append(
        f"{len(entries)} entries verified against one signed checkpoint; {len(waiting)} waiting; "
        f"{len(records)} audit records (unsigned), {backed} of them backed by the entry they name, "
        f"{backed - unvouched} of those down to who acted"
    )
    return "\n".join(lines)


def verify_consistency(bundle: dict, trusted: Trusted | Policy) -> str:
    _parts(bundle, CONSISTENCY_PARTS, "the consistency proof")
    old = _checkpoint(bundle["from_checkpoint"], trusted)
    new = _checkpoint(bundle["to_checkpoint"], trusted)
    if (old.tree_size, new.tree_size) != (bundle["from"], bundle["to"]):
        raise VerificationFailed("the checkpoints' sizes do not match the proof's")
    try:
        merkle_verify_consistency(
            old.tree_size, new.tree_size, old.root, new.root, [bytes.fromhex(h) for h in bundle["proof"]]
        )
    except ProofError as exc:
        raise VerificationFailed(f"consistency: {exc}") from exc
    return f"the tree of size {new.tree_size} extends the tree of size {old.tree_size}: OK{_cosigned(new, trusted)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["inclusion", "consistency", "checkpoint", "disclosure", "evidence"])
    parser.add_argument("file", help="the proof JSON (or the signed checkpoint text)")
    parser.add_argument("document", nargs="?", help="disclosure: the document's file to check")
    parser.add_argument("--key", action="append", default=[], help="a trusted key, NAME=BASE64 (repeatable)")
    parser.add_argument("--keys-file", help="a saved copy of GET /api/v1/ledger/keys/")
    parser.add_argument(
        "--require",
        choices=["exchange", "none"],
        default="exchange",
        help="exchange (default): a trusted key's signature is required; none: the witnesses alone",
    )
    parser.add_argument(
        "--witness", action="append", default=[], help="a witness's verifier key name+hash+base64 (repeatable)"
    )
    parser.add_argument(
        "--min-witnesses", type=int, help="how many of the --witness keys must have co-signed (default: all)"
    )
    args = parser.parse_args(argv)
    if (args.what == "disclosure") != (args.document is not None):
        parser.error("give the document's file after the proof for 'disclosure', and only then")
    try:
        trusted = load_policy(args.key, args.keys_file, args.witness, args.min_witnesses, args.require)
        if args.what == "checkpoint":
            print(verify_checkpoint(_text(args.file), trusted))
        elif args.what == "disclosure":
            print(verify_disclosure(_object(args.file), trusted, Path(args.document)))
        else:
            verify = {"inclusion": verify_inclusion, "evidence": verify_evidence}.get(args.what, verify_consistency)
            print(verify(_object(args.file), trusted))
    except VerificationFailed as exc:
        return _failed(str(exc))
    except KeyError as exc:
        return _failed(f"{args.file}: a part the {args.what} check needs is missing: {exc}")
    except Exception as exc:
        # Any input the checks above did not foresee (a number where a list was, a hash that is not hex) is not
        # verified either: one line and exit 1, never a traceback an auditor could read as a crash of ours.
        return _failed(f"{args.file}: the {args.what} check cannot read it ({type(exc).__name__}: {exc})")
    return 0


def _failed(reason: str) -> int:
    print("FAILED: " + " ".join(reason.split()), file=sys.stderr)  # one line, whatever the reason holds
    return 1


def _text(path: str) -> str:
    """A file as UTF-8 text; ``VerificationFailed`` naming it when it is missing, unreadable or not UTF-8."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise VerificationFailed(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason}); damaged?") from exc
    except OSError as exc:
        raise VerificationFailed(f"{path}: cannot be read ({exc.strerror or exc})") from exc


def _object(path: str) -> dict:
    """A file as one JSON object; ``VerificationFailed`` naming it when it is not."""
    text = _text(path)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise VerificationFailed(f"{path}: not JSON ({exc}); damaged?") from exc
    except RecursionError as exc:
        raise VerificationFailed(f"{path}: JSON nested too deeply") from exc
    if not isinstance(value, dict):
        raise VerificationFailed(f"{path}: not a JSON object")
    return value


if __name__ == "__main__":
    sys.exit(main())
