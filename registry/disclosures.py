"""Disclosure documents: an issuer's prospectus, reports and announcements, anchored on the ledger.

Invariants:

* A document is published by a depository or exchange operator, for a security that exists and is not
  delisted, as one transaction: the ``Disclosure`` row, its DISCLOSURE entry (metadata and SHA-256) and
  the audit record, or none of them. Documents are never edited or deleted (the table is append-only);
  a correction is a new document.
* Only PDF, PNG, JPEG and plain UTF-8 text are taken, recognised by their bytes (never by the name or
  the declared type), non-empty and at most ``DISCLOSURE_MAX_BYTES``.
* The file is stored in ``DISCLOSURE_DIR`` (outside the web root) under its SHA-256, written atomically:
  a temporary file in the same folder, fsync, rename, fsync of the folder. The file is renamed into
  place before the transaction commits, so a rolled-back publication may leave a file behind; that is
  harmless: the name is the hash of the content, no row refers to it, and a later publication of the
  same bytes reuses it. Nothing ever deletes a stored file.
* A file is served only after its bytes are hashed again and match the recorded SHA-256; a file
  changed on disk is refused with ``DisclosureFileTampered`` and logged, never served.
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import os
import re
import unicodedata
import uuid
from collections.abc import Iterator
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
from .models import Disclosure, Security

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
    """The last path component of ``name``, NFC, without control or shell-special characters, at most
    ``Disclosure.FILENAME_MAX_LENGTH`` characters (keeping the extension); "document.<ext>" when nothing is left."""
    name = unicodedata.normalize("NFC", str(name or ""))
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    name = _UNSAFE_NAME.sub("_", name).strip(" .")
    if not name:
        ext = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}.get(content_type, "txt")
        name = f"document.{ext}"
    limit = Disclosure.FILENAME_MAX_LENGTH
    if len(name) > limit:
        stem, dot, ext = name.rpartition(".")
        name = f"{stem[: limit - len(ext) - 1]}.{ext}" if dot and 0 < len(ext) <= 10 else name[:limit]
    return name


def disclosure_path(sha256: str) -> Path:
    return Path(settings.DISCLOSURE_DIR) / sha256


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _stage(content) -> tuple[Path, str, int, str]:
    """Write ``content`` to a temporary file beside the store, checking size and type as it streams.

    Returns (temporary path, SHA-256 hex, size, content type). The caller renames or removes it.
    """
    folder = Path(settings.DISCLOSURE_DIR)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    limit = settings.DISCLOSURE_MAX_BYTES
    temp = folder / f".upload-{uuid.uuid4().hex}"
    digest, size, head = hashlib.sha256(), 0, b""
    text = codecs.getincrementaldecoder("utf-8")("strict")
    content_type: str | None = None
    try:
        with temp.open("xb") as out:
            os.chmod(temp, 0o600)
            for block in _chunks(content):
                if not block:
                    continue
                size += len(block)
                if size > limit:
                    raise DisclosureTooLarge(
                        gettext("The file is larger than %(mb)s MB.") % {"mb": limit // (1024 * 1024)}
                    )
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
            out.flush()
            os.fsync(out.fileno())
        # Its first bytes are not enough: the whole file is read as what they say (as an ID document is).
        if content_type != TEXT:
            with temp.open("rb") as written:
                if not documents.whole(written, content_type):
                    raise err.InvalidInput(
                        gettext(
                            "The file is not a readable JPEG, PNG or PDF: it is damaged or cut short. Upload it again."
                        )
                    )
    except UnicodeDecodeError:
        temp.unlink(missing_ok=True)
        raise DisclosureTypeRefused() from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp, digest.hexdigest(), size, content_type


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
    temp, sha256, size, content_type = _stage(content)
    try:
        with transaction.atomic():
            security = _checked_security(code, lock=True)
            with connection.cursor() as cur:
                # The entry names the document's id, and the row names its entry: take the id first.
                cur.execute("SELECT nextval(pg_get_serial_sequence('registry_disclosure', 'id'))")
                (document_id,) = cur.fetchone()
            now = timezone.now()
            name = filename_sanitised(filename, content_type)
            # Into place before the entry is written; if the transaction then rolls back, the file stays
            # (harmless: content-addressed, unreferenced, reused by the same bytes; see the module docstring).
            final = disclosure_path(sha256)
            os.replace(temp, final)
            _fsync_dir(final.parent)
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
        temp.unlink(missing_ok=True)


def disclosure_check(disclosure: Disclosure, content: bytes | BinaryIO | object) -> tuple[bool, str]:
    """Whether ``content`` is the published document: (matches, its SHA-256). Nothing is stored."""
    digest = hashlib.sha256()
    for block in _chunks(content):
        digest.update(block)
    sha256 = digest.hexdigest()
    return sha256 == disclosure.sha256, sha256


def disclosure_open(disclosure: Disclosure) -> BinaryIO:
    """The stored file, open at its start, after its bytes were hashed again and found equal to the
    recorded SHA-256. A missing or changed file is refused (and logged), never served."""
    path = disclosure_path(disclosure.sha256)
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        log.error("disclosure %s of %s: stored file %s is missing", disclosure.pk, disclosure.security_id, path)
        raise DisclosureFileMissing() from None
    digest = hashlib.sha256()
    while block := handle.read(CHUNK):
        digest.update(block)
    if digest.hexdigest() != disclosure.sha256:
        handle.close()
        log.error(
            "disclosure %s: stored file %s hashes to %s, the ledger records %s; not served",
            disclosure.pk,
            path,
            digest.hexdigest(),
            disclosure.sha256,
        )
        raise DisclosureFileTampered()
    handle.seek(0)
    return handle
