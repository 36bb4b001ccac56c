"""ID documents at rest (DESIGN.md §7): in PostgreSQL, encrypted with the personal-data key ring, bound to their
document, checked against their SHA-256 on every read; on no web host's disk."""

from __future__ import annotations

import logging
import os
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction

from core import crypto
from core.models import AuditEvent, Role
from kyc import services
from kyc.models import KycDocument
from tests.test_kyc_views import PDF, PNG, api_for, client_for, online_profile, shares_a_run

pytestmark = pytest.mark.usefixtures("kyc_folders")


def stored_bytes(document_id: int) -> bytes:
    with connection.cursor() as cur:
        cur.execute("SELECT content_enc FROM kyc_kycdocument WHERE id = %s", [document_id])
        return bytes(cur.fetchone()[0])


def store(document_id: int, blob: bytes) -> None:
    with connection.cursor() as cur:
        cur.execute("UPDATE kyc_kycdocument SET content_enc = %s WHERE id = %s", [blob, document_id])


def two_documents(market):
    """An investor's ID front and back, the same picture (the same bytes and SHA-256, the same profile)."""
    profile = online_profile(market, applied=False)
    back = services.kyc_document_add(
        actor=profile.user, profile_id=profile.pk, kind="id_back", upload=SimpleUploadedFile("back.png", PNG)
    )
    return profile, profile.documents.get(kind="id_front"), back


def downloads(user, document_id: int, language: str | None = None):
    """The document's page and its API answer."""
    return client_for(user, language).get(f"/kyc/documents/{document_id}/"), api_for(user).get(
        f"/api/v1/kyc/documents/{document_id}/", HTTP_ACCEPT_LANGUAGE="en"
    )


@pytest.mark.parametrize(
    ("name", "content", "content_type"), [("id.png", PNG, "image/png"), ("id.pdf", PDF, "pdf")], ids=["png", "pdf"]
)
@pytest.mark.parametrize("through", ["page", "api"])
def test_an_upload_is_stored_encrypted_in_the_database_and_on_no_disk(
    market, settings, name, content, content_type, through
):
    # given an investor filling in the application
    profile = online_profile(market, complete=False, applied=False)

    # when they upload a scan on the page or through the API
    upload = SimpleUploadedFile(name, content)
    if through == "page":
        response = client_for(profile.user).post("/kyc/me/documents/", {"kind": "id_front", "file": upload})
        assert response.status_code == 302
    else:
        response = api_for(profile.user).post(
            "/api/v1/kyc/me/documents/", {"kind": "id_front", "file": upload}, format="multipart"
        )
        assert response.status_code == 201

    # then its row holds it encrypted under the primary key: no run of its bytes is in the database row
    document = KycDocument.objects.get(profile=profile)
    stored = stored_bytes(document.pk)
    assert stored[:2] == b"d1" and crypto.ring().key_of(stored) == crypto.ring().primary
    assert not shares_a_run(stored, content)
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM kyc_kycdocument d WHERE position(%s::bytea in d.content_enc) > 0", [content])
        assert cur.fetchone()[0] == 0
    # and nothing was written to the folder where documents were kept before
    assert not settings.KYC_DOCUMENT_DIR.exists()
    # and its investor gets it back whole, with the headers of before
    page, api = downloads(profile.user, document.pk)
    expected_type = "application/pdf" if content_type == "pdf" else content_type
    for response, disposition in ((page, "inline"), (api, "attachment")):
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == content
        assert response["Content-Type"] == expected_type
        assert response["Content-Length"] == str(len(content))
        assert response["Content-Disposition"] == f'{disposition}; filename="{name}"'
        assert "private, no-store" in response["Cache-Control"]
        assert response["X-Content-Type-Options"] == "nosniff"


def test_a_list_of_documents_loads_no_bytes(market):
    profile = online_profile(market, applied=False)

    listed = list(profile.documents.all())

    assert [d.get_deferred_fields() for d in listed] == [{"content_enc"}]


def test_a_document_uploaded_through_one_web_host_opens_through_another(market, settings, tmp_path):
    # given a document uploaded through host A, whose data folder is its own
    settings.KYC_DOCUMENT_DIR = tmp_path / "host-a" / "documents"
    profile = online_profile(market, applied=False)
    document = profile.documents.get()

    # when the investor's next request reaches host B, which never saw the upload
    settings.KYC_DOCUMENT_DIR = tmp_path / "host-b" / "documents"
    page, api = downloads(profile.user, document.pk)

    # then it is served there all the same, and neither host's disk holds it
    assert (page.status_code, api.status_code) == (200, 200)
    assert b"".join(page.streaming_content) == b"".join(api.streaming_content) == PNG
    assert not (tmp_path / "host-a").exists() and not (tmp_path / "host-b").exists()


def test_the_database_refuses_a_document_stored_in_the_clear(market):
    profile = online_profile(market, applied=False)
    document = profile.documents.get()
    before = stored_bytes(document.pk)

    for clear in (PNG, b"d1", b""):
        with pytest.raises(IntegrityError, match="kyc_document_encrypted"), transaction.atomic():
            store(document.pk, clear)

    assert stored_bytes(document.pk) == before


def _refused(market, caplog, document, *, reader):
    """Every way of opening ``document`` is refused with document_unreadable, logged and audited as failed, nothing
    served."""
    caplog.set_level(logging.ERROR, logger="kyc.services")
    audit_before = set(AuditEvent.objects.values_list("pk", flat=True))
    page, api = downloads(reader, document.pk, "en")
    message = "This document cannot be shown: its stored copy failed its integrity check. It must be uploaded again."
    assert (page.status_code, page.streaming, page["Content-Type"]) == (409, False, "text/html; charset=utf-8")
    assert message in page.content.decode()
    assert api.status_code == 409
    assert api.json() == {"code": "document_unreadable", "message": message}
    with pytest.raises(services.DocumentUnreadable):
        services.kyc_document_open(actor=reader, document_id=document.pk)
    # each attempt is on the audit trail as failed, by its reader, naming the document; nothing as shown
    tried = AuditEvent.objects.exclude(pk__in=audit_before).filter(action="kyc_document_view").order_by("pk")
    seen = [(e.actor_id, e.outcome, e.detail["document"], e.detail["code"]) for e in tried]
    assert seen == [(reader.pk, "failed", document.pk, "document_unreadable")] * 3
    assert [r.getMessage() for r in caplog.records if r.name == "kyc.services"][-1].startswith(
        f"kyc document {document.pk} refused"
    )


def test_a_ciphertext_moved_to_another_documents_row_is_refused(market, caplog):
    # given two documents of one investor with the very same picture (same bytes, SHA-256 and profile)
    profile, front, back = two_documents(market)
    assert front.sha256 == back.sha256

    # when the front's ciphertext is copied into the back's row
    store(back.pk, stored_bytes(front.pk))

    # then the back is refused to its investor and to their broker's staff, and the front still opens
    _refused(market, caplog, back, reader=profile.user)
    _refused(market, caplog, back, reader=market.staff)
    opened, data = services.kyc_document_open(actor=profile.user, document_id=front.pk)
    assert data == PNG


def _flip(blob: bytes, at: int) -> bytes:
    return blob[:at] + bytes([blob[at] ^ 0x01]) + blob[at + 1 :]


@pytest.mark.parametrize(
    "tamper",
    ["a byte of the ciphertext", "the tag", "the nonce", "the key id", "cut short", "bytes that are not its own"],
)
def test_a_tampered_ciphertext_is_refused_and_nothing_is_served(market, caplog, tamper):
    profile = online_profile(market, applied=False)
    document = profile.documents.get()
    blob = stored_bytes(document.pk)
    context = services.document_context(
        stored_name=document.stored_name, profile_id=document.profile_id, sha256=document.sha256
    )
    altered = {
        "a byte of the ciphertext": lambda: _flip(blob, 30),
        "the tag": lambda: _flip(blob, len(blob) - 1),
        "the nonce": lambda: _flip(blob, 12),
        "the key id": lambda: blob[:2] + b"ffffffff" + blob[10:],
        "cut short": lambda: blob[:40],
        # encrypted for this very document, but other bytes than its SHA-256 (a bug that wrote the wrong file)
        "bytes that are not its own": lambda: crypto.ring().encrypt_bytes(PNG + b"x", context=context),
    }[tamper]()
    store(document.pk, altered)

    _refused(market, caplog, document, reader=profile.user)
    assert stored_bytes(document.pk) == altered


def test_a_regulator_is_still_asked_for_a_reveal_before_learning_a_document_is_unreadable(market, regulator):
    profile = online_profile(market, applied=False)
    document = profile.documents.get()
    store(document.pk, _flip(stored_bytes(document.pk), 30))

    page, api = downloads(regulator, document.pk)

    assert (page.status_code, api.status_code, api.json()["code"]) == (403, 403, "reveal_required")


@pytest.fixture
def regulator(market):
    return market.user(Role.REGULATOR)


def test_rotation_re_encrypts_the_documents_and_they_still_open(market):
    # given two documents encrypted with the current key
    profile, front, back = two_documents(market)
    old_key, before = crypto.ring().primary, {d.pk: stored_bytes(d.pk) for d in (front, back)}

    # when the operator rotates the key
    out = StringIO()
    call_command("kyc_rotate_key", stdout=out)

    # then both are rewritten under the new key, and open as before
    ring = crypto.ring()
    assert ring.primary != old_key
    assert f"1 KYC records, 1 account names and 2 ID documents re-encrypted with key {ring.primary}" in out.getvalue()
    for document in (front, back):
        now = stored_bytes(document.pk)
        assert ring.key_of(now) == ring.primary and now != before[document.pk]
        assert services.kyc_document_open(actor=profile.user, document_id=document.pk)[1] == PNG
    # and a second run has nothing left to do
    assert services.kyc_reencrypt() == services.Reencrypted(profiles=0, accounts=0, documents=0)


def test_rotation_leaves_an_unreadable_document_as_it_is_and_says_so(market, caplog):
    # given two documents, one of which was altered
    profile, front, back = two_documents(market)
    altered = _flip(stored_bytes(back.pk), 30)
    store(back.pk, altered)

    # when the operator rotates the key
    out = StringIO()
    with pytest.raises(CommandError, match=f"ID documents {back.pk} fail their integrity check"):
        call_command("kyc_rotate_key", stdout=out)

    # then the readable one is rewritten, the altered one left as it was (under its old key), and named
    ring = crypto.ring()
    assert "1 ID documents re-encrypted" in out.getvalue()
    assert ring.key_of(stored_bytes(front.pk)) == ring.primary
    assert stored_bytes(back.pk) == altered and ring.key_of(altered) != ring.primary
    assert services.kyc_reencrypt() == services.Reencrypted(profiles=0, accounts=0, documents=0, unreadable=(back.pk,))


def test_an_id_document_of_the_largest_accepted_size_is_read_in_memory_not_staged_on_disk():
    # (found by a review: Django stages uploads over 2.5 MB in the temporary folder, and ID documents go up to 5 MB)
    from django.conf import settings
    from django.core.files.uploadhandler import MemoryFileUploadHandler

    handler = MemoryFileUploadHandler()
    handler.handle_raw_input(None, {}, content_length=settings.KYC_DOCUMENT_MAX_BYTES + 4096, boundary=b"x")
    assert handler.activated  # the whole multipart body of the biggest accepted document stays in memory


def test_a_rotation_run_in_another_process_is_read_here_without_a_restart(market, monkeypatch):
    # given a broker's reviewer and a document this process has read with the key ring it holds
    profile, front, back = two_documents(market)
    reviewer = market.user(Role.BROKER_STAFF, broker=market.broker)
    assert downloads(reviewer, front.pk)[1].status_code == 200
    held = crypto.ring()

    # when `kyc_rotate_key` runs in another process (its own ring: this process's is not cleared)
    monkeypatch.setattr(crypto._ring_for, "cache_clear", lambda: None)
    new_key = crypto.rotate()
    folder = crypto._folder()
    theirs = crypto.KeyRing(
        {p.stem: p.read_bytes() for p in folder.glob("*.key") if p.stem != "index"}, new_key, held.index_key
    )
    with monkeypatch.context() as other_process:
        other_process.setattr(crypto, "ring", lambda: theirs)
        done = services.kyc_reencrypt()
    assert done.documents == 2 and crypto.ring.__module__ == "core.crypto"

    # then this process reads the re-encrypted values with the new key, and writes new ones with it
    assert crypto.ring().primary == new_key
    page, api = downloads(reviewer, front.pk)
    assert (page.status_code, api.status_code) == (200, 200)
    assert b"".join(api.streaming_content) == PNG
    assert client_for(reviewer).get(f"/kyc/applications/{profile.pk}/").status_code == 200
    assert services.kyc_document_open(actor=profile.user, document_id=back.pk)[1] == PNG
    # and nothing was rewritten here, nor left under the old key
    assert services.kyc_reencrypt() == services.Reencrypted(profiles=0, accounts=0, documents=0)
    assert {crypto.ring().key_of(stored_bytes(d.pk)) for d in (front, back)} == {new_key}


def test_a_ring_read_while_another_process_rotates_holds_its_primary_key(monkeypatch):
    # given a key folder with its first key, and this process about to read it again
    first = crypto.ring().primary
    folder = crypto._folder()
    for path in (folder / "primary", folder):  # written a while ago, as a folder in use is
        os.utime(path, ns=(1_700_000_000 * 10**9,) * 2)
    crypto._ring_for.cache_clear()
    real_glob = Path.glob
    rotated: list[str] = []

    def listing_then_rotation(folder, pattern):
        listed = list(real_glob(folder, pattern))
        if pattern == "*.key" and not rotated:
            # another process's `kyc_rotate_key` lands just after this one listed the keys
            with monkeypatch.context() as other_process:
                other_process.setattr(crypto._ring_for, "cache_clear", lambda: None)
                rotated.append(crypto.rotate())
        return iter(listed)

    monkeypatch.setattr(Path, "glob", listing_then_rotation)

    # when this process reads its ring in the middle of that rotation
    held = crypto.ring()

    # then it holds a whole ring: the primary it read is one of its keys (the old one), no error
    assert rotated and held.primary == first and set(held.keys) == {first}
    assert held.decrypt(held.encrypt("陈静")) == "陈静"
    # and the next read, the folder changed, takes the new key
    monkeypatch.setattr(Path, "glob", real_glob)
    assert crypto.ring().primary == rotated[0] and set(crypto.ring().keys) == {first, rotated[0]}


def test_two_processes_making_the_first_key_at_once_each_hold_a_whole_ring(monkeypatch):
    # given an empty key folder, and another process that names its own first key just after this one named its
    real_write = crypto._write_whole
    theirs: list[str] = []

    def then_the_other_process(path, data):
        real_write(path, data)
        if path.name == "primary" and not theirs:
            theirs.append("0therk3y")
            real_write(path.with_name("0therk3y.key"), bytes(32))
            real_write(path, b"0therk3y")

    monkeypatch.setattr(crypto, "_write_whole", then_the_other_process)

    # when this process makes its first key
    ring = crypto.ring()

    # then it holds the key it made, primary, and encrypts with it
    assert theirs and set(ring.keys) == {ring.primary} != {"0therk3y"}
    assert ring.decrypt(ring.encrypt("陈静")) == "陈静"
    # and its next use reads the folder again: both keys, the other's named primary in the folder
    again = crypto.ring()
    assert set(again.keys) == {ring.primary, "0therk3y"} and again.primary == "0therk3y"
    assert again.decrypt(ring.encrypt("陈静")) == "陈静"


def test_a_first_key_not_named_primary_yet_is_waited_for_not_a_500(monkeypatch):
    # given another process's first key written, and its `primary` not yet (it lands while this one waits)
    folder = crypto._folder()
    (folder / "0therk3y.key").write_bytes(bytes(32))
    waits: list[float] = []

    def the_other_process_names_it(seconds):
        waits.append(seconds)
        (folder / "primary").write_text("0therk3y")

    monkeypatch.setattr(time, "sleep", the_other_process_names_it)

    # when this process reads the ring
    ring = crypto.ring()

    # then it waited once and holds the other's key, primary; it made no key of its own
    assert len(waits) == 1
    assert (set(ring.keys), ring.primary) == ({"0therk3y"}, "0therk3y")
    assert sorted(p.name for p in folder.glob("*.key")) == ["0therk3y.key", "index.key"]


def test_a_key_folder_other_users_can_write_is_refused_and_nothing_is_read_or_written_there():
    # given a key folder with its key, then made writable by every user (and a key planted there as primary)
    first = crypto.ring().primary
    folder = crypto._folder()
    folder.chmod(0o777)
    (folder / "p1anted0.key").write_bytes(bytes(32))
    (folder / "primary").write_text("p1anted0")
    crypto._ring_for.cache_clear()
    files = sorted(p.name for p in folder.iterdir())

    # when the ring is read, or a rotation asked for
    with pytest.raises(crypto.KeyFolderUnsafe, match="chmod 700") as reading:
        crypto.ring()
    with pytest.raises(crypto.KeyFolderUnsafe):
        crypto.rotate()

    # then both are refused, naming the folder and its mode, and no file was made or changed there
    assert f"{folder} is writable by other users (mode 777)" in str(reading.value)
    assert sorted(p.name for p in folder.iterdir()) == files
    # and once the folder is the owner's alone again, the ring is read (what was planted is the operator's to see)
    folder.chmod(0o700)
    assert set(crypto.ring().keys) == {first, "p1anted0"}


def test_keys_all_from_the_environment_read_no_folder_however_loose(monkeypatch, settings):
    # given every key in the environment, and a key folder (unused) that other users can write
    settings.KYC_KEY_DIR.mkdir(mode=0o700)
    settings.KYC_KEY_DIR.chmod(0o777)
    monkeypatch.setenv("KYC_DATA_KEYS", "envkey01:" + "A" * 43 + "=")
    monkeypatch.setenv("KYC_INDEX_KEY", "B" * 43 + "=")

    # when the ring is read
    ring = crypto.ring()

    # then it is the environment's, and the folder was neither refused nor written
    assert (ring.primary, list(ring.keys)) == ("envkey01", ["envkey01"])
    assert ring.decrypt(ring.encrypt("陈静")) == "陈静"
    assert list(settings.KYC_KEY_DIR.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "content", "stored"),
    [
        ("id.html", PDF, "id.html.pdf"),  # a PDF saved as .html opened in a browser, as a page
        ("scan.svg", PNG, "scan.svg.png"),
        ("ID.PDF", PDF, "ID.PDF"),  # its own extension, in any case, stays as it is
        ("x" * 300 + ".png", PNG, "x" * 196 + ".png"),  # cut to 200 characters, the extension kept
    ],
)
def test_an_id_document_is_named_for_what_it_is(market, name, content, stored):
    # given an investor filling in the application
    profile = online_profile(market, applied=False)
    before = KycDocument.objects.count()

    # when they upload a document under a name whose extension is another type's (or none, once cut)
    document = services.kyc_document_add(
        actor=profile.user, profile_id=profile.pk, kind="id_back", upload=SimpleUploadedFile(name, content)
    )

    # then it is stored, named with the extension of what it is, and served under that name
    assert KycDocument.objects.count() == before + 1
    assert document.original_name == stored
    page, api = downloads(profile.user, document.pk)
    assert page.status_code == api.status_code == 200
    assert api["Content-Disposition"] == f'attachment; filename="{stored}"'
    assert page["Content-Disposition"] == f'inline; filename="{stored}"'
    # and its bytes are the ones sent
    assert b"".join(api.streaming_content) == content
