"""What a report reads about one finished run, from the job store and the dataset's files, once."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from core.datasets.files import read_examples
from core.evaluation.decision import DecisionRule, decided_frame
from core.evaluation.verdict import Target
from storage.models import SUCCEEDED, TEST, VALIDATION
from storage.results import RunResult, dataset_target, metric_points, run_predictions, run_result


class ReportError(ValueError):
    """Why there is no report, in one plain sentence that says what to do."""


@dataclass
class RunData:
    run: RunResult
    test: pd.DataFrame  # the stored test predictions (storage.results.PREDICTION_COLUMNS)
    val: pd.DataFrame  # the stored validation predictions; empty for a run stored before they were kept
    decided: pd.DataFrame  # the test predictions as the run answers them (calibrated, uncertain), most probable class
    examples: pd.DataFrame | None  # the dataset's examples.csv; None when its files are gone
    points: pd.DataFrame  # curves recorded while training
    target: Target | None  # the target kept with the dataset


def load_run(run_id: int) -> RunData:
    run = run_result(run_id)
    if run is None:
        raise ReportError(f"There is no run {run_id}; `python -m core runs` lists them.")
    if run.status != SUCCEEDED:
        raise ReportError(f"Run {run_id} is {run.status}, not finished; only a succeeded run has a report.")
    test = run_predictions(run.id, TEST)
    if test.empty or not run.metrics:
        raise ReportError(f"Run {run_id} has no stored test results; train it again (Retry on Runs) to report on it.")
    try:
        examples = read_examples(run.dataset_dir)
    except FileNotFoundError:
        examples = None
    # As Results shows it: the most probable class (as the stored metrics), calibrated, uncertain below the point.
    decided = decided_frame(test, replace(DecisionRule.of_run(run), threshold=None))
    stored = dataset_target(run.dataset_id)
    target = Target(stored["metric"], float(stored["value"]), stored.get("label")) if stored.get("metric") else None
    if target is not None and target.label is not None and target.label not in run.labels:
        target = None
    return RunData(run, test, run_predictions(run.id, VALIDATION), decided, examples, metric_points(run.id), target)
