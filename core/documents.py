"""Whether an uploaded file is what its first bytes say, whole: a JPEG, PNG or PDF (ID documents, disclosures).

Its first bytes are not enough (found by a tester: PNG's signature followed by random bytes was stored as an ID
document). An image is read by Pillow (reportlab's own dependency as well): a PNG's chunks with their CRCs up to
IEND (``verify``), a JPEG's scans decoded to the end at an eighth of its size (``draft``: a few MB at most,
whatever its pixels); one past Pillow's decompression-bomb limit is refused too. A PDF needs its header with a
version, and its %%EOF near the end (no PDF reader is a runtime dependency; pypdf is only the tests')."""

from __future__ import annotations

import re
import warnings
from typing import BinaryIO

from PIL import Image

SIGNATURES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png", b"%PDF-": "application/pdf"}
_PIL_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG"}
# A PDF's version in its header, and its end-of-file marker, which readers look for in the last 1,024 bytes.
_PDF_HEADER = re.compile(rb"%PDF-[0-9]\.[0-9]")
_PDF_TAIL = 1024


def sniff(head: bytes) -> str | None:
    """The content type its first bytes say: a JPEG, PNG or PDF; None otherwise."""
    return next((kind for magic, kind in SIGNATURES.items() if head.startswith(magic)), None)


def _whole_image(file: BinaryIO, content_type: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            file.seek(0)
            with Image.open(file, formats=[_PIL_FORMATS[content_type]]) as image:
                image.verify()
            if content_type == "image/jpeg":
                file.seek(0)
                with Image.open(file, formats=["JPEG"]) as image:
                    image.draft("RGB", (max(image.width // 8, 1), max(image.height // 8, 1)))
                    image.load()
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        return False
    return True


def _whole_pdf(file: BinaryIO) -> bool:
    file.seek(0)
    head = file.read(16)
    file.seek(0, 2)
    size = file.tell()
    file.seek(max(size - _PDF_TAIL, 0))
    return bool(_PDF_HEADER.match(head)) and b"%%EOF" in file.read(_PDF_TAIL)


def whole(file: BinaryIO, content_type: str) -> bool:
    """Whether ``file`` (seekable, binary) is a whole file of ``content_type``, one of ``SIGNATURES``' types."""
    return _whole_pdf(file) if content_type == "application/pdf" else _whole_image(file, content_type)


# The file name extensions of each type a document may be: a saved copy opens in the program its content is for.
EXTENSIONS = {
    "application/pdf": (".pdf",),
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
    "text/plain": (".txt",),
}


def filename_typed(name: str, content_type: str, *, limit: int) -> str:
    """``name`` ending in an extension of ``content_type`` (its own if it has one, else the type's appended: the
    plain text named "page.html" is "page.html.txt"), at most ``limit`` characters, the extension kept.

    A document is served as an attachment under its stored name, so the name decides how a saved copy opens: an
    HTML page or an SVG uploaded as a disclosure (read as plain text) was downloaded by every investor as
    "page.html" and opened in a browser, script and all; a PDF was saved as "id.html" (found by a security walk)."""
    extensions = EXTENSIONS.get(content_type.split(";")[0].strip().lower(), ())
    if extensions and not name.lower().endswith(extensions):
        name = f"{name}{extensions[0]}"
    if len(name) <= limit:
        return name
    stem, dot, extension = name.rpartition(".")
    if dot and 0 < len(extension) <= 10:
        return f"{stem[: limit - len(extension) - 1]}.{extension}"
    return name[:limit]
