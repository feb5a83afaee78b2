"""When the user leaves the method to Tuneboard ("Fastest good model"): head only first, LoRA only if needed.

Head only answers in about a minute on a 2-core CPU (the backbone's features are computed once, its epochs cost
milliseconds), LoRA in several minutes. On data where a frozen backbone already separates the classes (SMS spam,
ants/bees) head only scores within a point of LoRA; on hard many-class data (fortunes) or pictures unlike the
backbone's (28-px digits) it falls far short. So the head-only run trains first, and its best validation macro-F1
decides: at GOOD_ENOUGH or above it is the model; below, a run of the same settings with LoRA follows, queued in the
same write that records the head-only run's result (storage.run_queue.finish), so it cannot be lost between the two.
The decision reads validation examples only, never the test set. Measured: docs/BENCHMARKS.md, "Fastest good model".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import Field

from core.methods import get_method, settings_for
from core.run_config import RunConfig

CHOOSE = "choose"  # the method the Train page offers first, under NAME
NAME = "Fastest good model"
FIRST_METHOD, THEN_METHOD = "head", "lora"
# A pilot needs about 90% (the pilot-size issue's bar); macro-F1, so a rare class missed counts against it.
GOOD_ENOUGH = 0.90


# Each method's own preset sets these: a head's rate and batch (3e-3, 64) would wreck LoRA.
PER_METHOD = ("learning_rate", "epochs", "batch_size")


def _as_method(config: RunConfig, method: str, then: str | None) -> RunConfig:
    return dataclasses.replace(config, method=method, then_method=then, **{name: None for name in PER_METHOD})


def shared_settings(task: str) -> list[Field]:
    """The settings a user may set for both runs (the Train page's Advanced): those both methods read, less the
    ones each method's preset sets."""
    then = {f.name for f in settings_for(task, get_method(THEN_METHOD))}
    return [f for f in settings_for(task, get_method(FIRST_METHOD)) if f.name in then and f.name not in PER_METHOD]


def first_run(config: RunConfig) -> RunConfig:
    """The run to queue when the user chose "Fastest good model": head only, LoRA named as what may follow."""
    return _as_method(config, FIRST_METHOD, THEN_METHOD)


def best_validation_f1(history: Iterable[dict]) -> float | None:
    """The best epoch's validation macro-F1 (the epoch whose weights were kept), None without validation."""
    scores = [h["val_macro_f1"] for h in history if h.get("val_macro_f1") is not None]
    return max(scores) if scores else None


def follow_up(config: RunConfig, validation_f1: float | None) -> RunConfig | None:
    """The run that follows a finished one, or None: it follows when the first scored below GOOD_ENOUGH on
    validation. Without validation examples there is nothing to judge by, and nothing follows."""
    if not config.then_method or validation_f1 is None or validation_f1 >= GOOD_ENOUGH:
        return None
    return then_run(config)


def then_run(config: RunConfig) -> RunConfig | None:
    """The run that would follow `config` if it fell short (for its estimate before launch), or None."""
    return _as_method(config, config.then_method, None) if config.then_method else None


def decision_text(config: RunConfig, validation_f1: float | None) -> str:
    """One sentence for the run's log: what was decided and why."""
    first = get_method(config.method).name
    if validation_f1 is None:
        return f"{first} had no validation examples to judge it by, so no other method follows."
    then = get_method(config.then_method).name
    if validation_f1 >= GOOD_ENOUGH:
        return (f"{first} reached validation macro-F1 {validation_f1:.3f} (at least {GOOD_ENOUGH:.2f}): good enough, "
                f"so {then} does not follow.")
    return (f"{first} reached validation macro-F1 {validation_f1:.3f}, below {GOOD_ENOUGH:.2f}: a {then} run on the "
            "same data is queued next.")


def follow_up_name(config: RunConfig, run_id: int) -> str:
    return f"{config.method} · {config.model} · after run {run_id}"
