"""The verdict at the top of Results: how good the model is, how sure that is, whether it beats always answering the
most common class by more than chance, which classes are weak, and whether it meets the target the user sets.
The numbers come from core.evaluation.verdict and the sentences from core.evaluation.verdict_text (worded once for
this page and the downloaded report); here they become Markdown (class names escaped)."""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd
import streamlit as st

from core.evaluation.calibration import Calibration
from core.evaluation.results import run_verdict
from core.evaluation.verdict import Target
from core.evaluation.verdict_text import Line, confidence_lines, majority_label, render, verdict_lines
from pages.shared.user_text import code, short
from storage.results import RunResult, dataset_target, save_dataset_target

ACCURACY = "Accuracy"


def target_ui(run: RunResult) -> Target | None:
    """The user's target, kept with the dataset: every run of it is judged against the same target."""
    stored = dataset_target(run.dataset_id)
    choices = ["No target", ACCURACY] + [f"Recall of {label}" for label in run.labels]
    start = 0 if not stored else 1 if stored.get("metric") == "accuracy" else \
        run.labels.index(stored["label"]) + 2 if stored.get("label") in run.labels else 0
    with st.expander("Set a target (what the pilot needs)", expanded=not stored):
        picked = st.selectbox("Target", range(len(choices)), index=start, format_func=lambda i: short(choices[i]),
                              key=f"results_target_kind_{run.dataset_id}",
                              help="Accuracy: share of all answers that are right. Recall of a class: share of that "
                              "class's examples the model catches (e.g. how much spam is caught). Kept with the "
                              "dataset: every run of it is judged against it.")
        target = None
        if picked:
            value = st.slider("At least", 0.50, 1.0, float(stored.get("value", 0.90)), 0.01, format="%.2f",
                              key=f"results_target_value_{run.dataset_id}")
            target = Target("accuracy", value) if picked == 1 else Target("recall", value, run.labels[picked - 2])
    wanted = {} if target is None else asdict(target)
    if wanted != stored:
        save_dataset_target(run.dataset_id, wanted)
    return target


def markdown(line: Line) -> str:
    """A verdict line in Markdown: the title bold, class names as inline code (escaped)."""
    return render(line, name=code, text=str, strong=lambda t: f"**{t}**")


def verdict_ui(run: RunResult, predictions: pd.DataFrame, decided: pd.DataFrame) -> None:
    """predictions: the stored test predictions; decided: the same as the run answers them
    (core.evaluation.decision.decided_frame: calibrated confidence, uncertain)."""
    target = target_ui(run)
    result = run_verdict(predictions, run.labels, run.metrics, target)
    lines = verdict_lines(result, run.labels, majority_label(run.metrics, run.labels),
                          run.metrics.get("cross_validation"), run.display_names) + \
        confidence_lines(Calibration.from_dict(run.calibration), run.min_confidence, decided)
    with st.container(border=True):
        st.markdown("  \n".join(markdown(line) for line in lines))
