"""One training run, start to finish: data -> model -> method -> training -> test evaluation -> saved model."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from core.datasets.files import examples_digest
from core.evaluation.baselines import cached_zero_shot_baseline, majority_baseline
from core.evaluation.calibration import calibrate
from core.evaluation.metrics import classification_metrics
from core.methods import apply_method, get_method, set_train_mode
from core.models import HF_TEXT, BuiltModel, build_model, count_params
from core.training.progress import Progress, Reporter
from core.run_config import RunConfig
from core.training import continual
from core.training import features as cached
from core.training.checkpoint import remove_checkpoint
from core.training.contrastive import adapt_backbone
from core.models.text_inputs import Split, TextBatches
from core.training.data import load_splits
from core.training import distributed
from core.training.device import choose_device
from core.training.image_sizing import sized_to_data
from core.models.image_inputs import ImageBatches
from core.training.loop import FitSettings, LoopState, fit, predict_logits
from core.training.presets import PRESET_FIELDS, epochs_for, resolve
from core.training.saving import save_model
from storage.paths import cache_dir


@dataclass
class TrainResult:
    metrics: dict  # test metrics (core.evaluation.metrics.classification_metrics) + "baselines"
    predictions: list[dict]  # one per test example
    validation_predictions: list[dict]  # one per validation example: what choices are made on
    calibration: dict  # core.evaluation.calibration.Calibration, fitted on validation, measured on test
    trainable_params: int
    total_params: int
    train_seconds: float
    samples_per_second: float
    device: str
    size_bytes: int
    history: list[dict] = field(default_factory=list)  # per-epoch validation metrics
    hyperparameters: dict = field(default_factory=dict)  # what the preset's fields resolved to, and how far it went


def class_weights(train_labels: np.ndarray, num_labels: int) -> torch.Tensor:
    """weight_c = N / (C * count_c): each class contributes equally to the loss. Absent classes get 1."""
    counts = np.bincount(train_labels, minlength=num_labels).astype(np.float64)
    weights = np.where(counts > 0, len(train_labels) / (num_labels * np.maximum(counts, 1)), 1.0)
    return torch.tensor(weights, dtype=torch.float32)


def split_batches(built: BuiltModel, splits: dict[str, Split], dataset_dir: Path, config: RunConfig) -> dict:
    if built.family == HF_TEXT:
        return {name: TextBatches(split, built.tokenizer, built.max_length, grouped=config.length_grouping)
                for name, split in splits.items()}
    decoded = decoded_images_folder(dataset_dir)
    return {name: ImageBatches(split, dataset_dir, built.image, decoded) for name, split in splits.items()}


def decoded_images_folder(dataset_dir: Path) -> Path:
    """Where this dataset's decoded working-size images are kept across runs, keyed by its examples.csv."""
    return cache_dir() / "images" / examples_digest(dataset_dir)[:24]


def head_parameter_ids(built: BuiltModel) -> frozenset[int]:
    """The trainable parameters of the new classifier (peft's trainable copy of it, under a peft wrapper)."""
    base = built.base_model()
    return frozenset(id(p) for name in built.head_names for p in base.get_submodule(name).parameters()
                     if p.requires_grad)


def _fit_settings(config: RunConfig, epochs: int, train: Split, num_labels: int) -> FitSettings:
    """The loop's settings from the resolved config (see presets.resolve)."""
    return FitSettings(
        epochs=epochs, learning_rate=config.learning_rate, batch_size=config.batch_size,
        eval_batch_size=config.eval_batch_size, weight_decay=config.weight_decay, warmup_ratio=config.warmup_ratio,
        schedule=config.schedule, grad_accum=max(1, config.grad_accum), patience=config.early_stopping_patience,
        seed=config.seed, class_weights=class_weights(train.labels, num_labels) if config.class_weighting else None,
    )


def _train_head_on_features(built, data, splits, dataset_dir, config, setup, reporter, output_dir, resume,
                            cache_features=True):
    """Head only: cached backbone features, then the head alone trains. Returns (loop state, {split: logits})
    for the test and validation splits."""
    # features of this run's own backbone, or of splits other than the stored ones: nothing to reuse
    if get_method(built.method).adapts_backbone or not cache_features:
        feats = cached.extract(built, {n: d for n, d in data.items() if len(d)}, setup, config.eval_batch_size,
                               reporter)
    else:
        # a continued run trains on some of the training rows: the cache must not mix them with a full run's
        rows = ",".join(map(str, splits["train"].example_index)) if config.from_run is not None else ""
        feats = cached.load_or_extract(dataset_dir, cache_dir(), built, data, setup, config.eval_batch_size,
                                       config.seed, reporter, rows=rows)
    head = cached.HeadOnFeatures(built.base_model().get_submodule(built.head_names[0]), feats["train"])
    if config.from_run is not None:  # the carried head takes raw features: keep its answers as they were
        head.unfold_standardisation()
    head.to(setup.device)
    feature_data = {name: cached.FeatureBatches(feats[name].to(setup.device), splits[name])
                    for name in splits if len(splits[name])}
    settings = _fit_settings(config, config.epochs, splits["train"], len(built.labels))
    settings.phase = "Training the head"
    state = fit(head, head.train, feature_data["train"], feature_data.get("val"), settings, setup, reporter,
                output_dir, resume)
    head.fold_standardisation()  # the head inside the full model now takes raw features
    return state, {name: predict_logits(head, feature_data[name], setup, 1024) if name in feature_data
                   else np.zeros((0, len(built.labels)), dtype=np.float32) for name in ("test", "val")}


def prediction_records(split: Split, probabilities: np.ndarray, labels: list[str]) -> list[dict]:
    """One dict per example of `split` as storage keeps them; probabilities: (N, C) raw softmax, label order
    (rounded to 8 places: small enough to store, fine enough for the temperature's log-probabilities)."""
    if not len(split):
        return []
    predicted = probabilities.argmax(axis=1)
    return [{"example_index": split.example_index[i], "true_label": labels[int(split.labels[i])],
             "predicted_label": labels[int(predicted[i])], "confidence": float(probabilities[i].max()),
             "probabilities": [round(float(p), 8) for p in probabilities[i]]}
            for i in range(len(split))]


def settings_and_splits(task: str, config: RunConfig, dataset_dir: Path,
                        labels: list[str]) -> tuple[RunConfig, dict[str, Split]]:
    """The config a run trains with, and the stored splits: the preset's values where the user left a setting
    blank, and a convolutional model's image size from the training images (core.training.image_sizing)."""
    config = resolve(task, config)
    splits = load_splits(dataset_dir, labels)
    return sized_to_data(task, config, dataset_dir, splits["train"].inputs), splits


def prepare_model(task: str, config: RunConfig, labels: list[str], parent: continual.Parent | None = None) -> BuiltModel:
    """The model as training starts: built, method applied. Seeded, so the same config gives the same weights
    (the new head and any adapter are randomly initialised). With `parent`, built from that run's saved model with
    its classifier carried over (core/training/continual.py)."""
    config = resolve(task, config)
    torch.manual_seed(config.seed)
    if parent is None:
        return apply_method(build_model(task, config, labels), config)
    built, carried = continual.build_from_parent(task, config, labels, parent)
    built.carried_head = carried
    return apply_method(built, config)


@dataclass
class Fitted:
    """A model trained on some splits, and its logits on their val and test parts."""

    built: BuiltModel
    state: LoopState
    logits: dict[str, np.ndarray]  # "val", "test": (N, C)
    epochs: int
    train_seconds: float
    samples_per_second: float
    trainable: int
    total: int
    before: np.ndarray | None = None  # a continued run: the parent's answers on "test" before training


def fit_and_predict(task: str, config: RunConfig, labels: list[str], splits: dict[str, Split], dataset_dir: Path,
                    setup, reporter: Reporter, output_dir: Path, resume: bool = False,
                    cache_features: bool = True, parent: continual.Parent | None = None) -> Fitted:
    """Steps 2-3 of a run: build the model, apply the method, train on splits["train"] (choosing on "val"), and
    predict "val" and "test". cache_features False: head-only features are computed afresh (splits that differ
    from the stored ones, as cross-validation's folds). With `parent`, training continues from that run's model."""
    reporter.progress(Progress(0, 0, 0.0, "Loading model"))
    built = prepare_model(task, config, labels, parent)
    trainable, total = count_params(built.model)
    reporter.log(f"Model {built.source.name}: {trainable:,} of {total:,} parameters train ({config.method}).")
    built.model.to(setup.device)
    if built.image is not None:
        built.model.to(memory_format=torch.channels_last)
    data = split_batches(built, splits, dataset_dir, config)
    before = None
    if parent is not None:  # the starting model is the parent (adapters start as no change): its answers first
        reporter.progress(Progress(0, 0, 0.0, "Scoring the earlier model on the test set"))
        before = continual.masked_before(predict_logits(built.model, data["test"], setup, config.eval_batch_size),
                                         labels, parent.labels)
        carried = built.carried_head
        if carried["added"]:
            reporter.log(f"The classifier grows by {len(carried['added'])} class(es) "
                         f"({', '.join(carried['added'])}): {carried['parameters_added']:,} new parameters; the "
                         f"other {len(carried['shared'])} classes keep the rows run {parent.run_id} learned.")
    start = time.perf_counter()
    # a method that adapts the backbone first (few-shot's pairs) does that before the head trains
    if get_method(built.method).adapts_backbone:
        adapt_backbone(built, splits["train"], config, setup, reporter)
    if cached.supports_cached_features(built):
        epochs = config.epochs
        state, logits = _train_head_on_features(built, data, splits, dataset_dir, config, setup, reporter,
                                                output_dir, resume, cache_features)
        train_seconds = time.perf_counter() - start
        samples_per_second = state.epochs_done * len(splits["train"]) / max(train_seconds, 1e-9)
    else:
        epochs = epochs_for(config, -(-data["train"].num_train_batches(config.batch_size) // max(1, config.grad_accum)))
        settings = _fit_settings(config, epochs, splits["train"], len(labels))
        settings.head_param_ids = head_parameter_ids(built)
        state = fit(built.model, lambda: set_train_mode(built), data["train"], data["val"], settings,
                    setup, reporter, output_dir, resume)
        train_seconds = time.perf_counter() - start
        samples_per_second = state.samples_seen / max(state.step_seconds, 1e-9)
        logits = {}
        for name, phase in (("val", "Predicting the validation set"), ("test", "Evaluating on the test set")):
            if not distributed.is_main():  # the main process scores and saves; the others are done
                break
            reporter.progress(Progress(state.step, state.step, float(state.epochs_done), phase))
            logits[name] = (predict_logits(built.model, data[name], setup, config.eval_batch_size, reporter)
                            if len(splits[name]) else np.zeros((0, len(labels)), dtype=np.float32))
    return Fitted(built, state, logits, epochs, train_seconds, samples_per_second, trainable, total, before)


def train_run(dataset_dir: Path, labels: list[str], task: str, config: RunConfig, output_dir: Path,
              reporter: Reporter, resume: bool = False) -> TrainResult | None:
    """Train, score and save one run (None on the processes other than the main one of a data-parallel run)."""
    dataset_dir, output_dir = Path(dataset_dir), Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    # 1) settings (the preset and the data fill what the user left blank), device, data
    parent = continual.parent_run(config.from_run) if config.from_run is not None else None
    if parent is not None:
        config = continual.continued_config(config, parent)
    config, splits = settings_and_splits(task, config, dataset_dir, labels)
    trained_on = None
    if parent is not None:
        splits["train"], trained_on = continual.training_rows(splits["train"], dataset_dir, parent, config.replay,
                                                              config.seed)
        reporter.log(f"Continuing run {parent.run_id} (v{parent.version}): training on {trained_on['changed']} new "
                     f"or relabeled rows and {trained_on['replayed']} of its {trained_on['old_available']} earlier "
                     f"training rows (replay {config.replay:g}).")
    setup = choose_device(config.device)
    reporter.log(f"Device: {setup.label} ({setup.why}). Method {config.method}, preset {config.preset}"
                 + (f", images at {config.image_size} px." if config.image_size else "."))
    from core.training.cross_validation import cross_validated_run, folds_for  # it trains through this module

    folds = folds_for(config, splits)
    if folds:  # few examples: the estimate comes from k folds, the saved model from all of them
        return cross_validated_run(dataset_dir, labels, task, config, splits, folds, setup, output_dir, reporter)

    # 2-3) model, method, training
    fitted = fit_and_predict(task, config, labels, splits, dataset_dir, setup, reporter, output_dir, resume,
                             parent=parent)
    built, state, logits, epochs = fitted.built, fitted.state, fitted.logits, fitted.epochs
    if not distributed.is_main():
        return None  # one of several processes (core/training/distributed.py): the main one records the run

    # 4) test metrics, baselines, per-example predictions; the temperature is fitted on validation
    test, val = splits["test"], splits["val"]
    probabilities = torch.softmax(torch.from_numpy(logits["test"]), dim=1).numpy()
    val_probabilities = torch.softmax(torch.from_numpy(logits["val"]), dim=1).numpy()
    predicted = probabilities.argmax(axis=1)
    metrics = classification_metrics(test.labels, predicted, labels)
    reporter.progress(Progress(state.step, state.step, float(state.epochs_done), "Computing baselines"))
    metrics["baselines"] = {"majority": majority_baseline(splits["train"].labels, test.labels, len(labels))}
    if task == "text":
        zero_shot = cached_zero_shot_baseline(dataset_dir, cache_dir(), test.inputs, test.labels, labels)
        if zero_shot is not None:
            metrics["baselines"]["zero_shot"] = zero_shot
    if parent is not None:
        metrics["continual"] = {
            "from_run": parent.run_id, "from_dataset": parent.dataset_id, "from_version": parent.version,
            "trained_on": trained_on, "head": built.carried_head,
            "sets": continual.gain_and_forgetting(test, dataset_dir, parent, fitted.before, predicted),
        }
    calibration = calibrate(val_probabilities, val.labels, probabilities, test.labels)
    reporter.log(f"Test accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f} "
                 f"(majority baseline {metrics['baselines']['majority']['accuracy']:.4f}). "
                 + (calibration.note or f"Temperature {calibration.temperature:.2f} fitted on {len(val)} validation "
                    f"examples: calibration error on test {calibration.ece_before:.3f} -> "
                    f"{calibration.ece_after:.3f}."))

    # 5) save; the checkpoint is only for resuming an unfinished run
    reporter.progress(Progress(state.step, state.step, float(state.epochs_done), "Saving the model"))
    size_bytes = save_model(built, config, output_dir)
    remove_checkpoint(output_dir)
    return TrainResult(
        metrics=metrics, predictions=prediction_records(test, probabilities, labels),
        validation_predictions=prediction_records(val, val_probabilities, labels),
        calibration=calibration.to_dict(), trainable_params=fitted.trainable, total_params=fitted.total,
        train_seconds=round(fitted.train_seconds, 3), samples_per_second=round(fitted.samples_per_second, 2),
        device=setup.label, size_bytes=size_bytes, history=state.history,
        # What it really trained with: the planned epochs (min_steps can raise the preset's) and the model's sizes.
        hyperparameters={**{name: getattr(config, name) for name in PRESET_FIELDS}, "epochs": epochs,
                         "max_length": built.max_length,
                         "image_size": built.image.size if built.image else None,
                         "epochs_run": state.epochs_done, "steps": state.step,
                         "peak_memory_bytes": setup.peak_memory_bytes()},
    )


__all__ = ["Fitted", "TrainResult", "class_weights", "fit_and_predict", "prediction_records", "prepare_model", "train_run"]
