"""Reading a stored dataset's splits for training (texts or image paths with their class ids)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.datasets.files import read_examples
from core.models.text_inputs import Split


class TrainingDataError(ValueError):
    """The dataset cannot be trained on as stored; the message says what to fix."""

    def __init__(self, message: str, code: str = "data") -> None:
        super().__init__(message)
        self.code = code


def load_splits(dataset_dir: Path, labels: list[str]) -> dict[str, Split]:
    frame = read_examples(dataset_dir)
    label_ids = {label: i for i, label in enumerate(labels)}
    unknown = sorted(set(frame["label"]) - set(label_ids))
    if unknown:
        raise TrainingDataError(f"The dataset has labels that are not in its label list: {', '.join(unknown[:5])}.", "labels")
    splits = {}
    for name in ("train", "val", "test"):
        part = frame[frame["split"] == name]
        splits[name] = Split(
            example_index=[int(i) for i in part.index],
            inputs=part["input"].tolist(),
            labels=np.array(part["label"].map(label_ids), dtype=np.int64),
        )
    if len(splits["train"]) == 0:
        raise TrainingDataError("The dataset has no training examples.", "empty_train")
    if len(splits["test"]) == 0:
        raise TrainingDataError("The dataset has no test examples to evaluate on.", "empty_test")
    return splits
