"""Results: is the model good enough, where does it fail, how does it compare with other runs, and how to take it
out of Tuneboard (Download)?"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.artifacts import model_missing_note
from core.evaluation.compare import baseline_deltas, baseline_table, comparison_table
from core.datasets.files import read_examples
from core.evaluation.results import (
    cell_examples, confidence_histogram, learning_curves, least_confident, metrics_at_threshold, misclassified,
    per_class_table, recompute_metrics, threshold_curve, with_examples,
)
from core.evaluation.threshold import from_stored, is_two_class, positive_class, to_stored
from pages.shared import charts
from pages.shared.export_ui import download_ui
from pages.shared.gate import enter_page
from pages.shared.run_picker import pick_run_ui
from pages.shared.user_text import code, hover, md, short
from pages.shared.verdict_ui import verdict_ui
from storage.results import RunResult, finished_runs, metric_points, run_predictions, save_threshold

MATRIX_MODES = ["Counts", "Share of each true class"]
ERROR_VIEWS = ["Misclassified (most confident first)", "Least confident"]
THUMBNAILS = 24  # images shown in the error browser; more would slow the page


def metric_cards_ui(metrics: dict, recomputed: dict, examples_count: int) -> None:
    """Accuracy and macro-F1 with the difference from the untuned model, beside the baselines themselves."""
    deltas = baseline_deltas(metrics)
    reference = "zero_shot" if "zero_shot" in deltas else "majority"
    cards, baselines = st.columns([1, 1.3])
    left, right = cards.columns(2)
    for column, key, title, explanation in (
        (left, "accuracy", "Accuracy", "Share of the test examples the model labels correctly."),
        (right, "macro_f1", "Macro-F1", "The F1 of every class averaged equally, so rare classes count as much as common ones."),
    ):
        delta = deltas.get(reference, {}).get(key)
        column.metric(title, f"{metrics[key]:.1%}", delta=None if delta is None else f"{delta * 100:+.1f} points",
                      border=True, help=explanation)
    cards.caption({"zero_shot": "Arrows: the difference from the untuned model (zero-shot) — what tuning bought.",
                   "majority": "Arrows: the difference from always answering the most common class."}[reference])
    baselines.dataframe(baseline_table(metrics), hide_index=True, key="results_baselines",
                        column_config={"accuracy": st.column_config.NumberColumn(format="%.3f"),
                                       "macro_f1": st.column_config.NumberColumn("macro-F1", format="%.3f")})
    same = all(abs(recomputed[k] - metrics[k]) < 1e-9 for k in ("accuracy", "macro_f1"))
    if same:
        st.caption(f"Checked: recomputing from the {examples_count} stored test predictions "
                   "gives the same accuracy and macro-F1.")
    else:
        st.warning("The stored test predictions give different numbers than the stored metrics; the run may be damaged.")


def show_examples(frame: pd.DataFrame, run: RunResult, key: str) -> None:
    """Test examples as text rows, or as image thumbnails with true / predicted / confidence."""
    if frame.empty:
        st.caption("No test examples here.")
        return
    if run.task == "image":
        columns = st.columns(6)
        for i, row in enumerate(frame.head(THUMBNAILS).itertuples()):
            caption = f"true {md(row.true_label)} · predicted {md(row.predicted_label)} · {row.confidence:.0%}"
            path = run.dataset_dir / row.input
            if path.is_file():
                columns[i % 6].image(str(path), width="stretch", caption=caption)
            else:
                columns[i % 6].caption(f"(image missing: {md(row.source)}) {caption}")
        if len(frame) > THUMBNAILS:
            st.caption(f"Showing {THUMBNAILS} of {len(frame)} examples.")
        return
    shown = frame.rename(columns={"input": "text", "true_label": "true", "predicted_label": "predicted"})
    st.dataframe(shown[["text", "true", "predicted", "confidence", "source"]], hide_index=True, key=key,
                 column_config={"confidence": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="percent")})


def confusion_ui(run: RunResult, joined: pd.DataFrame, matrix: list[list[int]]) -> None:
    labels = run.labels
    mode = st.radio("Show", MATRIX_MODES, horizontal=True, key="results_matrix_mode",
                    help="Counts: how many test examples fall in each cell. Share: each row as a share of its true "
                    "class, so small classes are as easy to read as large ones.")
    event = st.plotly_chart(charts.confusion_figure(labels, matrix, normalized=mode == MATRIX_MODES[1]),
                            key=f"results_confusion_{run.id}", on_select="rerun", selection_mode="points")
    points = event.selection.points if event else []
    # A clicked cell drives the two pickers below (they stay usable on their own, e.g. with a keyboard). The chart
    # knows the classes by their escaped names (charts.category).
    by_category = {charts.category(label): label for label in labels}
    clicked = (by_category.get(str(points[0]["y"])), by_category.get(str(points[0]["x"]))) if points else (None, None)
    if None not in clicked and st.session_state.get("results_cell_clicked") != clicked:
        st.session_state["results_cell_clicked"] = clicked
        st.session_state[f"results_cell_true_{run.id}"], st.session_state[f"results_cell_pred_{run.id}"] = clicked
    off_diagonal = [(matrix[i][j], i, j) for i in range(len(labels)) for j in range(len(labels)) if i != j]
    _, worst_true, worst_pred = max(off_diagonal, default=(0, 0, 0))
    left, right = st.columns(2)
    true_label = left.selectbox("True class", labels, index=worst_true, key=f"results_cell_true_{run.id}",
                                format_func=short, help="The right answer. Starts on the most common mistake.")
    predicted = right.selectbox("Predicted class", labels, index=worst_pred, key=f"results_cell_pred_{run.id}",
                                format_func=short,
                                help="What the model said. Pick the same class as on the left to see what it got right.")
    cell = cell_examples(joined, true_label, predicted)
    st.markdown(f"**{len(cell)} test examples** are {code(true_label)} and were predicted {code(predicted)}.")
    show_examples(cell, run, key=f"results_cell_examples_{run.id}")


def threshold_ui(run: RunResult, predictions: pd.DataFrame) -> None:
    labels = run.labels
    st.write("With two classes the model says the positive class when its probability reaches a threshold. "
             "Lower it to catch more positives (higher recall), raise it for fewer false alarms (higher precision).")
    minority = positive_class(labels, predictions["true_label"])
    positive = st.selectbox("Positive class (the one you want to catch)", labels, index=labels.index(minority),
                            key=f"results_positive_{run.id}", format_func=short,
                            help="The class whose probability the threshold applies to, such as spam or fraud.")
    current = round(from_stored(run.threshold, positive, labels), 2)
    name, whole = md(positive), md(positive, limit=None)  # shown cut in labels, whole in tooltips
    value = st.slider(f"Threshold on P({name})", 0.01, 0.99, value=min(max(current, 0.01), 0.99), step=0.01,
                      key=f"results_threshold_{run.id}_{positive}",
                      help=f"The model says {whole} when its probability is at least this. 0.50 is the usual choice.")
    at = metrics_at_threshold(predictions, labels, positive, value)
    scores = at["per_class"][positive]
    cards = st.columns(4)
    cards[0].metric(f"Precision ({name})", f"{scores['precision']:.1%}", border=True,
                    help=f"Of the examples called {whole}, the share that really are.")
    cards[1].metric(f"Recall ({name})", f"{scores['recall']:.1%}", border=True,
                    help=f"Of the real {whole} examples, the share that are caught.")
    cards[2].metric(f"F1 ({name})", f"{scores['f1']:.1%}", border=True, help=hover(positive))
    cards[3].metric("Accuracy", f"{at['accuracy']:.1%}", border=True)
    matrix = pd.DataFrame(at["confusion_matrix"]["matrix"], index=[f"true {l}" for l in labels],
                          columns=[f"predicted {l}" for l in labels])
    st.dataframe(matrix, key=f"results_threshold_matrix_{run.id}")
    st.plotly_chart(charts.threshold_figure(threshold_curve(predictions, labels, positive), value, positive),
                    key=f"results_threshold_curve_{run.id}")
    if st.button("Save threshold", key=f"results_save_threshold_{run.id}", type="primary",
                 help="Use this threshold from now on for predictions on Predict and from the command line."):
        run.threshold = to_stored(value, positive, labels)
        save_threshold(run.id, run.threshold)
        st.success(f"Saved: {name} when P({name}) ≥ {value:.2f}.")
    saved = "not set (the most probable class wins)" if run.threshold is None else \
        f"{from_stored(run.threshold, positive, labels):.2f} on P({name})"
    st.caption(f"Saved threshold: {saved}. Predictions on **Predict** and from the command line use it.")


def compare_ui(run: RunResult) -> None:
    table = comparison_table(finished_runs(run.dataset_id))
    st.markdown(f"Every finished run on **{md(run.dataset_name)}**, judged on the same test examples, with the untuned "
                "baselines.", help=hover(run.dataset_name))
    shown = table.drop(columns=["kind"]).rename(columns={
        "macro_f1": "macro-F1", "train_seconds": "train time (s)", "trainable_params": "trainable parameters",
        "size_mb": "size on disk (MB)"})
    styled = shown.style.apply(lambda row: ["background-color: #fff3c4" if row["best"] else "" for _ in row], axis=1)
    st.dataframe(styled, hide_index=True, key="results_compare_table",
                 column_config={"accuracy": st.column_config.NumberColumn(format="%.3f"),
                                "macro-F1": st.column_config.NumberColumn(format="%.3f"),
                                "train time (s)": st.column_config.NumberColumn(format="%.1f"),
                                "size on disk (MB)": st.column_config.NumberColumn(format="%.1f")})
    metric = st.radio("Chart", ["macro_f1", "accuracy"], horizontal=True, key="results_compare_metric",
                      format_func=lambda m: {"macro_f1": "Macro-F1", "accuracy": "Accuracy"}[m],
                      help="Accuracy: share of test examples labeled right. Macro-F1: every class counts equally, "
                      "so it is the fairer score when some classes are rare.")
    st.plotly_chart(charts.comparison_figure(table, metric), key="results_compare_chart")


enter_page()  # a URL may open this page without app.py (pages/shared/gate.py)
st.title("Results")
st.write("How good a finished model is, where it goes wrong and how it compares with other runs; then try it on "
         "new inputs on **Predict**.")
runs = finished_runs()
if not runs:
    st.info("No finished run yet — train a model on **Train**; its results appear here when it finishes.")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
    st.stop()
run = pick_run_ui(runs, key="results_run", title=lambda r: r.title,
                  help="A finished run; everything below is measured on its dataset's test examples, "
                  "which the model never saw while training.")
predictions = run_predictions(run.id)
if predictions.empty or not run.metrics:
    st.warning("This run has no stored test results; train it again (Retry on **Runs**) to see them.")
    st.page_link("pages/runs.py", label="Go to Runs", icon=":material/play_circle:", query_params={"run": str(run.id)})
    st.stop()
st.caption(f"{run.task.capitalize()} classification · {len(run.labels)} classes · model {md(run.model)} · method "
           f"{md(run.method)} · {len(predictions)} test examples · trained in {run.train_seconds or 0:.0f} s on {run.device or 'cpu'}")

missing = model_missing_note(run.id, run.artifact_dir)
if missing:  # the stored numbers still hold; only predicting needs the files
    st.warning(f"{missing} The numbers below are the ones stored when it finished; it cannot predict until retrained.")
recomputed = recompute_metrics(predictions, run.labels)
try:
    examples = read_examples(run.dataset_dir)
except FileNotFoundError:
    st.warning("The dataset's files are missing, so examples cannot be shown (the numbers below still hold).")
    examples = pd.DataFrame(columns=["input", "label", "split", "source"])
joined = with_examples(predictions, examples)
verdict_ui(run, predictions)  # the pilot's answer first: how good, how sure, better than chance, the target

tab_names = ["Overview", "Errors"] + (["Threshold"] if is_two_class(run.labels) else []) + ["Compare", "Download"]
tabs = dict(zip(tab_names, st.tabs(tab_names)))
with tabs["Overview"]:
    metric_cards_ui(run.metrics, recomputed, len(predictions))
    st.subheader("Per class")
    st.dataframe(per_class_table(run.metrics, run.labels), hide_index=True, key="results_per_class",
                 column_config={k: st.column_config.NumberColumn(format="%.3f") for k in ("precision", "recall", "f1")})
    st.subheader("Confusion matrix")
    st.caption("Rows are the true classes, columns what the model said. Click a cell (or pick it below) to see its examples.")
    if run.threshold is not None and is_two_class(run.labels):
        st.caption("These numbers are for the most probable class; predictions use the threshold saved on the "
                   "**Threshold** tab, which shows the numbers at that threshold.")
    confusion_ui(run, joined, run.metrics["confusion_matrix"]["matrix"])
    st.subheader("Learning curves")
    curves = learning_curves(metric_points(run.id))
    left, right = st.columns(2)
    if curves["loss"].empty and curves["validation"].empty:
        st.caption("No curves were recorded for this run.")
    if not curves["loss"].empty:
        left.plotly_chart(charts.curve_figure(curves["loss"], "step", "Loss", "loss"), key="results_loss_curve")
    if not curves["validation"].empty:
        right.plotly_chart(charts.curve_figure(curves["validation"], "epoch", "Validation", "score"),
                           key="results_validation_curve")
with tabs["Errors"]:
    view = st.radio("Show", ERROR_VIEWS, horizontal=True, key="results_error_view",
                    help="Confident mistakes often point to wrong labels in the data; the least confident examples "
                    "show where the model hesitates.")
    limit = st.slider("How many", 5, 200, 50, step=5, key="results_error_limit",
                      help="How many test examples to list below.")
    errors = misclassified(joined, limit) if view == ERROR_VIEWS[0] else least_confident(joined, limit)
    st.markdown(f"**{int((~joined['correct']).sum())} of {len(joined)}** test examples are misclassified.")
    show_examples(errors, run, key="results_errors")
    st.subheader("Confidence")
    st.caption("How sure the model was, split by whether it was right. Mistakes at high confidence deserve a look.")
    st.plotly_chart(charts.histogram_figure(confidence_histogram(predictions)), key="results_confidence_histogram")
if "Threshold" in tabs:
    with tabs["Threshold"]:
        threshold_ui(run, predictions)
with tabs["Compare"]:
    compare_ui(run)
with tabs["Download"]:
    if missing:
        st.caption("Nothing to export: the model's files are missing.")
    else:
        download_ui(run)
