"""Predict: try a finished model on a text or an image, score a whole file, and see why it decided."""

from __future__ import annotations

import hashlib
from pathlib import Path

import streamlit as st

from core.artifacts import model_missing_note
from core.catalog import ModelLoadError
from core.serving.csv_export import to_csv_bytes
from core.serving.explain import TextExplanation, explain_prediction, highlighted_html
from core.serving.inference import Predictor, load_predictor
from core.ingest import DataError
from core.ingest.suffixes import IMAGE_SUFFIXES, TABLE_SUFFIXES, ZIP_SUFFIX, upload_types
from core.ingest.unlabeled import read_image, read_images, read_texts
from core.serving.predict_service import SinglePrediction, predict_one, saved_model_stamp, score, top_classes
from core.evaluation.decision import DecisionRule
from core.evaluation.threshold import from_stored, is_two_class
from pages.shared import charts
from pages.shared.errors import error_ui
from pages.shared.findings import findings_ui
from pages.shared.formatting import duration_text
from pages.shared.gate import enter_page
from pages.shared.run_picker import pick_run_ui
from pages.shared.user_text import hover, md
from storage.results import RunResult, finished_runs

IMAGE_TYPES = upload_types(IMAGE_SUFFIXES)


@st.cache_resource(max_entries=3, show_spinner="Loading the model…")
def cached_predictor(run_id: int, output_dir: str, saved_at: int) -> Predictor:
    """One loaded model per run (and save time), shared by every browser session: the second prediction is fast."""
    return load_predictor(Path(output_dir))


def single_input_ui(run: RunResult) -> tuple[object | None, str]:
    """The text typed (submitted with Predict) or the image dropped; (None, "") until there is one."""
    if run.task == "text":
        with st.form("predict_form"):
            text = st.text_area("Text", key="predict_text", height=120, placeholder="Type or paste a text to classify",
                                help="Any text like the ones the model was trained on, such as a message or a review.")
            st.form_submit_button("Predict", type="primary", key="predict_submit",
                                  help="Ask the model which class this text belongs to.")
        return (text, text) if text.strip() else (None, "")
    upload = st.file_uploader("Image", type=IMAGE_TYPES, key="predict_image",
                              help="One photo like the ones the model was trained on; the answer appears below it.")
    if upload is None:
        return None, ""
    try:
        image = read_image(upload.name, upload.getvalue())
    except DataError as error:
        error_ui(str(error), key="predict_image_error_details")  # quotes the file's name: shown escaped
        return None, ""
    st.image(image, width=240)
    return image, upload.file_id


def result_ui(result: SinglePrediction, run: RunResult) -> None:
    if result.uncertain:
        st.warning(f"**Uncertain**: the model is only {result.confidence:.0%} sure, below the {run.min_confidence:.0%} "
                   "set on **Results** (Confidence tab) — have a person check this one.")
    cards = st.columns(3)
    shown = run.shown(result.label)
    cards[0].metric("Prediction", md(shown), border=True, help=hover(shown))
    cards[1].metric("Probability", f"{result.confidence:.1%}", border=True,
                    help="Calibrated on the run's validation examples: of answers given at this probability, about "
                    "this share is right." if run.calibration.get("temperature", 1.0) != 1.0 else None)
    cards[2].metric("Time", f"{result.seconds * 1000:.0f} ms", border=True, help="Model call, preprocessing included.")
    probabilities = {run.shown(label): p for label, p in result.probabilities.items()}
    top = top_classes(probabilities, k=5)
    st.plotly_chart(charts.probability_figure(top), key="predict_probabilities_chart")
    with st.expander("All classes"):
        st.dataframe(top_classes(probabilities, k=len(probabilities)), hide_index=True,
                     key="predict_probabilities", column_config={"probability": st.column_config.NumberColumn(format="%.4f")})


def explain_ui(predictor: Predictor, run: RunResult, item: object, input_key: str, label: str) -> None:
    key = f"{run.id}:{input_key}:{label}"
    if st.button("Explain this prediction", key="predict_explain",
                 help="Show which words (or which parts of the image) pushed the model towards its answer."):
        with st.spinner("Working out which parts mattered…"):
            st.session_state["predict_explanation"] = (key, explain_prediction(predictor, item, label))
    stored = st.session_state.get("predict_explanation")
    if not stored or stored[0] != key:
        return
    explanation = stored[1]
    check = explanation.check
    if check is not None and not check.passed:
        st.info(f"No explanation shown: it did not pass its check. Deleting what it marked as the strongest "
                f"evidence ({md(check.deleted, limit=None)}) did not lower the probability of **{md(run.shown(label))}** "
                f"({check.before:.0%} before, {check.after:.0%} after), so it would not say why the model decided. "
                "The model's reasons for this input are spread out, or this method does not capture them.")
        return
    if isinstance(explanation, TextExplanation):
        st.markdown(f"Words in **green** pushed the model towards **{md(run.shown(label))}**, words in **red** away from it.")
        st.html(f'<div class="tuneboard-explanation">{highlighted_html(explanation.words)}</div>')
        strongest = sorted(explanation.words, key=lambda w: abs(w.score), reverse=True)[:5]  # either direction
        st.dataframe([{"word": w.word, "weight": round(w.score, 3)} for w in strongest], hide_index=True,
                     key="predict_explanation_words")
    else:
        st.markdown(f"Red regions raised the probability of **{md(run.shown(label))}** most: flattening them to their average colour lowers it.")
        st.image(explanation.overlay, width=320, caption="What the model saw, with the regions that drove it")
    how = ("by fading each word in from nothing, step by step, and following how the probability moved "
           "(integrated gradients)" if isinstance(explanation, TextExplanation) else
           "by covering each patch of a 7 × 7 grid with its own average colour and seeing how much the probability "
           "fell (occlusion)")
    checked = "" if check is None else (f" Checked: deleting {md(check.deleted, limit=None)} lowers the probability "
                                        f"of {md(run.shown(label))} from {check.before:.0%} to {check.after:.0%}.")
    st.caption(f"Worked out {how}, in {duration_text(explanation.seconds)}.{checked}")


def batch_ui(predictor: Predictor, run: RunResult) -> None:
    """Read the upload as the Data page does (core.ingest.unlabeled: same limits and messages), score, offer a CSV."""
    report = None  # how the images were read (files left out, unreadable ones by name), shown with the result
    if run.task == "text":
        upload = st.file_uploader("A CSV (or TSV / Excel) file of texts", type=upload_types(TABLE_SUFFIXES),
                                  key="predict_batch_file",
                                  help="A table with a header row and a column of texts; no labels needed.")
        if upload is None:
            return
        table = read_texts(upload.name, upload.getvalue())
        findings_ui(table.report, key_prefix="predict_batch_details")
        columns = list(table.frame.columns)
        column = st.selectbox("Text column", columns, index=columns.index(table.text_column),
                              key="predict_batch_column",
                              help="The column holding the texts to score; Tuneboard guessed it from the names and "
                              "the content.")
        job = (run.id, upload.file_id, column)
        if st.button(f"Score {len(table.frame):,} texts", key="predict_batch_go", type="primary",
                     help="Label every row; the result can be downloaded as a CSV."):
            with st.spinner("Scoring…"):
                result = score(predictor, table.frame[column].tolist(), DecisionRule.of_run(run),
                               names=run.display_names)
            st.session_state["predict_batch"] = (job, result, report)
    else:
        source = st.radio("Upload", ["Image files or a zip", "A folder"], horizontal=True, key="predict_batch_source",
                          help="Several images or a zip of them, or a whole folder from your computer.")
        if source == "A folder":
            uploads = st.file_uploader("A folder of images", type=IMAGE_TYPES, accept_multiple_files="directory",
                                       key="predict_batch_folder", help="Every image in the folder is scored.")
        else:
            uploads = st.file_uploader("Images, or a zip of images", type=upload_types(IMAGE_SUFFIXES, ZIP_SUFFIX),
                                       accept_multiple_files=True, key="predict_batch_images",
                                       help="Every image is scored, including those inside a zip.")
        if not uploads:
            return
        job = (run.id, tuple(u.file_id for u in uploads))
        if st.button("Score the images", key="predict_batch_go", type="primary",
                     help="Label every image; the result can be downloaded as a CSV."):
            with st.spinner("Checking and scoring the images…"):
                images = read_images([(upload.name, upload.getvalue()) for upload in uploads])
                result = score(predictor, images.entries, DecisionRule.of_run(run), shown=images.names,
                               load=images.load, names=run.display_names)
            st.session_state["predict_batch"] = (job, result, images.report)
    stored = st.session_state.get("predict_batch")
    if stored and stored[0] == job:
        _, result, report = stored
        if report is not None:
            findings_ui(report, key_prefix="predict_batch_details")
        st.dataframe(result, hide_index=True, key="predict_batch_result",
                     column_config={"confidence": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="percent")})
        counts = ", ".join(f"{md(name)}: {n}" for name, n in result["predicted"].value_counts().items())
        uncertain = int(result["uncertain"].sum())
        st.caption(f"{len(result):,} scored · {counts}" + (f" · **{uncertain:,} uncertain** (below the "
                   f"{run.min_confidence:.0%} set on Results): have a person check them" if uncertain else ""))
        st.download_button("Download CSV", to_csv_bytes(result), file_name=f"predictions_run{run.id}.csv",
                           mime="text/csv", key="predict_batch_download", on_click="ignore",
                           help="Every input with its predicted class, confidence, whether it is uncertain and the "
                           "probability of each class.")


enter_page()  # a URL may open this page without app.py (pages/shared/gate.py)
st.title("Predict")
st.write("Try a finished model on a text or an image of your own, or score a whole file, and see why it decided.")
runs = finished_runs()
if not runs:
    st.info("No finished run yet — train a model on **Train**; you can try it here when it finishes.")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
    st.stop()
run = pick_run_ui(runs, key="predict_run", title=lambda r: r.title,
                  help="The finished model to try; Results shows how well each one scored.")
missing = model_missing_note(run.id, run.artifact_dir)
if missing:  # deleted by hand: say what to do instead of failing to load
    st.error(missing)
    st.page_link("pages/runs.py", label="Go to Runs", icon=":material/play_circle:", query_params={"run": str(run.id)})
    st.stop()
try:
    predictor = cached_predictor(run.id, str(run.output_dir), saved_model_stamp(run.output_dir))
except ModelLoadError as error:
    error_ui(str(error), error.detail, key="predict_error_details")
    st.stop()
if is_two_class(run.labels) and run.threshold is not None:
    st.caption(f"Using the threshold saved on **Results**: {md(run.shown(run.labels[1]))} when "
               f"P({md(run.shown(run.labels[1]))}) ≥ "
               f"{from_stored(run.threshold, run.labels[1], run.labels):.2f}.")

one, many = st.tabs(["One at a time", "Batch"])
with one:
    item, input_name = single_input_ui(run)
    if item is not None:
        result = predict_one(predictor, item, DecisionRule.of_run(run))
        result_ui(result, run)
        explain_ui(predictor, run, item, hashlib.sha1(input_name.encode()).hexdigest(), result.label)
with many:
    try:
        batch_ui(predictor, run)
    except DataError as error:  # the Data page's refusals, in its words
        error_ui(error.message, error.details, key="predict_batch_error_details")
        if error.report is not None:  # e.g. every unreadable image by name, when none was left to score
            findings_ui(error.report, key_prefix="predict_batch_details")
