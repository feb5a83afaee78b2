"""Uploads to predict on: a table of texts, or images (a zip, several files, a folder), without labels.

The Predict page and `python -m core predict --file` read through here, and here reads through the
Data page's own steps: the same table reader (encodings, delimiters, Excel, the row limit), the same
archive reader (zip bombs, entry count, unsafe paths, upload size) and the same image checks (pixel
limit, damaged files named one by one with their reason). So Predict refuses what the Data page
refuses, in the same words; only what is about labels (a label column, class folders) is not asked.

    image = read_image("cat.jpg", data)             # one image, RGB; DataError when it cannot be read
    table = read_texts("inbox.csv", data)          # .frame, .text_column (guessed), .report
    images = read_images([("field.zip", data)])     # .entries (readable), .names, .report, .load(entry)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from PIL import Image

from core.ingest.archive import (
    Entry, check_image_count, check_upload_size, folder_entries, is_zip, memory_entries, note_ignored,
    read_regular_file, refuse_without_images, sort_entries, zip_entries,
)
from core.ingest.columns import guess_text_column, read_named_rows
from core.ingest.images import UnreadableImage, load_rgb, read_each, report_unreadable
from core.ingest.limits import DEFAULT_LIMITS, Limits
from core.ingest.report import DataError, Report
from core.ingest.validate import NO_USABLE_IMAGES

Upload = tuple[str, bytes]  # (file name as uploaded, content)


@dataclass
class TextTable:
    frame: pd.DataFrame  # the table as read: named columns of strings, one row per text
    text_column: str  # the guessed column of texts (the user may pick another)
    report: Report  # how it was read: encoding, skipped rows, no header row...


@dataclass
class ImageFiles:
    entries: list[Entry]  # the readable images, in upload order (a zip's in name order)
    report: Report  # what was left out and why: files that are not images, unreadable images by name
    limits: Limits

    @property
    def names(self) -> list[str]:
        """How each image is shown: its uploaded name; for a zip, its name inside ('<zip>/<name inside>' when the
        zip came with other files)."""
        return [entry.name for entry in self.entries]

    def load(self, entry: Entry) -> Image.Image:
        """One image as the model gets it (RGB, as training stored it). Decoded again here, a batch at a
        time, so a large upload is never held decoded in memory all at once."""
        return load_rgb(entry.read(), self.limits).image


def read_image(filename: str, data: bytes, limits: Limits = DEFAULT_LIMITS) -> Image.Image:
    """One uploaded image as the model gets it, with the Data page's checks (pixel limit, damaged files).
    Raises DataError naming the file and the reason."""
    try:
        return load_rgb(data, limits).image
    except UnreadableImage as problem:
        raise DataError("unreadable_image", f"{filename} could not be read: {problem}. Try a JPEG or PNG.") from None


def read_texts(filename: str, data: bytes, limits: Limits = DEFAULT_LIMITS) -> TextTable:
    """A CSV / TSV / TXT / Excel table of texts; one column is enough. Raises DataError with a plain message."""
    check_upload_size(len(data), limits)
    report = Report()
    table = read_named_rows(filename, data, report, limits, labeled=False)
    return TextTable(pd.DataFrame(table.rows, columns=table.names), guess_text_column(table.names, table.rows), report)


def read_images(files: list[Upload], limits: Limits = DEFAULT_LIMITS) -> ImageFiles:
    """Uploaded images and zips of images (each zip opened with the Data page's limits); folders need not be classes."""
    if not files:
        raise DataError("empty_upload", "Nothing was uploaded. Choose images, a zip of images, or a folder.")
    entries: list[Entry] = []
    for name, data in files:
        check_upload_size(len(data), limits)
        if is_zip(name, data):
            inside = sorted(zip_entries(data, limits), key=lambda e: e.name)
            if len(files) > 1:  # among other files, say which zip; alone, named as on the Data page
                inside = [dataclasses.replace(e, name=f"{name}/{e.name}") for e in inside]
            entries += inside
        else:
            entries += memory_entries([(name, data)], limits)
    return _checked(entries, limits)


def read_path(path: Path, task: str, limits: Limits = DEFAULT_LIMITS) -> TextTable | ImageFiles:
    """A file or folder on disk (the command line): a table for a text run; a folder, a zip or an image for an image run."""
    path = Path(path).expanduser()
    if path.is_dir():
        return _checked(sorted(folder_entries(path, limits), key=lambda e: e.name), limits)
    data = read_regular_file(path, limits)  # a device or a FIFO is refused before it is read
    return read_texts(path.name, data, limits) if task == "text" else read_images([(path.name, data)], limits)


def _checked(entries: list[Entry], limits: Limits) -> ImageFiles:
    """Keep the images that decode; name the others in the report, as the Data page does."""
    report = Report()
    found = sort_entries(entries, report)  # clutter skipped silently, archives inside a zip noted
    refuse_without_images(found, report)
    note_ignored(found.tables + found.others, report)
    check_image_count(len(found.images), limits, report)
    results = read_each(found.images, lambda entry: _check(entry, limits))
    report_unreadable([e.name for e in found.images], results, report)
    kept = [entry for entry, result in zip(found.images, results) if not isinstance(result, str)]
    if not kept:
        raise DataError("no_rows", NO_USABLE_IMAGES, report=report)
    return ImageFiles(kept, report, limits)


def _check(entry: Entry, limits: Limits) -> None:
    load_rgb(entry.read(), limits)  # decoded in full (a cut-off file shows now), then dropped
