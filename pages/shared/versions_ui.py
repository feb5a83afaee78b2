"""The Data page's Versions section: a dataset's versions with what each changed, and a new version made from rows
added (an upload), relabeled or dropped. The work is core.datasets.versions'; this draws it."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.datasets.versions import (
    ADDED_ROWS_LIMITS, describe_changes, examples_with_ids, new_version, version_name, versions_of,
)
from core.ingest import DataError, Ingested, ingest_files
from core.ingest.suffixes import IMAGE_SUFFIXES, TABLE_SUFFIXES, ZIP_SUFFIX, upload_types
from pages.shared.errors import error_ui
from pages.shared.findings import findings_ui
from pages.shared.user_text import md, short

EDITOR_ROWS = 5000  # rows shown for relabeling and dropping; a larger dataset is edited in pieces (filter first)


def _added_upload(dataset_id: int) -> Ingested | None:
    """The upload of rows to add, read once per file (kept in session state like the main upload)."""
    files = st.file_uploader("Rows to add (a table of texts and labels, or a zip of class folders)",
                             type=upload_types(TABLE_SUFFIXES, ZIP_SUFFIX, IMAGE_SUFFIXES), accept_multiple_files=True,
                             key=f"versions_upload_{dataset_id}",
                             help="New labeled rows, read as any upload (same checks). They are split train / "
                             "validation / test stratified by class; rows already in the dataset are kept as stored. "
                             "They may all be of one class, e.g. a new one.")
    state = st.session_state.get("versions_ingest")
    key = (dataset_id, tuple(f.file_id for f in files or []))
    if state is not None and state["key"] != key:
        if isinstance(state["result"], Ingested):
            state["result"].cleanup()
        st.session_state.pop("versions_ingest")
        state = None
    if not files:
        return None
    if state is None:
        with st.spinner("Reading and checking the rows…"):
            try:
                result = ingest_files([(f.name, f.getvalue()) for f in files], limits=ADDED_ROWS_LIMITS)
            except DataError as error:
                result = error
        state = st.session_state["versions_ingest"] = {"key": key, "result": result}
    result = state["result"]
    if isinstance(result, DataError):
        error_ui(result.message, result.details, key="versions_error_details")
        return None
    st.caption(f"{len(result.frame):,} rows read: " + ", ".join(
        f"{md(short(label))} {count}" for label, count in result.frame["label"].value_counts().items()))
    findings_ui(result.report)
    return result


def versions_ui(datasets: list) -> None:
    """List a dataset's versions and make a new one."""
    with st.expander("Versions: add rows, relabel, drop", icon=":material/history:"):
        by_id = {d.id: d for d in datasets}
        chosen = st.selectbox("Dataset", list(by_id), key="versions_dataset",
                              format_func=lambda i: f"#{i} {short(by_id[i].name)} · {version_name(by_id[i])}")
        versions = versions_of(chosen)
        st.caption("Every change makes a new version; earlier versions and their runs stay as they were. A row keeps "
                   "its split in every version, so the earlier test rows still judge every later run.")
        st.dataframe(pd.DataFrame([{
            "version": version_name(v), "id": v.id, "examples": v.num_examples, "classes": len(v.labels),
            "train / val / test": " / ".join(str(v.split_counts.get(s, 0)) for s in ("train", "val", "test")),
            "what changed": describe_changes(v.changes), "note": (v.changes or {}).get("note", ""),
            "made": v.created_at.strftime("%Y-%m-%d %H:%M"),
        } for v in versions]), hide_index=True, key=f"versions_table_{chosen}")

        st.markdown(f"**New version of #{chosen}** ({version_name(by_id[chosen])})")
        added = _added_upload(chosen)
        frame = examples_with_ids(chosen)
        shown = frame.head(EDITOR_ROWS).assign(drop=False)[["row_id", "input", "label", "split", "drop"]]
        st.caption("Relabel rows by typing a new label (a new class name adds a class; the same name for two "
                   "classes merges them), or tick **drop**." + (f" The first {EDITOR_ROWS:,} rows are shown."
                                                               if len(frame) > EDITOR_ROWS else ""))
        edited = st.data_editor(shown, hide_index=True, disabled=["row_id", "input", "split"],
                                key=f"versions_editor_{chosen}")
        note = st.text_input("Note (what this version holds)", key=f"versions_note_{chosen}", max_chars=500)
        if st.button("Save as a new version", key=f"versions_save_{chosen}", type="primary"):
            before = dict(zip(shown["row_id"], shown["label"]))
            relabel = {r: str(label).strip() for r, label in zip(edited["row_id"], edited["label"])
                       if str(label).strip() != before[r]}
            drop = set(edited.loc[edited["drop"].astype(bool), "row_id"])
            try:
                new_id = new_version(chosen, relabel=relabel, drop=drop, added=added, note=note)
            except DataError as error:
                st.error(md(str(error), None))
                return
            if added is not None:
                added.cleanup()
                st.session_state.pop("versions_ingest", None)
            st.session_state["versions_saved"] = new_id
            st.rerun()
        saved = st.session_state.get("versions_saved")
        if saved:
            st.success(f"Saved as dataset #{saved}. Continue a finished run on it from **Results** "
                       "(Continue training), or train a new one on **Train**.")
