"""From an upload to an `Ingested`: read -> raw examples -> validation rules -> split -> summary.

The Data page, the command line and the tests all go through these three functions, so a file is
judged the same way wherever it comes from. A refused upload raises DataError and leaves nothing
behind (its staging folder is removed).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import pandas as pd

from core.ingest.archive import (
    Entry, check_upload_size, folder_entries, is_zip, memory_entries, read_regular_file, sort_entries, zip_entries,
)
from core.ingest.columns import column_names, guess_columns, looks_like_header, read_named_rows
from core.ingest.images import stage_candidates
from core.ingest.ingested import Ingested, content_digest, entries_digest, fingerprint, new_staging_dir
from core.ingest.layout import PREVIEW_ROWS, find_layout
from core.ingest.limits import DEFAULT_LIMITS, Limits
from core.ingest.report import WARNING, DataError, Finding, Report, name_list, plural
from core.ingest.split import SPLIT_SEED, TEST, assign_splits
from core.ingest.suffixes import EXCEL_SUFFIXES, IMAGE_SUFFIXES
from core.ingest.text import check_table_size, read_table
from core.ingest.validate import check_class_count, clean, summarize

Upload = tuple[str, bytes]  # (file name as uploaded, content)


@contextmanager
def _about_test_file(name: str) -> Iterator[None]:
    """Say which file a refusal is about when it is the separate test file."""
    try:
        yield
    except DataError as error:
        raise DataError(error.code, f"Test file '{name}': {error.message}", details=error.details,
                        report=error.report) from error


# 1) Raw examples from each kind of upload ----------------------------------------------------------------


def _text_rows(filename: str, data: bytes, report: Report, limits: Limits, text_column: str | None,
               label_column: str | None, source_prefix: str = "") -> tuple[pd.DataFrame, list[str], str, str, pd.DataFrame]:
    """A table -> (raw frame, column names, text column, label column, preview)."""
    table = read_named_rows(filename, data, report, limits)
    names, rows, lines = table.names, table.rows, table.line_numbers
    preview = pd.DataFrame(rows[:PREVIEW_ROWS], columns=names)
    given = (text_column, label_column)
    try:
        text_column, label_column = guess_columns(names, rows, text_column, label_column, limits.max_classes)
    except DataError as error:  # a bad choice of columns: the page offers the columns again
        formulas = report.get("unsaved_formulas")
        if error.code == "empty_text_column" and formulas is not None:  # the reason it is empty
            error = DataError(error.code, f"{error.message} {formulas.message}", report=report)
        error.columns, error.text_column, error.label_column = names, *given
        raise error
    if given != (text_column, label_column):
        report.info("columns_guessed", f"Using '{text_column}' as the text column and '{label_column}' as the label "
                    f"column. Change them if that is wrong.")
    t, l = names.index(text_column), names.index(label_column)
    unit = "row" if PurePosixPath(filename.lower()).suffix in EXCEL_SUFFIXES else "line"
    raw = pd.DataFrame({
        "input": [r[t] for r in rows],
        "label": [r[l] for r in rows],
        "split": "",
        "source": [f"{source_prefix}{unit} {n}" for n in lines],
        "key": "",
    })
    return raw, names, text_column, label_column, preview


# 2) The shared tail: test part, rules, split, summary ----------------------------------------------------


def _with_test_part(raw: pd.DataFrame, test_raw: pd.DataFrame | None, test_name: str, report: Report) -> pd.DataFrame:
    """A separate test upload replaces the test part; the main data gives train and validation."""
    if test_raw is None:
        return raw
    test_raw = test_raw.assign(split=TEST)
    raw = raw.assign(split=raw["split"].replace(TEST, ""))
    key = (lambda f: f["input"].astype(str).str.strip()) if (raw["key"] == "").all() else (lambda f: f["key"])
    overlap = key(raw).isin(set(key(test_raw)) - {""})
    if overlap.any():
        report.warning("test_overlap", f"Dropped {plural(int(overlap.sum()), 'training example')} that also "
                       f"{'appears' if overlap.sum() == 1 else 'appear'} in the test file, so the test stays unseen.",
                       raw.loc[overlap, "source"].tolist())
        raw = raw[~overlap]
    report.info("test_file", f"Using the {plural(len(test_raw), 'example')} of '{test_name}' as the test set.")
    return pd.concat([test_raw, raw], ignore_index=True)  # test first: a duplicate keeps its test copy


def _finish(raw: pd.DataFrame, task: str, report: Report, limits: Limits, seed: int,
            label_column: str | None, merge_labels: bool = False) -> pd.DataFrame:
    frame = clean(raw, task, report, limits, label_column, merge_labels)
    frame = assign_splits(frame, report, seed)
    check_class_count(frame, report, limits, label_column)
    summarize(frame, report, limits)
    return frame[["input", "label", "split", "source"]].reset_index(drop=True)


# 3) Texts and images ----------------------------------------------------------------------------------------


def _ingest_table(filename: str, data: bytes, *, text_column: str | None, label_column: str | None,
                  test_file: Upload | None, seed: int, merge_labels: bool, limits: Limits) -> Ingested:
    report = Report()
    raw, names, text_column, label_column, preview = _text_rows(filename, data, report, limits, text_column, label_column)
    test_digest = None
    if test_file is not None:
        test_name, test_data = test_file
        test_digest = content_digest(test_data)
        with _about_test_file(test_name):
            check_upload_size(len(test_data), limits)
            test_report = Report()
            test_table = read_table(test_name, test_data, limits=limits)
            test_names = column_names(test_table.rows[0] if looks_like_header(test_table.rows) else None,
                                      len(test_table.rows[0]), test_report)
            # The test file's columns: the same names if it has them, else its own guesses.
            same = text_column in test_names and label_column in test_names
            test_raw, *_ = _text_rows(test_name, test_data, test_report, limits, text_column if same else None,
                                      label_column if same else None, source_prefix="test file ")
        report.findings += [f for f in test_report.findings if f.severity != "info"]
        raw = _with_test_part(raw, test_raw, test_name, report)
    try:
        frame = _finish(raw, "text", report, limits, seed, label_column, merge_labels)
    except DataError as error:  # the columns were read: let the page offer a different choice
        error.columns, error.text_column, error.label_column = names, text_column, label_column
        raise
    return Ingested(
        task="text", frame=frame, report=report, source_name=filename,
        fingerprint=fingerprint(content_digest(data), text_column, label_column, test_digest, seed, merge_labels),
        columns=names, text_column=text_column, label_column=label_column, preview=preview, split_seed=seed, merged_labels=merge_labels,
    )


def _image_raw(entries: list[Entry], report: Report, limits: Limits, label_column: str | None, staging: Path,
               name_prefix: str = ""):
    layout = find_layout(sort_entries(entries, report), report, limits, label_column)
    return layout, stage_candidates(layout.candidates, staging, report, limits, name_prefix)


def _ingest_images(entries: list[Entry], source_name: str, digest: str, *, label_column: str | None,
                   test: tuple[str, list[Entry], str] | None, seed: int, merge_labels: bool,
                   limits: Limits) -> Ingested:
    """`test` = (name, entries, digest) of a separate test upload, or None."""
    report = Report()
    staging = new_staging_dir()
    try:
        layout, raw = _image_raw(entries, report, limits, label_column, staging)
        test_digest = None
        if test is not None:
            test_name, test_entries, test_digest = test
            test_report = Report()
            with _about_test_file(test_name):
                _, test_raw = _image_raw(test_entries, test_report, limits, None, staging, name_prefix="test-")
            report.findings += [f for f in test_report.findings if f.severity != "info"]
            raw = _with_test_part(raw, test_raw, test_name, report)
        frame = _finish(raw, "image", report, limits, seed, layout.label_column, merge_labels)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Ingested(
        task="image", frame=frame, report=report, source_name=source_name,
        fingerprint=fingerprint(digest, layout.file_column, layout.label_column, test_digest, seed, merge_labels),
        columns=layout.columns, text_column=layout.file_column, label_column=layout.label_column,
        preview=layout.preview, staging_dir=staging, split_seed=seed, merged_labels=merge_labels,
    )


def _upload_entries(name: str, data: bytes, limits: Limits) -> list[Entry]:
    """A test upload for images: a zip, or a single labels table is not enough (it needs the images)."""
    if not is_zip(name, data):
        raise DataError("test_not_zip", "For an image dataset the test set must be a zip of class folders.")
    return zip_entries(data, limits)


# 4) Public entry points -----------------------------------------------------------------------------------


def ingest_bytes(filename: str, data: bytes, *, text_column: str | None = None, label_column: str | None = None,
                 test_file: Upload | None = None, seed: int = SPLIT_SEED, merge_labels: bool = False,
                 limits: Limits = DEFAULT_LIMITS) -> Ingested:
    """One uploaded file: a table (CSV, TSV, TXT, XLSX) of texts, or a zip of images.

    `test_file` = (name, bytes) of a separate test set, which replaces the test part of the split.
    Raises DataError (with a plain message and a `code`) when the upload cannot become a dataset.
    """
    check_upload_size(len(data), limits)
    if not data:
        raise DataError("empty_file", "The file is empty (0 bytes). Upload a table with a text column and a label "
                        "column, or a zip of image folders.")
    suffix = PurePosixPath(filename.lower()).suffix
    if is_zip(filename, data):
        entries = zip_entries(data, limits)
        found = sort_entries(entries, Report())
        if not found.images and len(found.tables) == 1:  # a zipped CSV: read the table inside
            table = found.tables[0]
            check_table_size(table.size, limits)  # before it is unpacked into memory
            return ingest_bytes(table.name, table.read(), text_column=text_column, label_column=label_column,
                                test_file=test_file, seed=seed, merge_labels=merge_labels, limits=limits)
        test = None
        if test_file is not None:
            with _about_test_file(test_file[0]):
                check_upload_size(len(test_file[1]), limits)
                test = (test_file[0], _upload_entries(*test_file, limits), content_digest(test_file[1]))
        return _ingest_images(entries, filename, content_digest(data), label_column=label_column, test=test, seed=seed,
                              merge_labels=merge_labels, limits=limits)
    if suffix in IMAGE_SUFFIXES:
        raise DataError("single_image", "One image is not a dataset. Upload a zip of class folders, several images "
                        "in class folders, or a folder.")
    return _ingest_table(filename, data, text_column=text_column, label_column=label_column, test_file=test_file,
                         seed=seed, merge_labels=merge_labels, limits=limits)


def ingest_files(files: list[Upload], *, text_column: str | None = None, label_column: str | None = None,
                 test_file: Upload | None = None, seed: int = SPLIT_SEED, merge_labels: bool = False,
                 limits: Limits = DEFAULT_LIMITS) -> Ingested:
    """A multi-file or folder upload: names carry their relative path ("photos/ants/1.jpg").

    A single file goes through `ingest_bytes`; several become images labeled by their folders (or by
    a CSV among them).
    """
    if not files:
        raise DataError("empty_upload", "Nothing was uploaded. Choose a file, several images, or a folder.")
    if len(files) > 1 and not any(_suffix(name) in IMAGE_SUFFIXES for name, _ in files):
        return _first_of_several(files, text_column=text_column, label_column=label_column, test_file=test_file,
                                 seed=seed, merge_labels=merge_labels, limits=limits)
    if len(files) == 1:
        name, data = files[0]
        return ingest_bytes(PurePosixPath(name.replace("\\", "/")).name, data, text_column=text_column,
                            label_column=label_column, test_file=test_file, seed=seed, merge_labels=merge_labels, limits=limits)
    for _, data in files:
        check_upload_size(len(data), limits)
    entries = memory_entries(files, limits)
    roots = {e.parts[0] for e in entries if len(e.parts) > 1}
    source_name = next(iter(roots)) if len(roots) == 1 else plural(len(files), "file")
    test = None
    if test_file is not None:
        with _about_test_file(test_file[0]):
            check_upload_size(len(test_file[1]), limits)
            test = (test_file[0], _upload_entries(*test_file, limits), content_digest(test_file[1]))
    return _ingest_images(entries, source_name, entries_digest(entries), label_column=label_column, test=test,
                          seed=seed, merge_labels=merge_labels, limits=limits)


def _suffix(name: str) -> str:
    return PurePosixPath(name.lower()).suffix


def _first_of_several(files: list[Upload], **options) -> Ingested:
    """Several tables or zips and no loose images (a CSV and a zip of photos, say): one upload makes one dataset, so
    the first file is read and the page says which files were not taken and what to do with them."""
    (taken, data), others = files[0], [PurePosixPath(n.replace("\\", "/")).name for n, _ in files[1:]]
    taken = PurePosixPath(taken.replace("\\", "/")).name
    sentence = (f"Only '{taken}' was read: one upload makes one dataset. Not taken: {name_list(others)}; save this "
                f"dataset, then upload {'it' if len(others) == 1 else 'each of them'} on its own.")
    try:
        result = ingest_bytes(taken, data, **options)
    except DataError as error:
        said = DataError(error.code, f"{error.message} ({sentence})", details=error.details, report=error.report)
        said.columns, said.text_column, said.label_column = error.columns, error.text_column, error.label_column
        raise said from error
    result.report.findings.insert(0, Finding(WARNING, "not_taken", sentence, others))
    return result


def ingest_path(path: Path, *, text_column: str | None = None, label_column: str | None = None,
                test_path: Path | None = None, seed: int = SPLIT_SEED, merge_labels: bool = False,
                limits: Limits = DEFAULT_LIMITS) -> Ingested:
    """A file or folder on disk (the command line): a table, a zip, or a folder of class folders."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError("not_found", f"There is no file or folder at {path}.")
    if path.is_dir():
        entries = folder_entries(path, limits)
        test = None
        if test_path is not None:
            test_path = Path(test_path).expanduser()
            if test_path.is_dir():
                test_entries = folder_entries(test_path, limits)
                test = (test_path.name, test_entries, entries_digest(test_entries))
            else:
                test_data = read_regular_file(test_path, limits)
                test = (test_path.name, _upload_entries(test_path.name, test_data, limits), content_digest(test_data))
        return _ingest_images(entries, path.name, entries_digest(entries), label_column=label_column, test=test,
                              seed=seed, merge_labels=merge_labels, limits=limits)
    test_file = None
    if test_path is not None:
        test_path = Path(test_path).expanduser()
        test_file = (test_path.name, read_regular_file(test_path, limits))
    return ingest_bytes(path.name, read_regular_file(path, limits), text_column=text_column, label_column=label_column,
                        test_file=test_file, seed=seed, merge_labels=merge_labels, limits=limits)
