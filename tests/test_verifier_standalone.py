"""The offline verifier is one file: an auditor copies ``ledger/verifier.py`` alone and runs it with Python and
``cryptography`` (found by outside testers: copied on its own, it failed with ``ModuleNotFoundError: ledger``).
Its copies of the signed-note and Merkle code stay the same as the exchange's."""

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

# What the verifier copies: its name there → (the module it comes from, its name in that module).
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


def _definition(path: Path, name: str) -> ast.stmt:
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name == name:
            return node
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [name]:
            return node
    raise AssertionError(f"{name} is not defined in {path}")


@pytest.mark.parametrize("name", COPIED)
def test_each_copy_in_the_verifier_is_its_original(name):
    # given a definition the verifier copies, and its original in the exchange's pure modules
    module, original = COPIED[name]
    copy, source = _definition(VERIFIER, name), _definition(ROOT / module, original)
    if isinstance(source, ast.FunctionDef):
        source.name = name

    # then the two are the same code (comments and line breaks aside)
    assert ast.dump(copy) == ast.dump(source), f"verifier.py's {name} differs from {module}'s {original}"


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
