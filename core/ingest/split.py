"""The train / validation / test split: stratified, seeded, fixed at upload.

Rows arrive with `split` already set where the user gave one (train/ val/ test/ folders, a separate
test file) and "" where not. Rows marked "" or "train" form the pool; each missing part (val, test)
is carved out of the pool class by class, the rest trains. So:
  nothing given          -> 80 / 10 / 10 of everything
  a test file or folder  -> val carved from the rest (10/90 of it), test kept as given
  train/ and val/        -> val/ becomes the test set, a validation part (10/90 of train) carved from train
  train/, val/ and test/ -> all kept
Each class draws from its own generator seeded by (seed, class name), so the split is the same on
every call with the same data and seed, and adding a class leaves the others' splits unchanged.

Why a given val/ without a test/ becomes the test set: such data (the PyTorch tutorial's ants/bees, ImageNet)
publishes its scores on val/, so that is the held-out set a user compares with; it is usually far larger than
the slice we would otherwise carve from train/ (ants/bees: 153 images instead of 27), so the test scores are
steadier. Early stopping then picks its epoch on a validation part carved from train/, never on the test set.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from core.ingest.report import Report, name_list, plural

TRAIN, VAL, TEST = "train", "val", "test"
SPLITS = (TRAIN, VAL, TEST)
FRACTIONS = {TRAIN: 0.8, VAL: 0.1, TEST: 0.1}
SPLIT_SEED = 42
PART_NAMES = {TRAIN: "training", VAL: "validation", TEST: "test"}


def _class_rng(seed: int, label: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(label.encode("utf-8"))])


def _part_sizes(n: int, shares: dict[str, float]) -> dict[str, int]:
    """How many of a class's n pooled rows go to each carved part: at least one each, train keeps >= 1."""
    sizes = {part: max(1, round(n * share)) for part, share in shares.items()}
    while sum(sizes.values()) > n - 1:  # give back from the largest carved part until train keeps one
        largest = max(sizes, key=lambda p: sizes[p])
        sizes[largest] -= 1
    return sizes


def assign_splits(frame: pd.DataFrame, report: Report, seed: int = SPLIT_SEED) -> pd.DataFrame:
    """Return the frame with every row's split decided; drops classes too small to split (and says so)."""
    frame = frame.copy()
    frame["split"] = frame["split"].replace("", TRAIN) if len(frame) else frame["split"]
    given = set(frame["split"]) - {TRAIN}
    val_is_test = given == {VAL}
    if val_is_test:  # see the module docstring
        frame.loc[frame["split"] == VAL, "split"] = TEST
        given = {TEST}
    carve = [part for part in (VAL, TEST) if part not in given]
    pool_share = FRACTIONS[TRAIN] + sum(FRACTIONS[p] for p in carve)
    shares = {part: FRACTIONS[part] / pool_share for part in carve}

    # 1) A class needs a training example plus one for each carved part; smaller classes cannot be split.
    pooled = frame.loc[frame["split"] == TRAIN, "label"].value_counts()
    needed = len(carve) + 1
    small = sorted(label for label in frame["label"].unique() if pooled.get(label, 0) < needed)
    if small:
        described = [f"{label} ({int(pooled.get(label, 0))} for training)" for label in small]
        missing = [label for label in small if pooled.get(label, 0) == 0]
        reason = (
            f"a class needs at least {needed} examples so that "
            + " and ".join(PART_NAMES[p] for p in [TRAIN, *carve])
            + " each get one"
            if len(missing) < len(small)
            else "the model cannot learn a class it never sees in training"
        )
        report.warning(
            "small_class_dropped",
            f"Dropped {plural(len(small), 'class', 'classes')} with too few examples: {name_list(described)}; "
            f"{reason}. Add examples to keep {'it' if len(small) == 1 else 'them'}.",
            described,
        )
        report.drop("small_class_dropped", int(frame["label"].isin(small).sum()))
        frame = frame[~frame["label"].isin(small)]

    # 2) Carve the missing parts out of each class's pool.
    for label in sorted(frame["label"].unique()):
        index = frame.index[(frame["label"] == label) & (frame["split"] == TRAIN)]
        order = index[_class_rng(seed, label).permutation(len(index))]
        start = 0
        for part, size in _part_sizes(len(index), shares).items():
            frame.loc[order[start : start + size], "split"] = part
            start += size

    # 3) Say where each part came from.
    if given:
        kept = " and ".join(PART_NAMES[p] for p in (VAL, TEST) if p in given)
        made = " and ".join(PART_NAMES[p] for p in carve)
        message = ("The validation set you gave is kept apart as the test set: every run is judged on it."
                   if val_is_test else f"Kept the {kept} set you gave.")
        if carve:
            message += f" The {made} set{'s were' if len(carve) > 1 else ' was'} set aside from the training examples (stratified, seed {seed})."
        report.info("given_splits", message)
    if TEST in given:
        missing = sorted(set(frame.loc[frame["split"] != TEST, "label"]) - set(frame.loc[frame["split"] == TEST, "label"]))
        if missing:
            report.warning(
                "classes_missing_from_test",
                f"The test set has no examples of {name_list(missing)}, so test scores say nothing about "
                f"{'that class' if len(missing) == 1 else 'those classes'}.",
                missing,
            )
    return frame
