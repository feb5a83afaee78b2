"""Driving a search: one step of a worker's loop (`step(worker_id, capacity)`), driven by the database alone.

Each step, for every running search whose lease this worker holds or can take (storage.searches.take_lease):
1) the trials in progress: new validation macro-F1 points of a trial's run become the trial's intermediate values;
   a trial the median pruner would stop is cancelled through the normal cancel path (request_cancel); a finished
   run is told to the study (its validation macro-F1), a cancelled one as pruned, a failed one as failed; a run
   interrupted with its worker is resumed from its checkpoint (or queued again when it had none);
2) new trials, while fewer are in progress than the workers can train at once: the study asks (TPE; the first
   trial is the Quick preset's settings), the launch estimate (core.jobs.submit, corrected by how long this search's
   finished trials took against theirs) must fit in the budget left, or the trial is skipped; a trial that fits is
   queued as a run;
3) when the budget is spent (or nothing fits, or a stop was asked) and no trial is in progress: the best trial on
   validation is the pick, with its test figures, and Optuna's importances say which settings mattered.
The row's summary is rewritten each step for the pages. Every state lives in the database (the search row, the
study, the runs), so a worker killed at any point leaves a search the next worker carries on.
"""

from __future__ import annotations

import logging
import statistics
from typing import Any

from core.jobs.submit import _estimate_or_none
from core.search import search_space, start_params, trial_config
from storage import searches as rows
from storage.datasets import get_dataset
from storage.db import optuna_storage
from storage.models import (
    CANCELLED, FAILED, INTERRUPTED, QUEUED, RUNNING, SEARCH_FAILED, SEARCH_FINISHED, SEARCH_STOPPED, SUCCEEDED,
    VALIDATION, Run,
)
from storage.paths import run_files
from storage.run_requests import enqueue_for_search, request_cancel, request_resume
from storage.runs import metric_points

log = logging.getLogger("tuneboard.worker")

MAX_SKIPS_PER_STEP = 4  # sampled settings that would not fit in the budget left, before the search stops adding
OVER_BUDGET_STOP = 1.25  # a trial still training at this share of the budget is stopped (once one has finished)
PRUNER_STARTUP_TRIALS = 2  # finished trials before the pruner judges others against them
SAMPLER_STARTUP_TRIALS = 3  # trials sampled at random before TPE models the good settings
SEED = 42
MIN_RUN_SECONDS = 10.0  # a run's start (a process, the model, the data) whatever its estimate says
MEASURED_PROGRESS = 0.03  # from this share of its steps on, a trial's own ETA is trusted over its launch estimate


def step(worker_id: str, capacity: int = 1) -> None:
    """Drive every running search this worker can lease (each in its own try: one broken search stops no other)."""
    for search_id in rows.running_search_ids():
        search = rows.take_lease(search_id, worker_id)
        if search is None:
            continue
        try:
            drive(search, worker_id, max(1, capacity))
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


def drive(search, worker_id: str, capacity: int) -> None:
    from optuna.trial import TrialState

    dataset = get_dataset(search.dataset_id)
    study = load_study(search.id)
    if not study.trials:
        study.enqueue_trial(start_params(dataset.task, search.model, search.method), skip_if_exists=True)
    runs = _latest_run_per_trial(search.id)
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
        note = _start_trials(study, search, dataset, capacity - len(active), remaining, factor)
    active = rows.active_trial_runs(search.id)
    finished = not active and (search.stop_requested or remaining <= 0 or note == NOTHING_FITS)
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


def _latest_run_per_trial(search_id: int) -> dict[int, Run]:
    latest: dict[int, Run] = {}
    for run in rows.trial_runs(search_id):  # oldest first: a trial's later run replaces the earlier
        if run.search_trial is not None:
            latest[run.search_trial] = run
    return latest


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
        study.tell(trial.number, state=TrialState.PRUNED)
        if "pruned" not in trial.user_attrs:
            _note(study, trial._trial_id, "pruned", "cancelled")
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


def _start_trials(study, search, dataset, free: int, remaining: float, factor: float) -> str:
    """Queue up to `free` new trials that fit in `remaining` seconds; a note when none could."""
    from optuna.trial import TrialState

    space = search_space(dataset.task, search.method)
    skips = 0
    while free > 0:
        trial = study.ask()
        params = suggest(trial, space)
        config = trial_config(search.model, search.method, params)
        estimate = _estimate_or_none(dataset, config)
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


def validation_curve(run_id: int) -> dict[int, float]:
    """Validation macro-F1 after each whole epoch, as training reported it."""
    return {int(round(p.epoch)): float(p.value) for p in metric_points(run_id)
            if p.name == "val_macro_f1" and abs(p.epoch - round(p.epoch)) < 1e-6 and p.epoch >= 1}


def validation_macro_f1(run: Run, labels: list[str]) -> float | None:
    """The finished run's macro-F1 on its stored validation predictions (what Compare picks the best run by)."""
    from core.evaluation.results import validation_metrics
    from storage.results import run_predictions

    metrics = validation_metrics(run_predictions(run.id, VALIDATION), labels)
    return None if metrics is None else float(metrics["macro_f1"])


def run_seconds(run: Run) -> float | None:
    if run.started_at is None or run.finished_at is None:
        return None
    return max(0.0, (run.finished_at - run.started_at).total_seconds())


def estimate_factor(runs: list[Run]) -> float:
    """How much longer this search's trials took than estimated (the median ratio; 1 before any): finished ones
    whole, stopped ones at the pace they went (their time over the share of steps they made)."""
    ratios = []
    for r in runs:
        seconds, planned = run_seconds(r), (r.estimate or {}).get("seconds")
        if not seconds or planned is None:
            continue
        if r.status == SUCCEEDED:
            ratios.append(seconds / max(planned, MIN_RUN_SECONDS))
        elif r.status == CANCELLED and (r.progress or 0.0) >= MEASURED_PROGRESS:
            ratios.append(seconds / r.progress / max(planned, MIN_RUN_SECONDS))
    return statistics.median(ratios) if ratios else 1.0


def summarise(study, search, dataset, final: bool) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """What the page shows: one entry per trial, the best so far over time, the time pruning saved, importances."""
    from optuna.trial import TrialState

    runs = _latest_run_per_trial(search.id)
    started = search.created_at
    trials, best, best_so_far, saved = [], None, [], 0.0
    for trial in study.get_trials(deepcopy=False):
        run = runs.get(trial.number)
        state = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed",
                 TrialState.RUNNING: "running", TrialState.WAITING: "waiting"}.get(trial.state, str(trial.state))
        if "skipped" in trial.user_attrs:
            state = "skipped"
        if run is not None and state == "running" and run.status == QUEUED:
            state = "queued"
        seconds = run_seconds(run) if run is not None else None
        entry = {
            "number": trial.number, "state": state, "run_id": run.id if run is not None else None,
            "params": dict(trial.params), "value": trial.value if trial.state == TrialState.COMPLETE else None,
            "curve": {str(k): v for k, v in sorted(trial.intermediate_values.items())},
            "started_minute": _minutes(run.started_at, started) if run is not None and run.started_at else None,
            "ended_minute": _minutes(run.finished_at, started) if run is not None and run.finished_at else None,
            "seconds": seconds, "note": trial.user_attrs.get("skipped") or trial.user_attrs.get("error") or "",
            "pruned": trial.user_attrs.get("pruned") if state == "pruned" else None,
        }
        if state == "pruned" and seconds and entry["curve"]:
            planned = int(trial.params.get("epochs") or 0)
            done = len(entry["curve"])
            if planned > done:  # the rest of its epochs, at the pace it trained them
                entry["saved_seconds"] = seconds * (planned - done) / done
                saved += entry["saved_seconds"]
        trials.append(entry)
    complete = sorted((t for t in trials if t["state"] == "complete" and t["ended_minute"] is not None),
                      key=lambda t: t["ended_minute"])
    for t in complete:
        if best is None or t["value"] > best["value"]:
            best = {"number": t["number"], "run_id": t["run_id"], "value": t["value"], "params": t["params"]}
        best_so_far.append([t["ended_minute"], best["value"]])
    summary: dict[str, Any] = {
        "trials": trials, "best_so_far": best_so_far, "best": best,
        "space": [s.describe() for s in search_space(dataset.task, search.method)],
        "pruning": {"pruned": sum(t["state"] == "pruned" for t in trials), "saved_seconds": saved,
                    "share_of_budget": saved / search.budget_seconds if search.budget_seconds else 0.0},
        "estimate_factor": estimate_factor(rows.trial_runs(search.id)),
        "importances": importances(study, len(complete), (search.summary or {}).get("importances")),
    }
    if final and best is not None:
        from storage.runs import get_run

        run = get_run(best["run_id"])
        metrics = run.metrics or {}
        best["test_accuracy"], best["test_macro_f1"] = metrics.get("accuracy"), metrics.get("macro_f1")
    return summary, best


def importances(study, complete: int, earlier: dict | None) -> dict[str, Any]:
    """Optuna's importances (fANOVA) over the finished trials, recomputed when another trial has finished."""
    if earlier and earlier.get("trials") == complete:
        return earlier
    if complete < 2:
        return {"trials": complete, "values": {}}
    import warnings

    import optuna

    try:
        with warnings.catch_warnings():  # "importances will be equal" with very few trials: the page says it is a hint
            warnings.simplefilter("ignore")
            values = optuna.importance.get_param_importances(
                study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=SEED))
    except (RuntimeError, ValueError, ZeroDivisionError):  # e.g. every finished trial tried the same settings
        values = {}
    return {"trials": complete, "values": {k: float(v) for k, v in values.items()}}


def _minutes(when, start) -> float:
    return max(0.0, (when - start).total_seconds() / 60.0)
