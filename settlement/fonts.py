"""The Chinese fonts of the statements' PDFs, at the regular and the bold weight.

Noto Sans SC comes from the PyPI package ``justmytype-intl-cjk`` as a variable font whose default instance is
the thinnest weight (100), which is what reportlab would embed: hairline Chinese beside Vera's regular Latin.
fontTools (``varLib.instancer``) makes the regular instance (``wght`` 400), and the bold one (700) for the
headings, once each, about 12 s of CPU apiece, into ``DATA_DIR/fonts``; every process then reads those files.
Two processes that need one at once wait on one lock file: one builds, the other finds the file.
``manage.py statement_fonts`` builds both ahead (``make run`` does, in the background, while the exchange
starts).
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


def cjk_regular() -> Path:
    """The path of Noto Sans SC at the regular weight, built from the variable font if it is not there yet."""
    return cjk_font(REGULAR)


def cjk_bold() -> Path:
    """Noto Sans SC bold, for the headings (beside Vera Bold)."""
    return cjk_font(BOLD)


def cjk_font(weight: int) -> Path:
    """The path of Noto Sans SC at ``weight``, built from the variable font if it is not there yet."""
    folder = Path(settings.DATA_DIR) / "fonts"
    target = folder / f"NotoSansSC-wght{weight}-{version('justmytype-intl-cjk')}-{BUILD}.ttf"
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.exists():  # another process may have built it while this one waited
            # A file of its own (unique even across hosts sharing the folder), gone if the build fails.
            handle, name = tempfile.mkstemp(dir=folder, prefix=f"{target.stem}.", suffix=".partial")
            os.close(handle)
            try:
                _instance(Path(name), weight)
                os.replace(name, target)
            finally:
                Path(name).unlink(missing_ok=True)
    return target


def _instance(path: Path, weight: int) -> None:
    from fontTools.ttLib import TTFont
    from fontTools.varLib import instancer

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
