"""CSV cells that a spreadsheet opens as text, never as a formula.

Patients and review authors write the words that end up in exports. A cell starting with
``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return before one) is run as a formula by
Excel and LibreOffice when a manager opens the file: ``=HYPERLINK(...)`` in a comment could
send the rows next to it to someone else's site. Such a cell gets a leading apostrophe,
which spreadsheets treat as "this is text" and do not show. Numbers are left alone.
"""
from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """``value`` for a CSV cell: text that would start a formula is prefixed with an apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values) -> list:
    """A row of cells for ``csv.writer``: None as an empty cell, text made safe."""
    return ["" if value is None else safe_cell(value) for value in values]
