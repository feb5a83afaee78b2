"""The head-only model outside a run: a stored dataset's cached backbone features, the linear head fitted on them,
and out-of-fold probabilities (k-fold: every example predicted by a head that never saw it).

One place for what several answers need from the fast model: the learning curve (core.training.data_curve), likely
label errors and near-copies across the split (core.training.data_review). The features are the head-only
method's cache (core.training.features), so a dataset a head-only run (or one of these) has read costs no backbone
pass; the head is scikit-learn's logistic regression on standardised features, the same linear model as the
head-only method, fitted in about a second on thousands of examples.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.models.text_inputs import Split
from core.run_config import RunConfig
from core.training import features as cached
from core.training.device import choose_device
from core.training.progress import NullReporter, Reporter
from core.training.run import prepare_model, settings_and_splits, split_batches
from storage.paths import cache_dir

FOLDS = 5
# Regularisation of the head for out-of-fold probabilities (scikit-learn's C, smaller is stronger). A head that
# fits the training folds less tightly also learns less of their wrong labels: on SMS spam with 50 labels flipped
# (42 kept by ingestion), the top 100 held 39 of them with C = 0.01, 38 with 0.1 and 37 with 1 (one comparison on the
# same cached MiniLM features, 2026-12-02); 0.01 was also the fastest fit.
OUT_OF_FOLD_C = 0.01


@dataclass
class HeadFeatures:
    """The backbone's features of every split of a stored dataset, as the head-only method sees them."""

    features: dict[str, np.ndarray]  # split -> (N, D) float32: the head's input, flattened
    embeddings: dict[str, np.ndarray]  # split -> (N, E): for comparing examples (text: mean-pooled; image: features)
    splits: dict[str, Split]  # split -> its examples (example_index: row in examples.csv; labels: class ids)
    model: str  # the model they come from (catalog key, hub id or folder)

    def pooled(self, names: tuple[str, ...] = ("train", "val", "test")) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(features (N, D), labels (N,), rows of examples.csv (N,)) of the named splits, one after another."""
        present = [n for n in names if n in self.features and len(self.splits[n])]
        return (np.vstack([self.features[n] for n in present]),
                np.concatenate([self.splits[n].labels for n in present]),
                np.concatenate([np.asarray(self.splits[n].example_index, dtype=np.int64) for n in present]))


def head_features(dataset_dir: Path, labels: list[str], task: str, model: str,
                  reporter: Reporter | None = None) -> HeadFeatures:
    """The features of `model` on the stored dataset: read from the cache, or extracted once (and cached)."""
    dataset_dir = Path(dataset_dir)
    config, splits = settings_and_splits(task, RunConfig(model=model, method="head"), dataset_dir, labels)
    built = prepare_model(task, config, labels)
    data = split_batches(built, splits, dataset_dir, config)
    tensors = cached.load_or_extract(dataset_dir, cache_dir(), built, data, choose_device("auto"),
                                     config.eval_batch_size, config.seed, reporter or NullReporter())
    flat = {name: tensor.reshape(len(tensor), -1).float().numpy() for name, tensor in tensors.items()}
    features = {name: x for name, x in flat.items() if not name.startswith(cached.EMBEDDING)}
    embeddings = {name: flat.get(cached.EMBEDDING + name, x) for name, x in features.items()}
    return HeadFeatures(features, embeddings, splits, model)


def linear_head(c: float = 1.0):
    """The head: standardised features -> multinomial logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))


def out_of_fold_probabilities(x: np.ndarray, y: np.ndarray, num_labels: int, folds: int = FOLDS, seed: int = 0,
                              c: float = OUT_OF_FOLD_C) -> np.ndarray:
    """(N, num_labels) probabilities, each row from a head trained on the other folds (stratified, seeded).

    A class with fewer examples than folds still gets its rows predicted (the folds are as stratified as it
    allows); a class absent from a fold's training part gets probability 0 there.
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    counts = np.bincount(y, minlength=num_labels)
    folds = max(2, min(folds, len(y)))
    splitter = (StratifiedKFold(folds, shuffle=True, random_state=seed) if counts[counts > 0].min() >= folds
                else KFold(folds, shuffle=True, random_state=seed))
    probabilities = np.zeros((len(y), num_labels), dtype=np.float64)
    for train, held_out in splitter.split(x, y):
        seen = np.unique(y[train])
        if len(seen) < 2:  # one class only: it is the answer
            probabilities[np.ix_(held_out, seen)] = 1.0
            continue
        head = linear_head(c).fit(x[train], y[train])
        probabilities[np.ix_(held_out, head.classes_)] = head.predict_proba(x[held_out])
    return probabilities


def carry_features(parent_dir: Path, child_dir: Path, dropped_rows: set[int], labels: list[str], task: str,
                   model: str) -> bool:
    """After fixes (core.datasets.fixes): cache the fixed version's features as the parent's less the dropped rows,
    so a head-only run or a second review on it needs no backbone pass. A relabel changes no feature. False when
    the parent's features of `model` are not cached (the version then extracts its own when first asked)."""
    import torch
    from safetensors.torch import load_file, save_file

    config, splits = settings_and_splits(task, RunConfig(model=model, method="head"), Path(parent_dir), labels)
    built = prepare_model(task, config, labels)
    folder = cache_dir() / "features"
    source = folder / f"{cached.cache_key(Path(parent_dir), built, config.seed)}.safetensors"
    if not source.is_file():
        return False
    tensors = load_file(str(source))
    carried = {}
    for name, tensor in tensors.items():
        split = splits[name.removeprefix(cached.EMBEDDING)]
        keep = torch.tensor([row not in dropped_rows for row in split.example_index], dtype=torch.bool)
        carried[name] = tensor[keep].contiguous()
    target = folder / f"{cached.cache_key(Path(child_dir), built, config.seed)}.safetensors"
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    save_file(carried, str(tmp))
    tmp.replace(target)
    return True
