"""The offline verifier (``ledger/verifier.py``) on evidence bundles it must refuse: a bundle missing a part it
needs, and files it cannot read. Found by outside testers: a bundle with a null checkpoint, its entries and
records emptied, passed ("0 entries verified against one signed checkpoint"), and one corrupted byte crashed the
verifier with a traceback.

The bundles are written here from the format in docs/ledger.md, with ``ledger``'s writers (canonical bytes,
Merkle proofs, signed notes); no database.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import canonical, checkpoint, merkle

ROOT = Path(__file__).resolve().parent.parent
ORIGIN = "otc-exchange.test/ledger"
ACCOUNT = "INV000001"
TIME = "2026-12-04T01:02:03.000004Z"


def _entry(n: int) -> bytes:
    payload = {"account": ACCOUNT, "amount": f"{n}0.00", "by": "staff1"}
    body = {"v": 2, "kind": "DEPOSIT", "recorded_at": TIME, "salt": f"{n:032x}", "payload": payload}
    return canonical.encode(body)


@pytest.fixture(scope="module")
def parties() -> dict:
    return {"exchange": Ed25519PrivateKey.generate(), "witness": Ed25519PrivateKey.generate()}


@pytest.fixture
def signed(parties, tmp_path) -> dict:
    """A bundle that verifies: three DEPOSIT entries sealed in a tree of three leaves, one waiting, the audit
    record of the first; its checkpoint signed by the exchange and co-signed by a witness; and the files."""
    exchange = checkpoint.Signer(ORIGIN, parties["exchange"])
    witness = checkpoint.Signer("regulator.test/witness", parties["witness"])
    data = [_entry(n) for n in (1, 2, 3)]
    leaves = [merkle.leaf_hash(d) for d in data]
    subtree = merkle.subtree_from_list(leaves)
    text = checkpoint.body(
        origin=ORIGIN, tree_size=3, root=merkle.root_from_leaf_hashes(leaves), height=1, block_hash=bytes(32)
    )
    note = checkpoint.sign(text, [exchange]) + checkpoint.cosignature_line(text, witness, 1_796_000_000)
    waiting = _entry(4)
    bundle = {
        "type": "evidence",
        "subject": {"account": ACCOUNT},
        "checkpoint": note,
        "tree_size": 3,
        "keys": [],
        "entries": [
            {
                "entry_id": i + 1,
                "kind": "DEPOSIT",
                "recorded_at": TIME,
                "canonical": base64.b64encode(d).decode(),
                "leaf_hash": leaves[i].hex(),
                "leaf_index": i,
                "proof": [h.hex() for h in merkle.inclusion_proof(i, 3, subtree)],
            }
            for i, d in enumerate(data)
        ],
        "waiting": [
            {
                "entry_id": 4,
                "kind": "DEPOSIT",
                "recorded_at": TIME,
                "canonical": base64.b64encode(waiting).decode(),
                "leaf_hash": merkle.leaf_hash(waiting).hex(),
            }
        ],
        "audit": [
            {
                "id": 7,
                "at": "2026-12-04T01:02:03.100000+00:00",
                "user": "staff1",
                "role": "broker_staff",
                "action": "cash_deposit",
                "outcome": "ok",
                "target": ACCOUNT,
                "ip": None,
                "detail": {"entry": 1, "amount": "10.00"},
                "entry_id": 1,
            }
        ],
    }
    keys = [{"name": ORIGIN, "public_key": base64.b64encode(exchange.public_key).decode(), "retired_in_block": None}]
    (tmp_path / "keys.json").write_text(json.dumps(keys))
    vkey = checkpoint.verifier_key(witness.name, witness.public_key, checkpoint.COSIGNATURE_V1)
    return {"bundle": bundle, "dir": tmp_path, "witness": vkey}


def _run(signed: dict, bundle: object, *extra: str, what: str = "evidence") -> tuple[int, str, str]:
    path = signed["dir"] / "bundle.json"
    path.write_text(json.dumps(bundle))
    return _run_file(signed, path, *extra, what=what)


def _run_file(signed: dict, path: Path, *extra: str, what: str = "evidence") -> tuple[int, str, str]:
    """The verifier as an auditor runs it: a process of its own, only the file given."""
    run = subprocess.run(
        [sys.executable, str(ROOT / "ledger" / "verifier.py"), what, str(path)]
        + ["--keys-file", str(signed["dir"] / "keys.json"), *extra],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return run.returncode, run.stdout, run.stderr


def test_the_bundle_as_written_verifies_with_its_witness(signed):
    code, out, err = _run(signed, signed["bundle"], "--witness", signed["witness"], "--min-witnesses", "1")
    assert (code, err) == (0, "")
    assert "3 entries verified against one signed checkpoint; 1 waiting; 1 audit records (unsigned), 1 of" in out


# --- 1. A bundle without a part it needs is refused ----------------------------------------------------------


def _emptied(bundle: dict) -> None:  # what the outside testers sent: no checkpoint, nothing in it
    bundle.update(checkpoint=None, entries=[], waiting=[], audit=[])


@pytest.mark.parametrize("witnessed", [False, True], ids=["exchange-key", "and-a-witness"])
def test_a_bundle_whose_checkpoint_is_null_is_refused(signed, witnessed):
    # given a bundle whose checkpoint is null and whose entries, waiting entries and records are emptied
    bundle = signed["bundle"]
    _emptied(bundle)
    policy = ("--witness", signed["witness"], "--min-witnesses", "1") if witnessed else ()

    # when it is verified offline (with or without a witness required)
    code, out, err = _run(signed, bundle, *policy)

    # then it fails, saying the checkpoint is missing, and verifies nothing
    assert code == 1
    assert err == "FAILED: the evidence bundle has no 'checkpoint': refused, as nothing can be verified without it\n"
    assert out == ""


@pytest.mark.parametrize(
    "doctor",
    [
        lambda b: b.pop("checkpoint"),
        lambda b: b.update(checkpoint=None),
        lambda b: b.pop("tree_size"),
        lambda b: b.update(tree_size="3"),
        lambda b: b.pop("entries"),
        lambda b: b.update(entries=None),
        lambda b: b.pop("waiting"),
        lambda b: b.pop("audit"),
        lambda b: b.update(audit={}),
        lambda b: b["entries"][1].pop("proof"),
        lambda b: b["entries"][0].pop("leaf_index"),
        lambda b: b["waiting"][0].pop("leaf_hash"),  # a waiting entry's one check
        lambda b: b["waiting"][0].pop("entry_id"),
        lambda b: b["audit"].append("a record"),
        lambda b: b.pop("type"),
    ],
    ids=[
        "no-checkpoint", "null-checkpoint", "no-tree-size", "text-tree-size", "no-entries", "null-entries",
        "no-waiting", "no-audit", "audit-not-a-list", "entry-without-proof", "entry-without-leaf-index",
        "waiting-without-leaf-hash", "waiting-without-id", "record-not-an-object", "no-type",
    ],
)  # fmt: skip
def test_a_bundle_missing_a_part_it_needs_is_refused(signed, doctor):
    # given a bundle that verifies, with one part it needs taken out or of the wrong type
    bundle = signed["bundle"]
    doctor(bundle)

    # when it is verified offline
    code, out, err = _run(signed, bundle)

    # then it fails in one line, naming what is wrong, and verifies nothing
    assert code == 1 and out == "", out
    assert err.startswith("FAILED: ") and err.count("\n") == 1, err


# --- 2. An unreadable file is a FAILED line, never a traceback -----------------------------------------------


def _flip_byte(raw: bytes) -> bytes:  # one byte of the middle of the file made invalid UTF-8
    middle = len(raw) // 2
    return raw[:middle] + b"\xff" + raw[middle + 1 :]


CORRUPTIONS = {
    "bad-utf8": _flip_byte,
    "truncated": lambda raw: raw[: len(raw) // 2],
    "empty": lambda raw: b"",
    "a-list": lambda raw: b"[" + raw + b"]",
    "null": lambda raw: b"null",
    "deeply-nested": lambda raw: b"[" * 100_000 + b"]" * 100_000,
    "entry-a-number": lambda raw: raw.replace(b'"entries": [{', b'"entries": [7, {', 1),
    "proof-not-hex": lambda raw: raw.replace(b'"proof": ["', b'"proof": ["zz', 1),
    "canonical-not-base64": lambda raw: raw.replace(b'"canonical": "', b'"canonical": "!', 1),
    "detail-a-string": lambda raw: raw.replace(b'"detail": {"entry": 1, "amount": "10.00"}', b'"detail": "x"', 1),
}


def _one_failed_line(code: int, out: str, err: str) -> None:
    assert code == 1 and out == "", (code, out, err)
    assert err.startswith("FAILED: ") and err.count("\n") == 1 and "Traceback" not in err, err


@pytest.mark.parametrize("corrupt", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_a_damaged_bundle_fails_in_one_line(signed, corrupt):
    # given the bundle's file damaged in one way
    path = signed["dir"] / "bundle.json"
    path.write_bytes(corrupt(json.dumps(signed["bundle"]).encode()))

    # when it is verified offline
    code, out, err = _run_file(signed, path)

    # then the verifier says FAILED in one line and exits 1, and prints no traceback
    _one_failed_line(code, out, err)


def test_a_corrupted_byte_names_the_file_and_the_byte(signed):
    path = signed["dir"] / "bundle.json"
    raw = json.dumps(signed["bundle"]).encode()
    path.write_bytes(_flip_byte(raw))
    _code, _out, err = _run_file(signed, path)
    assert err == f"FAILED: {path}: not UTF-8 text (byte {len(raw) // 2}: invalid start byte); damaged?\n"


@pytest.mark.parametrize("what", ["inclusion", "consistency", "checkpoint", "evidence"])
def test_every_check_fails_in_one_line_on_a_missing_or_damaged_file(signed, what):
    path = signed["dir"] / "damaged"
    path.write_bytes(_flip_byte(json.dumps(signed["bundle"]).encode()))
    _one_failed_line(*_run_file(signed, path, what=what))
    _one_failed_line(*_run_file(signed, signed["dir"] / "nowhere.json", what=what))


@pytest.mark.parametrize(
    "corrupt",
    [_flip_byte, lambda raw: raw[:-2], lambda raw: b'{"name": "x"}', lambda raw: raw.replace(b'": "', b'": "!', 2)],
    ids=["bad-utf8", "truncated", "an-object", "key-not-base64"],
)
def test_a_damaged_keys_file_fails_in_one_line(signed, corrupt):
    keys = signed["dir"] / "keys.json"
    keys.write_bytes(corrupt(keys.read_bytes()))
    _one_failed_line(*_run(signed, signed["bundle"]))


# --- 3. A number spelled another way is not the number the server sent ------------------------------------------

RESPELLED = {
    "size-as-text": lambda b: b.update(tree_size="3"),
    "size-as-fraction": lambda b: b.update(tree_size=3.0),
    "index-as-text": lambda b: b["entries"][1].update(leaf_index="1"),
    "index-as-true": lambda b: b["entries"][1].update(leaf_index=True),
    "index-truncated": lambda b: b["entries"][1].update(leaf_index=1.7),
    "entry-id-as-text": lambda b: b["entries"][0].update(entry_id="1"),
    "waiting-id-negative": lambda b: b["waiting"][0].update(entry_id=-4),
}


@pytest.mark.parametrize("respell", RESPELLED.values(), ids=RESPELLED.keys())
def test_an_index_or_size_that_is_not_a_json_integer_is_refused(signed, respell):
    # given a bundle that verifies, one of whose numbers is written as text, a fraction, a boolean or below 0
    bundle = signed["bundle"]
    respell(bundle)

    # when it is verified offline, then it fails in one line naming the number, and verifies nothing
    code, out, err = _run(signed, bundle)
    _one_failed_line(code, out, err)
    assert "is not a whole number (a JSON integer, 0 or more)" in err, err


def test_an_inclusion_proof_with_its_index_as_text_is_refused(signed):
    # given an inclusion proof of leaf 1 of the signed tree that verifies, then the same with "1" for 1
    bundle = signed["bundle"]
    item = bundle["entries"][1]
    proof = {k: item[k] for k in ("leaf_index", "leaf_hash", "proof")} | {
        "checkpoint": bundle["checkpoint"],
        "tree_size": 3,
    }
    code, out, _ = _run(signed, proof, what="inclusion")
    assert code == 0 and out.startswith("leaf 1 is in the signed tree of size 3"), out

    # when the index is text, then it is refused in one line
    code, out, err = _run(signed, proof | {"leaf_index": "1"}, what="inclusion")
    _one_failed_line(code, out, err)
    whole = "is not a whole number (a JSON integer, 0 or more)"
    assert err == f"FAILED: the inclusion proof: its 'leaf_index' {whole}: \"1\"\n", err


CUTS = {"no-final-newline": lambda note: note[:-1], "blank-line": lambda note: note + "\n"}


@pytest.mark.parametrize("cut", CUTS.values(), ids=CUTS.keys())
def test_a_signed_note_must_end_with_exactly_one_newline(signed, cut):
    # given the bundle's checkpoint as signed (its last signature line ends with a newline)
    note = signed["bundle"]["checkpoint"]
    assert note.endswith("\n") and not note.endswith("\n\n")
    path = signed["dir"] / "checkpoint"
    path.write_text(note)
    code, out, _ = _run_file(signed, path, what="checkpoint")
    assert code == 0, out

    # when its final newline is cut off, or a blank line added after it (C2SP signed-note; Go's note.Open refuses
    # both), then the checkpoint is refused in one line
    path.write_text(cut(note))
    code, out, err = _run_file(signed, path, what="checkpoint")
    _one_failed_line(code, out, err)
    assert err.startswith("FAILED: checkpoint: a signed note"), err
