"""The offline verifier is one file: an auditor copies ``ledger/verifier.py`` alone and runs it with Python and
``cryptography`` (found by outside testers: copied on its own, it failed with ``ModuleNotFoundError: ledger``).
The signed-note and Merkle checks are defined there once; the exchange's pure modules import them."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_verifier_bundles import parties, signed  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parent.parent
VERIFIER = ROOT / "ledger" / "verifier.py"

# What the exchange's pure modules take from the verifier: its name there → (the module, its name in that module).
COPIED = {
    **{
        name: ("ledger/checkpoint.py", name)
        for name in (
            "ED25519", "COSIGNATURE_V1", "MAX_SIGNATURES", "DECIMAL", "UINT64_MAX", "uint64", "_BLOCK_LINE",
            "_VKEY_PREFIX", "key_id", "valid_key_name", "note_key_hash", "verifier_key", "looks_like_verifier_key",
            "parse_verifier_key", "Checkpoint", "CheckpointError", "_split_note", "_signature", "parse",
            "verified_signers", "cosigned_message", "verified_cosigners",
        )
    },
    **{
        name: ("ledger/merkle.py", name)
        for name in ("HASH_SIZE", "leaf_hash", "node_hash", "ProofError", "_check_hashes", "root_from_inclusion_proof")
    },
    "merkle_verify_inclusion": ("ledger/merkle.py", "verify_inclusion"),
    "merkle_verify_consistency": ("ledger/merkle.py", "verify_consistency"),
}  # fmt: skip


@pytest.mark.parametrize("name", COPIED)
def test_the_exchange_uses_the_verifiers_own_definitions(name):
    # given a check the offline verifier defines, under the name the exchange's pure module gives it
    import importlib

    module, original = COPIED[name]
    exchange = importlib.import_module(module.removesuffix(".py").replace("/", "."))
    verifier = importlib.import_module("ledger.verifier")

    # then the exchange's is the very same object: one definition, checked by both (no copy to drift)
    assert getattr(exchange, original) is getattr(verifier, name)


def test_the_verifier_imports_only_the_standard_library_and_cryptography():
    imported = set()
    for node in ast.walk(ast.parse(VERIFIER.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "a relative import"
            imported.add(node.module.split(".")[0])
    assert imported - set(sys.stdlib_module_names) == {"cryptography"}


# Runs the verifier as ``__main__`` in isolated mode (-I: neither the current folder nor the script's is on the
# path, no PYTHONPATH), then names the modules of the exchange it loaded: none, or it is no single file.
RUN_ALONE = """
import runpy, sys
sys.argv = ["verifier.py", *sys.argv[1:]]
try:
    runpy.run_path("verifier.py", run_name="__main__")
except SystemExit as exc:
    code = exc.code
loaded = sorted({m.split(".")[0] for m in sys.modules} & {"ledger", "django", "core", "auditing"})
print("loaded:", loaded, file=sys.stderr)
sys.exit(code)
"""


def test_the_verifier_copied_alone_checks_a_bundle(signed, tmp_path):  # noqa: F811 (a fixture)
    # given verifier.py copied alone into an empty folder, with an evidence bundle and the exchange's keys,
    # where the exchange's code cannot be imported
    alone = tmp_path / "auditor"
    alone.mkdir()
    shutil.copy(VERIFIER, alone / "verifier.py")
    (alone / "bundle.json").write_text(json.dumps(signed["bundle"]))
    shutil.copy(signed["dir"] / "keys.json", alone / "keys.json")
    probe = subprocess.run([sys.executable, "-I", "-c", "import ledger"], cwd=alone, capture_output=True)
    assert probe.returncode == 1 and b"ModuleNotFoundError" in probe.stderr

    # when the auditor runs it, with the witness required
    argv = ["evidence", "bundle.json", "--keys-file", "keys.json", "--witness", signed["witness"]]
    run = subprocess.run(
        [sys.executable, "-I", "-c", RUN_ALONE, *argv], cwd=alone, capture_output=True, text=True, timeout=60
    )

    # then it verifies the bundle, having loaded nothing of the exchange
    assert run.returncode == 0, run.stderr
    assert "3 entries verified against one signed checkpoint" in run.stdout
    assert run.stderr == "loaded: []\n"

    # and refuses it once one byte of an entry is changed
    bundle = signed["bundle"]
    bundle["entries"][0]["canonical"] = "A" + bundle["entries"][0]["canonical"][1:]
    (alone / "bundle.json").write_text(json.dumps(bundle))
    run = subprocess.run(
        [sys.executable, "-I", "-c", RUN_ALONE, *argv], cwd=alone, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 1 and run.stderr.startswith("FAILED: leaf 0: "), run.stderr


def test_anyone_downloads_the_verifier_the_exchange_runs(client):
    # (found by a probe: the pages told auditors to run ledger/verifier.py and none offered it)
    response = client.get("/ledger/verifier.py")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/x-python; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="verifier.py"'
    assert response.content == VERIFIER.read_bytes()
