"""Errors planted on purpose, for the data review's benchmark and tests: labels flipped at random, and test examples
that are paraphrase-like copies of training examples. Seeded, so every run plants the same."""

from __future__ import annotations

import numpy as np
import pandas as pd

FLIP_SEED = 0
# The edits a person makes when they retype a message: SMS spellings, a word left out, two words swapped, the
# case or the punctuation changed.
SPELLINGS = {"you": "u", "are": "r", "to": "2", "please": "pls", "for": "4", "your": "ur", "the": "da",
             "and": "n", "now": "today", "free": "FREE", "call": "ring", "text": "txt", "message": "msg"}


def flip_labels(frame: pd.DataFrame, column: str, count: int, seed: int = FLIP_SEED) -> tuple[pd.DataFrame, np.ndarray]:
    """`count` random rows get another class (the next one in sorted order); returns the frame and their
    positions (0-based; data row numbers are these + 1)."""
    rng = np.random.default_rng(seed)
    flipped = np.sort(rng.choice(len(frame), count, replace=False))
    classes = sorted(frame[column].unique())
    noisy = frame.copy()
    noisy.loc[flipped, column] = [classes[(classes.index(label) + 1) % len(classes)]
                                  for label in frame.loc[flipped, column]]
    return noisy, flipped


def paraphrase(text: str, rng: np.random.Generator) -> str:
    """A retyped copy: spellings swapped, one word left out, two neighbours swapped, case or ending changed."""
    words = [SPELLINGS.get(w.lower(), w) for w in text.split()]
    if len(words) > 5:
        del words[int(rng.integers(len(words)))]
    if len(words) > 6:
        i = int(rng.integers(len(words) - 1))
        words[i], words[i + 1] = words[i + 1], words[i]
    out = " ".join(words)
    return out.lower() if rng.random() < 0.5 else out.rstrip(".!?") + "!!"


def plant_near_copies(examples: pd.DataFrame, count: int, seed: int = 1,
                      min_words: int = 6) -> tuple[pd.DataFrame, list[tuple[int, int]]]:
    """examples.csv of a stored dataset with `count` test rows replaced by paraphrases of training rows (with the
    training row's label). Returns the table and (test row, training row) of each plant."""
    rng = np.random.default_rng(seed)
    train = examples.index[(examples["split"] == "train") & (examples["input"].str.split().str.len() >= min_words)]
    test = examples.index[examples["split"] == "test"]
    originals = rng.choice(train, count, replace=False)
    targets = rng.choice(test, count, replace=False)
    planted = examples.copy()
    for target, original in zip(targets, originals):
        planted.at[target, "input"] = paraphrase(examples.at[original, "input"], rng)
        planted.at[target, "label"] = examples.at[original, "label"]
    return planted, [(int(t), int(o)) for t, o in zip(targets, originals)]
