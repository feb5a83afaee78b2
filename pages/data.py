"""Data: upload labeled texts or images (or load the example), see what is wrong with them, and store them.

Widgets -> core.ingest (read + validate + split) -> show the report -> core.datasets.store.save_dataset.
The example (core.datasets.examples) is an upload like any other: same ingestion, same report, same saving.
The ingested upload is kept in session state, so reruns do not decode the images again.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from core.datasets.versions import describe_changes, version_name
from core.datasets.store import DatasetInUse, delete_dataset, save_dataset, stored_copy
from core.datasets.examples import EXAMPLE_DESCRIPTION, EXAMPLE_SOURCE, example_file
from core.datasets.label_names import MAX_NAME_CHARS, LabelNameError, check_names, suggested_name
from core.ingest import DataError, Ingested, ingest_files
from core.ingest.limits import MAX_CLASSES, MAX_IMAGES, MAX_UPLOAD_MB
from core.ingest.suffixes import IMAGE_SUFFIXES, TABLE_SUFFIXES, ZIP_SUFFIX, upload_types
from pages.shared.findings import findings_ui
from pages.shared.charts import class_balance_figure
from pages.shared.data_review_ui import data_review_ui
from pages.shared.errors import error_ui
from pages.shared.gate import enter_page
from pages.shared.user_text import hover, md, short
from pages.shared.versions_ui import versions_ui
from storage.datasets import get_dataset, list_datasets
from storage.results import save_display_names

UPLOAD_TYPES = upload_types(TABLE_SUFFIXES, ZIP_SUFFIX, IMAGE_SUFFIXES)
TEST_UPLOAD_TYPES = upload_types(TABLE_SUFFIXES, ZIP_SUFFIX)
THUMBNAILS_PER_CLASS = 8
CLASSES_WITH_THUMBNAILS = 12
Files = list[tuple[str, bytes]]  # (name, content) of each uploaded file


def upload_ui() -> tuple[list, object | None]:
    kind = st.segmented_control(
        "What are you uploading?", ["Files", "A folder"], default="Files", key="upload_kind", required=True,
        help="Files: one CSV / TSV / Excel table of texts, a zip of image class folders, or several images. "
        "A folder: a folder whose subfolders are the classes (train/ and val/ subfolders are kept as splits).",
    )
    uploads = st.file_uploader(
        "Labeled data", type=UPLOAD_TYPES, key="data_upload" if kind == "Files" else "data_folder",
        accept_multiple_files=True if kind == "Files" else "directory",
        help=f"Up to {MAX_UPLOAD_MB:,} MB per file, {MAX_IMAGES:,} images and {MAX_CLASSES:,} classes.",
    )
    with st.expander("Optional: your own test set"):
        test = st.file_uploader(
            "Test set (same format: a table for texts, a zip of class folders for images)",
            type=TEST_UPLOAD_TYPES, key="test_upload",
            help="Every run is judged on this set instead of a part set aside from your data.",
        )
    return uploads or [], test


def show_example(shown: bool) -> None:
    """Button callback: runs before the rerun, so the page redraws with or without the example."""
    if shown:
        st.session_state["data_example"] = True
    else:
        st.session_state.pop("data_example", None)


def example_ui(uploaded: bool) -> bool:
    """'Load example' while nothing is uploaded; True while the example is what the page shows."""
    if uploaded:  # an upload replaces the example
        st.session_state.pop("data_example", None)
        return False
    if st.session_state.get("data_example"):
        left, right = st.columns([5, 1], vertical_alignment="center")
        left.info(f"Example data: {EXAMPLE_DESCRIPTION} {EXAMPLE_SOURCE}", icon=":material/science:")
        right.button("Close the example", key="data_close_example", on_click=show_example, args=(False,),
                     help="Put the example away; uploading a file also replaces it.")
        return True
    left, right = st.columns([1, 5], vertical_alignment="center")
    left.button("Load example", key="data_load_example", icon=":material/science:", on_click=show_example,
                args=(True,), help="Load ready-made data to try every step before you upload your own.")
    right.caption(f"No data at hand? The example is {EXAMPLE_DESCRIPTION} {EXAMPLE_SOURCE}")
    return False


def ingest(upload_key: tuple, read_files: Callable[[], Files], test) -> Ingested | DataError:
    """Ingest once per upload and column choice; reruns reuse the result (images are not decoded again)."""
    upload_key = (upload_key, test.file_id if test else None)
    state = st.session_state.get("data_ingest")
    if state is not None and state["upload_key"] != upload_key:
        discard(state)
        state = None
    chosen = (st.session_state.get("text_column"), st.session_state.get("label_column"))
    merge = st.session_state.get("data_merge_labels", False)  # set by merge_ui's button
    if state is not None:
        result = state["result"]
        same_merge = not isinstance(result, Ingested) or result.merged_labels == merge
        if same_merge and (not all(chosen) or chosen == (result.text_column, result.label_column)):
            return result
    columns = chosen if state is not None else (None, None)
    with st.spinner("Reading and checking the data…"):
        try:
            result = ingest_files(read_files(), text_column=columns[0], label_column=columns[1],
                                  test_file=(test.name, test.getvalue()) if test else None, merge_labels=merge)
        except DataError as error:
            result = error
    if state is not None:
        discard(state, keep_pickers=True)
    st.session_state["data_ingest"] = {"upload_key": upload_key, "result": result}
    return result


def discard(state: dict, keep_pickers: bool = False) -> None:
    """Forget an ingested upload: remove its staging folder and, for a new upload, the column choices."""
    if isinstance(state["result"], Ingested):
        state["result"].cleanup()
    st.session_state.pop("data_ingest", None)
    if not keep_pickers:
        for choice in ("text_column", "label_column", "data_merge_labels"):
            st.session_state.pop(choice, None)


def columns_ui(columns: list[str], text_column: str | None, label_column: str | None, is_images: bool) -> None:
    """Pickers pre-filled with the guesses; a change re-reads the upload on the next run."""
    if not columns:
        return
    left, right = st.columns(2)
    guessed = "Tuneboard guessed it from the content; pick another column if the guess is wrong."
    for picker, guess, column, label, tip in (
        ("text_column", text_column, left, "Column with the file names" if is_images else "Text column",
         ("The column naming each image file. " if is_images else "The column holding the text the model "
          "should read, such as the message or the review. ") + guessed),
        ("label_column", label_column, right, "Label column",
         "The column holding the right answer for each row: the category the model should learn to give. " + guessed),
    ):
        if picker not in st.session_state and guess in columns:
            st.session_state[picker] = guess
        column.selectbox(label, columns, key=picker, help=tip, format_func=short)


def merge_ui(ingested: Ingested) -> None:
    """One click to merge labels that differ only in capitals, spaces or invisible characters (the report's
    'label_variants' warning names them); the upload is read again with the choice."""
    if ingested.report.get("label_variants") is None:
        return
    st.button("Merge the label variants", key="data_merge_labels_button", icon=":material/merge:",
              on_click=lambda: st.session_state.update(data_merge_labels=True),
              help="Make each group of spellings above one class, under the spelling used most often.")


def summary_ui(ingested: Ingested) -> None:
    report = ingested.report
    noun = "images" if ingested.task == "image" else "rows"
    cols = st.columns(5)
    cols[0].metric(f"{noun.capitalize()} kept", f"{report.rows_kept:,}",
                   help=f"The {noun} that become the dataset, of the {report.rows_read:,} read.")
    cols[1].metric("Classes", f"{len(report.class_counts):,}")
    for column, (part, title) in zip(cols[2:], [("train", "Training"), ("val", "Validation"), ("test", "Test")]):
        column.metric(title, f"{report.split_counts.get(part, 0):,}")
    st.caption(report.kept_text(noun))
    st.plotly_chart(class_balance_figure(ingested.frame), key="class_balance")


def preview_ui(ingested: Ingested) -> None:
    if ingested.task == "text":
        st.subheader("Preview")
        st.caption("The first rows as read from the file.")
        st.dataframe(ingested.preview, hide_index=True, key="data_preview")
        return
    st.subheader("Examples per class")
    for label in ingested.labels[:CLASSES_WITH_THUMBNAILS]:
        rows = ingested.frame[ingested.frame["label"] == label].head(THUMBNAILS_PER_CLASS)
        st.markdown(f"**{md(label)}**", help=hover(label))
        st.image(rows["input"].tolist(), caption=[md(s.rsplit("/", 1)[-1]) for s in rows["source"]], width=96)
    if len(ingested.labels) > CLASSES_WITH_THUMBNAILS:
        st.caption(f"and {len(ingested.labels) - CLASSES_WITH_THUMBNAILS} more classes")


def save_ui(ingested: Ingested) -> None:
    name = st.text_input("Dataset name", value=ingested.source_name.rsplit(".", 1)[0], key="dataset_name",
                         help="A name to recognise this dataset by on the Train, Runs and Results pages.")
    if st.button("Save dataset", key="save_dataset", type="primary",
                 help="Store the kept examples with their training / validation / test split, ready to train on."):
        existing = stored_copy(ingested.fingerprint)
        dataset = existing or get_dataset(save_dataset(ingested, name))
        st.session_state["data_saved"] = (ingested.fingerprint, dataset.id, dataset.name, existing is not None)
    saved = st.session_state.get("data_saved")
    if saved and saved[0] == ingested.fingerprint:  # kept across reruns, so the next step stays in view
        _, dataset_id, stored_name, already = saved
        if already:
            st.info(f"This data is already stored as '{md(stored_name)}' (#{dataset_id}); nothing new was saved.")
        else:
            st.success(f"Saved as dataset #{dataset_id} '{md(stored_name)}'. Next: train a model on it.")
        st.page_link("pages/train.py", label="Train a model on it", icon=":material/model_training:",
                     query_params={"dataset": str(dataset_id)})


def stored_ui() -> None:
    st.subheader("Stored datasets")
    datasets = list_datasets()
    if not datasets:
        st.caption("No datasets yet — upload one above, or press **Load example** to try Tuneboard on ready-made data.")
        return
    table = pd.DataFrame([{
        "id": d.id, "name": d.name, "version": version_name(d), "kind": d.task, "examples": d.num_examples,
        "classes": len(d.labels),
        "train / val / test": " / ".join(str(d.split_counts.get(s, 0)) for s in ("train", "val", "test")),
        "from": d.source_name if d.parent_id is None else f"#{d.parent_id}: {describe_changes(d.changes)}",
        "added": d.created_at.strftime("%Y-%m-%d %H:%M"),
    } for d in datasets])
    st.dataframe(table, hide_index=True, key="stored_datasets")
    class_names_ui(datasets)
    versions_ui(datasets)
    by_id = {d.id: d for d in datasets}
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    chosen = left.selectbox("Delete a dataset (with its runs and their models)", list(by_id), key="delete_choice",
                            format_func=lambda i: f"#{i} {short(by_id[i].name)}",
                            help="Deleting removes the dataset, every run trained on it and their models; "
                            "it cannot be undone.")
    if right.button("Delete", key="delete_dataset", help="Delete the dataset chosen on the left, with its runs."):
        try:
            delete_dataset(chosen)
            st.session_state.pop("data_saved", None)  # its "Saved as ..." note and link would point at nothing
            st.toast(f"Deleted dataset #{chosen}.")
            st.rerun()
        except DatasetInUse as error:
            error_ui(str(error), key="delete_error_details")


def class_names_ui(datasets: list) -> None:
    """The names people read for a dataset's classes: suggested from the raw labels, edited here, used on every page,
    chart, download, report and API answer (the raw label stays the key)."""
    with st.expander("Class names people read", icon=":material/label:"):
        by_id = {d.id: d for d in datasets}
        chosen = st.selectbox("Dataset", list(by_id), key="names_dataset",
                              format_func=lambda i: f"#{i} {short(by_id[i].name)}")
        dataset = by_id[chosen]
        stored = dict(dataset.display_names or {})
        st.caption("Raw labels such as `topping_up_by_card` can be shown as “Topping up by card”. The raw label stays "
                   "the key: stored results, exports and the API's `label` keep it.")
        table = pd.DataFrame({"label": dataset.labels,
                              "shown as": [stored.get(l) or suggested_name(l) for l in dataset.labels]})
        edited = st.data_editor(table, hide_index=True, disabled=["label"], key=f"names_editor_{chosen}",
                                column_config={"shown as": st.column_config.TextColumn(max_chars=MAX_NAME_CHARS)})
        if st.button("Save class names", key=f"names_save_{chosen}", type="primary"):
            try:
                names = check_names(dataset.labels, dict(zip(edited["label"], edited["shown as"])))
            except LabelNameError as error:
                st.error(md(str(error), None))
                return
            save_display_names(chosen, names)
            st.toast(f"Saved the class names of dataset #{chosen}.")
            st.rerun()
def review_ui() -> None:
    datasets = list_datasets()
    if not datasets:
        return
    st.subheader("Find what is wrong with a dataset")
    by_id = {d.id: d for d in datasets}
    chosen = st.selectbox("Dataset to check", list(by_id), key="review_choice",
                          format_func=lambda i: f"#{i} {short(by_id[i].name)}",
                          help="Likely label errors, test examples that nearly copy training examples, and "
                          "near-identical training examples with different labels.")
    data_review_ui(by_id[chosen])


enter_page()  # a URL may open this page without app.py (pages/shared/gate.py)
st.title("Data")
st.write(
    "Upload labeled examples (a table of texts with a label column, or images sorted into one folder per class) "
    "or load the example, check what Tuneboard found in them, then save the dataset and train a model on **Train**."
)
uploads, test = upload_ui()
showing_example = example_ui(bool(uploads))
if uploads or showing_example:
    if uploads:
        source_key, read_files = tuple(f.file_id for f in uploads), lambda: [(f.name, f.getvalue()) for f in uploads]
    else:
        source_key, read_files = ("example",), lambda: [example_file()]
    result = ingest(source_key, read_files, test)
    if isinstance(result, DataError):
        error_ui(result.message, result.details, key="error_details")
        columns_ui(result.columns, result.text_column, result.label_column, is_images=False)
        if result.report is not None:
            findings_ui(result.report)
    else:
        columns_ui(result.columns, result.text_column, result.label_column, result.task == "image")
        summary_ui(result)
        findings_ui(result.report)
        merge_ui(result)
        preview_ui(result)
        save_ui(result)
elif "data_ingest" in st.session_state:
    discard(st.session_state["data_ingest"])
st.divider()
stored_ui()
st.divider()
review_ui()
