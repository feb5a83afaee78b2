"""A label review's fixes (relabel these rows, drop those) saved as a new version of the dataset
(core/datasets/versions.py): runs of the old version keep the data they were trained and judged on.

The review names rows by their place in the version's examples.csv (0-based, as Split.example_index); a version
names them by the id they keep across versions. This turns one into the other, checks what a review can get wrong
(a class the dataset does not have, a row it does not have), and says it in one sentence (FixError). Every kept row
keeps its split, so a run on the fixed version is judged on the same test rows, less any the user dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.datasets.files import ROW_ID
from core.datasets.versions import examples_with_ids, new_version
from core.ingest.report import DataError
from storage.datasets import get_dataset

NOTE = "Label review fixes"


class FixError(ValueError):
    """The fixes cannot make a version; the message says what to change."""


@dataclass
class Fixes:
    """What to change, by row of the version's examples.csv (0-based, as Split.example_index)."""

    relabel: dict[int, str] = field(default_factory=dict)  # row -> the new class name (one of the dataset's)
    drop: set[int] = field(default_factory=set)  # rows to leave out

    def __bool__(self) -> bool:
        return bool(self.relabel or self.drop)


def save_fixes(dataset_id: int, fixes: Fixes, note: str = NOTE) -> int:
    """Store the dataset with `fixes` applied as its next version and return that version's id (the id of the
    version these very fixes made before, when there is one)."""
    dataset = get_dataset(dataset_id)
    if dataset is None:
        raise FixError(f"There is no dataset #{dataset_id}.")
    if not fixes:
        raise FixError("Nothing to change: choose a row to relabel or drop first.")
    unknown = sorted({label for label in fixes.relabel.values() if label not in dataset.labels})
    if unknown:  # a review relabels into the classes there are; adding a class is a version's own change
        raise FixError(f"'{unknown[0]}' is not a class of this dataset; pick one of: {', '.join(dataset.labels)}.")
    ids = examples_with_ids(dataset_id)[ROW_ID].tolist()
    outside = sorted(r for r in set(fixes.relabel) | fixes.drop if not 0 <= r < len(ids))
    if outside:
        raise FixError(f"Row {outside[0]} is not in dataset #{dataset_id} (it has {len(ids)} rows).")
    try:
        return new_version(dataset_id, relabel={ids[r]: label for r, label in fixes.relabel.items()},
                           drop={ids[r] for r in fixes.drop}, note=note)
    except DataError as error:
        raise FixError(str(error)) from error


__all__ = ["FixError", "Fixes", "NOTE", "save_fixes"]
