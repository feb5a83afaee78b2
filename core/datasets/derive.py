"""Fixes to a stored dataset become a new dataset that records where it came from (Dataset.derived_from, .changes):
runs of the old one keep the data they were trained and judged on.

Every kept example keeps its split and its source (the row or file it came from), so a run on the fixed copy is
judged on the same test examples, less any the user dropped. Images are hard-linked from the parent's folder
(copied where links are refused), not decoded again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from core.datasets.files import COLUMNS, EXAMPLES_FILE, read_examples
from core.datasets.store import NAME_MAX, NewDatasetFolder, _link_or_copy, dataset_dir, stored_copy
from storage.datasets import add_dataset, get_dataset, lock_fingerprint
from storage.db import session_factory


class FixError(ValueError):
    """The fixes cannot make a dataset; the message says what to change."""


@dataclass
class Fixes:
    """What to change, by row of the parent's examples.csv (0-based, as Split.example_index)."""

    relabel: dict[int, str] = field(default_factory=dict)  # row -> the new class name (one of the dataset's)
    drop: set[int] = field(default_factory=set)  # rows to leave out

    def __bool__(self) -> bool:
        return bool(self.relabel or self.drop)


def derive_dataset(parent_id: int, fixes: Fixes, name: str | None = None) -> int:
    """Store the parent with `fixes` applied as a new dataset and return its id (the id of an identical fixed
    copy already stored, when there is one)."""
    parent = get_dataset(parent_id)
    if parent is None:
        raise FixError(f"There is no dataset #{parent_id}.")
    if not fixes:
        raise FixError("Nothing to change: choose a row to relabel or drop first.")
    frame = read_examples(dataset_dir(parent))
    unknown = sorted({label for label in fixes.relabel.values() if label not in parent.labels})
    if unknown:
        raise FixError(f"'{unknown[0]}' is not a class of this dataset; pick one of: {', '.join(parent.labels)}.")
    outside = sorted(r for r in set(fixes.relabel) | fixes.drop if not 0 <= r < len(frame))
    if outside:
        raise FixError(f"Row {outside[0]} is not in dataset #{parent_id} (it has {len(frame)} rows).")
    # 1) the fixed table: relabel, then drop (a row both relabelled and dropped is dropped)
    changed = {r: label for r, label in fixes.relabel.items() if frame.at[r, "label"] != label and r not in fixes.drop}
    for row, label in changed.items():
        frame.at[row, "label"] = label
    dropped_from_test = int((frame.loc[sorted(fixes.drop), "split"] == "test").sum()) if fixes.drop else 0
    kept = frame.drop(index=sorted(fixes.drop)).reset_index(drop=True)
    split_counts = {part: int((kept["split"] == part).sum()) for part in ("train", "val", "test")}
    if not split_counts["train"] or not split_counts["test"]:
        empty = "training" if not split_counts["train"] else "test"
        raise FixError(f"The fixes leave no {empty} examples; drop fewer rows.")
    labels = sorted(set(kept["label"]))
    if len(labels) < 2:
        raise FixError("The fixes leave a single class; a classifier needs at least two.")
    changes = {"relabelled": len(changed), "dropped": len(fixes.drop), "dropped_from_test": dropped_from_test,
               "relabelled_rows": [{"source": frame.at[r, "source"], "label": label} for r, label in
                                   sorted(changed.items())],
               "dropped_rows": [frame.at[r, "source"] for r in sorted(fixes.drop)]}
    csv_bytes = kept[COLUMNS].to_csv(index=False).encode()
    fingerprint = hashlib.sha256(f"derived:{parent.fingerprint}:".encode() + csv_bytes).hexdigest()
    existing = stored_copy(fingerprint)
    if existing is not None:
        return existing.id
    # 2) the folder, written under a temporary name, then the row (as core.datasets.store.save_dataset does)
    with NewDatasetFolder() as folder:
        incoming = folder.path
        if parent.task == "image":
            source = dataset_dir(parent)
            for relative in kept["input"]:
                target = incoming / PurePosixPath(relative)
                target.parent.mkdir(parents=True, exist_ok=True)
                _link_or_copy(source / PurePosixPath(relative), target)
        (incoming / EXAMPLES_FILE).write_bytes(csv_bytes)  # the bytes the fingerprint was taken of
        name = ((name or "").strip() or f"{parent.name} (fixed)")[:NAME_MAX]
        with session_factory().begin() as session:
            lock_fingerprint(session, fingerprint)
            existing = stored_copy(fingerprint, session)
            if existing is not None:
                return existing.id
            row = add_dataset(session, name=name, task=parent.task, source_name=parent.source_name,
                              fingerprint=fingerprint, num_examples=len(kept), labels=labels,
                              split_counts=split_counts, split_seed=parent.split_seed, report=parent.report,
                              target=parent.target, derived_from=parent.id, changes=changes,
                              display_names={k: v for k, v in (parent.display_names or {}).items() if k in labels})
            folder.place(row)
            dataset_id = row.id
        folder.keep()
        return dataset_id


def describe_changes(changes: dict) -> str:
    """One sentence for a derived dataset: what was changed."""
    parts = []
    if changes.get("relabelled"):
        parts.append(f"{changes['relabelled']} relabelled")
    if changes.get("dropped"):
        test = changes.get("dropped_from_test", 0)
        parts.append(f"{changes['dropped']} dropped" + (f" ({test} from the test split)" if test else ""))
    return ", ".join(parts) or "no changes"


__all__ = ["FixError", "Fixes", "derive_dataset", "describe_changes"]
