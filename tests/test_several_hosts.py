"""EXCHANGE_SEVERAL_HOSTS=1: a host refuses to start without the secrets every host must share, instead of making
keys of its own in its data folder (found by a review of the several-machines set-up)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = {
    "DJANGO_SECRET_KEY": "a-shared-secret-key-for-every-host-of-the-exchange-0123456789",
    "KYC_DATA_KEYS": "k1:" + "A" * 43 + "=",
    "KYC_INDEX_KEY": "B" * 43 + "=",
}


def start(tmp_path, **env) -> subprocess.CompletedProcess:
    """Django's set-up in a fresh process with ``env`` over a clean data folder; what it printed and its status."""
    base = {k: v for k, v in os.environ.items() if k not in {*SHARED, "EXCHANGE_SEVERAL_HOSTS"}}
    base.update(EXCHANGE_DATA_DIR=str(tmp_path / "data"), DJANGO_SETTINGS_MODULE="config.settings", **env)
    base.setdefault("DATABASE_URL", "postgres://unused@127.0.0.1:1/unused")
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=ROOT, env=base, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize("missing", sorted(SHARED))
def test_a_host_of_several_refuses_to_start_without_a_shared_secret(tmp_path, missing):
    # given a host told it is one of several, with every shared secret but one
    given = {k: v for k, v in SHARED.items() if k != missing}
    # when it starts
    result = start(tmp_path, EXCHANGE_SEVERAL_HOSTS="1", **given)
    # then it refuses, naming what it needs, and makes no key of its own
    assert result.returncode != 0 and "started" not in result.stdout
    assert f"EXCHANGE_SEVERAL_HOSTS is set, but {missing} is not" in result.stderr
    assert not (tmp_path / "data" / "secret_key").exists()


def test_a_host_of_several_with_every_shared_secret_starts_and_one_host_alone_needs_none(tmp_path):
    assert start(tmp_path, EXCHANGE_SEVERAL_HOSTS="1", **SHARED).stdout.strip() == "started"
    alone = start(tmp_path / "alone")
    assert alone.stdout.strip() == "started", alone.stderr
    assert (tmp_path / "alone" / "data" / "secret_key").exists()  # a single host makes its own, as before
