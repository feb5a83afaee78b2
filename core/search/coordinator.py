"""Driving a search: one step of a worker's loop (`step(worker_id, capacity)`), driven by the database alone.

Each step, for every running search whose lease this worker holds or can take (storage.searches.take_lease):
1) the trials in progress: new validation macro-F1 points of a trial's run become the trial's intermediate values;
   a trial the median pruner would stop is cancelled through the normal cancel path (request_cancel); a finished
   run is told to the study (its validation macro-F1), a cancelled one as pruned, a failed one as failed; a run
   interrupted with its worker is resumed from its checkpoint (or queued again when it had none);
2) new trials, while fewer are in progress than the workers can train at once: the study asks (TPE; the first
   trials are the Quick and the Best preset's settings), the launch estimate (core.jobs.submit, corrected by how
   long this search's finished trials took against theirs) must fit in the budget left, or the trial is skipped; a
   trial that fits is queued as a run;
3) when the budget is spent (or nothing fits, or a stop was asked) and no trial is in progress: the best trial on
   validation is the pick, with its test figures, and Optuna's importances say which settings mattered.
The row's summary is rewritten each step for the pages. Every state lives in the database (the search row, the
study, the runs), so a worker killed at any point leaves a search the next worker carries on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from core.search import START_PRESETS, search_space, start_params, trial_config
from core.search.summary import (
    MEASURED_PROGRESS, MIN_RUN_SECONDS, SEED, estimate_factor, latest_run_per_trial, summarise, validation_curve,
)
from storage import searches as rows
from storage.datasets import get_dataset
from storage.db import optuna_storage
from storage.models import (
    CANCELLED, FAILED, INTERRUPTED, QUEUED, RUNNING, SEARCH_FAILED, SEARCH_FINISHED, SEARCH_STOPPED, SUCCEEDED,
    VALIDATION, Run,
)
from storage.paths import run_files
from storage.run_requests import enqueue_for_search, request_cancel, request_resume

log = logging.getLogger("tuneboard.worker")

MAX_SKIPS_PER_STEP = 4  # sampled settings that would not fit in the budget left, before the search stops adding
OVER_BUDGET_STOP = 1.25  # a trial that will still be training at this share of the budget is stopped
PRUNER_STARTUP_TRIALS = 2  # finished trials before the pruner judges others against them
SAMPLER_STARTUP_TRIALS = 3  # trials sampled at random before TPE models the good settings


# (dataset, RunConfig) -> the launch estimate kept with a queued run ({"seconds", ...}, or {} when unknown): the
# worker passes core.jobs.submit's, the one the Train page and the queue use.
Estimator = Callable[[Any, Any], dict[str, Any]]


def step(worker_id: str, estimate: Estimator, capacity: int = 1) -> None:
    """Drive every running search this worker can lease (each in its own try: one broken search stops no other)."""
    for search_id in rows.running_search_ids():
        search = rows.take_lease(search_id, worker_id)
        if search is None:
            continue
        try:
            drive(search, worker_id, estimate, max(1, capacity))
        except Exception:  # noqa: BLE001 - logged; the next step retries from the database
            log.exception("search %d: step failed", search_id)


def load_study(search_id: int):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna_storage()
    # The sampler's seed moves on with the trials already made, so a restarted worker does not draw them again.
    try:
        made = len(storage.get_all_trials(storage.get_study_id_from_name(rows.study_name(search_id)), deepcopy=False))
    except KeyError:
        made = 0
    return optuna.create_study(
        storage=storage, study_name=rows.study_name(search_id), direction="maximize", load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=SEED + made, n_startup_trials=SAMPLER_STARTUP_TRIALS),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=PRUNER_STARTUP_TRIALS, n_warmup_steps=0))


def drive(search, worker_id: str, estimate: Estimator, capacity: int) -> None:
    from optuna.trial import TrialState

    dataset = get_dataset(search.dataset_id)
    study = load_study(search.id)
    if not study.trials:
        for preset in START_PRESETS:
            study.enqueue_trial(start_params(dataset.task, search.model, search.method, preset), skip_if_exists=True)
    runs = latest_run_per_trial(search.id)
    factor = estimate_factor(rows.trial_runs(search.id))
    remaining = search.budget_seconds - search.spent_seconds
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        _follow(study, trial, runs.get(trial.number), search, dataset, factor)
    active = rows.active_trial_runs(search.id)
    if search.stop_requested:
        for run in active:
            _cancel(run.id)
    note = ""
    if not search.stop_requested and remaining > 0:
        note = _start_trials(study, search, dataset, estimate, capacity - len(active), remaining, factor)
    active = rows.active_trial_runs(search.id)
    untold = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))  # told next step (e.g. just cancelled)
    finished = not active and not untold and (search.stop_requested or remaining <= 0 or note == NOTHING_FITS)
    summary, best = summarise(study, search, dataset, final=finished)
    if finished:
        if search.stop_requested:
            status, message = SEARCH_STOPPED, "Stopped at your request"
        elif best is None:
            status, message = SEARCH_FAILED, "No trial finished within the budget"
        else:
            status, message = SEARCH_FINISHED, "Finished"
        if best is not None:
            message += f": the best trial (#{best['number']}, run #{best['run_id']}) scored {best['value']:.3f} " \
                       "validation macro-F1"
        pace = estimate_factor(rows.trial_runs(search.id))
        error = "" if best is not None else (
            "No trial could finish in the budget; give the search more time or pick a faster method"
            + (f" (on this machine now, trials take about {pace:.1f} times their estimate)." if pace > 1.5 else "."))
        rows.finish_search(search.id, worker_id, status, message=message + ".", summary=summary,
                           best_run_id=best["run_id"] if best else None, error=error)
        log.info("search %d: %s", search.id, message)
        return
    training = [f"#{r.search_trial}" for r in active]
    message = (f"Training trial {', '.join(training)}" if training else "Choosing the next settings") \
        + (f"; {note}" if note and note != NOTHING_FITS else "")
    if remaining <= 0 and training:
        message = f"Budget spent; waiting for trial {', '.join(training)} to finish"
    rows.save_progress(search.id, worker_id, message=message, summary=summary,
                       best_run_id=best["run_id"] if best else None)


NOTHING_FITS = "no more settings fit in the budget left"


def _follow(study, trial, run: Run | None, search, dataset, factor: float) -> None:
    """Report a trial's run to the study: new validation points, pruning, and how it ended."""
    from optuna.trial import Trial, TrialState

    if run is None:  # asked, but its worker died before the run was queued
        study.tell(trial.number, state=TrialState.FAIL)
        return
    live = Trial(study, trial._trial_id)
    reported = set(trial.intermediate_values)
    for epoch, value in validation_curve(run.id).items():
        if epoch not in reported:
            live.report(value, epoch)
    if run.status in (QUEUED, RUNNING):
        over = run.status == RUNNING and cannot_finish(run, search)
        if run.status == RUNNING and not run.cancel_requested and (over or live.should_prune()):
            _note(study, trial._trial_id, "pruned", "budget" if over else "median")
            _cancel(run.id)
            log.info("search %d: trial %d (run %d) %s", search.id, trial.number, run.id,
                     "over the budget: stopped" if over else "pruned: below the median so far")
        return
    if run.status == SUCCEEDED:
        value = validation_macro_f1(run, dataset.labels)
        if value is None:
            study.tell(trial.number, state=TrialState.FAIL)
        else:
            study.tell(trial.number, value)
    elif run.status == CANCELLED:
        if "pruned" not in trial.user_attrs:  # cancelled by the user or a stop, not by the pruner
            _note(study, trial._trial_id, "pruned", "cancelled")
        study.tell(trial.number, state=TrialState.PRUNED)
    elif run.status == INTERRUPTED:  # its worker died: carry on from the checkpoint, or train it again
        if run_files(run.id).has_checkpoint():
            request_resume(run.id)
        else:
            enqueue_for_search(run.dataset_id, run.config, search.id, trial.number, name=run.name,
                               estimate=run.estimate)
    elif run.status == FAILED:
        _note(study, trial._trial_id, "error", run.error)
        study.tell(trial.number, state=TrialState.FAIL)


def _note(study, trial_id: int, key: str, value: Any) -> None:
    from optuna.trial import Trial

    Trial(study, trial_id).set_user_attr(key, value)


def cannot_finish(run: Run, search) -> bool:
    """Past the budget's grace, or its own measured pace says it will be: a trial whose launch estimate was too
    hopeful (a busier machine than when the speeds were measured) is stopped rather than let overrun the budget."""
    limit = OVER_BUDGET_STOP * search.budget_seconds
    if search.spent_seconds > limit:
        return True
    measured = run.eta_seconds is not None and (run.progress or 0.0) >= MEASURED_PROGRESS
    return measured and search.spent_seconds + run.eta_seconds > limit


def _cancel(run_id: int) -> None:
    from storage.run_requests import JobError

    try:
        request_cancel(run_id)
    except JobError:  # it ended meanwhile
        pass


def _start_trials(study, search, dataset, estimator: Estimator, free: int, remaining: float, factor: float) -> str:
    """Queue up to `free` new trials that fit in `remaining` seconds; a note when none could."""
    from optuna.trial import TrialState

    space = search_space(dataset.task, search.method)
    skips = 0
    while free > 0:
        trial = study.ask()
        params = suggest(trial, space)
        config = trial_config(search.model, search.method, params)
        estimate = estimator(dataset, config)
        seconds = max(estimate.get("seconds") or 0.0, MIN_RUN_SECONDS) * factor
        if seconds > remaining:
            _note(study, trial._trial_id, "skipped", f"needs about {seconds / 60:.0f} min, "
                                      f"{remaining / 60:.0f} min left")
            study.tell(trial, state=TrialState.FAIL)
            skips += 1
            if skips >= MAX_SKIPS_PER_STEP:
                return NOTHING_FITS
            continue
        run_id = enqueue_for_search(dataset.id, config.to_dict(), search.id, trial.number,
                                    name=f"Search #{search.id} · trial {trial.number}", estimate=estimate)
        _note(study, trial._trial_id, "run_id", run_id)
        log.info("search %d: trial %d queued as run %d (%s)", search.id, trial.number, run_id, params)
        free -= 1
    return ""


def suggest(trial, space) -> dict[str, Any]:
    params = {}
    for searched in space:
        if searched.choices:
            params[searched.name] = trial.suggest_categorical(searched.name, list(searched.choices))
        elif searched.integer:
            params[searched.name] = trial.suggest_int(searched.name, int(searched.low), int(searched.high))
        else:
            params[searched.name] = trial.suggest_float(searched.name, searched.low, searched.high, log=searched.log)
    return params


def validation_macro_f1(run: Run, labels: list[str]) -> float | None:
    """The finished run's macro-F1 on its stored validation predictions (what Compare picks the best run by)."""
    from core.evaluation.results import validation_metrics
    from storage.results import run_predictions

    metrics = validation_metrics(run_predictions(run.id, VALIDATION), labels)
    return None if metrics is None else float(metrics["macro_f1"])
