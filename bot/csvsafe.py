"""Every CSV the bot writes goes through here, so no cell can run as a spreadsheet formula.

A text cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return is what Excel,
LibreOffice and Google Sheets read as a formula (CSV injection; OWASP). Such a cell is written
with a leading apostrophe, which the spreadsheets show as text and do not run. Numbers (int and
float values, not text) are left alone: a negative count is a number, not a formula."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """`value`, or `'value` when it is text a spreadsheet would run."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_text(rows: Iterable[Sequence], *, lineterminator: str = "\r\n") -> str:
    """Rows (each a sequence of cells; the header is a row like any other) as CSV text."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=lineterminator)
    w.writerows([safe_cell(c) for c in row] for row in rows)
    return buf.getvalue()


def dict_csv(rows: Iterable[dict], columns: Sequence[str], *, lineterminator: str = "\r\n") -> str:
    """Dict rows under `columns` (the header line first) as CSV text."""
    return csv_text([list(columns), *([row.get(c, "") for c in columns] for row in rows)],
                    lineterminator=lineterminator)
