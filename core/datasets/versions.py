"""Dataset versions: every change to a stored dataset (relabels, drops, rows added from a new upload, classes added
or merged, the fixes a label review accepted: core/datasets/fixes.py) is stored as a new version, a new dataset row
and folder made from its parent; the parent stays as it was, so its runs stay reproducible.

    new_id = new_version(dataset_id, relabel={"12": "spam"}, drop={"40"}, added=ingested, note="May's tickets")

A row keeps its identity (`row_id`, core/datasets/files.py) and its split across versions: version 1's test rows
are still test rows in every later version, so runs on different versions are judged on comparable rows. Rows added
from an upload take the split ingestion made for them (stratified by class, as any upload's: core/ingest/split.py);
a row whose input is already in the dataset is not added twice (its stored row, split and all, stays). The version's
`changes` says what differs: rows added, relabeled, dropped (and how many of those were test rows), classes added and
removed, and the note. Saving the same relabels and drops twice (a double click) gives the version already saved, not
another.

Runs record the version they trained on by training on that version's dataset row (`Run.dataset_id`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path, PurePosixPath

import pandas as pd

from core.datasets.files import EXAMPLES_FILE, ROW_ID, read_examples, row_ids, write_examples
from core.datasets.label_names import suggested_names
from core.datasets.store import NAME_MAX, NewDatasetFolder, _link_or_copy, dataset_dir, stored_copy
from core.ingest import DEFAULT_LIMITS, Ingested
from core.ingest.report import DataError, name_list, plural
from storage.datasets import add_dataset, get_dataset, lineage_versions, lock_fingerprint
from storage.db import session_factory
from storage.models import Dataset

NOTE_MAX = 500
# Rows added to a dataset may all be of one class (a new class's first examples): read uploads for a version with it.
ADDED_ROWS_LIMITS = replace(DEFAULT_LIMITS, min_classes=1)


def examples_with_ids(dataset_id: int) -> pd.DataFrame:
    """A stored dataset's examples with a `row_id` column (the identity a row keeps across versions)."""
    dataset = get_dataset(dataset_id)
    if dataset is None:
        raise KeyError(f"no dataset with id {dataset_id}")
    frame = read_examples(dataset_dir(dataset))
    frame[ROW_ID] = row_ids(frame)
    return frame


def versions_of(dataset_id: int) -> list[Dataset]:
    """Every version of the dataset's lineage, oldest first."""
    return lineage_versions(dataset_id)


def describe_changes(changes: Mapping) -> str:
    """One line saying what a version changed, e.g. "120 rows added (class refund added), 3 relabeled"."""
    if not changes:
        return "first version"
    parts = []
    if changes.get("added"):
        parts.append(plural(changes["added"], "row") + " added")
    if changes.get("relabeled"):
        parts.append(f"{changes['relabeled']:,} relabeled")
    if changes.get("dropped"):
        test = changes.get("dropped_from_test", 0)
        parts.append(f"{changes['dropped']:,} dropped" + (f" ({test:,} from the test split)" if test else ""))
    if changes.get("classes_added"):
        parts.append(f"{plural(len(changes['classes_added']), 'class', 'classes')} added: "
                     f"{name_list(list(changes['classes_added']))}")
    if changes.get("classes_removed"):
        parts.append(f"{plural(len(changes['classes_removed']), 'class', 'classes')} gone: "
                     f"{name_list(list(changes['classes_removed']))}")
    if changes.get("already_there"):
        parts.append(f"{plural(changes['already_there'], 'uploaded row')} already there, kept as stored")
    return ", ".join(parts) or "no change"


def _added_rows(parent: Dataset, frame: pd.DataFrame, added: Ingested, version: int,
                folder: Path) -> tuple[pd.DataFrame, int]:
    """The upload's rows that are new to the dataset, with fresh row ids, their ingestion split kept; image files
    linked into `folder` under names of their own. Returns (rows, how many were already there)."""
    if added.task != parent.task:
        raise DataError("version_task", f"This upload holds {added.task} data but the dataset is {parent.task} data; "
                        f"add {parent.task} examples.")
    new = added.frame[["input", "label", "split", "source"]].copy().reset_index(drop=True)
    if parent.task == "text":
        known = set(frame["input"])
        fresh = ~new["input"].isin(known)
        already = int((~fresh).sum())
        new = new[fresh].drop_duplicates("input").reset_index(drop=True)
    else:
        already = 0
        inputs = []
        for staged in new["input"]:
            staged = Path(staged)
            name = f"v{version}_{staged.name}"
            _link_or_copy(staged, folder / "images" / name)
            inputs.append(str(PurePosixPath("images") / name))
        new["input"] = inputs
    new[ROW_ID] = [f"v{version}-{i}" for i in range(len(new))]
    return new, already


def new_version(dataset_id: int, relabel: Mapping[str, str] | None = None, drop: Iterable[str] | None = None,
                added: Ingested | None = None, note: str = "") -> int:
    """Store a new version of a dataset and return its id. `relabel` maps row ids to their new labels (a label not
    yet in the dataset adds a class; mapping every row of a class to another merges them), `drop` names rows to
    leave out, `added` is an ingested upload whose new rows join (each keeps the split ingestion gave it).

    Raises DataError (one sentence saying what to fix) for unknown row ids, an upload of another kind of data, or a
    change that changes nothing.
    """
    parent = get_dataset(dataset_id)
    if parent is None:
        raise KeyError(f"no dataset with id {dataset_id}")
    relabel = {str(k): str(v).strip() for k, v in (relabel or {}).items()}
    drop = {str(r) for r in (drop or ())}
    frame = examples_with_ids(dataset_id)
    known = set(frame[ROW_ID])
    unknown = sorted((set(relabel) | drop) - known)
    if unknown:
        raise DataError("version_unknown_rows", f"{plural(len(unknown), 'row')} named in the change "
                        f"{'is' if len(unknown) == 1 else 'are'} not in this dataset: {name_list(unknown)}; "
                        "pick rows of this version.")
    if any(not label for label in relabel.values()):
        raise DataError("version_empty_label", "A new label is empty; type the class name the row should have.")
    versions = versions_of(dataset_id)
    version = max(v.version for v in versions) + 1
    root = parent.lineage_id or parent.id

    # 1) relabels and drops, on rows that keep their ids and splits
    label_before = dict(zip(frame[ROW_ID], frame["label"]))
    relabeled = sum(1 for row, label in relabel.items() if row not in drop and label_before[row] != label)
    dropped_from_test = int(frame[ROW_ID].isin(drop)[frame["split"] == "test"].sum())
    if relabel:
        changed = frame[ROW_ID].map(relabel)
        frame["label"] = changed.where(changed.notna(), frame["label"])
    frame = frame[~frame[ROW_ID].isin(drop)].reset_index(drop=True)

    with NewDatasetFolder() as folder:
        incoming = folder.path
        if parent.task == "image":  # the parent's images, linked (a stored dataset never changes in place)
            (incoming / "images").mkdir()
            for relative in frame["input"]:
                target = incoming / relative
                if not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    _link_or_copy(dataset_dir(parent) / relative, target)
        # 2) rows added from an upload
        already = 0
        if added is not None:
            new_rows, already = _added_rows(parent, frame, added, version, incoming)
            frame = pd.concat([frame, new_rows], ignore_index=True)
        else:
            new_rows = frame.iloc[0:0]
        if not len(new_rows) and not relabeled and not drop:
            raise DataError("version_no_change", "This change leaves the dataset as it is (no row added, relabeled "
                            "or dropped); nothing to save as a new version.")
        if frame.empty or not (frame["split"] == "train").any() or not (frame["split"] == "test").any():
            raise DataError("version_empty", "The new version would have no training or no test rows left; drop "
                            "fewer rows.")
        labels = sorted(frame["label"].unique())
        if len(labels) < 2:
            raise DataError("version_one_class", f"The new version would hold the single class {labels[0]!r}; a "
                            "classifier needs at least two, so drop or relabel fewer rows.")
        changes = {
            "added": int(len(new_rows)), "relabeled": int(relabeled), "dropped": int(len(drop)),
            "dropped_from_test": dropped_from_test,
            "classes_added": [c for c in labels if c not in parent.labels],
            "classes_removed": [c for c in parent.labels if c not in labels],
            "already_there": already, "note": (note or "").strip()[:NOTE_MAX],
            "added_from": added.source_name[:200] if added is not None else "",
            "split_added": {s: int((new_rows["split"] == s).sum()) for s in ("train", "val", "test")},
        }
        write_examples(incoming, frame)
        # The same relabels and drops saved twice make the same rows: the version saved first is the answer. (Added
        # rows carry the version's number in their ids, so an upload added twice makes two versions.)
        fingerprint = hashlib.sha256(f"version:{root}:".encode() + (incoming / EXAMPLES_FILE).read_bytes()).hexdigest()
        names = {k: v for k, v in (parent.display_names or {}).items() if k in labels}
        names.update({k: v for k, v in suggested_names(changes["classes_added"]).items() if k not in names})
        with session_factory().begin() as session:
            lock_fingerprint(session, fingerprint)
            existing = stored_copy(fingerprint, session)
            if existing is not None:
                return existing.id
            row = add_dataset(
                session, name=parent.name[:NAME_MAX], task=parent.task, source_name=parent.source_name,
                fingerprint=fingerprint, num_examples=len(frame), labels=labels, display_names=names,
                split_counts={s: int((frame["split"] == s).sum()) for s in ("train", "val", "test")},
                split_seed=parent.split_seed, report=parent.report, target=parent.target,
                parent_id=parent.id, lineage_id=root, version=version, changes=changes,
            )
            folder.place(row)
            new_id = row.id
        folder.keep()
        return new_id


def version_name(dataset: Dataset) -> str:
    """How a version is named where it is listed: "v2"."""
    return f"v{dataset.version or 1}"


__all__ = ["ADDED_ROWS_LIMITS", "describe_changes", "examples_with_ids", "new_version", "version_name", "versions_of"]
