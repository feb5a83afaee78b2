"""Reading an Excel workbook (.xlsx, .xlsm) into rows of strings: which sheet, and cells that read as empty.

The first sheet with data is read (a workbook often opens on an empty or notes sheet), and the report
says which. Cells holding a formula are read as the result Excel saved with it; a file written by a
program rather than by Excel often has no saved results, so those cells read as empty: the report says
so, by column and row, instead of the rows being dropped as if their texts were missing.
"""

from __future__ import annotations

import io

import pandas as pd

from core.ingest.report import DataError, Report, name_list, plural

SHOWN_ROWS = 5


def read_sheet(data: bytes, wanted: str, labeled: bool = True) -> tuple[list[list[str]], list[int], Report]:
    """(rows of strings, their Excel row numbers, notes). `wanted` says what to upload instead, in refusals."""
    notes = Report()
    try:
        sheets = pd.read_excel(io.BytesIO(data), sheet_name=None, header=None, dtype=str)
    except Exception as error:  # openpyxl raises many kinds (bad zip, bad XML, encrypted workbook)
        raise DataError(
            "unreadable_excel",
            "This Excel file could not be read. Save it again as .xlsx (or as CSV) and upload that.",
            details=f"{type(error).__name__}: {error}",
        ) from error
    raw = {name: frame.fillna("").astype(str) for name, frame in sheets.items()}
    filled = {name: _without_empty_rows_and_columns(frame) for name, frame in raw.items()}
    with_data = [name for name, frame in filled.items() if not frame.empty]
    if not with_data:
        raise DataError("empty_file", f"{'Every sheet' if len(sheets) > 1 else 'The sheet'} of this workbook is "
                        f"empty. Upload {wanted}.")
    name = with_data[0]
    empty_before = list(sheets)[: list(sheets).index(name)]
    if empty_before:
        notes.info("sheet_chosen", f"Read the sheet '{name}', the first with data ({name_list(empty_before)} "
                   f"{'is' if len(empty_before) == 1 else 'are'} empty).")
    elif len(with_data) > 1:
        notes.info("first_sheet_only", f"Read only the first sheet, '{name}', of {plural(len(sheets), 'sheet')}.")
    frame = filled[name]
    _note_unsaved_formulas(data, name, raw[name], frame, notes)
    if frame.shape[1] < 2 and labeled:
        raise DataError(
            "one_column",
            "The sheet has only one column. It needs at least two: one with the texts and one with their labels.",
        )
    # Excel row numbers: the index is 0-based over the sheet's rows.
    return frame.values.tolist(), [int(i) + 1 for i in frame.index], notes


def _without_empty_rows_and_columns(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return frame
    filled = frame.apply(lambda c: c.str.strip()) != ""
    return frame.loc[filled.any(axis=1), filled.any(axis=0)]


def _note_unsaved_formulas(data: bytes, sheet: str, raw: pd.DataFrame, kept: pd.DataFrame, notes: Report) -> None:
    """Formula cells that read as empty: their results were never saved (a file written by a program)."""
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception:  # noqa: BLE001 - pandas read it; without the formulas only the explanation is missing
        return
    try:
        unsaved: dict[int, list[int]] = {}  # column -> Excel rows
        for r, values in enumerate(workbook[sheet].iter_rows(values_only=True)):
            for c, value in enumerate(values):
                formula = isinstance(value, str) and value.startswith("=")
                if formula and r < raw.shape[0] and c < raw.shape[1] and raw.iat[r, c].strip() == "":
                    unsaved.setdefault(c, []).append(r + 1)
    finally:
        workbook.close()
    if not unsaved:
        return
    header = kept.iloc[0] if not kept.empty else pd.Series(dtype=str)
    columns = [str(header.get(c, "")).strip() or f"column {c + 1}" for c in sorted(unsaved)]
    rows = sorted(r for found in unsaved.values() for r in found)
    notes.warning(
        "unsaved_formulas",
        f"{plural(len(rows), 'cell')} in {'column' if len(columns) == 1 else 'columns'} {name_list(columns)} "
        f"{'holds a formula' if len(rows) == 1 else 'hold formulas'} whose result was not saved in the file, so "
        f"{'it reads' if len(rows) == 1 else 'they read'} as empty (rows {name_list([str(r) for r in rows], SHOWN_ROWS)}). "
        f"Open the file in Excel or LibreOffice, save it there, and upload it again.",
        [f"row {r}" for r in rows],
    )
