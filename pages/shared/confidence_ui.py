"""The Confidence tab of Results: how far the model's stated confidence can be trusted (calibration, measured on
test), which answers to leave to a person (the operating point), and for two classes the threshold. Together they
are the run's one decision rule (core.evaluation.decision), saved with the run and used by Predict, batch downloads
and the command line. Every choice here is made on validation predictions; test figures only stand beside them.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import streamlit as st

from core.evaluation.calibration import Calibration, perfect_calibration_error, reliability
from core.evaluation.decision import (
    Answered, DecisionRule, answered_figures, choose_min_confidence, coverage_curve, decided_frame, label_ids,
)
from core.evaluation.results import metrics_at_threshold, probability_matrix, threshold_curve
from core.evaluation.threshold import from_stored, positive_class, to_stored
from pages.shared import charts
from pages.shared.errors import error_ui
from pages.shared.user_text import hover, md, short
from storage.results import RunResult, save_min_confidence, save_threshold, save_validation


def reevaluate_ui(run: RunResult, test: pd.DataFrame) -> None:
    """The offer for a run stored before validation predictions were kept."""
    st.info("This run was stored before Tuneboard kept validation predictions. Choices — the threshold, which "
            "answers to mark uncertain, the calibration — are made on validation examples, never on the test set "
            "that judges the model. Re-evaluating predicts this dataset's validation examples with the saved model: "
            "no retraining.")
    if not st.button("Re-evaluate on validation", key=f"results_reevaluate_{run.id}", type="primary"):
        return
    # Imported here: loading a model needs torch, which the rest of Results does not.
    from core.catalog import ModelLoadError
    from core.serving.reevaluate import reevaluate
    from core.training.data import TrainingDataError

    try:
        with st.spinner("Predicting the validation examples with the saved model…"):
            done = reevaluate(run.output_dir, run.dataset_dir, run.labels, test, run.threshold)
    except (ModelLoadError, TrainingDataError, FileNotFoundError) as error:
        error_ui(f"Re-evaluating failed: {error}", key=f"results_reevaluate_error_{run.id}")
        return
    save_validation(run.id, done.validation_predictions, done.calibration.to_dict(), done.threshold)
    st.rerun()


def calibration_ui(run: RunResult, test: pd.DataFrame) -> None:
    calibration = Calibration.from_dict(run.calibration)
    st.subheader("Can its confidence be trusted?")
    st.write("A well-calibrated model that says “80% sure” is right about 80% of the time. Tuneboard fits one "
             "number (a temperature) on the validation examples to correct over- or under-confidence; every "
             "confidence in Tuneboard is the corrected one. The chart is measured on the test set.")
    if calibration.note:
        st.caption(calibration.note)
    if calibration.ece_before is not None:
        left, right = st.columns(2)
        explain = ("Expected calibration error: the average gap between stated confidence and the share right "
                   "(0 is perfect).")
        left.metric("Calibration error, model's own", f"{calibration.ece_before:.3f}", border=True, help=explain)
        if calibration.ece_after is not None and not calibration.note:
            right.metric(f"After the temperature ({calibration.temperature:.2f})", f"{calibration.ece_after:.3f}",
                         delta=f"{calibration.ece_after - calibration.ece_before:+.3f}", delta_color="inverse",
                         border=True, help=explain)
    probabilities, y_true = probability_matrix(test, run.labels), label_ids(test["true_label"], run.labels)
    calibrated = DecisionRule.of_run(run).calibrated(probabilities)
    if calibration.ece_before is not None:
        floor, low, high = chance_floor(calibrated)
        st.caption(f"On {len(test):,} test examples even a perfectly calibrated model shows an error of about "
                   f"{floor:.3f} ({low:.3f} to {high:.3f}) by chance alone: a smaller gap than that cannot be seen "
                   "at this test size.")
    tables = {"model's own": reliability(probabilities, y_true)}
    if calibration.temperature != 1.0:
        tables["calibrated"] = reliability(calibrated, y_true)
    st.plotly_chart(charts.reliability_figure(tables), key=f"results_reliability_{run.id}")


@st.cache_data(max_entries=16, show_spinner=False)
def chance_floor(probabilities: np.ndarray) -> tuple[float, float, float]:
    """core.evaluation.calibration.perfect_calibration_error, kept: about half a second for 1,000 examples."""
    return perfect_calibration_error(probabilities)


def _answered_text(figures: Answered, split: str) -> str:
    if not figures.answered:
        return f"{split}: answers none of {figures.total:,} examples."
    return (f"{split}: answers **{figures.coverage:.0%}** ({figures.answered:,} of {figures.total:,}) at "
            f"**{figures.accuracy:.1%}** accuracy; {figures.total - figures.answered:,} go to a person.")


def operating_point_ui(run: RunResult, val: pd.DataFrame, test: pd.DataFrame) -> None:
    st.subheader("Which answers to leave to a person")
    st.write("Say how accurate the answers it gives must be; Tuneboard picks, on the validation examples, the "
             "lowest confidence that keeps them that accurate, so it answers as many as it can. Answers below it "
             "are marked **uncertain** on Predict, in batch downloads and from the command line.")
    plain = replace(DecisionRule.of_run(run), min_confidence=None)
    val_decided, test_decided = decided_frame(val, plain), decided_frame(test, plain)
    needed = st.slider("Accuracy the given answers need (%)", 80.0, 100.0, 99.0, 0.1, format="%.1f%%",
                       key=f"results_needed_accuracy_{run.id}",
                       help="On the answers the model gives; the rest are left to a person.") / 100
    chosen = choose_min_confidence(val_decided["confidence"], val_decided["correct"], needed)
    curve = coverage_curve(val_decided["confidence"], val_decided["correct"])
    st.plotly_chart(charts.coverage_figure(curve, chosen), key=f"results_coverage_{run.id}")
    if chosen is None:
        st.warning(f"No confidence level reaches {needed:.1%} accuracy on the validation examples; lower what you "
                   "need, or improve the model first.")
    else:
        st.markdown(f"Answer when at least **{chosen:.1%}** sure.  \n"
                    + _answered_text(answered_figures(val_decided["confidence"], val_decided["correct"], chosen),
                                     "Validation (where it was chosen)") + "  \n"
                    + _answered_text(answered_figures(test_decided["confidence"], test_decided["correct"], chosen),
                                     "Test (what to expect)"))
        if st.button("Use this operating point", key=f"results_save_point_{run.id}", type="primary"):
            save_min_confidence(run.id, chosen)
            run.min_confidence = chosen
    if run.min_confidence is None:
        st.caption("Saved: no operating point — every answer is given without an uncertain mark.")
    else:
        st.caption(f"Saved: answers below {run.min_confidence:.1%} confidence are marked uncertain.")
        if st.button("Stop marking answers uncertain", key=f"results_clear_point_{run.id}"):
            save_min_confidence(run.id, None)
            st.rerun()


def threshold_ui(run: RunResult, val: pd.DataFrame, test: pd.DataFrame) -> None:
    labels = run.labels
    st.subheader("Threshold")
    st.write("With two classes the model says the positive class when its probability reaches a threshold. "
             "Lower it to catch more positives (higher recall), raise it for fewer false alarms (higher precision). "
             "The curve is drawn on the validation examples; the test figures show what to expect.")
    rule = DecisionRule.of_run(run)
    val_calibrated, test_calibrated = (
        frame.assign(probabilities=[list(row) for row in rule.calibrated(probability_matrix(frame, labels))])
        for frame in (val, test))
    minority = positive_class(labels, val["true_label"])
    positive = st.selectbox("Positive class (the one you want to catch)", labels, index=labels.index(minority),
                            key=f"results_positive_{run.id}", format_func=short,
                            help="The class whose probability the threshold applies to, such as spam or fraud.")
    current = round(from_stored(run.threshold, positive, labels), 2)
    name, whole = md(positive), md(positive, limit=None)  # shown cut in labels, whole in tooltips
    value = st.slider(f"Threshold on P({name})", 0.01, 0.99, value=min(max(current, 0.01), 0.99), step=0.01,
                      key=f"results_threshold_{run.id}_{positive}",
                      help=f"The model says {whole} when its probability is at least this. 0.50 is the usual choice.")
    st.plotly_chart(charts.threshold_figure(threshold_curve(val_calibrated, labels, positive), value, positive),
                    key=f"results_threshold_curve_{run.id}")
    for split, frame in (("Validation", val_calibrated), ("Test", test_calibrated)):
        at = metrics_at_threshold(frame, labels, positive, value)
        scores = at["per_class"][positive]
        cards = st.columns(5)
        cards[0].markdown(f"**{split}**")
        cards[1].metric(f"Precision ({name})", f"{scores['precision']:.1%}", border=True,
                        help=f"Of the examples called {whole}, the share that really are.")
        cards[2].metric(f"Recall ({name})", f"{scores['recall']:.1%}", border=True,
                        help=f"Of the real {whole} examples, the share that are caught.")
        cards[3].metric(f"F1 ({name})", f"{scores['f1']:.1%}", border=True, help=hover(positive))
        cards[4].metric("Accuracy", f"{at['accuracy']:.1%}", border=True)
    if st.button("Save threshold", key=f"results_save_threshold_{run.id}", type="primary",
                 help="Use this threshold from now on for predictions on Predict and from the command line."):
        run.threshold = to_stored(value, positive, labels)
        save_threshold(run.id, run.threshold)
        st.success(f"Saved: {name} when P({name}) ≥ {value:.2f}.")
    saved = "not set (the most probable class wins)" if run.threshold is None else \
        f"{from_stored(run.threshold, positive, labels):.2f} on P({name})"
    st.caption(f"Saved threshold: {saved}. Predictions on **Predict** and from the command line use it.")


def confidence_ui(run: RunResult, val: pd.DataFrame, test: pd.DataFrame) -> None:
    """The whole tab; without validation predictions only what needs none (the test's calibration error)."""
    if val.empty:
        reevaluate_ui(run, test)
        calibration_ui(run, test)
        return
    if len(run.labels) == 2:
        threshold_ui(run, val, test)
    operating_point_ui(run, val, test)
    calibration_ui(run, test)
