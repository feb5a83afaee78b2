"""What the cells of a table mean: is the first row a header, which column holds texts, which the labels.

The guesses are shown to the user, who can override them; they only have to be right often.
`read_named_rows` is where every table upload starts, with labels (the Data page) or without (Predict).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.ingest.limits import Limits
from core.ingest.report import DataError, Report, name_list
from core.ingest.text import read_table

TEXT_NAMES = {
    "text", "texts", "sentence", "message", "sms", "review", "content", "body", "utterance", "comment",
    "description", "title", "query", "question", "document", "tweet", "input", "phrase",
}
LABEL_NAMES = {
    "label", "labels", "class", "category", "target", "intent", "sentiment", "tag", "y", "topic",
    "output", "classe", "labels_text", "label_text",
}
SAMPLE_ROWS = 2_000  # the guesses look at this many rows


def is_number(value: str) -> bool:
    try:
        float(value.replace(",", ""))
        return True
    except ValueError:
        return False


def looks_like_header(rows: list[list[str]]) -> bool:
    """Vote per column on whether the first row names the columns rather than holding data.

    A word above a column of numbers is a header; a value that repeats in a label-like column is
    data (weighted by how repetitive the column is); a very short cell above long texts is a header.
    With no evidence either way the first row is taken as a header, as in most files.
    """
    if len(rows) < 2:
        return True
    first, rest = rows[0], rows[1 : SAMPLE_ROWS + 1]
    votes = 0.0
    for j, head in enumerate(first):
        head = head.strip()
        values = [r[j].strip() for r in rest if r[j].strip()]
        if not values or not head:
            continue
        if sum(map(is_number, values)) >= 0.9 * len(values):
            votes += -1.0 if is_number(head) else 1.0
            continue
        distinct = set(values)
        repetition = 1.0 - len(distinct) / len(values)  # ~1 for a label column, ~0 for texts
        if repetition > 0:
            votes += -repetition if head in distinct else repetition
        lengths = sorted(len(v) for v in values)
        median = lengths[len(lengths) // 2]
        if median >= 20 and len(head) <= median / 4:
            votes += 0.5
    return votes >= 0


def column_names(header: list[str] | None, width: int, report: Report) -> list[str]:
    """Header cells made unique and non-empty; 'column 1', 'column 2'... when there is no header."""
    if header is None:
        names = [f"column {j + 1}" for j in range(width)]
        report.info(
            "no_header",
            f"The first row looks like data, not column names, so it was kept as data and the columns are called "
            f"{name_list(names)}.",
        )
        return names
    names, seen, repeated = [], {}, []
    for j, cell in enumerate(header):
        name = cell.strip() or f"column {j + 1}"
        if name in seen:
            repeated.append(name)
            seen[name] += 1
            name = f"{name} ({seen[name]})"
        seen.setdefault(name, 1)
        names.append(name)
    if repeated:
        report.info(
            "duplicate_columns",
            f"More than one column is called {name_list(sorted(set(repeated)))}; the later ones are shown with "
            f"(2), (3)... after the name.",
        )
    return names


@dataclass
class ColumnStats:
    name: str
    filled: int  # non-empty cells
    distinct: int
    mean_length: float  # characters, over non-empty cells
    numeric_share: float


def column_stats(names: list[str], rows: list[list[str]]) -> list[ColumnStats]:
    sample = rows[:SAMPLE_ROWS]
    stats = []
    for j, name in enumerate(names):
        values = [r[j].strip() for r in sample if r[j].strip()]
        stats.append(
            ColumnStats(
                name=name,
                filled=len(values),
                distinct=len(set(values)),
                mean_length=sum(map(len, values)) / len(values) if values else 0.0,
                numeric_share=sum(map(is_number, values)) / len(values) if values else 0.0,
            )
        )
    return stats


@dataclass
class NamedRows:
    names: list[str]  # unique column names ("column 1"... when the file has no header)
    rows: list[list[str]]  # the data rows (the header removed), each as wide as `names`
    line_numbers: list[int]  # where each row starts in the file (1-based), for messages


def read_named_rows(filename: str, data: bytes, report: Report, limits: Limits, labeled: bool = True) -> NamedRows:
    """A table upload -> named columns and rows, with the row limit; how it was read goes into `report`.

    `labeled=False`: texts to predict on, where one column is enough and no label is asked for.
    """
    table = read_table(filename, data, labeled, limits)
    report.findings += table.notes.findings
    header = looks_like_header(table.rows)
    names = column_names(table.rows[0] if header else None, len(table.rows[0]), report)
    rows, lines = (table.rows[1:], table.line_numbers[1:]) if header else (table.rows, table.line_numbers)
    if len(rows) > limits.max_rows:
        raise DataError("too_many_rows", f"The file has {len(rows):,} rows; the limit is {limits.max_rows:,}.")
    if not rows:
        raise DataError("no_rows", "The file has column names but no rows of data. "
                        + ("Add labeled examples below the header." if labeled else "Add the texts below the header."),
                        report=report)
    return NamedRows(names, rows, lines)


def _check_named(name: str | None, names: list[str], role: str) -> None:
    if name is not None and name not in names:
        raise DataError(
            "column_not_found",
            f"There is no column called '{name}' for the {role}. Pick one of {name_list(names, limit=10)}.",
        )


def guess_columns(
    names: list[str], rows: list[list[str]], text_column: str | None = None, label_column: str | None = None,
    max_classes: int = 1_000,
) -> tuple[str, str]:
    """(text column, label column). Given names are checked and kept; the others are guessed.

    Text: a column named like 'text'/'message', else the one with the longest cells (numbers last).
    Label: a column named like 'label'/'class', else the one with the fewest distinct values (at least
    two, at most `max_classes`), else whatever column is left.
    """
    _check_named(text_column, names, "texts")
    _check_named(label_column, names, "labels")
    stats = column_stats(names, rows)
    if text_column is None:
        _refuse_empty_text_column(stats, label_column)
        text_column = _guess_text(stats, label_column)
    if label_column is None:
        # An empty column is never the labels (guessing it swapped the columns around an empty text column).
        candidates = [s for s in stats if s.name != text_column and s.filled] or [s for s in stats if s.name != text_column]
        named = [s for s in candidates if s.name.strip().lower() in LABEL_NAMES]
        plausible = sorted((s for s in candidates if 2 <= s.distinct <= max_classes), key=lambda s: (s.distinct, s.mean_length))
        fallback = sorted(candidates, key=lambda s: s.distinct)
        label_column = (named or plausible or fallback)[0].name
    if text_column == label_column:
        raise DataError("same_column", "The text column and the label column must be two different columns.")
    return text_column, label_column


def guess_text_column(names: list[str], rows: list[list[str]]) -> str:
    """The text column of a table without labels (texts to predict on); the same guess as `guess_columns`."""
    return _guess_text(column_stats(names, rows), label_column=None)


def _refuse_empty_text_column(stats: list[ColumnStats], label_column: str | None) -> None:
    """A column named for texts that is empty in every row: say so, naming it, rather than read another column
    as the texts (and then blame the label column, or the wrong one)."""
    named = [s for s in stats if s.name != label_column and s.name.strip().lower() in TEXT_NAMES]
    if named and not any(s.filled for s in named):
        raise DataError("empty_text_column", f"The column '{named[0].name}' is empty in every row, so there are no "
                        f"texts to learn from. Fill it in, or pick the column that holds the texts.")


def _guess_text(stats: list[ColumnStats], label_column: str | None) -> str:
    candidates = [s for s in stats if s.name != label_column and s.filled] or [s for s in stats if s.name != label_column]
    named = [s for s in candidates if s.name.strip().lower() in TEXT_NAMES and s.filled]
    return (named or sorted(candidates, key=lambda s: (s.numeric_share < 0.9, s.mean_length), reverse=True))[0].name
