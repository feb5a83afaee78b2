"""Results: is the model good enough, where does it fail, how does it compare with other runs, a report to hand over
(Report), and how to take it out of Tuneboard (Download)?"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

from core.artifacts import model_missing_note
from core.evaluation.compare import baseline_deltas, baseline_table, comparison_table, seed_spread
from core.datasets.files import read_examples
from core.evaluation.decision import DecisionRule, decided_frame
from core.evaluation.results import (
    cell_examples, confidence_histogram, learning_curves, least_confident, misclassified, per_class_table,
    recompute_metrics, validation_metrics, with_examples,
)
from core.evaluation.threshold import is_two_class
from core.methods.quick_choice import chain_note
from pages.shared import charts
from pages.shared.confidence_ui import confidence_ui
from pages.shared.continual_ui import continue_link, gained_and_forgot_ui
from pages.shared.export_ui import download_ui
from pages.shared.formatting import duration_text, percent_column, percent_frame, percent_text
from pages.shared.gate import enter_page
from pages.shared.glossary import (
    ACCURACY_HELP, F1_HELP, MACRO_F1_HELP, PRECISION_HELP, RECALL_HELP, SUPPORT_HELP,
)
from pages.shared.narrow import NARROW_ONLY, WIDE_ONLY, narrow_style
from core.ingest.report import plural
from pages.shared.more_data_ui import more_data_ui
from pages.shared.report_ui import report_ui
from pages.shared.run_picker import pick_run_ui
from pages.shared.user_text import code, hover, md, short
from pages.shared.verdict_ui import verdict_ui
from storage.models import VALIDATION
from storage.run_requests import repeat_with_seeds
from storage.results import RunResult, best_validation_f1, finished_runs, metric_points, run_predictions

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
        (left, "accuracy", "Accuracy", ACCURACY_HELP),
        (right, "macro_f1", "Macro-F1", MACRO_F1_HELP),
    ):
        delta = deltas.get(reference, {}).get(key)
        column.metric(title, f"{metrics[key]:.1%}", delta=None if delta is None else f"{delta * 100:+.1f} points",
                      border=True, help=explanation)
    cards.caption({"zero_shot": "Arrows: the difference from the untuned model (zero-shot) — what tuning bought.",
                   "majority": "Arrows: the difference from always answering the most common class."}[reference])
    baselines.dataframe(percent_frame(baseline_table(metrics), ["accuracy", "macro_f1"]), hide_index=True,
                        key="results_baselines",
                        column_config={"accuracy": percent_column("accuracy", ACCURACY_HELP),
                                       "macro_f1": percent_column("macro-F1", MACRO_F1_HELP)})
    same = all(abs(recomputed[k] - metrics[k]) < 1e-9 for k in ("accuracy", "macro_f1"))
    if same:
        st.caption(f"Checked: recomputing from the {plural(examples_count, 'stored test prediction')} "
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
            caption = (f"true {md(run.shown(row.true_label))} · predicted {md(run.shown(row.predicted_label))} · "
                       f"{row.confidence:.0%}")
            path = run.dataset_dir / row.input
            if path.is_file():
                columns[i % 6].image(str(path), width="stretch", caption=caption)
            else:
                columns[i % 6].caption(f"(image missing: {md(row.source)}) {caption}")
        if len(frame) > THUMBNAILS:
            st.caption(f"Showing {THUMBNAILS} of {len(frame)} examples.")
        return
    shown = frame.rename(columns={"input": "text", "true_label": "true", "predicted_label": "predicted"})
    shown["true"], shown["predicted"] = shown["true"].map(run.shown), shown["predicted"].map(run.shown)
    st.dataframe(shown[["text", "true", "predicted", "confidence", "source"]], hide_index=True, key=key,
                 column_config={"confidence": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="percent")})


def confusion_ui(run: RunResult, joined: pd.DataFrame, matrix: list[list[int]]) -> None:
    labels = run.labels
    mode = st.radio("Show", MATRIX_MODES, horizontal=True, key="results_matrix_mode",
                    help="Counts: how many test examples fall in each cell. Share: each row as a share of its true "
                    "class, so small classes are as easy to read as large ones.")
    # Wide screens get the clickable matrix; narrow ones (a phone, a 400 px window) the biggest confusions as a list,
    # which stays readable there. Both are drawn; a style rule shows one (pages/shared/narrow.py).
    narrow_style()
    with st.container(key=WIDE_ONLY):
        event = st.plotly_chart(charts.confusion_figure(run.label_names, matrix, normalized=mode == MATRIX_MODES[1]),
                                key=f"results_confusion_{run.id}", on_select="rerun", selection_mode="points")
    with st.container(key=NARROW_ONLY):
        biggest_confusions_ui(run.label_names, matrix)
    points = event.selection.points if event else []
    # A clicked cell drives the two pickers below (they stay usable on their own, e.g. with a keyboard). The chart
    # knows the classes by their escaped names (charts.category).
    by_category = {charts.category(run.shown(label)): label for label in labels}
    clicked = (by_category.get(str(points[0]["y"])), by_category.get(str(points[0]["x"]))) if points else (None, None)
    if None not in clicked and st.session_state.get("results_cell_clicked") != clicked:
        st.session_state["results_cell_clicked"] = clicked
        st.session_state[f"results_cell_true_{run.id}"], st.session_state[f"results_cell_pred_{run.id}"] = clicked
    off_diagonal = [(matrix[i][j], i, j) for i in range(len(labels)) for j in range(len(labels)) if i != j]
    _, worst_true, worst_pred = max(off_diagonal, default=(0, 0, 0))
    left, right = st.columns(2)
    true_label = left.selectbox("True class", labels, index=worst_true, key=f"results_cell_true_{run.id}",
                                format_func=lambda label: short(run.shown(label)), help="The right answer. Starts on the most common mistake.")
    predicted = right.selectbox("Predicted class", labels, index=worst_pred, key=f"results_cell_pred_{run.id}",
                                format_func=lambda label: short(run.shown(label)),
                                help="What the model said. Pick the same class as on the left to see what it got right.")
    cell = cell_examples(joined, true_label, predicted)
    st.markdown(f"**{plural(len(cell), 'test example')}** {'is' if len(cell) == 1 else 'are'} {code(run.shown(true_label))} "
                f"and {'was' if len(cell) == 1 else 'were'} predicted {code(run.shown(predicted))}.")
    show_examples(cell, run, key=f"results_cell_examples_{run.id}")


def biggest_confusions_ui(labels: list[str], matrix: list[list[int]], shown: int = 10) -> None:
    """The most frequent mistakes, largest first: 'billing → account: 7 (12% of billing)'."""
    rows = [sum(row) for row in matrix]
    cells = sorted(((matrix[i][j], i, j) for i in range(len(labels)) for j in range(len(labels))
                    if i != j and matrix[i][j]), reverse=True)[:shown]
    if not cells:
        st.caption("No test example was mistaken for another class.")
        return
    st.markdown(f"**The {plural(len(cells), 'biggest confusion')}** (true class → what the model said):")
    st.markdown("\n".join(f"- {md(labels[i])} → {md(labels[j])}: {count:,} "
                          f"({percent_text(count / rows[i], 0)} of {md(labels[i])})" for count, i, j in cells))


def compare_ui(run: RunResult) -> None:
    runs = finished_runs(run.dataset_id)
    validation = {r.id: validation_metrics(run_predictions(r.id, VALIDATION), r.labels) for r in runs}
    table = comparison_table(runs, validation)
    st.markdown(f"Every finished run on **{md(run.dataset_name)}**, judged on the same test examples, with the untuned "
                "baselines. The best run (highlighted) is chosen on the **validation** examples; its test numbers "
                "are what to expect from it.", help=hover(run.dataset_name))
    if any(v is None for v in validation.values()):
        st.caption("Runs without a validation score were stored before Tuneboard kept validation predictions: "
                   "re-evaluate them on their **Confidence** tab to include them in the choice.")
    shown = table.drop(columns=["kind"]).rename(columns={
        "val_macro_f1": "validation macro-F1", "macro_f1": "macro-F1", "train_seconds": "train time (s)",
        "trainable_params": "trainable parameters", "size_mb": "size on disk (MB)"})
    shown = percent_frame(shown, ["validation macro-F1", "accuracy", "macro-F1"])
    styled = shown.style.apply(lambda row: ["background-color: #fff3c4" if row["best"] else "" for _ in row], axis=1)
    st.dataframe(styled, hide_index=True, key="results_compare_table",
                 column_config={"validation macro-F1": percent_column(help=MACRO_F1_HELP),
                                "accuracy": percent_column(help=ACCURACY_HELP),
                                "macro-F1": percent_column(help=MACRO_F1_HELP),
                                "train time (s)": st.column_config.NumberColumn(format="%.1f"),
                                "size on disk (MB)": st.column_config.NumberColumn(format="%.1f")})
    metric = st.radio("Chart", ["macro_f1", "accuracy"], horizontal=True, key="results_compare_metric",
                      format_func=lambda m: {"macro_f1": "Macro-F1", "accuracy": "Accuracy"}[m],
                      help="Accuracy: share of test examples labeled right. Macro-F1: every class counts equally, "
                      "so it is the fairer score when some classes are rare.")
    st.plotly_chart(charts.comparison_figure(table, metric), key="results_compare_chart")
    seeds_ui(run, runs, validation)


def seeds_ui(run: RunResult, runs: list[RunResult], validation: dict) -> None:
    """How much of a difference between runs is luck: the same configuration over several seeds."""
    st.subheader("Is the difference luck?")
    spread = seed_spread(runs, validation)
    if spread.empty:
        st.caption("Each configuration here was trained once. Training again with other random seeds shows how "
                   "much its score moves by chance alone.")
    else:
        scores = ["validation macro-F1", "test macro-F1 (mean)", "lowest", "highest", "standard deviation"]
        st.dataframe(percent_frame(spread.rename(columns={
                         "val_macro_f1": "validation macro-F1", "macro_f1": "test macro-F1 (mean)",
                         "macro_f1_low": "lowest", "macro_f1_high": "highest", "macro_f1_sd": "standard deviation"}),
                         scores),
                     hide_index=True, key="results_seed_spread", column_config={c: percent_column() for c in scores})
        st.caption("A difference between two configurations smaller than their spread here may be luck.")
    if st.button(f"Train run #{run.id}'s settings with 2 more seeds", key=f"results_repeat_seeds_{run.id}",
                 help="Queues two runs with the same settings and other random seeds; they appear here when done."):
        queued = repeat_with_seeds(run.id)
        st.success("Queued " + ", ".join(f"run #{i}" for i in queued) + ": follow them on **Runs**.")


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
           f"{md(run.method)} · {plural(len(predictions), 'test example')} · trained in "
           f"{duration_text(run.train_seconds) or 'an unrecorded time'} on {run.device or 'cpu'}")

missing = model_missing_note(run.id, run.artifact_dir)
if missing:  # the stored numbers still hold; only predicting needs the files
    st.warning(f"{missing} The numbers below are the ones stored when it finished; it cannot predict until retrained.")
recomputed = recompute_metrics(predictions, run.labels)
try:
    examples = read_examples(run.dataset_dir)
except FileNotFoundError:
    st.warning("The dataset's files are missing, so examples cannot be shown (the numbers below still hold).")
    examples = pd.DataFrame(columns=["input", "label", "split", "source"])
val_predictions = run_predictions(run.id, VALIDATION)  # choices are made on these; the test split judges
# As the run answers now: calibrated confidence, its threshold, the uncertain mark (core.evaluation.decision).
# The most probable class, as the stored metrics and the matrix; the threshold's effect is on the Confidence tab.
decided = decided_frame(predictions, replace(DecisionRule.of_run(run), threshold=None))
joined = with_examples(decided, examples)
verdict_ui(run, predictions, decided)  # the pilot's answer first: how good, how sure, better than chance, the target
chained = chain_note(run, runs, best_validation_f1)  # "Fastest good model" launched it; `runs`: every finished run
if chained:
    st.info(chained, icon=":material/alt_route:")
gained_and_forgot_ui(run)  # a continued run: before and after on the same test rows
continue_link(run)

tab_names = ["Overview", "Errors", "Confidence", "Compare", "Report", "Download"]
tabs = dict(zip(tab_names, st.tabs(tab_names)))
with tabs["Overview"]:
    metric_cards_ui(run.metrics, recomputed, len(predictions))
    st.subheader("Per class")
    st.dataframe(percent_frame(per_class_table(run.metrics, run.labels, run.display_names), ["precision", "recall", "f1"]),
                 hide_index=True, key="results_per_class",
                 column_config={"precision": percent_column("precision", PRECISION_HELP),
                                "recall": percent_column("recall", RECALL_HELP),
                                "f1": percent_column("F1", F1_HELP),
                                "support": st.column_config.NumberColumn("test examples", help=SUPPORT_HELP)})
    st.caption("Precision: of what the model put in a class, the share that belongs there. Recall: of a class's "
               "examples, the share the model found. F1: high only when both are. Hover a column's name for more.")
    st.subheader("Confusion matrix")
    st.caption("Rows are the true classes, columns what the model said. Click a cell (or pick it below) to see its examples.")
    if run.threshold is not None and is_two_class(run.labels):
        st.caption("These numbers are for the most probable class; predictions use the threshold saved on the "
                   "**Confidence** tab, which shows the numbers at that threshold.")
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
    more_data_ui(run)
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
    st.caption("How sure the model was (calibrated), split by whether it was right. Mistakes at high confidence "
               "deserve a look.")
    st.plotly_chart(charts.histogram_figure(confidence_histogram(decided)), key="results_confidence_histogram")
with tabs["Confidence"]:
    confidence_ui(run, val_predictions, predictions)
with tabs["Compare"]:
    compare_ui(run)
with tabs["Report"]:
    report_ui(run)
with tabs["Download"]:
    if missing:
        st.caption("Nothing to export: the model's files are missing.")
    else:
        download_ui(run)
