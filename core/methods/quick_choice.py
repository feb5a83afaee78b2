"""When the user leaves the method to Tuneboard ("Fastest good model"): head only first, LoRA only if needed.

Head only answers in well under a minute on a 2-core CPU (the backbone's features are computed once, its epochs
cost milliseconds), LoRA in minutes. Where a frozen backbone already separates the classes, head only is good enough
(SMS spam, ants/bees, 28-px digits: validation macro-F1 0.96 in 21-28 s, test accuracy within 1.3 points of LoRA
Quick on the first two and 4.4 below it on digits); on hard many-class data it falls far short (fortunes: 0.46,
where LoRA reaches 0.61 test accuracy). So the head-only run trains first, and its best validation macro-F1 decides:
at GOOD_ENOUGH or above it is the model; below, a run of the same settings with LoRA follows, queued in the same
write that records the head-only run's result (storage.run_queue.finish), so it cannot be lost between the two.
The decision reads validation examples only, never the test set. Measured: docs/BENCHMARKS.md, "Pilot-size data".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
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


def follow_up(config: RunConfig, validation_f1: float | None, run_id: int) -> RunConfig | None:
    """The run that follows finished run `run_id`, or None: it follows when that run scored below GOOD_ENOUGH on
    validation. Without validation examples there is nothing to judge by, and nothing follows."""
    if not config.then_method or validation_f1 is None or validation_f1 >= GOOD_ENOUGH:
        return None
    return dataclasses.replace(then_run(config), chosen_after=run_id)


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


def chain_note(run, finished: Iterable, validation_f1: Callable[[int], float | None]) -> str | None:
    """For Results: which of the two runs of a "Fastest good model" launch is better on validation, or why nothing
    followed; None for a run the user chose the method of. `run` and `finished` (finished runs, its partner among
    them) carry `id` and `config`; `validation_f1(run_id)` is a run's best validation macro-F1."""
    config = run.config
    if config.get("then_method"):
        first, second = run, next((r for r in finished if r.config.get("chosen_after") == run.id), None)
    elif config.get("chosen_after"):
        first, second = next((r for r in finished if r.id == config["chosen_after"]), None), run
    else:
        return None
    if first is None:
        return None  # the run it followed was deleted
    names = {r.id: get_method(r.config["method"]).name for r in (first, second) if r is not None}
    first_f1 = validation_f1(first.id)
    if first_f1 is None:
        return None
    opening = f"**{NAME}**: {names[first.id]} (run #{first.id}) reached {first_f1:.2f} validation macro-F1"
    if first_f1 >= GOOD_ENOUGH:
        return f"{opening}, at least {GOOD_ENOUGH:.2f}, so no other method followed it."
    then = get_method(first.config["then_method"]).name
    if second is None:
        return f"{opening}, below {GOOD_ENOUGH:.2f}, so a {then} run was queued after it: see **Runs**."
    second_f1 = validation_f1(second.id)
    if second_f1 is None:
        return None
    better = second if second_f1 > first_f1 else first
    return (f"{opening}, below {GOOD_ENOUGH:.2f}, so {then} followed (run #{second.id}): {second_f1:.2f}. On the "
            f"validation examples the better of the two is **{names[better.id]}, run #{better.id}**"
            + (" (this one)." if better.id == run.id else "."))
