"""The verdict at the top of Results: how good the model is, how sure that is, whether it beats always answering the
most common class by more than chance, which classes are weak, and whether it meets the target the user sets.
The numbers come from core.evaluation.verdict; here they become sentences (class names escaped)."""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd
import streamlit as st

from core.evaluation.calibration import Calibration
from core.evaluation.decision import answered_figures
from core.evaluation.results import run_verdict
from core.evaluation.verdict import CANNOT_TELL, NOT_YET, PASS, SMALL_CLASS, Target, Verdict
from pages.shared.user_text import code, short
from storage.results import RunResult, dataset_target, save_dataset_target

STATUS_ICON = {PASS: "✅", NOT_YET: "❌", CANNOT_TELL: "❔"}
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


def verdict_lines(result: Verdict, labels: list[str], majority_label: str | None) -> list[str]:
    lines = [f"**How good.** Accuracy {result.accuracy.text()}, macro-F1 {result.macro_f1.text()}, on "
             f"{result.test_examples:,} test examples the model never saw."]
    if result.small_classes:
        few = ", ".join(f"{code(label)}: {count}" for label, count in list(result.small_classes.items())[:6])
        lines.append(f"**Enough test data?** ⚠️ {len(result.small_classes)} of {len(labels)} classes have fewer than "
                     f"{SMALL_CLASS} test examples ({few}{', …' if len(result.small_classes) > 6 else ''}): their "
                     "numbers are too uncertain to decide on; add test examples for them.")
    else:
        lines.append(f"**Enough test data?** Every class has at least {SMALL_CLASS} test examples.")
    for comparison in result.baselines:
        against = f"always answering {code(majority_label)}" if comparison.name == "majority" else comparison.name
        how = (f"right on {comparison.model_only:,} examples it gets wrong, wrong on {comparison.baseline_only:,} it "
               f"gets right; p = {comparison.p_value:.2g}")
        lines.append(f"**Better than {against}?** " + ("Yes, by more than chance" if comparison.better else
                                                        "Not by more than chance") + f" ({how}).")
    if result.weak_classes:
        weak = ", ".join(f"{code(label)} (F1 {score:.2f})" for label, score in result.weak_classes[:5])
        lines.append(f"**Weak classes.** {weak}: see which classes they are confused with in the matrix below.")
    if result.target is not None:
        named = result.target.text() if result.target.label is None else \
            f"recall of {code(result.target.label)} at least {result.target.value:.0%}"
        lines.append(f"**Target: {named}.** {STATUS_ICON[result.target_status]} {result.target_status.capitalize()}: "
                     f"{result.target_reason}")
    return lines


def confidence_lines(run: RunResult, decided: pd.DataFrame) -> list[str]:
    """How far its confidence can be trusted, and what its operating point leaves to a person, on test."""
    calibration = Calibration.from_dict(run.calibration)
    lines = []
    if calibration.ece_after is not None and not calibration.note:
        lines.append(f"**How sure it says it is.** When it says it is 90% sure, it is right about 90% of the time: its "
                     f"confidences are calibrated on validation (on test, stated confidence and the share right "
                     f"differ by {calibration.ece_after:.1%} on average; {calibration.ece_before:.1%} before "
                     "calibration).")
    elif calibration.note:
        lines.append(f"**How sure it says it is.** Not calibrated: {calibration.note}")
    else:
        lines.append("**How sure it says it is.** Not calibrated yet: this run has no validation predictions "
                     "(re-evaluate it on the **Confidence** tab).")
    if run.min_confidence is not None:
        figures = answered_figures(decided["confidence"], decided["correct"], run.min_confidence)
        accuracy = "none" if figures.accuracy is None else f"{figures.accuracy:.1%}"
        lines.append(f"**Doubtful cases.** Answering only when at least {run.min_confidence:.1%} sure, it answers "
                     f"{figures.coverage:.0%} of the test examples at {accuracy} accuracy; the other "
                     f"{figures.total - figures.answered:,} are marked uncertain, for a person.")
    return lines


def verdict_ui(run: RunResult, predictions: pd.DataFrame, decided: pd.DataFrame) -> None:
    """predictions: the stored test predictions; decided: the same as the run answers them
    (core.evaluation.decision.decided_frame: calibrated confidence, uncertain)."""
    target = target_ui(run)
    result = run_verdict(predictions, run.labels, run.metrics, target)
    majority = run.metrics.get("baselines", {}).get("majority", {}).get("predicted_label_id")
    lines = verdict_lines(result, run.labels, None if majority is None else run.labels[majority])
    with st.container(border=True):
        st.markdown("  \n".join(lines + confidence_lines(run, decided)))
