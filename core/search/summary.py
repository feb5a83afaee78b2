"""What a search's page shows, from its study and its runs (core.search.coordinator writes it to the row each
step), and the pace of its trials against their launch estimates."""

from __future__ import annotations

import statistics
from typing import Any

from core.search import search_space
from storage import searches as rows
from storage.models import CANCELLED, QUEUED, SUCCEEDED, Run
from storage.runs import metric_points

SEED = 42
MIN_RUN_SECONDS = 10.0  # a run's start (a process, the model, the data) whatever its estimate says
MEASURED_PROGRESS = 0.03  # from this share of its steps on, a trial's own ETA is trusted over its launch estimate


def latest_run_per_trial(search_id: int) -> dict[int, Run]:
    latest: dict[int, Run] = {}
    for run in rows.trial_runs(search_id):  # oldest first: a trial's later run replaces the earlier
        if run.search_trial is not None:
            latest[run.search_trial] = run
    return latest


def validation_curve(run_id: int) -> dict[int, float]:
    """Validation macro-F1 after each whole epoch, as training reported it."""
    return {int(round(p.epoch)): float(p.value) for p in metric_points(run_id)
            if p.name == "val_macro_f1" and abs(p.epoch - round(p.epoch)) < 1e-6 and p.epoch >= 1}


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

    runs = latest_run_per_trial(search.id)
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
