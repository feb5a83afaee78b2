"""Settings searches: "find the best settings in 30 minutes" for one dataset, model and method.

A search is a row (storage.searches) and an Optuna study in the app's own database (TPE picks the settings, a median
pruner stops trials whose validation curve trails the others). Each trial is an ordinary queued run, trained by the
same workers as any other (so several workers share a search), and a pruned trial is cancelled the way the Cancel
button cancels a run. Whichever worker holds the search's lease drives it (core.search.coordinator, a step of the
worker's loop): no extra process, and a search carries on from the database after any restart.

What is searched, and over which ranges, each method says itself (TuningMethod.searches, core/methods/). Choices are
made on validation macro-F1; the test figures of the final pick are shown beside it, never used to choose.
"""

from __future__ import annotations

from typing import Any

from core.methods import get_method, settings_for
from core.methods.base import Searched
from core.run_config import RunConfig, out_of_bounds
from core.training.presets import resolve
from storage.searches import SearchError, create_search

MIN_BUDGET_MINUTES = 1.0
MAX_BUDGET_MINUTES = 7 * 24 * 60.0
BASE_PRESET = "best"  # what a trial's unsearched settings come from (early stopping with the best epoch kept)
# The first trials try these presets' values, in this order: known-good starts for the sampler, and, as Best's values
# lie inside every method's space (tests/test_search.py), a search whose budget fits a Best run ends no worse on
# validation than the Best preset. Measured without Best among them: 0.572 against Best's 0.600 (docs/BENCHMARKS.md).
START_PRESETS = ("quick", "best")


def search_space(task: str, method_key: str) -> tuple[Searched, ...]:
    """The settings a search tries for this method on this task (those that apply to them)."""
    method = get_method(method_key)
    applying = {f.name for f in settings_for(task, method)}
    return tuple(s for s in method.searches.get(task, ()) if s.name in applying)


def trial_config(model: str, method: str, params: dict[str, Any]) -> RunConfig:
    """The run a trial trains: the sampled settings, the rest from the Best preset."""
    return RunConfig(model=model, method=method, preset=BASE_PRESET, **params)


def start_params(task: str, model: str, method: str, preset: str) -> dict[str, Any]:
    """A preset's values for the searched settings (snapped into the searched ranges): one of the first trials."""
    resolved = resolve(task, RunConfig(model=model, method=method, preset=preset))
    params = {}
    for searched in search_space(task, method):
        value = getattr(resolved, searched.name)
        if value is None:
            continue
        if searched.choices:
            value = min(searched.choices, key=lambda c: abs(float(c) - float(value)))
        else:
            value = min(max(value, searched.low), searched.high)
            value = int(round(value)) if searched.integer else float(value)
        params[searched.name] = value
    return params


def start_search(dataset, model: str, method: str, budget_minutes: float, name: str = "") -> int:
    """Queue a search of `method`'s settings on `dataset` within `budget_minutes`; a worker drives it.
    Raises SearchError (one sentence) for a budget out of range or a method with nothing to search here."""
    if not MIN_BUDGET_MINUTES <= float(budget_minutes) <= MAX_BUDGET_MINUTES:
        raise SearchError(f"The time budget must be between {MIN_BUDGET_MINUTES:g} minute and "
                          f"{MAX_BUDGET_MINUTES / 60 / 24:g} days; {budget_minutes:g} minutes is not.", "budget")
    chosen = get_method(method)
    if not chosen.applies_to(dataset.task):
        raise SearchError(f"{chosen.name} works on {' and '.join(chosen.tasks)} data only; pick another method.",
                          "method_task")
    space = search_space(dataset.task, method)
    if not space:
        raise SearchError(f"{chosen.name} has no settings to search on {dataset.task} data; pick another method.",
                          "no_space")
    for searched in space:  # a method's ranges must be settings a run accepts (caught here, not in a trial)
        for value in (searched.choices or (searched.low, searched.high)):
            problem = out_of_bounds(searched.name, value)
            if problem:
                raise SearchError(f"{chosen.name}'s search range is wrong: {problem}", "bad_space")
    return create_search(dataset.id, model, method, float(budget_minutes) * 60.0,
                         name or f"{chosen.name} · {model} · {float(budget_minutes):g} min")


__all__ = ["SearchError", "search_space", "start_params", "start_search", "trial_config"]
