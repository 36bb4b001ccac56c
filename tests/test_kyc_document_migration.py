"""Upgrading an exchange whose ID documents were plain files in KYC_DOCUMENT_DIR (before kyc 0006): each file moves
into the database, encrypted; a missing or altered file stops the upgrade with nothing changed."""

from __future__ import annotations

import hashlib
import stat

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from core import crypto
from kyc import services
from tests.conftest import build_market
from tests.test_kyc_views import PDF, PNG, online_profile, shares_a_run

BEFORE = [("kyc", "0005_name_masked_check")]

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("kyc_folders")]


def _migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def _leaves():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def _columns() -> set[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'kyc_kycdocument'")
        return {name for (name,) in cur.fetchall()}


def _documents() -> dict[int, tuple[str, str]]:
    """Each document's stored name and SHA-256, read in SQL (the model of today has a column the schema of
    before has not)."""
    with connection.cursor() as cur:
        cur.execute("SELECT id, stored_name, sha256 FROM kyc_kycdocument ORDER BY id")
        return {pk: (name, sha) for pk, name, sha in cur.fetchall()}


def _uploaded():
    """An investor with a PNG and a PDF, uploaded through the service."""
    profile = online_profile(build_market(), applied=False)
    services.kyc_document_add(
        actor=profile.user, profile_id=profile.pk, kind="id_back", upload=SimpleUploadedFile("back.pdf", PDF)
    )
    return profile


def test_the_upgrade_moves_each_file_into_the_database_encrypted_and_leaves_the_files(settings):
    profile = _uploaded()
    folder = settings.KYC_DOCUMENT_DIR
    assert not folder.exists()
    # given the schema of before, whose documents were files (going back writes them where the code of then
    # reads them)
    _migrate(BEFORE)
    try:
        assert "content_enc" not in _columns()
        files = {pk: folder / name for pk, (name, _sha) in _documents().items()}
        assert sorted(path.read_bytes() for path in files.values()) == sorted([PNG, PDF])
        assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in files.values())
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    finally:
        # when the exchange migrates
        _migrate(_leaves())

    # then each document is in its row, encrypted (no run of its bytes there), and opens as before
    ring = crypto.ring()
    with connection.cursor() as cur:
        cur.execute("SELECT id, content_enc FROM kyc_kycdocument ORDER BY id")
        stored = {pk: bytes(blob) for pk, blob in cur.fetchall()}
    assert set(stored) == set(files)
    for pk, blob in stored.items():
        content = files[pk].read_bytes()
        assert ring.key_of(blob) == ring.primary and not shares_a_run(blob, content)
        assert services.kyc_document_open(actor=profile.user, document_id=pk)[1] == content
    # and the files are left where they were (the operator deletes them once the upgrade is backed up)
    assert all(path.is_file() for path in files.values())


@pytest.mark.parametrize("fault", ["missing", "altered"])
def test_the_upgrade_refuses_a_missing_or_altered_file_and_changes_nothing(settings, fault):
    _uploaded()
    folder = settings.KYC_DOCUMENT_DIR
    _migrate(BEFORE)
    documents = _documents()
    (good, (good_name, _)), (bad, (bad_name, bad_sha)) = sorted(documents.items())
    original = (folder / bad_name).read_bytes()
    try:
        # given the schema of before, one of whose files is missing or not what its row recorded
        if fault == "missing":
            (folder / bad_name).unlink()
        else:
            (folder / bad_name).write_bytes(original[:-1] + b"x")

        # when the exchange migrates, it is refused, naming the document and what is wrong with it
        with pytest.raises(RuntimeError) as refused:
            _migrate(_leaves())
        message = str(refused.value)
        assert "refused 1 of them; nothing was changed" in message
        if fault == "missing":
            assert f"document {bad}: {folder / bad_name} is missing" in message
        else:
            altered = hashlib.sha256(original[:-1] + b"x").hexdigest()
            assert f"document {bad}: {folder / bad_name} has SHA-256 {altered}" in message
            assert f"its row {bad_sha}" in message
        assert f"document {good}:" not in message
        assert "Restore these files from a backup" in message

        # and nothing changed: the schema is the one of before, the files are as they were
        assert "content_enc" not in _columns()
        assert ("kyc", "0006_documents_encrypted_in_database") not in MigrationExecutor(
            connection
        ).loader.applied_migrations
        assert _documents() == documents
        assert (folder / good_name).is_file()
    finally:
        # when the file is restored from a backup, the upgrade goes through
        (folder / bad_name).write_bytes(original)
        _migrate(_leaves())
    assert "content_enc" in _columns()
