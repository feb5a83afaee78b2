"""Data: upload labeled texts or images, see what is wrong with them before training, and store them.

Widgets -> core.ingest (read + validate + split) -> show the report -> core.datasets.save_dataset.
The ingested upload is kept in session state, so reruns do not decode the images again.
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from core.datasets import DatasetInUse, delete_dataset, save_dataset
from core.ingest import DataError, Ingested, ingest_files
from core.ingest.limits import MAX_CLASSES, MAX_IMAGES, MAX_UPLOAD_MB
from storage.datasets import find_by_fingerprint, list_datasets

TABLE_TYPES = ["csv", "tsv", "txt", "xlsx", "zip", "jpg", "jpeg", "png", "gif", "webp", "bmp"]
THUMBNAILS_PER_CLASS = 8
CLASSES_WITH_THUMBNAILS = 12
SHOW = {"error": st.error, "warning": st.warning, "info": st.info}


def upload_ui() -> tuple[list, object | None]:
    kind = st.segmented_control(
        "What are you uploading?", ["Files", "A folder"], default="Files", key="upload_kind", required=True,
        help="Files: one CSV / TSV / Excel table of texts, a zip of image class folders, or several images. "
        "A folder: a folder whose subfolders are the classes (train/ and val/ subfolders are kept as splits).",
    )
    uploads = st.file_uploader(
        "Labeled data", type=TABLE_TYPES, key="data_upload" if kind == "Files" else "data_folder",
        accept_multiple_files=True if kind == "Files" else "directory",
        help=f"Up to {MAX_UPLOAD_MB:,} MB per file, {MAX_IMAGES:,} images and {MAX_CLASSES:,} classes.",
    )
    with st.expander("Optional: your own test set"):
        test = st.file_uploader(
            "Test set (same format: a table for texts, a zip of class folders for images)",
            type=["csv", "tsv", "txt", "xlsx", "zip"], key="test_upload",
            help="Every run is judged on this set instead of a part set aside from your data.",
        )
    return uploads or [], test


def ingest(uploads: list, test) -> Ingested | DataError:
    """Ingest once per upload and column choice; reruns reuse the result (images are not decoded again)."""
    upload_key = (tuple(f.file_id for f in uploads), test.file_id if test else None)
    state = st.session_state.get("data_ingest")
    if state is not None and state["upload_key"] != upload_key:
        discard(state)
        state = None
    chosen = (st.session_state.get("text_column"), st.session_state.get("label_column"))
    if state is not None:
        result = state["result"]
        if not all(chosen) or chosen == (result.text_column, result.label_column):
            return result
    columns = chosen if state is not None else (None, None)
    files = [(f.name, f.getvalue()) for f in uploads]
    with st.spinner("Reading and checking the data…"):
        try:
            result = ingest_files(files, text_column=columns[0], label_column=columns[1],
                                  test_file=(test.name, test.getvalue()) if test else None)
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
        for picker in ("text_column", "label_column"):
            st.session_state.pop(picker, None)


def columns_ui(columns: list[str], text_column: str | None, label_column: str | None, is_images: bool) -> None:
    """Pickers pre-filled with the guesses; a change re-reads the upload on the next run."""
    if not columns:
        return
    left, right = st.columns(2)
    for picker, guess, column, label in (
        ("text_column", text_column, left, "Column with the file names" if is_images else "Text column"),
        ("label_column", label_column, right, "Label column"),
    ):
        if picker not in st.session_state and guess in columns:
            st.session_state[picker] = guess
        column.selectbox(label, columns, key=picker)


def findings_ui(report) -> None:
    for finding in report.findings:
        SHOW[finding.severity](finding.message)
        if len(finding.details) > 5:
            with st.expander(f"Show all {len(finding.details):,}", key=f"details_{finding.code}"):
                st.text("\n".join(finding.details))


def summary_ui(ingested: Ingested) -> None:
    report = ingested.report
    noun = "images" if ingested.task == "image" else "rows"
    cols = st.columns(6)
    cols[0].metric(f"{noun.capitalize()} read", f"{report.rows_read:,}")
    cols[1].metric(f"{noun.capitalize()} kept", f"{report.rows_kept:,}")
    cols[2].metric("Classes", len(report.class_counts))
    for column, (part, title) in zip(cols[3:], [("train", "Training"), ("val", "Validation"), ("test", "Test")]):
        column.metric(title, f"{report.split_counts.get(part, 0):,}")
    balance = ingested.frame.groupby(["label", "split"]).size().reset_index(name="examples")
    figure = px.bar(balance, x="label", y="examples", color="split", title="Examples per class",
                    category_orders={"split": ["train", "val", "test"]}, labels={"label": "class"})
    st.plotly_chart(figure, key="class_balance")


def preview_ui(ingested: Ingested) -> None:
    if ingested.task == "text":
        st.subheader("Preview")
        st.caption("The first rows as read from the file.")
        st.dataframe(ingested.preview, hide_index=True, key="data_preview")
        return
    st.subheader("Examples per class")
    for label in ingested.labels[:CLASSES_WITH_THUMBNAILS]:
        rows = ingested.frame[ingested.frame["label"] == label].head(THUMBNAILS_PER_CLASS)
        st.markdown(f"**{label}**")
        st.image(rows["input"].tolist(), caption=[s.rsplit("/", 1)[-1] for s in rows["source"]], width=96)
    if len(ingested.labels) > CLASSES_WITH_THUMBNAILS:
        st.caption(f"and {len(ingested.labels) - CLASSES_WITH_THUMBNAILS} more classes")


def save_ui(ingested: Ingested) -> None:
    name = st.text_input("Dataset name", value=ingested.source_name.rsplit(".", 1)[0], key="dataset_name")
    if st.button("Save dataset", key="save_dataset", type="primary"):
        existing = find_by_fingerprint(ingested.fingerprint)
        dataset_id = save_dataset(ingested, name)
        if existing is not None and existing.id == dataset_id:
            st.info(f"This data is already stored as '{existing.name}' (#{dataset_id}); nothing new was saved.")
        else:
            st.success(f"Saved as dataset #{dataset_id} '{name}'. Next: train a model on it on the Train page.")


def stored_ui() -> None:
    st.subheader("Stored datasets")
    datasets = list_datasets()
    if not datasets:
        st.caption("None yet.")
        return
    table = pd.DataFrame([{
        "id": d.id, "name": d.name, "kind": d.task, "examples": d.num_examples, "classes": len(d.labels),
        "train / val / test": " / ".join(str(d.split_counts.get(s, 0)) for s in ("train", "val", "test")),
        "from": d.source_name, "added": d.created_at.strftime("%Y-%m-%d %H:%M"),
    } for d in datasets])
    st.dataframe(table, hide_index=True, key="stored_datasets")
    by_id = {d.id: d for d in datasets}
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    chosen = left.selectbox("Delete a dataset (with its runs and their models)", list(by_id), key="delete_choice",
                            format_func=lambda i: f"#{i} {by_id[i].name}")
    if right.button("Delete", key="delete_dataset"):
        try:
            delete_dataset(chosen)
            st.toast(f"Deleted dataset #{chosen}.")
            st.rerun()
        except DatasetInUse as error:
            st.error(str(error))


st.title("Data")
st.write(
    "Upload labeled examples — a table of texts with a label column, or images sorted into one folder per "
    "class — and see what is wrong with them before anything is trained."
)
uploads, test = upload_ui()
if uploads:
    result = ingest(uploads, test)
    if isinstance(result, DataError):
        st.error(result.message)
        columns_ui(result.columns, result.text_column, result.label_column, is_images=False)
        if result.report is not None:
            findings_ui(result.report)
        if result.details:
            with st.expander("Technical details", key="error_details"):
                st.code(result.details, language=None)
    else:
        columns_ui(result.columns, result.text_column, result.label_column, result.task == "image")
        summary_ui(result)
        findings_ui(result.report)
        preview_ui(result)
        save_ui(result)
elif "data_ingest" in st.session_state:
    discard(st.session_state["data_ingest"])
st.divider()
stored_ui()
