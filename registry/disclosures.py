"""Disclosure documents: an issuer's prospectus, reports and announcements, anchored on the ledger.

Invariants:

* A document is published by a depository or exchange operator, for a security that exists and is not
  delisted, as one transaction: the ``Disclosure`` row, its DISCLOSURE entry (metadata and SHA-256) and
  the audit record, or none of them. Documents are never edited or deleted (the table is append-only);
  a correction is a new document.
* Only PDF, PNG, JPEG and plain UTF-8 text are taken, recognised by their bytes (never by the name or
  the declared type), non-empty and at most ``DISCLOSURE_MAX_BYTES``.
* The bytes are stored in PostgreSQL (``DisclosureFile``, named by their SHA-256, shared by documents with
  the same bytes), in the publication's transaction: a rolled-back publication leaves nothing, and any web
  host serves any document. The database refuses bytes that do not hash to their name, and a new document
  whose bytes are not stored. An upload is staged in an anonymous temporary file (checked as it streams),
  never in a folder of the host.
* A file is served only after its bytes are hashed again and match the recorded SHA-256; bytes changed in
  the database are refused with ``DisclosureFileTampered`` and logged, never served.
* ``DISCLOSURE_DIR`` is read only by ``files_import`` (migration 0007 and ``manage.py disclosure_files_import``):
  the folder where documents published before were kept, one file per SHA-256 on the web host that took it.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import logging
import re
import tempfile
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, BinaryIO

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core import documents
from core import errors as err
from core.audit import audit_record
from core.models import Role, User
from ledger.services import entry_write

from .entries import DisclosureEntry
from .models import Disclosure, DisclosureFile, Security

log = logging.getLogger(__name__)

PUBLISHERS = frozenset({Role.DEPOSITORY_OPERATOR, Role.EXCHANGE_OPERATOR})

DisclosureTooLarge = err.error_class(
    "DisclosureTooLarge", "file_too_large", _("The file is larger than the limit for disclosure documents."), 413
)
DisclosureTypeRefused = err.error_class(
    "DisclosureTypeRefused",
    "unsupported_file_type",
    _("Upload a PDF, PNG or JPEG file, or plain UTF-8 text."),
    415,
)
DisclosureFileTampered = err.error_class(
    "DisclosureFileTampered",
    "disclosure_file_tampered",
    _("The stored file no longer matches the SHA-256 recorded on the ledger, so it is not served."),
    409,
)
DisclosureFileMissing = err.error_class(
    "DisclosureFileMissing", "disclosure_file_missing", _("The stored file of this document is missing."), 409
)

CHUNK = 1024 * 1024
_MAGIC = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)
TEXT = "text/plain; charset=utf-8"
CONTENT_TYPES = (*(t for _m, t in _MAGIC), TEXT)
# Control characters a plain text does not hold (tab, line feed, form feed and carriage return it does).
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_UNSAFE_NAME = re.compile(r"[^\w .()\[\]+-]")


def _chunks(content: bytes | IO[bytes] | object) -> Iterator[bytes]:
    """The bytes of ``content``: bytes, a Django upload (``chunks()``) or a binary file (``read()``)."""
    if isinstance(content, bytes | bytearray | memoryview):
        yield bytes(content)
    elif hasattr(content, "chunks"):
        yield from content.chunks(CHUNK)
    elif hasattr(content, "read"):
        while block := content.read(CHUNK):
            yield block
    else:
        raise err.InvalidInput(gettext("Attach the document's file."))


def _sniff(head: bytes) -> str | None:
    return next((kind for magic, kind in _MAGIC if head.startswith(magic)), None)


def filename_sanitised(name: str | None, content_type: str) -> str:
    """The last path component of ``name``, NFC, without control or shell-special characters, ending in an
    extension of ``content_type``, at most ``Disclosure.FILENAME_MAX_LENGTH`` characters (keeping the extension);
    "document.<ext>" when nothing is left."""
    name = unicodedata.normalize("NFC", str(name or ""))
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    name = _UNSAFE_NAME.sub("_", name).strip(" .") or "document"
    # Its extension the content's (core.documents.filename_typed): "page.html" read as plain text is "page.html.txt".
    return documents.filename_typed(name, content_type, limit=Disclosure.FILENAME_MAX_LENGTH)


def _stage(content) -> tuple[IO[bytes], str, int, str]:
    """Copy ``content`` to an anonymous temporary file, checking size and type as it streams.

    Returns (the temporary file, at its start; SHA-256 hex; size; content type). The caller closes it (it
    disappears then, or with the process: it has no name on disk).
    """
    limit = settings.DISCLOSURE_MAX_BYTES
    # In memory up to one chunk; past it in the system's temporary folder, never in a folder of the exchange.
    out = tempfile.SpooledTemporaryFile(max_size=CHUNK)
    digest, size, head = hashlib.sha256(), 0, b""
    text = codecs.getincrementaldecoder("utf-8")("strict")
    content_type: str | None = None
    try:
        for block in _chunks(content):
            if not block:
                continue
            size += len(block)
            if size > limit:
                raise DisclosureTooLarge(gettext("The file is larger than %(mb)s MB.") % {"mb": limit // (1024 * 1024)})
            if content_type is None and len(head) < 8:
                head += block[: 8 - len(head)]
                if len(head) >= 8 or size < 8:
                    content_type = _sniff(head)
            if content_type in (None, TEXT):
                # Not (yet) a known binary type: it must be plain UTF-8 text.
                if _CONTROL.search(block):
                    raise DisclosureTypeRefused()
                text.decode(block)
                content_type = content_type or (TEXT if len(head) >= 8 else None)
            digest.update(block)
            out.write(block)
        if size == 0:
            raise err.InvalidInput(gettext("The file is empty."))
        if content_type is None:  # shorter than 8 bytes and no binary magic: text
            content_type = TEXT
        if content_type == TEXT:
            text.decode(b"", final=True)
        # Its first bytes are not enough: the whole file is read as what they say (as an ID document is).
        if content_type != TEXT:
            out.seek(0)
            if not documents.whole(out, content_type):
                raise err.InvalidInput(
                    gettext("The file is not a readable JPEG, PNG or PDF: it is damaged or cut short. Upload it again.")
                )
    except UnicodeDecodeError:
        out.close()
        raise DisclosureTypeRefused() from None
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out, digest.hexdigest(), size, content_type


def _file_store(*, sha256: str, staged: IO[bytes], size: int, content_type: str, now) -> None:
    """The bytes' row, unless the same bytes are stored already (content-addressed: they are the same bytes).

    Runs in the publication's transaction. Two publications of the same new bytes at once: the second one's
    insert waits for the first's commit and then does nothing (``ON CONFLICT DO NOTHING``).
    """
    if DisclosureFile.objects.filter(sha256=sha256).exists():
        return
    DisclosureFile.objects.bulk_create(
        [DisclosureFile(sha256=sha256, content=staged.read(), size=size, content_type=content_type, stored_at=now)],
        ignore_conflicts=True,
    )


def _checked_security(code: str, *, lock: bool) -> Security:
    query = Security.objects.select_for_update(no_key=True) if lock else Security.objects
    security = query.filter(code=code).first()
    if security is None:
        raise err.UnknownSecurity()
    if security.status == Security.Status.DELISTED:
        raise err.SecurityNotListed()
    return security


def disclosure_publish(
    *,
    actor: User,
    code: str,
    kind: str,
    title: str,
    filename: str | None,
    content: bytes | BinaryIO | object | None,
    ip: str | None = None,
) -> Disclosure:
    """Publish a document of security ``code``: the file stored by its hash, the row, the DISCLOSURE entry
    and the audit record (depository and exchange operators). Refusals change nothing."""
    if actor.role not in PUBLISHERS:
        raise err.PermissionDenied(gettext("Only depository and exchange operators publish disclosure documents."))
    if kind not in Disclosure.Kind.values:
        raise err.InvalidInput(gettext("Choose the kind of document."))
    title = (title or "").strip()
    if not title:
        raise err.InvalidInput(gettext("Give the document a title."))
    if len(title) > Disclosure.TITLE_MAX_LENGTH:
        raise err.InvalidInput(
            gettext("The title is longer than %(n)s characters.") % {"n": Disclosure.TITLE_MAX_LENGTH}
        )
    if content is None:
        raise err.InvalidInput(gettext("Attach the document's file."))
    _checked_security(code, lock=False)  # a clear refusal before reading the file; checked again under the lock
    staged, sha256, size, content_type = _stage(content)
    try:
        with transaction.atomic():
            security = _checked_security(code, lock=True)
            with connection.cursor() as cur:
                # The entry names the document's id, and the row names its entry: take the id first.
                cur.execute("SELECT nextval(pg_get_serial_sequence('registry_disclosure', 'id'))")
                (document_id,) = cur.fetchone()
            now = timezone.now()
            name = filename_sanitised(filename, content_type)
            _file_store(sha256=sha256, staged=staged, size=size, content_type=content_type, now=now)
            entry = entry_write(
                DisclosureEntry(
                    security=security.code,
                    document=document_id,
                    document_kind=kind,
                    title=title,
                    filename=name,
                    size=size,
                    sha256=sha256,
                    published_at=now,
                ),
                recorded_at=now,
            )
            disclosure = Disclosure.objects.create(
                id=document_id,
                security=security,
                kind=kind,
                title=title,
                filename=name,
                content_type=content_type,
                size=size,
                sha256=sha256,
                uploaded_by=actor,
                published_at=now,
                entry=entry,
            )
            audit_record(
                actor=actor,
                action="disclosure_publish",
                target=security.code,
                ip=ip,
                detail={"document": document_id, "kind": kind, "sha256": sha256, "size": size, "entry": entry.pk},
            )
            return disclosure
    finally:
        staged.close()


def disclosure_check(disclosure: Disclosure, content: bytes | BinaryIO | object) -> tuple[bool, str]:
    """Whether ``content`` is the published document: (matches, its SHA-256). Nothing is stored."""
    digest = hashlib.sha256()
    for block in _chunks(content):
        digest.update(block)
    sha256 = digest.hexdigest()
    return sha256 == disclosure.sha256, sha256


def disclosure_open(disclosure: Disclosure) -> BinaryIO:
    """The stored bytes, as a file open at its start, after they were hashed again and found equal to the
    recorded SHA-256. Missing or changed bytes are refused (and logged), never served."""
    content = DisclosureFile.objects.filter(sha256=disclosure.sha256).values_list("content", flat=True).first()
    if content is None:
        log.error(
            "disclosure %s of %s: its file %s is not stored", disclosure.pk, disclosure.security_id, disclosure.sha256
        )
        raise DisclosureFileMissing()
    content = bytes(content)
    actual = hashlib.sha256(content).hexdigest()
    if actual != disclosure.sha256:
        log.error(
            "disclosure %s: stored file %s hashes to %s, the ledger records %s; not served",
            disclosure.pk,
            disclosure.sha256,
            actual,
            disclosure.sha256,
        )
        raise DisclosureFileTampered()
    return io.BytesIO(content)


# --------------------------------------------------------------------------
# Documents published before their bytes were in the database (migration 0007)


@dataclass
class ImportReport:
    """What ``files_import`` found: hashes imported or already stored; missing and mismatched ones with the
    documents that name them (a mismatched file: (its name, what its bytes hash to, documents))."""

    folder: str
    imported: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    missing: list[tuple[str, list[int]]] = field(default_factory=list)
    mismatched: list[tuple[str, str, list[int]]] = field(default_factory=list)
    unreadable: list[tuple[str, str, list[int]]] = field(default_factory=list)  # (name, why, documents)

    @property
    def complete(self) -> bool:
        return not self.missing and not self.mismatched and not self.unreadable

    def lines(self) -> list[str]:
        out = [
            f"disclosure files from {self.folder}: {len(self.imported)} imported, {len(self.already)} already "
            f"stored, {len(self.missing)} missing, {len(self.mismatched)} not matching their SHA-256"
        ]
        out += [f"  missing: {sha256} (documents {', '.join(map(str, ids))})" for sha256, ids in self.missing]
        out += [
            f"  not imported, its bytes hash to {actual}: {sha256} (documents {', '.join(map(str, ids))})"
            for sha256, actual, ids in self.mismatched
        ]
        out += [
            f"  unreadable ({why}): {sha256} (documents {', '.join(map(str, ids))})"
            for sha256, why, ids in self.unreadable
        ]
        return out


def files_import(*, folder: Path | str, disclosure_model=Disclosure, file_model=DisclosureFile) -> ImportReport:
    """Import into the database the files of documents whose bytes it lacks, from ``folder`` (one file per
    SHA-256, as ``DISCLOSURE_DIR`` kept them), each only if its bytes hash to its name. Idempotent: run it on
    every host that took uploads. The models are parameters so that migration 0007 passes its historical ones."""
    folder = Path(folder)
    report = ImportReport(folder=str(folder))
    wanted: dict[str, tuple[str, list[int]]] = {}
    for pk, sha256, content_type in disclosure_model.objects.order_by("pk").values_list("pk", "sha256", "content_type"):
        wanted.setdefault(sha256, (content_type, []))[1].append(pk)
    stored = set(file_model.objects.filter(sha256__in=list(wanted)).values_list("sha256", flat=True))
    now = timezone.now()
    for sha256, (content_type, ids) in wanted.items():
        if sha256 in stored:
            report.already.append(sha256)
            continue
        try:
            content = (folder / sha256).read_bytes()
        except FileNotFoundError:
            report.missing.append((sha256, ids))
            continue
        except OSError as exc:  # (found by a review: a folder of another user, a file given as --dir: a traceback)
            report.unreadable.append((sha256, exc.strerror or type(exc).__name__, ids))
            continue
        actual = hashlib.sha256(content).hexdigest()
        if actual != sha256:
            report.mismatched.append((sha256, actual, ids))
            continue
        file_model.objects.bulk_create(
            [file_model(sha256=sha256, content=content, size=len(content), content_type=content_type, stored_at=now)],
            ignore_conflicts=True,
        )
        report.imported.append(sha256)
    for line in report.lines()[1:]:
        log.warning("%s", line.strip())
    return report
