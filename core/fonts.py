"""The Chinese fonts: the statements' PDFs', at the regular and the bold weight, and the pages' web font.

Noto Sans SC comes from the PyPI package ``justmytype-intl-cjk`` as a variable font whose default instance is
the thinnest weight (100), which is what reportlab would embed: hairline Chinese beside Vera's regular Latin.
fontTools (``varLib.instancer``) makes the regular instance (``wght`` 400), and the bold one (700) for the
headings, once each, about 12 s of CPU apiece, into ``DATA_DIR/fonts``; every process then reads those files.
Two processes that need one at once wait on one lock file: one builds, the other finds the file.
``manage.py statement_fonts`` builds both ahead (``make run`` does, in the background, while the exchange
starts), and then the web font.

The pages' web font (``web_font``) is for browsers on machines with no Chinese font, which would show boxes: the
regular instance cut to the characters of GB 2312 (the 6,763 common hanzi, CJK punctuation, fullwidth forms)
and every character of the Chinese catalogs, as WOFF2, about a sixth of the whole. The stylesheet names it last
among the Chinese fonts, for the CJK ranges only, so a browser that has one of the others never downloads it.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from importlib.metadata import version
from importlib.resources import as_file, files
from pathlib import Path

from django.conf import settings

PACKAGE = "justmytype_intl_cjk"
VARIABLE_FONT = "fonts/ofl/notosanssc/NotoSansSC[wght].ttf"
REGULAR, BOLD = 400, 700  # OS/2 usWeightClass
STYLE_NAMES = {REGULAR: "Regular", BOLD: "Bold"}
BUILD = 3  # in the file's name: a change of what ``_instance`` writes makes a new file, never reuses an old one
WEB_BUILD = 1  # likewise for what ``_web_subset`` writes


def cjk_regular() -> Path:
    """The path of Noto Sans SC at the regular weight, built from the variable font if it is not there yet."""
    return cjk_font(REGULAR)


def cjk_bold() -> Path:
    """Noto Sans SC bold, for the headings (beside Vera Bold)."""
    return cjk_font(BOLD)


def cjk_font(weight: int) -> Path:
    """The path of Noto Sans SC at ``weight``, built from the variable font if it is not there yet."""
    target = _folder() / f"NotoSansSC-wght{weight}-{version('justmytype-intl-cjk')}-{BUILD}.ttf"
    return _built(target, lambda path: _instance(path, weight))


def web_font() -> Path:
    """The pages' web font (WOFF2), built from the regular instance if it is not there yet."""
    return _built(web_font_path(), _web_subset)


def web_font_path() -> Path:
    """Where the web font is, built or not: the pages serve it only once built (``manage.py statement_fonts``)."""
    return _folder() / f"NotoSansSC-web-{version('justmytype-intl-cjk')}-{BUILD}-{WEB_BUILD}.woff2"


def _folder() -> Path:
    return Path(settings.DATA_DIR) / "fonts"


def _built(target: Path, build) -> Path:
    """``target``, made by ``build(path)`` once: one process builds while the others wait on the target's lock.
    A lock file per target, since a build may need another font built first (the web font is cut from the
    regular instance): with one lock for the folder, a process building the web font on a fresh folder waited on
    its own lock for ever (``flock`` locks of two ``open``s of one file exclude each other even in one process)."""
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.exists():  # another process may have built it while this one waited
            # A file of its own (unique even across hosts sharing the folder), gone if the build fails.
            handle, name = tempfile.mkstemp(dir=target.parent, prefix=f"{target.stem}.", suffix=".partial")
            os.close(handle)
            try:
                build(Path(name))
                os.chmod(name, 0o644)
                os.replace(name, target)
            finally:
                Path(name).unlink(missing_ok=True)
    return target


def web_characters() -> set[str]:
    """What the web font covers: GB 2312 (its hanzi and symbols) and every character of the Chinese catalogs."""
    chars = set()
    for high in range(0xA1, 0xF8):
        for low in range(0xA1, 0xFF):
            try:
                chars.add(bytes((high, low)).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    for catalog in Path(settings.BASE_DIR).glob("**/locale/zh_Hans/LC_MESSAGES/django.po"):
        if ".venv" not in catalog.parts:
            chars.update(catalog.read_text(encoding="utf-8"))
    return {c for c in chars if ord(c) > 0x7F}


def _quiet_fonttools() -> None:
    """The subsetter logs every table at INFO and the instancer its axis limits: lines on ``make run``'s console
    that said nothing to its user."""
    import logging

    logging.getLogger("fontTools").setLevel(logging.WARNING)


def _web_subset(path: Path) -> None:
    from fontTools import subset
    from fontTools.ttLib import TTFont

    _quiet_fonttools()
    font = TTFont(str(cjk_regular()))
    options = subset.Options()
    options.flavor = "woff2"  # Brotli-compressed (the brotli package)
    options.hinting = False  # screens at page sizes hint well without it, and it is a third of the bytes
    options.desubroutinize = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[ord(c) for c in web_characters()])
    subsetter.subset(font)
    font.flavor = "woff2"
    font.save(str(path))


def _instance(path: Path, weight: int) -> None:
    from fontTools.ttLib import TTFont
    from fontTools.varLib import instancer

    _quiet_fonttools()
    with as_file(files(PACKAGE).joinpath(VARIABLE_FONT)) as source:
        font = instancer.instantiateVariableFont(TTFont(str(source)), {"wght": weight}, updateFontNames=False)
    font["OS/2"].usWeightClass = weight
    # Named as what it is (the names came from the default instance, "NotoSansSC-Thin"): a PDF's BaseFont is the
    # PostScript name, and two weights under one name would be one font to a reader.
    style = STYLE_NAMES.get(weight, f"W{weight}")
    names = {1: "Noto Sans SC", 2: style, 4: f"Noto Sans SC {style}", 6: f"NotoSansSC-{style}", 16: "Noto Sans SC"}
    names[17] = style
    for record in font["name"].names:
        if record.nameID in names:
            record.string = names[record.nameID]
    font.save(str(path))
