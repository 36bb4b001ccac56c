#!/usr/bin/env python3
"""Offline verifier of ledger proofs. Needs only Python 3.11+ and ``cryptography``.

    python ledger/verifier.py inclusion trade-17-proof.json --keys-file keys.json
    python ledger/verifier.py consistency consistency.json --key otc-exchange.local=BASE64PUBKEY
    python ledger/verifier.py checkpoint checkpoint.txt --keys-file keys.json
    python ledger/verifier.py disclosure disclosure-proof.json prospectus.pdf --keys-file keys.json
    python ledger/verifier.py evidence bundle.json --keys-file keys.json

``evidence`` checks an evidence bundle of the audit trail (``GET /api/v1/audit/evidence/``): every entry in
it hashes to its leaf and is in the one signed checkpoint the bundle carries; entries still waiting for the
sealer are listed, not verified.

``disclosure`` checks the inclusion proof of a DISCLOSURE entry (which must carry the entry's bytes),
then that the file's SHA-256 is the one that entry records.

Trusted keys come from ``--key NAME=BASE64`` or ``--keys-file`` (a saved copy
of ``GET /api/v1/ledger/keys/``, obtained separately from the proof). Keys in
the proof file itself are never trusted. Exit status 0 when the proof holds, 1
when it does not, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``ledger`` importable without Django
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger import checkpoint, merkle


class VerificationFailed(Exception):
    pass


# A trusted key: (name, raw public key, last block height it may sign, or None while active).
Trusted = list[tuple[str, bytes, int | None]]


def load_trusted(keys: list[str], keys_file: str | None) -> Trusted:
    trusted: Trusted = []
    for item in keys:
        name, sep, b64 = item.partition("=")
        if not sep:
            raise SystemExit(f"--key wants NAME=BASE64, got {item!r}")
        trusted.append((name, base64.b64decode(b64), None))
    if keys_file:
        for key in json.loads(Path(keys_file).read_text()):
            trusted.append((key["name"], base64.b64decode(key["public_key"]), key.get("retired_in_block")))
    if not trusted:
        raise SystemExit("no trusted key: give --key NAME=BASE64 or --keys-file")
    return trusted


def _checkpoint(note: str, trusted: Trusted) -> checkpoint.Checkpoint:
    try:
        cp = checkpoint.parse(note)
        signers = checkpoint.verified_signers(cp, [(name, public) for name, public, _ in trusted])
    except checkpoint.CheckpointError as exc:
        raise VerificationFailed(f"checkpoint: {exc}") from exc
    last_height = {(name, public): until for name, public, until in trusted}
    valid = [s for s in signers if last_height[s] is None or cp.height <= last_height[s]]
    if not valid:
        raise VerificationFailed("checkpoint: not signed by any trusted key valid at its height")
    return cp


def verify_checkpoint(note: str, trusted: Trusted) -> str:
    cp = _checkpoint(note, trusted)
    return f"checkpoint {cp.origin} size {cp.tree_size} block {cp.height}: signature OK"


def verify_inclusion(bundle: dict, trusted: Trusted) -> str:
    cp = _checkpoint(bundle["checkpoint"], trusted)
    index, size = int(bundle["leaf_index"]), int(bundle["tree_size"])
    if cp.tree_size != size:
        raise VerificationFailed(f"the proof is for tree size {size}, the checkpoint has {cp.tree_size}")
    leaf = bytes.fromhex(bundle["leaf_hash"])
    described = ""
    if "entry" in bundle:
        data = base64.b64decode(bundle["entry"])
        if merkle.leaf_hash(data) != leaf:
            raise VerificationFailed("the entry's bytes do not hash to the leaf hash")
        entry = json.loads(data)
        described = f" ({entry.get('kind')} {json.dumps(entry.get('payload'), ensure_ascii=False, sort_keys=True)})"
    try:
        merkle.verify_inclusion(index, size, leaf, [bytes.fromhex(h) for h in bundle["proof"]], cp.root)
    except merkle.ProofError as exc:
        raise VerificationFailed(f"inclusion: {exc}") from exc
    return f"leaf {index} is in the signed tree of size {size} (block {cp.height}){described}: OK"


def verify_disclosure(bundle: dict, trusted: Trusted, file: Path) -> str:
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


def verify_evidence(bundle: dict, trusted: Trusted) -> str:
    """Every entry of an evidence bundle is in the signed tree of its one checkpoint."""
    if bundle.get("type") != "evidence":
        raise VerificationFailed("not an evidence bundle")
    lines = []
    if bundle["entries"]:
        cp = _checkpoint(bundle["checkpoint"], trusted)
        size = int(bundle["tree_size"])
        if cp.tree_size != size:
            raise VerificationFailed(f"the bundle is for tree size {size}, the checkpoint has {cp.tree_size}")
        lines.append(f"checkpoint {cp.origin} size {size} block {cp.height}: signature OK")
        for item in bundle["entries"]:
            index = int(item["leaf_index"])
            data = base64.b64decode(item["canonical"], validate=True)
            leaf = merkle.leaf_hash(data)
            if "leaf_hash" in item and bytes.fromhex(item["leaf_hash"]) != leaf:
                raise VerificationFailed(f"leaf {index}: the entry's bytes do not hash to the leaf hash")
            try:
                merkle.verify_inclusion(index, size, leaf, [bytes.fromhex(h) for h in item["proof"]], cp.root)
            except merkle.ProofError as exc:
                raise VerificationFailed(f"leaf {index}: inclusion: {exc}") from exc
            entry = json.loads(data)
            payload = json.dumps(entry.get("payload"), ensure_ascii=False, sort_keys=True)
            lines.append(f"leaf {index} {entry.get('kind')} {payload}: OK")
    for item in bundle.get("waiting", []):
        lines.append(f"entry {item.get('entry_id')} {item.get('kind')}: not sealed yet, no proof (not verified)")
    lines.append(
        f"{len(bundle['entries'])} entries verified against one signed checkpoint; "
        f"{len(bundle.get('waiting', []))} waiting; {len(bundle.get('audit', []))} audit records (unsigned)"
    )
    return "\n".join(lines)


def verify_consistency(bundle: dict, trusted: Trusted) -> str:
    old = _checkpoint(bundle["from_checkpoint"], trusted)
    new = _checkpoint(bundle["to_checkpoint"], trusted)
    if (old.tree_size, new.tree_size) != (int(bundle["from"]), int(bundle["to"])):
        raise VerificationFailed("the checkpoints' sizes do not match the proof's")
    try:
        merkle.verify_consistency(
            old.tree_size, new.tree_size, old.root, new.root, [bytes.fromhex(h) for h in bundle["proof"]]
        )
    except merkle.ProofError as exc:
        raise VerificationFailed(f"consistency: {exc}") from exc
    return f"the tree of size {new.tree_size} extends the tree of size {old.tree_size}: OK"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["inclusion", "consistency", "checkpoint", "disclosure", "evidence"])
    parser.add_argument("file", help="the proof JSON (or the signed checkpoint text)")
    parser.add_argument("document", nargs="?", help="disclosure: the document's file to check")
    parser.add_argument("--key", action="append", default=[], help="a trusted key, NAME=BASE64 (repeatable)")
    parser.add_argument("--keys-file", help="a saved copy of GET /api/v1/ledger/keys/")
    args = parser.parse_args(argv)
    if (args.what == "disclosure") != (args.document is not None):
        parser.error("give the document's file after the proof for 'disclosure', and only then")
    trusted = load_trusted(args.key, args.keys_file)
    text = Path(args.file).read_text(encoding="utf-8")
    try:
        if args.what == "checkpoint":
            print(verify_checkpoint(text, trusted))
        elif args.what == "disclosure":
            print(verify_disclosure(json.loads(text), trusted, Path(args.document)))
        else:
            bundle = json.loads(text)
            verify = {"inclusion": verify_inclusion, "evidence": verify_evidence}.get(args.what, verify_consistency)
            print(verify(bundle, trusted))
    except (VerificationFailed, KeyError, ValueError, TypeError, OSError) as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
