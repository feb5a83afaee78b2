"""k-fold cross-validation for tiny data: with 10 examples per class, the fixed split leaves 8 to train on and
1 per class to judge with. Instead, every labelled example (train, val and test parts together) goes into one of
k folds, stratified by class; each fold is predicted by a model trained on the other k - 1, so every example is
scored by a model that never saw it. Those out-of-fold predictions are the run's estimate (its "test" predictions,
over all N examples), and the saved model is trained once more on all N. The estimate describes models trained on
(k - 1) / k of the data, so it is, if anything, a little pessimistic about the saved one.

There is no validation part left: nothing stops early (the planned epochs train) and no temperature is fitted
(confidences are the model's own), as the run's log and calibration note say.
"""

from __future__ import annotations

import shutil
import zlib
from pathlib import Path

import numpy as np
import torch

from core.evaluation.baselines import majority_baseline, zero_shot_baseline
from core.evaluation.calibration import calibrate
from core.evaluation.metrics import classification_metrics
from core.models.text_inputs import Split
from core.run_config import RunConfig
from core.training.checkpoint import remove_checkpoint
from core.training.data import TrainingDataError
from core.training.presets import PRESET_FIELDS
from core.training.progress import Reporter
from core.training.run import TrainResult, fit_and_predict, prediction_records
from core.training.saving import save_model


def pooled(splits: dict[str, Split]) -> Split:
    """Every labelled example of the stored dataset, train + val + test, in examples.csv order."""
    parts = [splits[name] for name in ("train", "val", "test")]
    index = [i for p in parts for i in p.example_index]
    order = np.argsort(index, kind="stable")
    inputs = [x for p in parts for x in p.inputs]
    labels = np.concatenate([p.labels for p in parts])
    return Split([index[i] for i in order], [inputs[i] for i in order], labels[order])


def folds_for(config: RunConfig, splits: dict[str, Split]) -> int:
    """How many folds this run uses (0: none), or a TrainingDataError saying what to change."""
    asked = int(config.cross_validation_folds or 0)
    if asked == 0:
        return 0
    if asked == 1:
        raise TrainingDataError("Cross-validation needs at least 2 folds; set 0 to turn it off.", "folds")
    counts = np.bincount(pooled(splits).labels)
    smallest = int(counts[counts > 0].min())
    if smallest < 2:
        raise TrainingDataError("Cross-validation needs at least 2 examples of every class; add examples or set the "
                                "folds to 0.", "folds")
    return min(asked, smallest)  # every fold holds an example of every class


def assign_folds(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """(N,) fold of each example: each class's examples, shuffled by (seed, class), dealt round the folds."""
    fold = np.zeros(len(labels), dtype=np.int64)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        members = members[np.random.default_rng([seed, zlib.crc32(str(label).encode())]).permutation(len(members))]
        fold[members] = np.arange(len(members)) % folds
    return fold


def _part(split: Split, keep: np.ndarray) -> Split:
    rows = np.flatnonzero(keep)
    return Split([split.example_index[i] for i in rows], [split.inputs[i] for i in rows], split.labels[rows])


def cross_validated_run(dataset_dir: Path, labels: list[str], task: str, config: RunConfig,
                        splits: dict[str, Split], folds: int, setup, output_dir: Path,
                        reporter: Reporter) -> TrainResult:
    """k models for the estimate, then the saved model on every example. `config` is resolved."""
    everything = pooled(splits)
    fold = assign_folds(everything.labels, folds, config.seed)
    empty = _part(everything, np.zeros(len(everything), dtype=bool))
    reporter.log(f"Cross-validation: {len(everything)} labelled examples in {folds} folds; each fold is scored by "
                 f"a model trained on the other {folds - 1}, then the saved model trains on all {len(everything)}.")
    out_of_fold = np.zeros((len(everything), len(labels)), dtype=np.float32)
    seconds = 0.0
    for k in range(folds):
        reporter.log(f"Fold {k + 1} of {folds}: training on {int((fold != k).sum())}, scoring {int((fold == k).sum())}.")
        parts = {"train": _part(everything, fold != k), "val": empty, "test": _part(everything, fold == k)}
        fold_dir = output_dir / f"fold-{k + 1}"
        fitted = fit_and_predict(task, config, labels, parts, dataset_dir, setup, reporter, fold_dir,
                                 cache_features=False)
        out_of_fold[fold == k] = torch.softmax(torch.from_numpy(fitted.logits["test"]), dim=1).numpy()
        seconds += fitted.train_seconds
        shutil.rmtree(fold_dir, ignore_errors=True)
    reporter.log(f"Final model: training on all {len(everything)} examples.")
    final = fit_and_predict(task, config, labels, {"train": everything, "val": empty, "test": empty}, dataset_dir,
                            setup, reporter, output_dir, cache_features=False)

    metrics = classification_metrics(everything.labels, out_of_fold.argmax(axis=1), labels)
    metrics["baselines"] = {"majority": majority_baseline(everything.labels, everything.labels, len(labels))}
    if task == "text":
        zero_shot = zero_shot_baseline(everything.inputs, everything.labels, labels)
        if zero_shot is not None:
            metrics["baselines"]["zero_shot"] = zero_shot
    metrics["cross_validation"] = {"folds": folds, "examples": len(everything)}
    no_val = np.zeros((0, len(labels)), dtype=np.float32)
    calibration = calibrate(no_val, np.zeros(0, dtype=np.int64), out_of_fold, everything.labels)
    reporter.log(f"Cross-validated accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f} over all "
                 f"{len(everything)} examples (each scored by a model that did not train on it).")
    size_bytes = save_model(final.built, config, output_dir)
    remove_checkpoint(output_dir)
    state = final.state
    return TrainResult(
        metrics=metrics, predictions=prediction_records(everything, out_of_fold, labels), validation_predictions=[],
        calibration=calibration.to_dict(), trainable_params=final.trainable, total_params=final.total,
        # the time to the saved model: every fold and the final training
        train_seconds=round(seconds + final.train_seconds, 3), samples_per_second=round(final.samples_per_second, 2),
        device=setup.label, size_bytes=size_bytes, history=state.history,
        hyperparameters={**{name: getattr(config, name) for name in PRESET_FIELDS}, "epochs": final.epochs,
                         "max_length": final.built.max_length,
                         "image_size": final.built.image.size if final.built.image else None,
                         "epochs_run": state.epochs_done, "steps": state.step, "cross_validation_folds": folds,
                         "peak_memory_bytes": setup.peak_memory_bytes()},
    )
