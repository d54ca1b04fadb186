"""CSV that a spreadsheet opens as data, never as formulas.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a
formula, and OWASP adds tab and carriage return to that list. Identity fields
are checked before they are recorded, but failure reasons are free text, so
every cell is escaped: such a cell gets a leading single quote, which the
spreadsheet shows as text. Every cell is also quoted, so a separator or a line
break inside a value cannot start a new cell.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(text: str) -> str:
    """``text`` as a cell no spreadsheet will run as a formula."""
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[str]]) -> bytes:
    """A UTF-8 CSV document (RFC 4180 line ends) with every cell escaped."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow([escape_cell(cell) for cell in header])
    for row in rows:
        writer.writerow([escape_cell(cell) for cell in row])
    return buffer.getvalue().encode("utf-8")
