"""Before launch: trainable parameters (by building the model) and an estimate of time and memory.

`from_probe`: from a timed probe of real training steps on this machine (core.training.probe): start-up, then
per epoch the training examples at the probed seconds per example, validation, a checkpoint, and at the end the
test set, the text baselines and the saved model; memory is the probe's measured peak.
`estimate`: the rough fallback without a probe (the model cannot load yet, the probe failed): each method's speed
measured on the project's 2-core CPU (STACK.md, samples/s at batch 16; held by the method, core/methods/), scaled
by the model's size relative to the default model.
"""

from __future__ import annotations

import functools
import json

import torch

from core.catalog import resolve_model
from core.methods import apply_method, get_method
from core.methods.base import WHOLE_MODEL_CPU_SPEED
from core.models import build_model, count_params
from core.run_config import RunConfig
from core.training.presets import epochs_for, resolve

# samples/s on 2 CPU threads (STACK.md). Text: MiniLM at 64 tokens; images: EfficientNet-Lite0 at 224 px.
CPU_INFERENCE_SPEED = {"text": 82.0, "image": 40.0}
REFERENCE_PARAMS = {"text": 22_713_216, "image": 4_652_008}
REFERENCE_LENGTH = 64  # tokens the text speeds were measured at
TYPICAL_TEXT_TOKENS = 40  # dynamic padding: most short texts use far fewer tokens than max_length
GPU_SPEEDUP = 25.0  # a single modern GPU against 2 CPU cores, for models of this size
HEAD_ON_FEATURES_SECONDS = 3.0  # a head trained on cached features: a few hundred tiny steps
# A whole run peaks above its probe: evaluation at the eval batch size, the zero-shot baseline's model, the
# predictions kept. Measured over the 7 runs of bench/estimates.py and bench/pilot.py (docs/BENCHMARKS.md): the
# run's peak was 1.12x to 1.45x the probe's, so the probe's peak times 1.2 lands every one within +-20%.
RUN_OVER_PROBE_MEMORY = 1.2


@functools.lru_cache(maxsize=32)
def _count(task: str, config_json: str, num_labels: int) -> tuple[int, int]:
    config = RunConfig.from_dict(json.loads(config_json))
    labels = [f"class_{i}" for i in range(num_labels)]
    built = apply_method(build_model(task, config, labels), config)
    return count_params(built.model)


def count_parameters(task: str, config: RunConfig, num_labels: int) -> tuple[int, int]:
    """(trainable, total) parameters for this model and method. Builds the model (seconds for a real one)."""
    return _count(task, json.dumps(config.to_dict(), sort_keys=True), num_labels)


def _model_size(task: str, config: RunConfig) -> tuple[int, int | None]:
    """(parameters, default image size) from the catalog; unknown models are assumed the default's size."""
    entry = resolve_model(config.model, task).entry
    if entry is None or not entry.params:
        return REFERENCE_PARAMS[task] if entry is None else 1_000_000, entry.default_image_size if entry else None
    return entry.params, entry.default_image_size


def trainings(config: RunConfig) -> int:
    """How many times a run trains: once, or once per cross-validation fold and once more on everything (each
    on about as many examples as the training split: the folds together hold every labelled example)."""
    folds = int(config.cross_validation_folds or 0)
    return folds + 1 if folds >= 2 else 1


def estimate(task: str, config: RunConfig, num_train_examples: int) -> dict:
    """{"seconds", "memory_bytes", "device", "epochs"}: expected training time and peak memory on this machine."""
    method = get_method(config.method)
    config = resolve(task, config)
    steps_per_epoch = -(-num_train_examples // config.batch_size)
    epochs = epochs_for(config, -(-steps_per_epoch // max(1, config.grad_accum)))
    params, default_size = _model_size(task, config)
    scale = REFERENCE_PARAMS[task] / max(params, 1)
    side = config.image_size or default_size or 224  # pixels per side (images)
    if task == "text":
        tokens = min(config.max_length or REFERENCE_LENGTH, TYPICAL_TEXT_TOKENS)
        scale *= REFERENCE_LENGTH / max(tokens, 8)
    else:
        scale *= (224 / side) ** 2  # the speeds were measured at 224 px
    speed = method.cpu_speed[task] * scale
    use_gpu = torch.cuda.is_available() and config.device in ("auto", "cuda")
    if use_gpu:
        speed *= GPU_SPEEDUP
    if method.frozen_backbone:
        # one backbone pass over every example (train + val + test, ~1.25x train), then the head: negligible;
        # a backbone stage first (few-shot's pairs) trains the whole model, as fast as full fine-tuning
        seconds = 1.25 * num_train_examples / speed
        seconds += method.adaptation_passes(num_train_examples, config.preset) / (WHOLE_MODEL_CPU_SPEED[task] * scale)
    else:
        validation = 0.25 * num_train_examples / (CPU_INFERENCE_SPEED[task] * scale * (GPU_SPEEDUP if use_gpu else 1))
        seconds = epochs * (num_train_examples / speed + validation)
    # memory: weights (fp32) + gradients and two AdamW moments for what trains + activations of one batch, all
    # of them kept for the backward pass unless the backbone is frozen (then one layer's at a time)
    activation_bytes = config.batch_size * (
        (config.max_length or 128) * 384 * 4 * 40 if task == "text" else side * side * 32 * 4 * 12
    ) // (12 if method.frozen_backbone else 1)
    memory = params * 4 * (1 + 3 * method.trainable_share) + activation_bytes + 300 * 2**20  # + runtime overhead
    seconds *= trainings(config)
    return {"seconds": round(seconds, 1), "memory_bytes": int(memory), "device": "cuda" if use_gpu else "cpu",
            "epochs": epochs, "how": "rough"}


def from_probe(task: str, config: RunConfig, split_counts: dict[str, int], probe) -> dict:
    """The estimate from a probe (core.training.probe.Probe) of this config on this dataset."""
    from core.training.loop import CHECKPOINT_INTERVAL_S

    config = resolve(task, config)
    n_train, n_val, n_test = (int(split_counts.get(k, 0)) for k in ("train", "val", "test"))
    batches = -(-n_train // config.batch_size)
    epochs = epochs_for(config, -(-batches // max(1, config.grad_accum)))
    if get_method(config.method).frozen_backbone and probe.train_seconds_per_example == 0:
        # head on cached features: one backbone pass over every split unless cached, then the head in seconds
        seconds = 0 if probe.features_cached else (n_train + n_val + n_test) * probe.eval_seconds_per_example
        seconds += HEAD_ON_FEATURES_SECONDS
        # a backbone stage first (few-shot's pairs): a forward and backward pass costs about 3 forward passes
        passes = get_method(config.method).adaptation_passes(n_train, config.preset)
        seconds += 3 * passes * probe.eval_seconds_per_example
    else:
        training = epochs * n_train * probe.train_seconds_per_example
        # Validation after each epoch and once more for the stored validation predictions; text reads the test
        # set twice (the zero-shot baseline reads it too).
        evaluating = ((epochs + 1) * n_val + n_test * (2 if task == "text" else 1)) * probe.eval_seconds_per_example
        checkpoints = (epochs + training / CHECKPOINT_INTERVAL_S + 1) * probe.checkpoint_seconds  # + the model saved
        seconds = training + evaluating + checkpoints
    # images: each decoded once a run, folds included (epochs after the first read them kept or cached on disk)
    decoding = 0.0 if probe.features_cached else (n_train + n_val + n_test) * probe.decode_seconds_per_example
    return {"seconds": round(probe.startup_seconds + decoding + seconds * trainings(config), 1),
            "memory_bytes": int(probe.peak_memory_bytes * RUN_OVER_PROBE_MEMORY),
            "device": "cuda" if torch.cuda.is_available() and config.device in ("auto", "cuda") else "cpu",
            "epochs": epochs, "how": "measured"}
