"""CSV for spreadsheets, safe from formula injection.

A spreadsheet program reads a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return as a
formula (OWASP "CSV injection"): a name typed as ``=HYPERLINK(…)`` would run in the reader's spreadsheet. Such a
text cell gets a leading apostrophe, which spreadsheets show as text. A plain signed number (``-1000.00``)
stays a number: amounts are negative in statements.

A CSV file is UTF-8 with a byte-order mark (``csv_file``): without one Excel reads it in the system's code page
and the Chinese is garbled.
"""

from __future__ import annotations

import csv
import re
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def text_cell(value: Any) -> Any:
    """``value`` as a cell a spreadsheet shows as it is: a string that would be read as a formula gets an
    apostrophe in front; a number, or a string that is a plain number, is unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


class Writer:
    """``csv.writer`` whose every cell goes through ``text_cell``."""

    def __init__(self, out, **kwargs) -> None:
        self._writer = csv.writer(out, **kwargs)

    def writerow(self, row) -> None:
        self._writer.writerow([text_cell(cell) for cell in row])


def csv_file(text: str) -> bytes:
    """A CSV's text as the file a spreadsheet opens: UTF-8 with a byte-order mark."""
    return text.encode("utf-8-sig")
