"""CSV files the app hands to the user, written so that a spreadsheet cannot run anything in them.

Excel, LibreOffice and Google Sheets read a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage
return as a formula ("CSV injection"): an uploaded text `=HYPERLINK("http://evil", "click")` would come
back as a live link in the downloaded predictions, and older Excel runs `=cmd|...` through DDE. As the
OWASP CSV Injection guidance says, such a string cell or column name gets a leading single quote, which
makes a spreadsheet take it as text, and every string cell is wrapped in double quotes (inner quotes
doubled), so a delimiter, quote or line break inside a text cannot start a new cell that begins with `=`.
(Minimal quoting is not enough: Python's csv leaves a lone carriage return unquoted, and spreadsheets
start a new row there.)

Only strings are touched: a number (a negative probability, a float column) is not a formula, nor is a
string that is just a number (a class named "-1"), which a spreadsheet reads as that number.

Every CSV the app offers for download goes through `to_csv_bytes`. Files the app writes for itself and
reads back as data (a dataset's examples.csv) must not: the quote would become part of the text.
"""

from __future__ import annotations

import csv
import re
from typing import Any

import numpy as np
import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def neutralise(value: Any) -> Any:
    """A string a spreadsheet would take as a formula, with a leading `'`; anything else as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """The frame as UTF-8 CSV bytes (no index), its string cells and column names neutralised and quoted."""
    safe = frame.rename(columns=neutralise)
    for position in range(safe.shape[1]):  # by position: column names may repeat
        values = safe.iloc[:, position]
        if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values)):
            safe.isetitem(position, values.map(neutralise))
        elif pd.api.types.is_float_dtype(values):
            safe.isetitem(position, pd.Series([None if pd.isna(v) else PlainFloat(v) for v in values],
                                              index=values.index, dtype=object))
    return safe.to_csv(index=False, quoting=csv.QUOTE_NONNUMERIC).encode("utf-8")


class PlainFloat(float):
    """A float written with every digit it has, never in scientific notation: a probability of 4.16e-05 is written
    0.0000416 (0.5 stays 0.5). Still a number to the csv writer, so it stays unquoted."""

    def __str__(self) -> str:
        return np.format_float_positional(self, trim="0")

    __repr__ = __str__
