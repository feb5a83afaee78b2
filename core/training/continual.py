"""Continue training: a finished run's model learns a newer version of its dataset without starting over.

A continued run (`RunConfig.from_run` set) differs from a fresh one in four ways, all here:
- its model starts from the parent run's saved weights (model/: LoRA and IA3 are merged there, so a continued LoRA
  run adds a fresh adapter on top of the parent's merged weights), not from the pretrained base;
- its classifier keeps what the parent learned: the parent's output rows are copied by class name, and a class the
  parent never saw gets a new row (the layer's fresh random weights, the bias set to the mean of the parent's biases,
  so it starts neither ahead of nor far behind the others). That costs (features + 1) parameters per new class
  (385 for MiniLM), nothing else; a class the new version no longer has loses its row;
- it trains on what changed: the new version's training rows that the parent did not train on with the same label
  (rows added or relabeled since), plus, with `replay` > 0, that share of the parent's own training rows drawn at
  random (seeded): replay is what keeps the old classes from being forgotten when the new rows lean one way;
  validation and test are the new version's whole splits, as for any run on it;
- before training, the starting model (the parent, new classes masked out: it could not answer them) predicts the
  test split, so the result says on the same rows what was gained and forgotten (`gain_and_forgetting`): the new
  version's whole test set, the parent version's test rows alone (forgetting), and the test rows added since.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from core.catalog import ModelLoadError, resolve_model
from core.datasets.files import read_examples, row_ids
from core.evaluation.verdict import accuracy_interval, paired
from core.methods import get_method
from core.models.base import BuiltModel
from core.models.text_inputs import Split
from core.run_config import RunConfig
from core.training.data import TrainingDataError
from storage.models import SUCCEEDED
from storage.paths import INFO_FILE, MODEL_DIR, data_home


class ContinueError(ValueError):
    """A run cannot be continued on this data; the message says what to pick instead."""


@dataclass(frozen=True)
class Parent:
    run_id: int
    model_dir: Path  # the parent run's model/ folder
    labels: list[str]
    info: dict  # model/tuneboard.json
    dataset_id: int
    dataset_dir: Path  # the version the parent trained on
    version: int


def parent_run(run_id: int, dataset=None) -> Parent:
    """The finished run a continued run starts from, checked; `dataset` (a storage Dataset row): the version the
    new run will train on, which must be a version of the parent's dataset. Raises ContinueError."""
    from storage.runs import get_run

    run = get_run(int(run_id))
    if run is None:
        raise ContinueError(f"There is no run {run_id} to continue; pick a finished run.")
    if run.status != SUCCEEDED:
        raise ContinueError(f"Run {run_id} has not finished successfully ({run.status}); only a finished run's model "
                            "can be trained further.")
    folder = data_home() / (run.artifact_dir or f"runs/{run.id}")
    model_dir = folder / MODEL_DIR
    if not (model_dir / INFO_FILE).is_file():
        raise ContinueError(f"Run {run_id}'s saved model is missing, so it cannot be trained further; train a new run.")
    info = json.loads((model_dir / INFO_FILE).read_text())
    method = get_method(info["method"])
    if method.needs_adapter:
        raise ContinueError(f"Run {run_id} was trained with {method.name}, whose learned tokens live outside the "
                            "model's weights; continue from a LoRA, IA3, BitFit, full or head-only run instead.")
    parent_dataset = run.dataset
    if dataset is not None:
        lineage = lambda d: d.lineage_id or d.id  # noqa: E731
        if lineage(dataset) != lineage(parent_dataset):
            raise ContinueError(f"Run {run_id} was trained on dataset '{parent_dataset.name}'; pick a version of "
                                "that dataset to continue on (make one on the Data page).")
        if dataset.id == parent_dataset.id:
            raise ContinueError(f"Run {run_id} already trained on this version (v{parent_dataset.version}); make a "
                                "new version with the new rows on the Data page, then continue on it.")
        if dataset.task != parent_dataset.task:
            raise ContinueError("The new version holds another kind of data than the run was trained on.")
    return Parent(run.id, model_dir, list(info["labels"]), info, parent_dataset.id,
                  data_home() / parent_dataset.path, parent_dataset.version or 1)


def continue_config(parent_config: dict, from_run: int, replay: float, **given) -> RunConfig:
    """A continued run's settings: the parent run's as it chose them, `given` on top, from_run and replay set. It
    goes on with the parent's method: no other method follows it ("Fastest good model" chose for the parent)."""
    chosen = RunConfig.from_dict(parent_config).to_dict()
    chosen.update(given, from_run=int(from_run), replay=float(replay), then_method=None, chosen_after=None)
    return RunConfig.from_dict(chosen)


def continued_config(config: RunConfig, parent: Parent) -> RunConfig:
    """The parent's text length and image size where the user left them blank: the model goes on seeing its inputs
    as it learned them."""
    changes = {}
    if config.max_length is None and parent.info.get("max_length"):
        changes["max_length"] = parent.info["max_length"]
    if config.image_size is None and parent.info.get("image"):
        changes["image_size"] = parent.info["image"].get("size")
    return replace(config, **changes)


def build_from_parent(task: str, config: RunConfig, labels: list[str], parent: Parent) -> tuple[BuiltModel, dict]:
    """The parent's saved model with its classifier carried over to `labels` (see the module docstring); the
    tuning method is not applied yet. Returns (built, what the head carried: shared / added / removed classes and
    the parameters added)."""
    from core.models import build_model

    source = resolve_model(str(parent.model_dir), task)
    torch.manual_seed(config.seed)
    built = build_model(task, config, labels, source=source)
    return built, carry_head(built, parent.model_dir, parent.labels)


@torch.no_grad()
def carry_head(built: BuiltModel, model_dir: Path, parent_labels: list[str]) -> dict:
    """Copy the parent's classifier into `built` by class name: rows of shared classes copied, new classes' rows
    left as the layer initialised them with the bias at the mean of the parent's biases."""
    from safetensors.torch import load_file

    weights = Path(model_dir) / "model.safetensors"
    if not weights.is_file():
        raise ModelLoadError(f"The saved model in {model_dir} has no model.safetensors to continue from.")
    state = load_file(str(weights))
    labels = list(built.labels)
    new_index = {label: i for i, label in enumerate(labels)}
    shared = [(o, new_index[label]) for o, label in enumerate(parent_labels) if label in new_index]
    added = [label for label in labels if label not in parent_labels]
    grown = 0
    base = built.base_model()
    for head_name in built.head_names:
        for name, param in base.get_submodule(head_name).named_parameters():
            old = state.get(f"{head_name}.{name}")
            if old is None:
                continue
            old = old.to(param.dtype)
            per_class = old.shape[0] == len(parent_labels) and param.shape[0] == len(labels) \
                and old.shape[1:] == param.shape[1:]
            if per_class:
                for o, n in shared:
                    param[n] = old[o]
                for label in added:
                    if param.dim() == 1:  # a bias: the mean of the parent's, so the new class starts level
                        param[new_index[label]] = old.mean()
                    grown += int(param[0].numel())
            elif old.shape == param.shape:
                param.copy_(old)
    return {"shared": [parent_labels[o] for o, _ in shared], "added": added,
            "removed": [label for label in parent_labels if label not in new_index], "parameters_added": grown}


def _ids(dataset_dir: Path) -> tuple[list[str], "object"]:
    frame = read_examples(dataset_dir)
    return row_ids(frame), frame


def training_rows(train: Split, dataset_dir: Path, parent: Parent, replay: float, seed: int) -> tuple[Split, dict]:
    """The new version's training rows the parent did not train on with the same label, plus a `replay` share of the
    parent's training rows (seeded). Returns (the split to train on, counts)."""
    ids, frame = _ids(dataset_dir)
    parent_ids, parent_frame = _ids(parent.dataset_dir)
    parent_train = {r: label for r, label, split in zip(parent_ids, parent_frame["label"], parent_frame["split"])
                    if split == "train"}
    label_now = dict(zip(ids, frame["label"]))
    changed, old = [], []  # positions in `train`: rows new or relabeled since, and the parent's own rows
    for position, example in enumerate(train.example_index):
        row = ids[example]
        (old if parent_train.get(row) == label_now[row] else changed).append(position)
    take = int(round(max(0.0, min(1.0, replay)) * len(old)))
    replayed = sorted(np.random.default_rng(seed).choice(old, size=take, replace=False).tolist()) if take else []
    keep = sorted(changed + replayed)
    if not keep:
        raise TrainingDataError(f"This version adds or relabels no training rows since run {parent.run_id}'s version "
                                f"(v{parent.version}); raise replay to train on its rows again, or add rows.",
                                "nothing_new")
    subset = Split(example_index=[train.example_index[p] for p in keep], inputs=[train.inputs[p] for p in keep],
                   labels=train.labels[keep])
    return subset, {"changed": len(changed), "replayed": len(replayed), "old_available": len(old),
                    "replay": replay}


def masked_before(logits: np.ndarray, labels: list[str], parent_labels: list[str]) -> np.ndarray:
    """The starting model's answers as the parent gave them: classes the parent did not have cannot be answered."""
    logits = np.array(logits, dtype=np.float64, copy=True)
    for i, label in enumerate(labels):
        if label not in parent_labels:
            logits[:, i] = -np.inf
    return logits.argmax(axis=1)


def _figures(truth: np.ndarray, before: np.ndarray, after: np.ndarray) -> dict:
    right_before, right_after = before == truth, after == truth
    n = int(len(truth))
    out = {"examples": n}
    for name, right in (("before", right_before), ("after", right_after)):
        interval = accuracy_interval(int(right.sum()), n)
        out[name] = {"correct": int(right.sum()), "accuracy": interval.value, "low": interval.low,
                     "high": interval.high}
    better, worse = paired("after", right_after, right_before), paired("before", right_before, right_after)
    out["fixed"], out["broken"] = better.model_only, better.baseline_only
    out["p_better"], out["p_worse"] = better.p_value, worse.p_value
    return out


def gain_and_forgetting(test: Split, dataset_dir: Path, parent: Parent, before: np.ndarray,
                        after: np.ndarray) -> dict:
    """Before (the parent) and after (this run) on the same test rows: the whole test set, the parent version's test
    rows alone (what was forgotten) and the rows added since (what was gained), with Wilson intervals and the
    exact McNemar p-values either way."""
    ids, _ = _ids(dataset_dir)
    parent_ids, parent_frame = _ids(parent.dataset_dir)
    parent_test = {r for r, split in zip(parent_ids, parent_frame["split"]) if split == "test"}
    known = set(parent_ids)
    rows = [ids[i] for i in test.example_index]
    truth = np.asarray(test.labels)
    sets = {"all": np.ones(len(rows), dtype=bool),
            "old": np.array([r in parent_test for r in rows], dtype=bool),
            "added": np.array([r not in known for r in rows], dtype=bool)}
    return {name: _figures(truth[mask], before[mask], after[mask]) for name, mask in sets.items() if mask.any()}


__all__ = ["ContinueError", "Parent", "build_from_parent", "carry_head", "continue_config", "continued_config", "gain_and_forgetting",
           "masked_before", "parent_run", "training_rows"]
