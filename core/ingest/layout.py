"""Where the labels of uploaded images come from: class folders (optionally under train/ val/ test/)
or a CSV of file,label next to the images.

Folders:   ants/1.jpg                  -> class "ants", split chosen later
           train/ants/1.jpg            -> class "ants", split "train" (also val/, valid/, validation/, test/)
           hymenoptera/train/ants/1.jpg   a single folder around everything is looked through
CSV:       labels.csv with a column naming the files (by path or bare file name) and a label column;
           a column called "split" with train/val/test values is honoured too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath

import pandas as pd

from core.ingest.archive import Entry, Sorted, check_image_count, note_ignored, refuse_without_images
from core.ingest.columns import column_names, guess_columns, looks_like_header
from core.ingest.limits import Limits
from core.ingest.report import DataError, Report, name_list, plural
from core.ingest.text import read_table

SPLIT_ALIASES = {
    "train": "train", "training": "train",
    "val": "val", "valid": "val", "validation": "val", "dev": "val",
    "test": "test", "testing": "test",
}
PREVIEW_ROWS = 20


@dataclass
class Candidate:
    entry: Entry
    label: str
    split: str  # "" when the upload does not say


@dataclass
class Layout:
    candidates: list[Candidate]
    columns: list[str] = field(default_factory=list)  # the labels CSV's columns, for the pickers
    file_column: str | None = None
    label_column: str | None = None
    preview: pd.DataFrame | None = None


def root_depth(entries: list[Entry]) -> int:
    """How many leading folders every image shares while still leaving a folder above each file."""
    parts = [e.parts for e in entries]
    depth = 0
    while parts and all(len(p) >= depth + 3 for p in parts) and len({p[depth] for p in parts}) == 1:
        depth += 1
    return depth


def _refuse_several_roots(images: list[Entry], depth: int, report: Report) -> None:
    """`set1/{ants,bees}/...` beside `set2/{ants,bees}/...`: the class folders sit one level down, repeated under
    several top folders, and reading the top level as classes would train 'set1' against 'set2'.

    Top folders that are splits (train/, test/) are the ordinary layout; top folders with different folders
    inside (animals/{cats,dogs}, plants/{roses}) may well be classes, so only repeated folder names count.
    """
    below: dict[str, set[str]] = {}
    for entry in images:
        parts = entry.parts[depth:]
        if len(parts) >= 3:
            below.setdefault(parts[0], set()).add(parts[1])
    if len(below) < 2 or any(top.lower() in SPLIT_ALIASES for top in below):
        return
    tops = sorted(below)
    repeated = sorted(set.intersection(*below.values()))
    if len(repeated) < 2:
        return
    same = _same_files(images, depth, tops)
    if same:
        raise DataError(
            "repeated_folders",
            f"The same images are in {name_list(tops)} (for example {name_list(same[0])}): the folder seems to have "
            f"been added to the zip {'twice' if len(tops) == 2 else 'several times'}. Upload one copy.",
            report=report,
        )
    raise DataError(
        "several_roots",
        f"The top folders {name_list(tops)} each hold the same class folders ({name_list(repeated)}), so it is not "
        f"clear whether the classes are the top folders or the folders inside them. Upload one top folder at a "
        f"time, or put the class folders side by side (ants/ and bees/, or train/ants/ and test/ants/).",
        report=report,
    )


def _same_files(images: list[Entry], depth: int, tops: list[str]) -> list[list[str]]:
    """Groups of files with the same path below different top folders and the same bytes (read only for
    paths that repeat, and first compared by size)."""
    by_path: dict[tuple[str, ...], list[Entry]] = {}
    for entry in images:
        parts = entry.parts[depth:]
        if len(parts) >= 3 and parts[0] in tops:
            by_path.setdefault(parts[1:], []).append(entry)
    groups = []
    for entries in by_path.values():
        if len(entries) > 1 and len({e.size for e in entries}) == 1 and len({e.read() for e in entries}) == 1:
            groups.append([e.name for e in entries])
    return groups


def from_folders(images: list[Entry], report: Report) -> Layout:
    depth = root_depth(images)
    _refuse_several_roots(images, depth, report)
    candidates, loose = [], []
    for entry in images:
        parts = entry.parts[depth:]
        split = SPLIT_ALIASES.get(parts[0].lower(), "") if len(parts) >= 2 else ""
        if split and len(parts) >= 3:
            candidates.append(Candidate(entry, label=parts[1], split=split))
        elif len(parts) >= 2 and not split:
            candidates.append(Candidate(entry, label=parts[0], split=""))
        else:
            loose.append(entry.name)
    if not candidates:
        raise DataError(
            "no_class_folders",
            "The images are not in class folders. Put each class's images in a folder named after the class "
            "(for example ants/ and bees/) and upload those folders, or add a CSV with file and label columns.",
            report=report,
        )
    if loose:
        report.warning(
            "loose_images",
            f"Ignored {plural(len(loose), 'image')} that {'is' if len(loose) == 1 else 'are'} not inside a class "
            f"folder ({name_list(loose)}).",
            loose,
        )
    return Layout(candidates=candidates)


def _match_keys(images: list[Entry]) -> dict[str, Entry]:
    """File references a CSV may use: the full name, the name below the shared root, or a unique bare file name."""
    keys: dict[str, Entry] = {}
    depth = root_depth(images) if images else 0
    basenames = pd.Series([PurePosixPath(e.name).name for e in images]).value_counts()
    for entry in images:
        keys[entry.name] = entry
        keys["/".join(entry.parts[depth:])] = entry
        keys["/".join(entry.parts[1:])] = entry  # the CSV sits inside the uploaded folder
        if basenames[PurePosixPath(entry.name).name] == 1:
            keys[PurePosixPath(entry.name).name] = entry
    return keys


def _reference(cell: str) -> str:
    """A CSV's file reference as a lookup key ("./a\\b.jpg" -> "a/b.jpg"); only ever compared, never opened."""
    reference = cell.strip().replace("\\", "/")
    while reference.startswith("./"):
        reference = reference[2:]
    return reference


def from_table(images: list[Entry], table_entry: Entry, report: Report, limits: Limits,
               label_column: str | None = None) -> Layout | None:
    """Labels from a CSV; None when no column of it names the uploaded images."""
    notes = Report()
    try:
        table = read_table(table_entry.name, table_entry.read())
    except DataError:
        return None
    header = looks_like_header(table.rows)
    names = column_names(table.rows[0] if header else None, len(table.rows[0]), notes)
    rows = table.rows[1:] if header else table.rows
    keys = _match_keys(images)

    def matches(j: int) -> int:
        return sum(1 for r in rows if _reference(r[j]) in keys)

    scores = [matches(j) for j in range(len(names))]
    if not rows or max(scores) == 0:
        return None
    file_j = scores.index(max(scores))
    file_column = names[file_j]
    _, label_column = guess_columns(names, rows, text_column=file_column, label_column=label_column,
                                    max_classes=limits.max_classes)
    label_j = names.index(label_column)
    split_j = next((j for j, n in enumerate(names) if n.strip().lower() == "split" and j not in (file_j, label_j)), None)

    candidates, missing, used = [], [], set()
    for row in rows:
        reference = _reference(row[file_j])
        entry = keys.get(reference)
        if entry is None:
            if reference:
                missing.append(reference)
            continue
        split = SPLIT_ALIASES.get(row[split_j].strip().lower(), "") if split_j is not None else ""
        candidates.append(Candidate(entry, label=row[label_j], split=split))
        used.add(entry.name)
    report.findings += notes.findings
    report.info("labels_from_table", f"Took the labels from column '{label_column}' of '{table_entry.name}' "
                f"(files named in column '{file_column}').")
    if missing:
        report.warning("missing_files", f"{plural(len(missing), 'file')} named in the CSV {'is' if len(missing) == 1 else 'are'} "
                       f"not in the upload ({name_list(missing)}).", missing)
    unlisted = [e.name for e in images if e.name not in used]
    if unlisted:
        report.info("unlisted_images", f"Ignored {plural(len(unlisted), 'image')} that the CSV does not list "
                    f"({name_list(unlisted)}).", unlisted)
    return Layout(candidates=candidates, columns=names, file_column=file_column, label_column=label_column,
                  preview=pd.DataFrame(rows[:PREVIEW_ROWS], columns=names))


def find_layout(found: Sorted, report: Report, limits: Limits, label_column: str | None = None) -> Layout:
    refuse_without_images(found, report)
    layout, used_table = None, None
    for table in found.tables:
        layout = from_table(found.images, table, report, limits, label_column)
        if layout is not None:
            used_table = table
            break
    if layout is None:
        layout = from_folders(found.images, report)
    note_ignored([e for e in found.others + found.tables if e is not used_table], report)
    check_image_count(len(layout.candidates), limits, report)
    return layout
