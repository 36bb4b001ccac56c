"""The Chinese font of the statements' PDFs, at the regular weight.

Noto Sans SC comes from the PyPI package ``justmytype-intl-cjk`` as a variable font whose default instance is
the thinnest weight (100), which is what reportlab would embed: hairline Chinese beside Vera's regular Latin.
fontTools (``varLib.instancer``) makes the regular instance (``wght`` 400) once, about 12 s of CPU for the
whole font, into ``DATA_DIR/fonts``; every process then reads that file. Two processes that need it at once
wait on one lock file: one builds, the other finds the file. ``manage.py statement_fonts`` builds it ahead
(``make run`` does, in the background, while the exchange starts).
"""

from __future__ import annotations

import fcntl
import os
from importlib.metadata import version
from importlib.resources import as_file, files
from pathlib import Path

from django.conf import settings

PACKAGE = "justmytype_intl_cjk"
VARIABLE_FONT = "fonts/ofl/notosanssc/NotoSansSC[wght].ttf"
WEIGHT = 400  # OS/2 usWeightClass: regular


def cjk_regular() -> Path:
    """The path of Noto Sans SC at the regular weight, built from the variable font if it is not there yet."""
    folder = Path(settings.DATA_DIR) / "fonts"
    target = folder / f"NotoSansSC-wght{WEIGHT}-{version('justmytype-intl-cjk')}.ttf"
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.exists():  # another process may have built it while this one waited
            partial = target.with_suffix(f".{os.getpid()}.partial")
            _instance(partial)
            os.replace(partial, target)
    return target


def _instance(path: Path) -> None:
    from fontTools.ttLib import TTFont
    from fontTools.varLib import instancer

    with as_file(files(PACKAGE).joinpath(VARIABLE_FONT)) as source:
        font = instancer.instantiateVariableFont(TTFont(str(source)), {"wght": WEIGHT}, updateFontNames=False)
    font["OS/2"].usWeightClass = WEIGHT
    font.save(str(path))
