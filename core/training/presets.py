"""Quick / Balanced / Best presets, and how a RunConfig's blanks are filled from them.

Each method's own rows (learning rate and epochs per task and preset, its early-stopping patience) live in its
module under core/methods/; this module adds what depends on the task and the preset alone. Chosen on a 2-core
CPU: Quick finishes in a few minutes for a few thousand short texts or a few hundred photos; Best trains longer
with early stopping and aims for the top accuracy the model can reach.
"""

from __future__ import annotations

import dataclasses

from core.methods import get_method
from core.run_config import RunConfig

PRESETS = ("quick", "balanced", "best")
DEFAULT_PATIENCE = 2  # epochs without a better validation macro-F1 before stopping early; 0 = never
# The RunConfig fields a preset fills when they are blank (None).
PRESET_FIELDS = ("learning_rate", "epochs", "batch_size", "max_length", "image_size", "schedule", "min_steps",
                 "max_epochs", "eval_batch_size", "early_stopping_patience")
_TEXT_MAX_LENGTH = {"quick": 64, "balanced": 128, "best": 256}
_MIN_STEPS = {"quick": 60, "balanced": 150, "best": 300}


def _preset_values(task: str, method_key: str, preset: str) -> dict:
    if preset not in PRESETS:
        raise ValueError(f"Unknown preset {preset!r}; choose quick, balanced or best.")
    method = get_method(method_key)
    if not method.applies_to(task):
        raise ValueError(f"The method {method_key!r} does not apply to {task} data.")
    learning_rate, epochs = method.presets[task][preset]
    frozen = method.frozen_backbone  # a head on cached features: large batches, epochs cost milliseconds
    patience = DEFAULT_PATIENCE if method.patience is None else method.patience
    values = dict(learning_rate=learning_rate, epochs=epochs, batch_size=64 if frozen else 16, image_size=None,
                  min_steps=0 if frozen else _MIN_STEPS[preset], early_stopping_patience=patience)
    if task == "text":
        return {**values, "max_length": _TEXT_MAX_LENGTH[preset], "schedule": "linear", "max_epochs": epochs * 4,
                "eval_batch_size": 64}
    return {**values, "max_length": None, "schedule": "cosine", "max_epochs": epochs * 3, "eval_batch_size": 32}


def resolve(task: str, config: RunConfig) -> RunConfig:
    """The config training runs with: the preset's values where the user left a setting blank."""
    values = _preset_values(task, config.method, config.preset)
    if config.epochs is not None:
        values["min_steps"] = 0  # an explicit epoch count is respected as given
    chosen = {name: getattr(config, name) for name in PRESET_FIELDS if getattr(config, name) is not None}
    return dataclasses.replace(config, **{**values, **chosen})


def epochs_for(config: RunConfig, steps_per_epoch: int) -> int:
    """Small datasets get more epochs (up to max_epochs) so training sees at least min_steps updates.
    `config` is resolved (see resolve)."""
    epochs = config.epochs
    if config.min_steps and steps_per_epoch > 0:
        needed = -(-config.min_steps // steps_per_epoch)
        epochs = max(epochs, min(needed, config.max_epochs))
    return max(1, epochs)
