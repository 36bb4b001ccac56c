"""The test vectors in tests/vectors/ are the team's shared ones, unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent / "vectors"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "vectors"


@pytest.mark.parametrize("name", ["rfc6962-merkle.json", "ed25519-rfc8032.json"])
def test_the_copied_vectors_equal_the_shared_ones(name):
    if not (SHARED / name).exists():
        pytest.skip(f"{SHARED} is not beside this clone; the copy in {HERE} is used as is")
    assert (HERE / name).read_bytes() == (SHARED / name).read_bytes()
