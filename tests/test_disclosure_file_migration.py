"""Upgrading an exchange whose disclosure documents were files on the web host's disk (registry 0007): the
migration imports this host's files into PostgreSQL, each checked against its name, and says what it could
not import."""

from __future__ import annotations

import hashlib

import pytest
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from ledger.services import entry_append
from registry.disclosures import disclosure_open
from registry.models import Disclosure, DisclosureFile
from tests.conftest import build_market

BEFORE = [("registry", "0006_merge_0005_disclosure_0005_holiday")]
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
TEXT = b"Announcement: the annual meeting is on 30 June.\n"
LOST = b"a file that was on another host\n"

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("kyc_folders")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_upgrade_imports_this_hosts_files_and_reports_the_missing_and_the_changed(settings, tmp_path, capsys):
    # given the schema before the bytes were in the database, three documents, and this host's folder holding
    # the first's file as published, the second's changed since, and not the third's
    market = build_market()
    settings.DISCLOSURE_DIR = tmp_path / "disclosures"
    settings.DISCLOSURE_DIR.mkdir()
    (settings.DISCLOSURE_DIR / _sha(PDF)).write_bytes(PDF)
    (settings.DISCLOSURE_DIR / _sha(TEXT)).write_bytes(TEXT + b"!")
    old = _migrate(BEFORE)
    try:
        OldDisclosure = old.get_model("registry", "Disclosure")
        ids = []
        for data, content_type in ((PDF, "application/pdf"), (TEXT, "text/plain; charset=utf-8"), (LOST, "text/plain")):
            with transaction.atomic():
                entry = entry_append(kind="DISCLOSURE", payload={"sha256": _sha(data)})
                ids.append(
                    OldDisclosure.objects.create(
                        security_id=market.security.pk,
                        kind="other",
                        title="t",
                        filename="f",
                        content_type=content_type,
                        size=len(data),
                        sha256=_sha(data),
                        uploaded_by_id=market.depository.pk,
                        published_at=timezone.now(),
                        entry_id=entry.pk,
                    ).pk
                )
        capsys.readouterr()
    finally:
        # when the exchange migrates
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    # then the good file is in the database and served; the others are named with their documents
    printed = capsys.readouterr().out
    assert (
        f"registry 0007: disclosure files from {settings.DISCLOSURE_DIR}: 1 imported, 0 already stored, 1 missing, "
        "1 not matching their SHA-256"
    ) in printed
    assert f"missing: {_sha(LOST)} (documents {ids[2]})" in printed
    assert f"not imported, its bytes hash to {_sha(TEXT + b'!')}: {_sha(TEXT)} (documents {ids[1]})" in printed
    assert "manage.py disclosure_files_import" in printed
    assert list(DisclosureFile.objects.values_list("sha256", "size", "content_type")) == [
        (_sha(PDF), len(PDF), "application/pdf")
    ]
    assert disclosure_open(Disclosure.objects.get(pk=ids[0])).read() == PDF
    # and the documents without their bytes stay (the foreign key checks new rows only); the folder is untouched
    assert Disclosure.objects.count() == 3
    assert sorted(p.name for p in settings.DISCLOSURE_DIR.iterdir()) == sorted([_sha(PDF), _sha(TEXT)])


def test_reversing_the_upgrade_writes_every_stored_document_back_to_the_folder(settings, tmp_path):
    # (found by a review: the reversal dropped the table, and documents published since had their bytes nowhere)
    from registry.disclosures import disclosure_publish

    market = build_market()
    settings.DISCLOSURE_DIR = tmp_path / "disclosures"
    published = disclosure_publish(
        actor=market.depository, code=market.security.code, kind="other", title="t", filename="a.txt", content=TEXT
    )
    try:
        # when the exchange migrates back to the code that read the folder
        _migrate(BEFORE)
        # then the document's bytes are there, by their name, readable by its owner only
        path = settings.DISCLOSURE_DIR / published.sha256
        assert path.read_bytes() == TEXT and oct(path.stat().st_mode & 0o777) == "0o600"
        assert oct(settings.DISCLOSURE_DIR.stat().st_mode & 0o777) == "0o700"
        assert [p.name for p in settings.DISCLOSURE_DIR.iterdir()] == [published.sha256]
    finally:
        # and migrating forward again imports it back (the exact copy is read, nothing is lost)
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    assert bytes(DisclosureFile.objects.get(pk=published.sha256).content) == TEXT
