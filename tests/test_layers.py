"""The import-linter contract of pyproject.toml (docs/architecture.md) is real: in a copy of the source tree,
an app importing an app above it makes ``lint-imports`` fail and name both, and the tree as it is passes."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


@pytest.fixture
def tree(tmp_path) -> Path:
    """A copy of the packages import-linter checks (the apps and config) and of pyproject.toml."""
    if not LINT_IMPORTS.exists():
        pytest.skip(f"{LINT_IMPORTS} is not installed (requirements-dev.txt)")
    copy = tmp_path / "src"
    copy.mkdir()
    for package in CONFIG["root_packages"]:
        shutil.copytree(ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=tree, capture_output=True, text=True, timeout=300, check=False
    )


def add_import(module: Path, imported: str) -> None:
    with module.open("a") as f:
        f.write(f"\nimport {imported}  # noqa\n")


def test_the_tree_as_it_is_keeps_its_layers(tree):
    # Given an unmodified copy of the source tree
    assert CONFIG["contracts"][0]["layers"][-2:] == ["ledger", "core"]
    # When import-linter checks it
    done = lint_imports(tree)
    # Then every contract is kept
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Apps import only the layers below them KEPT" in done.stdout
    assert "BROKEN" not in done.stdout


@pytest.mark.parametrize(
    ("module", "imported", "low", "high"),
    [
        ("ledger/selectors.py", "settlement.services", "ledger", "settlement"),
        ("exchange/selectors.py", "counter.services", "exchange", "counter"),
    ],
)
def test_a_layer_importing_one_above_it_fails_the_lint(tree, module, imported, low, high):
    # Given a copy of the source tree where a module of a lower layer imports a higher one
    layers = CONFIG["contracts"][0]["layers"]
    assert layers.index(high) < layers.index(low)
    add_import(tree / module, imported)
    # When import-linter checks it
    done = lint_imports(tree)
    # Then it fails, breaking the layers contract, and names the import that broke it
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "Apps import only the layers below them BROKEN" in output
    assert f"{low} is not allowed to import {high}" in output
    assert f"{module.removesuffix('.py').replace('/', '.')} -> {imported}" in output
