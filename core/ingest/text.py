"""Reading a table from bytes: encoding, delimiter, quoting, Excel. No guessing of meaning here.

`read_table(filename, data)` returns a `Table` of strings (rows padded to the header's width) plus the
findings about how it was read; `core.ingest.columns` then decides about the header and the columns.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from core.ingest.encoding import UTF8, Decoded, decode_text
from core.ingest.excel import read_sheet
from core.ingest.limits import DEFAULT_LIMITS, MB, TABLE_MEMORY_FACTOR, Limits
from core.ingest.report import DataError, Report, name_list, plural
from core.ingest.suffixes import EXCEL_SUFFIXES, OLD_EXCEL_SUFFIX

DELIMITERS = ["\t", "|", ";", ","]  # on a tie, the one rarer inside ordinary text wins
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
SNIFF_CHARS = 256 * 1024  # the delimiter is chosen on the first 256 KB
MAX_CONTROL_SHARE = 0.01  # more control characters than this means binary, not text
LINE_END = re.compile(r"\r\n|\r|\n")
ONE_COLUMN = "\x00"  # splits no line: a decoded table never holds NUL (_refuse_binary)

csv.field_size_limit(DEFAULT_LIMITS.max_cell_chars)  # long texts are allowed (csv's default is 128 KB per cell)



@dataclass
class Table:
    rows: list[list[str]]  # every row has the same number of cells; the first row may be a header
    line_numbers: list[int]  # line in the file where each row starts (1-based), for messages
    encoding: str = ""  # e.g. "UTF-8", "Latin-1 / Windows-1252"; "" for Excel
    delimiter: str | None = None  # None for Excel; ONE_COLUMN for an unlabeled table of one column
    notes: Report = field(default_factory=Report)  # how it was read (encoding, skipped lines)


# 1) Bytes -> str -----------------------------------------------------------------------------------------


def decode(data: bytes) -> Decoded:
    """Decode text bytes (core.ingest.encoding). Raises DataError for binary data."""
    decoded = decode_text(data)
    _refuse_binary(decoded.text)
    return decoded


def _refuse_binary(text: str) -> None:
    sample = text[:SNIFF_CHARS]
    control = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\n\r\f\v")
    if "\x00" in sample or control > MAX_CONTROL_SHARE * max(len(sample), 1):
        raise DataError(
            "not_text",
            "This file does not look like a text table. Upload a CSV or TSV file saved as text, or an Excel .xlsx file.",
            details=f"{control} control characters in the first {len(sample)} characters",
        )


# 2) str -> rows ------------------------------------------------------------------------------------------


def sniff_delimiter(text: str, suffix: str = "") -> str | None:
    """The delimiter that splits the first lines into the most consistent number (>= 2) of cells."""
    sample = text[:SNIFF_CHARS]
    if len(text) > SNIFF_CHARS and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    order = (["\t"] if suffix in {".tsv", ".tab"} else []) + DELIMITERS
    best, best_score = None, 0.0
    for delimiter in dict.fromkeys(order):  # keeps the order, drops the repeated tab
        rows = [r for r in csv.reader(io.StringIO(sample), delimiter=delimiter) if any(c.strip() for c in r)]
        if not rows:
            continue
        width, frequency = Counter(len(r) for r in rows).most_common(1)[0]
        score = frequency / len(rows)
        if width >= 2 and score > best_score + 0.02:  # a clearly better fit; otherwise the earlier (rarer) one stays
            best, best_score = delimiter, score
    return best


def _lines(text: str) -> Iterator[str]:
    """The text's lines with their endings, one at a time, split as a file opened with newline="" splits them.

    io.StringIO(text) would hold a second copy of the whole text at 4 bytes a character (UCS-4): four times
    the upload for ASCII, more than the parsed rows themselves.
    """
    start = 0
    for end in LINE_END.finditer(text):
        yield text[start:end.end()]
        start = end.end()
    if start < len(text):
        yield text[start:]


class _Unparsed(Exception):
    """csv could not read on past `line` (where the row it was reading began)."""

    def __init__(self, line: int, error: csv.Error):
        super().__init__(str(error))
        self.line = line
        self.too_long = "field larger than field limit" in str(error)


def _parse(text: str, delimiter: str, quoting: int, max_cell_chars: int) -> tuple[list[list[str]], list[int]]:
    # The limit is process-wide in the csv module: set for this parse (tests pass small ones), then put back.
    before = csv.field_size_limit(max_cell_chars)
    reader = csv.reader(_lines(text), delimiter=delimiter, quoting=quoting)
    rows, lines, start = [], [], 1
    try:
        for row in reader:
            if any(cell.strip() for cell in row):  # blank lines are not rows
                rows.append(row)
                lines.append(start)
            start = reader.line_num + 1
    except csv.Error as error:  # a quote that never closes runs on until a cell is over the limit
        raise _Unparsed(start, error) from error
    finally:
        csv.field_size_limit(before)
    return rows, lines


def _consistency(rows: list[list[str]]) -> tuple[int, float]:
    if not rows:
        return 0, 0.0
    width, frequency = Counter(len(r) for r in rows).most_common(1)[0]
    return width, frequency / len(rows)


def parse_delimited(text: str, delimiter: str,
                    max_cell_chars: int = DEFAULT_LIMITS.max_cell_chars) -> tuple[list[list[str]], list[int], bool, int | None]:
    """Rows of cells, their line numbers, whether quotes were taken literally, and the line of a quote that never
    closes (None when every quote closes).

    Quotes normally group cells (a quoted newline stays inside its cell). Some files, like the SMS
    spam collection, use stray `"` inside unquoted texts; read with quoting they swallow the next
    lines. When that happens (a cell spans lines, or a quote never closes) and reading quotes
    literally gives every row the same width, the literal reading wins. Otherwise a quote that never
    closes is refused, naming its line.
    """
    try:
        rows, lines = _parse(text, delimiter, csv.QUOTE_MINIMAL, max_cell_chars)
        unclosed = None
    except _Unparsed as problem:
        rows, lines, unclosed = [], [], problem
    width, consistency = _consistency(rows)
    spans_lines = any("\n" in cell or "\r" in cell for row in rows for cell in row)
    if unclosed is not None or spans_lines or consistency < 1.0:
        try:
            literal_rows, literal_lines = _parse(text, delimiter, csv.QUOTE_NONE, max_cell_chars)
        except _Unparsed as problem:  # even without quotes a single line is too long: not a table of texts
            raise _too_long(problem.line, max_cell_chars) from None
        literal_width, literal_consistency = _consistency(literal_rows)
        if literal_consistency == 1.0 and (unclosed is not None or (literal_width == width and len(literal_rows) > len(rows))):
            return literal_rows, literal_lines, True, unclosed.line if unclosed is not None else None
    if unclosed is not None:
        raise _unclosed_quote(unclosed.line, max_cell_chars)
    return rows, lines, False, None


def _unclosed_quote(line: int, max_cell_chars: int) -> DataError:
    return DataError(
        "unclosed_quote",
        f"The quote mark on line {line:,} is never closed, so everything after it reads as one text of more than "
        f"{_size(max_cell_chars)}. Close that quote (or remove it) and upload the file again.",
        details=f"csv: field larger than field limit ({max_cell_chars:,}), in the row starting on line {line:,}",
    )


def _too_long(line: int, max_cell_chars: int) -> DataError:
    return DataError(
        "line_too_long",
        f"Line {line:,} holds more than {_size(max_cell_chars)} without a delimiter, more than one text can be. Put "
        f"one text and its label on each line and upload the file again.",
        details=f"csv: field larger than field limit ({max_cell_chars:,}) on line {line:,}",
    )


def _size(chars: int) -> str:
    return f"{chars / MB:,.0f} MB" if chars >= MB else f"{chars:,} characters"


def _rectangular(rows: list[list[str]], lines: list[int], notes: Report) -> tuple[list[list[str]], list[int]]:
    """Pad short rows, trim empty trailing cells, skip rows with extra non-empty cells (and say which)."""
    width = _consistency(rows)[0]  # the usual row width (the header's, unless the header itself is odd)
    kept, kept_lines, skipped = [], [], []
    for row, line in zip(rows, lines):  # rows are changed in place: a copy of every row doubled the table's memory
        if len(row) > width:
            if any(cell.strip() for cell in row[width:]):
                skipped.append(line)
                continue
            del row[width:]
        elif len(row) < width:
            row.extend([""] * (width - len(row)))
        kept.append(row)
        kept_lines.append(line)
    if skipped:
        notes.warning(
            "malformed_rows",
            f"Skipped {plural(len(skipped), 'row')} with more cells than the header "
            f"(lines {name_list([str(n) for n in skipped])}). Put quotes around texts that contain the delimiter.",
            [f"line {n}" for n in skipped],
        )
    return kept, kept_lines


def wanted_table(labeled: bool) -> str:
    """What to upload instead, in the refusals: data to train on needs labels, data to predict on does not."""
    return "a table with a text column and a label column" if labeled else "a table with a column of texts"


def read_delimited(data: bytes, suffix: str = "", labeled: bool = True, limits: Limits = DEFAULT_LIMITS) -> Table:
    decoded = decode(data)
    text, encoding = decoded.text, decoded.encoding
    notes = Report()
    if not text.strip():
        raise DataError("empty_file", f"The file is empty. Upload {wanted_table(labeled)}.")
    delimiter = sniff_delimiter(text, suffix)
    if delimiter is None and labeled:
        raise DataError(
            "one_column",
            "The file has only one column. It needs at least two: one with the texts and one with their labels.",
        )
    delimiter = delimiter or ONE_COLUMN  # texts to predict on need no label column
    rows, lines, literal_quotes, unclosed = parse_delimited(text, delimiter, limits.max_cell_chars)
    rows, lines = _rectangular(rows, lines, notes)
    if encoding not in {UTF8, "UTF-8 with BOM"}:
        notes.info("encoding", f"Read the file as {encoding} text.")
    if decoded.repaired_lines:
        repaired = [str(n) for n in decoded.repaired_lines]
        one = len(repaired) == 1
        which = f"Line {repaired[0]} is" if one else f"{plural(len(repaired), 'line')} ({name_list(repaired)}) are"
        notes.warning("mixed_encoding", f"{which} not UTF-8 like the rest of the file, so {'it was' if one else 'they were'} "
                      f"read as Windows-1252 (Latin-1): check {'its' if one else 'their'} accents, or save the file as "
                      f"UTF-8.", [f"line {n}" for n in repaired])
    if literal_quotes:
        notes.info("literal_quotes", "Quote marks in this file are part of the texts, so they were kept as written"
                   + (f" (the one on line {unclosed:,} is never closed)." if unclosed else "."))
    return Table(rows=rows, line_numbers=lines, encoding=encoding, delimiter=delimiter, notes=notes)


def read_excel(data: bytes, labeled: bool = True) -> Table:
    rows, lines, notes = read_sheet(data, wanted_table(labeled), labeled)
    return Table(rows=rows, line_numbers=lines, notes=notes)


def check_table_size(size: int, limits: Limits) -> None:
    """Refuse, before reading, a table too large to read within the stated memory bound (see core.ingest.limits)."""
    if size > limits.max_table_bytes:
        raise DataError(
            "table_too_large",
            f"The table is {size / MB:,.0f} MB; tables of up to {limits.max_table_bytes / MB:,.0f} MB can be read "
            f"(reading one takes about {TABLE_MEMORY_FACTOR} times its size in memory). Upload a sample of the "
            f"rows, or split the file.",
        )


def read_table(filename: str, data: bytes, labeled: bool = True, limits: Limits = DEFAULT_LIMITS) -> Table:
    """CSV / TSV / TXT / Excel bytes -> a rectangular Table. Raises DataError with a plain message.

    `labeled=False` (texts to predict on) accepts a table of a single column and words the refusals
    without asking for labels.
    """
    suffix = PurePosixPath(filename.lower()).suffix
    if not data:
        raise DataError("empty_file", f"The file is empty (0 bytes). Upload {wanted_table(labeled)}.")
    check_table_size(len(data), limits)
    if suffix in EXCEL_SUFFIXES:
        return read_excel(data, labeled)
    if suffix == OLD_EXCEL_SUFFIX:
        raise DataError("old_excel", "Old Excel .xls files are not supported. Save the sheet as .xlsx or CSV and upload that.")
    return read_delimited(data, suffix, labeled, limits)
