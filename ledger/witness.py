"""A witness node (C2SP tlog-witness): co-signs a log's checkpoints, and only consistent ones.

The regulator runs this beside its replica (``manage.py ledger_witness serve``), with its own database
and its own key. For each log it knows (by origin line, with the log's verifier keys), it keeps the latest
checkpoint it co-signed. ``add_checkpoint`` answers the protocol's one call::

    POST <prefix>/add-checkpoint

    old <size>
    <consistency proof, one base64 hash a line, at most 63>
    (blank line)
    <the log's signed checkpoint>

and returns one ``cosignature/v1`` note line (C2SP tlog-cosignature, key type 0x04) only when the
checkpoint is signed by a key of that log, ``old`` is the size it last co-signed, and the proof takes that
checkpoint's root to the new one. Checking ``old`` and storing the new checkpoint happen in one
transaction holding the log's row lock, so two requests can never roll the witness back.

A validly signed checkpoint of a size the witness co-signed whose body differs from the one it co-signed is a
split view: another root (another tree), or the same root with another extension line (our ``block`` line binds
the block header, so two bodies of one root are two histories all the same). The witness refuses it (409), keeps
both signed checkpoints as evidence (``SplitViewEvidence``), never replaces the one it holds, and says so in its
log. Only the signature lines may differ (a co-signer added): the same body again is co-signed again, as C2SP
tlog-witness answers ``old`` equal to the size with an identical root.

A consistency proof that does not verify is refused (422) and logged, but kept as no evidence: whoever sent it
need not be the log, and the log's genuine checkpoint with a forged proof proves nothing about it.
"""

from __future__ import annotations

import base64
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, load_pem_private_key
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import checkpoint, merkle
from .models import SplitViewEvidence, WitnessedCheckpoint, WitnessedLog

log = logging.getLogger(__name__)

MAX_PROOF_LINES = 63  # C2SP tlog-witness
STORABLE_SIZE = 2**63 - 1  # the tree sizes' column is a bigint
MAX_BODY = 64 * 1024
SIZE_CONTENT_TYPE = "text/x.tlog.size"


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


class BadRequest(ValueError):
    pass


# --- The witness's key -------------------------------------------------------------------------------


def key_path() -> Path:
    return Path(settings.WITNESS_KEY_FILE)


def key_create() -> bool:
    """Create the witness's private key file (mode 600) if there is none; True if it was created."""
    path = key_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return True


def signer() -> checkpoint.Signer:
    path = key_path()
    try:
        private = load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError as exc:
        raise RuntimeError(f"the witness has no key at {path}: run manage.py ledger_witness init") from exc
    if not isinstance(private, Ed25519PrivateKey):
        raise RuntimeError(f"{path} is not an Ed25519 private key")
    return checkpoint.Signer(settings.WITNESS_NAME, private)


def verifier_key() -> str:
    """The witness's verifier key (type 0x04, cosignature/v1), to give to the logs and to verifiers."""
    me = signer()
    return checkpoint.verifier_key(me.name, me.public_key, checkpoint.COSIGNATURE_V1)


def log_trust(*, origin: str, verifier_keys: list[str]) -> WitnessedLog:
    """Start (or re-key) witnessing a log. Its keys are checked here: a bad key string is refused."""
    if not origin or "\n" in origin:
        raise ValueError("a log's origin is one non-empty line")
    for vkey in verifier_keys:
        name, key_type, _ = checkpoint.parse_verifier_key(vkey)
        if key_type != checkpoint.ED25519:
            raise ValueError(f"{name}: a log signs its checkpoints with an Ed25519 (type 0x01) key")
    with transaction.atomic():
        row, created = WitnessedLog.objects.select_for_update().get_or_create(
            origin=origin, defaults={"verifier_keys": "\n".join(verifier_keys), "updated_at": timezone.now()}
        )
        if not created:
            known = row.verifier_keys.split()
            row.verifier_keys = "\n".join(known + [k for k in verifier_keys if k not in known])
            row.updated_at = timezone.now()  # the row changed (found by a review: a re-key left it as it was)
            row.save(update_fields=["verifier_keys", "updated_at"])
    return row


def log_untrust(*, origin: str, verifier_keys: list[str]) -> WitnessedLog:
    """Stop accepting a log's retired keys: after a key rotation, a key that no longer signs the log's
    checkpoints must not get this witness's co-signature on one, should its private half ever leak. The log
    keeps at least one key; a key this witness does not hold is refused, naming it."""
    with transaction.atomic():
        row = WitnessedLog.objects.select_for_update().filter(origin=origin).first()
        if row is None:
            raise ValueError(f"this witness does not witness {origin!r}")
        known = row.verifier_keys.split()
        unknown = [k for k in verifier_keys if k not in known]
        if unknown:
            raise ValueError(f"not a key this witness trusts for {origin}: {', '.join(unknown)}")
        kept = [k for k in known if k not in verifier_keys]
        if not kept:
            raise ValueError(f"{origin} would keep no key: trust its new key first (`ledger_witness trust`)")
        row.verifier_keys = "\n".join(kept)
        row.updated_at = timezone.now()
        row.save(update_fields=["verifier_keys", "updated_at"])
    return row


# --- add-checkpoint ----------------------------------------------------------------------------------


def parse_request(body: bytes) -> tuple[int, list[bytes], str]:
    """``(old size, proof hashes, checkpoint note)`` of an add-checkpoint body; ``BadRequest`` if malformed."""
    if len(body) > MAX_BODY:
        raise BadRequest(f"the request is larger than {MAX_BODY} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("the request is not UTF-8") from exc
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise BadRequest("the request has an old size line, proof lines, a blank line, then the checkpoint")
    lines = head.split("\n")
    first = lines[0]
    old = checkpoint.uint64(first[4:]) if first.startswith("old ") else None
    if old is None:
        raise BadRequest("the first line is 'old <size>', a decimal without leading zeros, at most 2^64 - 1")
    proof_lines = lines[1:]
    if len(proof_lines) > MAX_PROOF_LINES:
        raise BadRequest(f"at most {MAX_PROOF_LINES} consistency proof lines")
    proof = []
    for line in proof_lines:
        try:
            digest = base64.b64decode(line, validate=True)
        except ValueError as exc:
            raise BadRequest("a consistency proof line is one base64 hash") from exc
        if len(digest) != 32:
            raise BadRequest("a consistency proof line is one base64 SHA-256 hash")
        proof.append(digest)
    return old, proof, note


def _size_answer(size: int) -> Answer:
    return Answer(409, f"{size}\n", SIZE_CONTENT_TYPE)


def _evidence(row: WitnessedLog, held: str, note: str, kind: str, old: int, proof: list[bytes]) -> None:
    if SplitViewEvidence.objects.filter(origin=row.origin, kind=kind, held=held, offered=note).exists():
        return  # the same pair again (a retry): one record is the evidence
    SplitViewEvidence.objects.create(
        origin=row.origin,
        kind=kind,
        held=held,
        offered=note,
        old_size=old,
        proof="".join(base64.b64encode(h).decode() + "\n" for h in proof),
        recorded_at=timezone.now(),
    )
    log.error("split view: %s of log %s, evidence kept (old size %s)", kind, row.origin, old)


def add_checkpoint(body: bytes, *, now: float | None = None) -> Answer:
    """Answer one add-checkpoint request. Never raises for a client's mistake: the status says it."""
    try:
        old, proof, note = parse_request(body)
        cp = checkpoint.parse(note)
    except (BadRequest, checkpoint.CheckpointError) as exc:
        return Answer(400, f"{exc}\n")
    if old > cp.tree_size:
        return Answer(400, "the old size is larger than the checkpoint's size\n")
    if cp.tree_size > STORABLE_SIZE:
        # A C2SP size may reach 2^64 - 1; this witness keeps sizes in PostgreSQL's bigint (found by a review: 2^63
        # passed the parser and the insert failed, a 500).
        return Answer(400, f"this witness keeps tree sizes up to {STORABLE_SIZE}\n")
    me = signer()
    with transaction.atomic():
        row = WitnessedLog.objects.select_for_update().filter(origin=cp.origin).first()
        if row is None:
            return Answer(404, "this witness does not know that log's origin\n")
        try:
            trusted = [checkpoint.parse_verifier_key(v) for v in row.verifier_keys.split()]
            signed_by = checkpoint.verified_signers(cp, [(name, public) for name, _, public in trusted])
        except checkpoint.CheckpointError as exc:
            return Answer(403, f"{exc}\n")
        if not signed_by:
            return Answer(403, "the checkpoint carries no signature of a key of that log\n")

        # A second body for a size this witness co-signed is evidence, whatever old size came with it. The whole
        # body, not the root alone (found by an outside tester: the same root with another ``block`` line was
        # co-signed, and replaced the checkpoint held): a checkpoint's every line is what the log signed.
        seen = WitnessedCheckpoint.objects.filter(origin=cp.origin, tree_size=cp.tree_size).first()
        if seen is not None and checkpoint.parse(seen.checkpoint).text != cp.text:
            same_root = bytes(seen.root) == cp.root
            kind = SplitViewEvidence.Kind.SAME_ROOT if same_root else SplitViewEvidence.Kind.SAME_SIZE
            _evidence(row, seen.checkpoint, note, kind, old, proof)
            return _size_answer(row.tree_size)
        if old != row.tree_size:
            return _size_answer(row.tree_size)
        if old == 0:
            if proof:
                return Answer(422, "the consistency proof from size 0 is empty\n")
        elif old == cp.tree_size:
            if proof:
                return Answer(422, "the consistency proof between equal sizes is empty\n")
        else:
            try:
                merkle.verify_consistency(old, cp.tree_size, bytes(row.root), cp.root, proof)
            except ValueError:
                # Not evidence: anyone may send the log's genuine checkpoint with a proof of their own making
                # (found by a probe, which had the witness record a split view between two consistent
                # checkpoints). Only two signed roots of one size prove a fork; a log that forked at another
                # size can send no proof that verifies, and stays uncosigned.
                log.warning(
                    "add-checkpoint of log %s: the consistency proof from %s to %s does not verify",
                    cp.origin,
                    old,
                    cp.tree_size,
                )
                return Answer(422, "the consistency proof does not verify\n")

        at = timezone.now()
        if seen is None:
            WitnessedCheckpoint.objects.create(
                origin=cp.origin, tree_size=cp.tree_size, root=cp.root, checkpoint=note, cosigned_at=at
            )
            row.tree_size, row.root, row.checkpoint, row.updated_at = cp.tree_size, cp.root, note, at
            row.save(update_fields=["tree_size", "root", "checkpoint", "updated_at"])
        else:
            # The body it holds, again (``old`` is its size, so this is its latest): co-signed again, and the note
            # it holds stays the one it first co-signed, whatever signature lines came this time.
            row.updated_at = at
            row.save(update_fields=["updated_at"])
        line = checkpoint.cosignature_line(cp.text, me, int(now if now is not None else time.time()))
    return Answer(200, line)
