"""Disclosure documents: published with their SHA-256 on the ledger, their bytes stored in PostgreSQL (never in a
folder of the host, so any web host serves them), listed, downloaded and checked by anyone signed in, and
checkable offline (DESIGN.md §2, §4; issue 10 item 5)."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from core import errors as err
from core.models import AuditEvent, Role
from ledger.models import Entry
from ledger.services import block_seal
from ledger.verification import ledger_verify
from registry import disclosures
from registry.models import Disclosure, DisclosureFile, Security
from tests.conftest import api_for, log_in, snapshot
from tests.tampering import superuser_rewrite

ROOT = Path(__file__).resolve().parent.parent
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def _image(kind: str) -> bytes:
    """A whole one-pixel image: a disclosure is read whole, not only by its first bytes."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (1, 1)).save(out, kind)
    return out.getvalue()


PNG = _image("PNG")
JPEG = _image("JPEG")
TEXT = "Announcement: the annual meeting is on 30 June.\n年度股东大会于六月三十日召开。\n".encode()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload(data: bytes, name: str = "prospectus.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def publish(client, code: str, data: bytes = PDF, **over):
    body = {"kind": "prospectus", "title": "Prospectus 2026", "file": upload(data), **over}
    body = {k: v for k, v in body.items() if v is not None}
    return client.post(f"/api/v1/securities/{code}/disclosures/", body, format="multipart")


def stored_files() -> list[str]:
    """The hashes of the stored bytes (the database's ``DisclosureFile`` rows)."""
    return sorted(DisclosureFile.objects.values_list("sha256", flat=True))


def host_files() -> list[Path]:
    """What the host's data folder holds of disclosures: nothing, since their bytes went into the database."""
    folder = Path(settings.DISCLOSURE_DIR)
    return sorted(folder.rglob("*")) if folder.exists() else []


def tamper(sha256: str, content: bytes) -> None:
    """What a database superuser (or a damaged disk under PostgreSQL) can do: rewrite the stored bytes, past the
    append-only trigger and the check that the bytes hash to their name (dropped inside the test's transaction)."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("ALTER TABLE registry_disclosurefile DROP CONSTRAINT disclosurefile_named_by_its_hash")
        cur.execute("ALTER TABLE registry_disclosurefile DROP CONSTRAINT disclosurefile_size_is_its_own")
    superuser_rewrite(
        "UPDATE registry_disclosurefile SET content = %s WHERE sha256 = %s",
        [content, sha256],
        tables=["registry_disclosurefile"],
        which="USER",
    )


def unstore(sha256: str) -> None:
    """A document published before its bytes were in the database, whose file was never imported: its row
    deleted by a superuser (triggers, the foreign key's too, off for the statement)."""
    superuser_rewrite(
        "DELETE FROM registry_disclosurefile WHERE sha256 = %s", [sha256], tables=["registry_disclosurefile"]
    )


def state() -> tuple:
    """What a refused publication must leave as it was."""
    return (
        snapshot(),
        list(Disclosure.objects.values_list("id", flat=True)),
        Entry.objects.filter(kind="DISCLOSURE").count(),
        AuditEvent.objects.filter(action="disclosure_publish", outcome="ok").count(),  # refused attempts are too
        stored_files(),
    )


def payloads() -> list[dict]:
    return [
        json.loads(bytes(c))["payload"]
        for c in Entry.objects.filter(kind="DISCLOSURE").values_list("canonical", flat=True)
    ]


def test_a_depository_operator_publishes_a_document_with_its_entry_audit_and_bytes_in_the_database(market):
    # when the depository operator uploads the prospectus
    response = publish(api_for(market.depository), market.security.code)

    # then it is published: the row, its DISCLOSURE entry and the audit record, one transaction
    assert response.status_code == 201, response.json()
    body = response.json()
    document = Disclosure.objects.get()
    assert body["id"] == document.pk and body["sha256"] == sha(PDF) and body["leaf_index"] is None
    assert (document.kind, document.title, document.filename, document.size, document.content_type) == (
        "prospectus",
        "Prospectus 2026",
        "prospectus.pdf",
        len(PDF),
        "application/pdf",
    )
    assert payloads() == [
        {
            "security": market.security.code,
            "document": document.pk,
            "document_kind": "prospectus",
            "title": "Prospectus 2026",
            "filename": "prospectus.pdf",
            "size": len(PDF),
            "sha256": sha(PDF),
            "published_at": payloads()[0]["published_at"],
        }
    ]
    assert document.entry.kind == "DISCLOSURE"
    audit = AuditEvent.objects.get(action="disclosure_publish")
    assert (audit.actor, audit.target, audit.detail["sha256"]) == (market.depository, market.security.code, sha(PDF))

    # and the bytes are stored in the database by their hash, and nothing in a folder of this host
    stored = DisclosureFile.objects.get()
    assert (stored.sha256, bytes(stored.content), stored.size, stored.content_type) == (
        sha(PDF),
        PDF,
        len(PDF),
        "application/pdf",
    )
    assert host_files() == []


def test_an_exchange_operator_publishes_too_and_the_service_takes_bytes(market):
    operator = market.user(Role.EXCHANGE_OPERATOR)
    document = disclosures.disclosure_publish(
        actor=operator, code=market.security.code, kind="announcement", title=" Notice ", filename="n.txt", content=TEXT
    )
    assert (document.title, document.content_type, document.sha256) == ("Notice", disclosures.TEXT, sha(TEXT))
    # the same bytes published again (a re-issue) share the stored file
    again = disclosures.disclosure_publish(
        actor=operator, code=market.security.code, kind="other", title="Again", filename="n.txt", content=TEXT
    )
    assert again.pk != document.pk and stored_files() == [sha(TEXT)]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd.pdf"),
        ("C:\\Users\\x\\年报 2025.pdf", "年报 2025.pdf"),
        ("a\x00b<script>.pdf", "ab_script_.pdf"),
        ("...", "document.pdf"),
        ("x" * 300 + ".pdf", "x" * 196 + ".pdf"),
    ],
)
def test_file_names_are_sanitised(name, expected):
    assert disclosures.filename_sanitised(name, "application/pdf") == expected


@pytest.mark.parametrize(
    ("name", "content", "stored", "content_type"),
    [
        # plain text (an HTML page, an SVG with a script) under a name that would open it in a browser or a viewer
        ("annual.html", b"<html><script>alert(1)</script></html>", "annual.html.txt", disclosures.TEXT),
        ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "logo.svg.txt",
         disclosures.TEXT),
        ("report.pdf", b"<html></html>", "report.pdf.txt", disclosures.TEXT),
        ("chart.html", PNG, "chart.html.png", "image/png"),
        ("notes.TXT", TEXT, "notes.TXT", disclosures.TEXT),  # its own extension stays, in any case
        ("scan.jpeg", JPEG, "scan.jpeg", "image/jpeg"),
    ],
)  # fmt: skip
def test_a_document_is_named_for_what_it_is(market, name, content, stored, content_type):
    # given the depository publishing a file under a name whose extension is another type's
    csd = api_for(market.depository)
    before = Disclosure.objects.count()

    # when it is published
    response = publish(csd, market.security.code, content, file=upload(content, name))

    # then it is published named with the extension of what it is read as, and downloaded under that name
    assert response.status_code == 201, response.content
    assert (response.json()["filename"], response.json()["content_type"]) == (stored, content_type)
    assert Disclosure.objects.count() == before + 1
    download = api_for(market.investor().owner).get(response.json()["download_url"])
    assert download.status_code == 200
    assert download["Content-Disposition"] == f'attachment; filename="{stored}"'
    assert download["Content-Type"] == content_type
    assert b"".join(download.streaming_content) == content


def test_anyone_signed_in_lists_newest_first_and_downloads_the_verified_bytes(market):
    # given two documents
    csd = api_for(market.depository)
    publish(csd, market.security.code, PDF, title="Prospectus")
    publish(csd, market.security.code, PNG, title="Chart", kind="other", file=upload(PNG, "chart.png"))
    investor = api_for(market.investor().owner)

    # when an investor lists them
    listed = investor.get(f"/api/v1/securities/{market.security.code}/disclosures/").json()

    # then newest first, with no leaf until sealed
    assert [d["title"] for d in listed["results"]] == ["Chart", "Prospectus"]
    assert [d["leaf_index"] for d in listed["results"]] == [None, None]
    assert listed["results"][0]["proof_url"] is None

    # and once sealed, each names its leaf and proof
    block_seal()
    listed = investor.get(f"/api/v1/securities/{market.security.code}/disclosures/").json()["results"]
    prospectus = listed[1]
    assert prospectus["leaf_index"] is not None
    assert prospectus["proof_url"] == f"/api/v1/ledger/entries/{prospectus['leaf_index']}/proof/"

    # and the download is the stored bytes, as an attachment with the original name, never sniffed
    response = investor.get(prospectus["download_url"])
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"] == 'attachment; filename="prospectus.pdf"'


def test_an_unknown_security_or_document_is_404(market):
    client = api_for(market.investor().owner)
    assert client.get("/api/v1/securities/NOPE/disclosures/").json()["code"] == "unknown_security"
    response = client.get(f"/api/v1/securities/{market.security.code}/disclosures/999/file/")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


def test_bytes_changed_in_the_database_are_not_served(market, caplog):
    # given a published document whose stored bytes are then changed by one byte
    publish(api_for(market.depository), market.security.code)
    document = Disclosure.objects.get()
    tamper(document.sha256, PDF[:-2] + b"X\n")
    investor = market.investor().owner

    # when an investor downloads it, then it is refused with a clear error, and logged
    response = api_for(investor).get(f"/api/v1/securities/{market.security.code}/disclosures/{document.pk}/file/")
    assert (response.status_code, response.json()["code"]) == (409, "disclosure_file_tampered")
    assert any("not served" in r.getMessage() for r in caplog.records)

    # and the page says so instead of serving it
    page = page_client(investor, "en").get(
        f"/securities/{market.security.code}/disclosures/{document.pk}/", follow=True
    )
    assert page.status_code == 200
    assert "no longer matches the SHA-256" in page.content.decode()

    # and missing bytes (a document published before they were in the database, never imported) likewise
    caplog.clear()
    unstore(document.sha256)
    response = api_for(investor).get(f"/api/v1/securities/{market.security.code}/disclosures/{document.pk}/file/")
    assert (response.status_code, response.json()["code"]) == (409, "disclosure_file_missing")
    assert any("is not stored" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)


def test_a_file_with_one_byte_changed_fails_the_api_check_and_the_offline_verifier(market, tmp_path):
    # given a published, sealed prospectus, and its proof and keys fetched by an investor
    publish(api_for(market.depository), market.security.code)
    block_seal()
    investor = api_for(market.investor().owner)
    document = investor.get(f"/api/v1/securities/{market.security.code}/disclosures/").json()["results"][0]
    (tmp_path / "proof.json").write_text(json.dumps(investor.get(document["proof_url"]).json()))
    (tmp_path / "keys.json").write_text(json.dumps(investor.get("/api/v1/ledger/keys/").json()))
    good = tmp_path / "prospectus.pdf"
    good.write_bytes(PDF)
    bad = tmp_path / "prospectus-changed.pdf"
    bad.write_bytes(PDF[:10] + bytes([PDF[10] ^ 1]) + PDF[11:])
    before = state()

    # when the investor checks each through the API, then the original matches and the changed one does not
    check = document["check_url"]
    assert investor.post(check, {"file": upload(PDF)}, format="multipart").json() == {
        "matches": True,
        "sha256": sha(PDF),
        "recorded_sha256": sha(PDF),
    }
    assert investor.post(check, {"file": upload(bad.read_bytes())}, format="multipart").json() == {
        "matches": False,
        "sha256": sha(bad.read_bytes()),
        "recorded_sha256": sha(PDF),
    }
    assert state() == before  # a check stores nothing

    # and the offline verifier (Python and cryptography only) agrees
    def verify(file: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                sys.executable,
                str(ROOT / "ledger" / "verifier.py"),
                "disclosure",
                str(tmp_path / "proof.json"),
                str(file),
                "--keys-file",
                str(tmp_path / "keys.json"),
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )

    ok = verify(good)
    assert ok.returncode == 0, ok.stderr
    assert f"leaf {document['leaf_index']} is in the signed tree" in ok.stdout
    assert "the file prospectus.pdf is the document 'Prospectus 2026'" in ok.stdout
    changed = verify(bad)
    assert changed.returncode == 1
    assert "does not match the disclosed document" in changed.stderr
    assert sha(bad.read_bytes()) in changed.stderr and sha(PDF) in changed.stderr


def test_the_api_check_wants_a_file(market):
    publish(api_for(market.depository), market.security.code)
    document = Disclosure.objects.get()
    response = api_for(market.investor().owner).post(
        f"/api/v1/securities/{market.security.code}/disclosures/{document.pk}/check/", {}, format="multipart"
    )
    assert response.status_code == 400 and response.json()["code"]


@pytest.mark.parametrize("role", [Role.INVESTOR, Role.BROKER_STAFF, Role.REGULATOR, Role.AUDITOR, Role.MARKET_MAKER])
def test_only_depository_and_exchange_operators_publish(market, role):
    user = market.investor().owner if role == Role.INVESTOR else market.user(role)
    before = state()
    response = publish(api_for(user), market.security.code)
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    with pytest.raises(err.PermissionDenied):
        disclosures.disclosure_publish(
            actor=user, code=market.security.code, kind="other", title="t", filename="t.pdf", content=PDF
        )
    assert state() == before


@pytest.mark.parametrize(
    ("over", "status", "code"),
    [
        ({"file": None}, 400, None),
        ({"file": upload(b"", "empty.pdf")}, 400, "invalid_input"),
        ({"file": upload(b"%PDF-" + b"x" * 2048)}, 413, "file_too_large"),
        ({"file": upload(b"MZ\x90\x00\x03\x00\x00\x00\x04\x00", "evil.exe")}, 415, "unsupported_file_type"),
        ({"file": upload(b"GIF89a\x01\x00\x01\x00", "x.gif")}, 415, "unsupported_file_type"),
        ({"file": upload(b"text then \xff\xfe bad utf-8", "x.txt")}, 415, "unsupported_file_type"),
        ({"kind": "rumour"}, 400, None),
        ({"title": None}, 400, None),
        ({"title": "   "}, 400, None),
        ({"title": "t" * 201}, 400, None),
    ],
)
def test_bad_input_is_a_4xx_and_changes_nothing(market, settings, over, status, code):
    settings.DISCLOSURE_MAX_BYTES = 1024
    before = state()
    response = publish(api_for(market.depository), market.security.code, **over)
    assert response.status_code == status, response.json()
    assert response.json()["code"] == (code or response.json()["code"]) and response.json()["message"]
    assert state() == before


def test_an_unknown_or_delisted_security_is_refused_and_nothing_changes(market):
    client = api_for(market.depository)
    gone = market.new_security("GONE")
    # (no delisting service yet in this branch: the status is set directly)
    Security.objects.filter(pk=gone.pk).update(status=Security.Status.DELISTED)
    before = state()
    response = publish(client, "NOPE")
    assert (response.status_code, response.json()["code"]) == (404, "unknown_security")
    response = publish(client, "GONE")
    assert (response.status_code, response.json()["code"]) == (409, "security_not_listed")
    assert state() == before


def test_documents_are_never_changed_or_deleted(market):
    from django.db import DatabaseError, transaction

    publish(api_for(market.depository), market.security.code)
    document = Disclosure.objects.get()
    with pytest.raises(DatabaseError), transaction.atomic():
        Disclosure.objects.filter(pk=document.pk).update(title="Rewritten")
    with pytest.raises(DatabaseError), transaction.atomic():
        Disclosure.objects.filter(pk=document.pk).delete()
    assert Disclosure.objects.get().title == "Prospectus 2026"


def test_the_database_refuses_a_hash_that_is_not_64_lowercase_hex(market):
    from django.db import IntegrityError, transaction

    publish(api_for(market.depository), market.security.code)
    document = Disclosure.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        Disclosure.objects.create(
            security=market.security,
            kind="other",
            title="x",
            filename="x",
            content_type="text/plain",
            size=1,
            sha256=document.sha256.upper(),
            uploaded_by=market.depository,
            published_at=document.published_at,
            entry=Entry.objects.exclude(pk=document.entry_id).first() or document.entry,
        )


def test_ledger_verify_and_replay_pass_with_disclosure_entries(market):
    client = api_for(market.depository)
    publish(client, market.security.code)
    publish(client, market.security.code, TEXT, kind="announcement", file=upload(TEXT, "notice.txt"))
    market.investor(cash="1000", shares=100)
    block_seal()
    publish(client, market.security.code, PNG, kind="other", file=upload(PNG, "c.png"))  # still waiting
    report = ledger_verify()
    assert report.ok, [str(p) for p in report.problems]
    call_command("ledger_replay", "--check")


# --------------------------------------------------------------------------
# The security page


def page_client(user, language: str):
    from django.test import Client

    client = Client()
    log_in(client, user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("en", ["Disclosure documents", "Trading parameters", "Check a file you hold"]),
        ("zh-hans", ["信息披露文件", "交易参数", "核对您持有的文件"]),
    ],
)
def test_the_security_page_shows_parameters_and_documents_in_both_languages(market, language, words):
    publish(api_for(market.depository), market.security.code)
    document = Disclosure.objects.get()
    body = page_client(market.investor().owner, language).get(f"/securities/{market.security.code}/").content.decode()
    for word in words:
        assert word in body
    assert document.sha256 in body and "Prospectus 2026" in body
    assert f'href="/securities/{market.security.code}/disclosures/{document.pk}/"' in body
    assert 'id="disclosure-upload"' not in body  # investors see no upload form


def test_the_page_checks_a_file_and_says_plainly_whether_it_matches(market):
    publish(api_for(market.depository), market.security.code)
    document = Disclosure.objects.get()
    client = page_client(market.investor().owner, "en")
    url = f"/securities/{market.security.code}/disclosures/{document.pk}/check/"
    same = client.post(url, {"file": upload(PDF)}).content.decode()
    assert "Matched: the file you hold is" in same
    other = client.post(url, {"file": upload(PDF + b" ")}).content.decode()
    assert "Does not match" in other and sha(PDF + b" ") in other
    zh = page_client(market.investor().owner, "zh-hans").post(url, {"file": upload(PDF + b" ")}).content.decode()
    assert "不一致" in zh
    # and the file downloads from the page
    response = client.get(f"/securities/{market.security.code}/disclosures/{document.pk}/")
    assert b"".join(response.streaming_content) == PDF and response["X-Content-Type-Options"] == "nosniff"


def test_operators_publish_from_the_page_and_a_bad_file_is_a_form_error(market):
    client = page_client(market.depository, "en")
    page = client.get(f"/securities/{market.security.code}/").content.decode()
    assert 'id="disclosure-upload"' in page
    url = f"/securities/{market.security.code}/disclosures/"
    before = state()
    bad = client.post(
        url, {"kind": "annual_report", "title": "AR", "file": upload(b"GIF89a\x01\x00\x01\x00\x80\x00", "x.gif")}
    )
    assert bad.status_code == 400 and "Upload a PDF, PNG or JPEG file" in bad.content.decode()
    assert state() == before
    good = client.post(url, {"kind": "annual_report", "title": "AR 2025", "file": upload(PDF, "ar.pdf")}, follow=True)
    assert "Published “AR 2025”" in good.content.decode()
    assert Disclosure.objects.get().kind == "annual_report"
    # and an investor cannot post the form
    investor = page_client(market.investor().owner, "en")
    assert investor.post(url, {"kind": "other", "title": "x", "file": upload(PDF)}).status_code == 403


def test_the_publish_form_has_no_kind_chosen_beforehand_and_refuses_none(market):
    # given the depository on a security's page: the form's kind offers no choice taken by default (the first,
    # "Prospectus", was: an annual report left at it was filed as a prospectus)
    client = page_client(market.depository, "en")
    page = client.get(f"/securities/{market.security.code}/").content.decode()
    select = page[page.index('name="kind"') : page.index("</select>", page.index('name="kind"'))]
    assert '<option value="" selected>Choose the kind…</option>' in select
    assert 'value="prospectus" selected' not in select
    before = state()

    # when the form is sent without a kind
    url = f"/securities/{market.security.code}/disclosures/"
    answer = client.post(url, {"kind": "", "title": "AR 2025", "file": upload(PDF, "ar.pdf")})

    # then it is a form error on the kind, the title kept, and nothing published
    assert answer.status_code == 400
    assert "This field is required." in answer.content.decode() and 'value="AR 2025"' in answer.content.decode()
    assert state() == before and not Disclosure.objects.exists()


def test_the_market_watch_links_the_code_to_the_security_page(market):
    body = page_client(market.investor().owner, "en").get("/").content.decode()
    assert f'href="/securities/{market.security.code}/" class="code"' in body


@pytest.mark.parametrize(
    "damaged",
    [PNG[:8] + bytes(64), PNG[: len(PNG) // 2], JPEG[:4] + bytes(64), PDF.replace(b"%%EOF", b"")],
    ids=["png-signature-only", "png-cut", "jpeg-signature-only", "pdf-without-eof"],
)
def test_a_damaged_file_is_refused_whole_and_nothing_is_kept(market, damaged):
    # (found by a tester of ID documents, whose check disclosures shared: the first bytes were all that was read)
    csd = api_for(market.depository)
    before, kept = snapshot(), stored_files()
    response = csd.post(
        f"/api/v1/securities/{market.security.code}/disclosures/",
        {"title": "Broken", "kind": "other", "file": upload(damaged, "broken.bin")},
        format="multipart",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400, response.content
    assert "not a readable JPEG, PNG or PDF" in response.json()["message"]
    assert snapshot() == before
    assert stored_files() == kept


# --------------------------------------------------------------------------
# The bytes in PostgreSQL: any host serves them (README "On several machines")


def test_a_document_published_through_one_host_downloads_through_another_with_another_data_folder(
    market, settings, tmp_path
):
    # given a document published by a "host" whose data folder is A
    settings.DATA_DIR = tmp_path / "host-a"
    settings.DISCLOSURE_DIR = tmp_path / "host-a" / "disclosures"
    settings.MEDIA_ROOT = str(tmp_path / "host-a" / "media")
    response = publish(api_for(market.depository), market.security.code, PNG, file=upload(PNG, "chart.png"))
    assert response.status_code == 201, response.json()
    document = Disclosure.objects.get()

    # when a second "host", whose data folder B has never seen it (and A is gone), serves it
    import shutil

    shutil.rmtree(tmp_path / "host-a", ignore_errors=True)
    settings.DATA_DIR = tmp_path / "host-b"
    settings.DISCLOSURE_DIR = tmp_path / "host-b" / "disclosures"
    settings.MEDIA_ROOT = str(tmp_path / "host-b" / "media")
    investor = market.investor().owner
    api = api_for(investor).get(f"/api/v1/securities/{market.security.code}/disclosures/{document.pk}/file/")
    page = page_client(investor, "en").get(f"/securities/{market.security.code}/disclosures/{document.pk}/")

    # then both serve the published bytes, with the same headers as ever
    for response in (api, page):
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == PNG
        assert response["Content-Type"] == "image/png"
        assert response["Content-Length"] == str(len(PNG))
        assert response["Content-Disposition"] == 'attachment; filename="chart.png"'
        assert response["X-Content-Type-Options"] == "nosniff"
    assert api["X-Disclosure-SHA256"] == sha(PNG)
    # and neither host's folder was written
    assert not (tmp_path / "host-a").exists() and not (tmp_path / "host-b").exists()


def test_a_publication_that_rolls_back_leaves_no_bytes_behind(market, monkeypatch):
    # given the audit record fails at the end of the publication's transaction
    def fail(**kwargs):
        raise RuntimeError("the audit trail is unavailable")

    monkeypatch.setattr(disclosures, "audit_record", fail)
    before = state()

    # when the depository operator publishes, then it fails and nothing is left: no row, no entry, no bytes
    with pytest.raises(RuntimeError):
        disclosures.disclosure_publish(
            actor=market.depository, code=market.security.code, kind="other", title="t", filename="t.pdf", content=PDF
        )
    assert state() == before and stored_files() == [] and host_files() == []


def test_the_database_refuses_bytes_that_are_not_their_name_and_a_document_without_its_bytes(market):
    from django.db import DatabaseError, IntegrityError, transaction
    from django.utils import timezone

    publish(api_for(market.depository), market.security.code)
    document = Disclosure.objects.get()
    before = state()

    def store(name: str, content: bytes, size: int):
        DisclosureFile.objects.create(
            sha256=name, content=content, size=size, content_type="text/plain", stored_at=timezone.now()
        )

    # bytes under another's name, or with a size that is not theirs, are refused
    with pytest.raises(IntegrityError, match="disclosurefile_named_by_its_hash"), transaction.atomic():
        store(sha(TEXT), TEXT + b"!", len(TEXT) + 1)
    with pytest.raises(IntegrityError, match="disclosurefile_size_is_its_own"), transaction.atomic():
        store(sha(TEXT), TEXT, len(TEXT) + 1)
    # a document whose bytes are not stored is refused
    from ledger.services import entry_append

    with pytest.raises(IntegrityError, match="disclosure_file_stored"), transaction.atomic():
        entry = entry_append(kind="DISCLOSURE", payload={"document": 0})
        Disclosure.objects.create(
            security=market.security,
            kind="other",
            title="x",
            filename="x.txt",
            content_type="text/plain",
            size=len(TEXT),
            sha256=sha(TEXT),
            uploaded_by=market.depository,
            published_at=document.published_at,
            entry=entry,
        )
    # and stored bytes are never changed or deleted
    with pytest.raises(DatabaseError), transaction.atomic():
        DisclosureFile.objects.filter(pk=document.sha256).update(content_type="text/plain")
    with pytest.raises(DatabaseError), transaction.atomic():
        DisclosureFile.objects.filter(pk=document.sha256).delete()
    assert state() == before and bytes(DisclosureFile.objects.get().content) == PDF


def test_files_kept_on_a_host_before_are_imported_checked_against_their_names_and_reported(market, tmp_path):
    # given three documents published before their bytes were in the database: one file kept in the folder as
    # it was, one changed since, one lost
    client = api_for(market.depository)
    publish(client, market.security.code, PDF, title="Kept")
    publish(client, market.security.code, TEXT, title="Changed", kind="announcement", file=upload(TEXT, "n.txt"))
    publish(client, market.security.code, PNG, title="Lost", kind="other", file=upload(PNG, "c.png"))
    publish(client, market.security.code, PNG, title="Lost again", kind="other", file=upload(PNG, "c.png"))
    ids = {d.title: d.pk for d in Disclosure.objects.all()}
    for data in (PDF, TEXT, PNG):
        unstore(sha(data))
    folder = tmp_path / "old-host-disclosures"
    folder.mkdir()
    (folder / sha(PDF)).write_bytes(PDF)
    (folder / sha(TEXT)).write_bytes(TEXT + b"edited\n")
    investor = api_for(market.investor().owner)
    before = snapshot()

    # when the import runs on that folder
    out = io.StringIO()
    with pytest.raises(SystemExit) as exit_:
        call_command("disclosure_files_import", "--dir", str(folder), stdout=out)

    # then the good file is imported and served again; the others are named with their documents; exit status 1
    assert exit_.value.code == 1
    assert out.getvalue().splitlines() == [
        f"disclosure files from {folder}: 1 imported, 0 already stored, 1 missing, 1 not matching their SHA-256",
        f"  missing: {sha(PNG)} (documents {ids['Lost']}, {ids['Lost again']})",
        f"  not imported, its bytes hash to {sha(TEXT + b'edited' + bytes([10]))}: {sha(TEXT)} "
        f"(documents {ids['Changed']})",
    ]
    assert stored_files() == [sha(PDF)]
    stored = DisclosureFile.objects.get()
    assert (bytes(stored.content), stored.size, stored.content_type) == (PDF, len(PDF), "application/pdf")
    response = investor.get(f"/api/v1/securities/{market.security.code}/disclosures/{ids['Kept']}/file/")
    assert b"".join(response.streaming_content) == PDF
    assert snapshot() == before  # no balance, order or entry changed

    # and once the lost file turns up and the changed one is restored, a second run imports them alone
    (folder / sha(PNG)).write_bytes(PNG)
    (folder / sha(TEXT)).write_bytes(TEXT)
    out = io.StringIO()
    call_command("disclosure_files_import", "--dir", str(folder), stdout=out)
    assert out.getvalue().splitlines()[0] == (
        f"disclosure files from {folder}: 2 imported, 1 already stored, 0 missing, 0 not matching their SHA-256"
    )
    assert stored_files() == sorted([sha(PDF), sha(TEXT), sha(PNG)])


def test_a_file_the_import_cannot_read_is_reported_not_a_traceback(market, tmp_path):
    # (found by a review: only a missing file was caught; a folder of another user or a directory in a file's place
    # stopped the import, and migration 0007 with it)
    client = api_for(market.depository)
    publish(client, market.security.code, PDF, title="Kept")
    (document,) = Disclosure.objects.all()
    unstore(sha(PDF))
    folder = tmp_path / "old-host-disclosures"
    (folder / sha(PDF)).mkdir(parents=True)  # a directory where its file should be
    out = io.StringIO()
    with pytest.raises(SystemExit) as exit_:
        call_command("disclosure_files_import", "--dir", str(folder), stdout=out)
    assert exit_.value.code == 1
    assert out.getvalue().splitlines()[1] == f"  unreadable (Is a directory): {sha(PDF)} (documents {document.pk})"
    assert stored_files() == []


def test_a_document_larger_than_what_is_staged_in_memory_is_stored_and_served_whole(market):
    # given a text of 3 MB: staged past the first megabyte in the system's temporary folder, not in memory
    big = "公告 announcement line\n".encode() * 120_000
    assert len(big) > 2 * disclosures.CHUNK

    # when it is published and downloaded
    response = publish(api_for(market.depository), market.security.code, big, file=upload(big, "long.txt"))
    assert response.status_code == 201, response.json()
    download = api_for(market.investor().owner).get(response.json()["download_url"])

    # then the very bytes are stored and served, and nothing was left in the host's data folder
    assert bytes(DisclosureFile.objects.get().content) == big
    assert b"".join(download.streaming_content) == big and download["Content-Length"] == str(len(big))
    assert host_files() == []
