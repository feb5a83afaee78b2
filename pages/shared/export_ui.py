"""The Download tab of Results: ask for an export, follow it while a worker builds it, download it once verified.

The page only asks (storage.export_queue.request_export); the worker writes, checks and zips the export in the
background (core.jobs.export_runner), so a minute of quantizing never freezes the page. Exports being built are
re-read every 2 s; a finished one offers its zip once the user asks to prepare it (read into the page only then).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.export import FORMATS, unavailable_formats
from pages.shared.errors import guarded
from pages.shared.formatting import bytes_text
from pages.shared.user_text import md
from storage.export_queue import RunNotExportable, request_export, run_exports
from storage.models import EXPORT_QUEUED, EXPORT_RUNNING, OFFERED, REFUSED
from storage.paths import data_home
from storage.results import RunResult

REFRESH_SECONDS = 2
FORMAT_NAMES = {"hf": "Hugging Face folder (hf)", "adapter": "Adapter only", "onnx": "ONNX",
                "onnx-int8": "ONNX int8 (smaller, faster on a CPU)"}
# Material icons (the app's own font): emoji showed as empty boxes on machines without an emoji font.
STATUS_TEXT = {EXPORT_QUEUED: ":material/schedule: waiting for a worker", EXPORT_RUNNING: ":material/build: being built",
               OFFERED: ":material/check_circle: verified", REFUSED: ":material/block: refused",
               "failed": ":material/error: failed", "interrupted": ":material/warning: interrupted"}


def download_ui(run: RunResult) -> None:
    st.write("Take the model out of Tuneboard. Each export is built in the background, then reloaded in a fresh "
             "process without Tuneboard and run on this run's test set; it is offered only if it predicts as the "
             "trained model does. Every export holds a model card (README.md) that says how to load it.")
    unavailable = unavailable_formats(run.output_dir)
    choices = [fmt for fmt in FORMATS if fmt not in unavailable]
    left, right = st.columns([2, 1], vertical_alignment="bottom")
    fmt = left.selectbox("Format", choices, format_func=FORMAT_NAMES.get, key=f"results_export_format_{run.id}",
                         help="\n\n".join(f"**{FORMAT_NAMES[f]}**: {FORMATS[f]}" for f in choices))
    if right.button("Build this export", type="primary", key=f"results_export_build_{run.id}"):
        try:
            request_export(run.id, fmt)
        except RunNotExportable as error:
            st.error(str(error))
    for name, reason in unavailable.items():
        st.caption(f"{FORMAT_NAMES[name]}: not offered for this run. {reason}")
    exports_ui(run.id)


def exports_ui(run_id: int) -> None:
    """Finished exports in the page itself (a download button rebuilt every 2 seconds would re-read its zip each
    time), the ones being built in a fragment that refreshes every 2 s and reruns the page once one of them ends."""
    st.subheader("Exports of this run")
    exports = run_exports(run_id)
    if not exports:
        st.caption("No export yet.")
        return
    building = [job.id for job in exports if job.status in (EXPORT_QUEUED, EXPORT_RUNNING)]
    if building:
        st.fragment(run_every=REFRESH_SECONDS)(guarded(_building))(run_id, building)
    for job in exports:
        if job.id not in building:
            with st.container(border=True):
                _title(job)
                if job.status in (OFFERED, REFUSED):
                    _verified_ui(job)
                else:
                    st.error(md(job.error, limit=None))


def _title(job) -> None:
    st.markdown(f"**{FORMAT_NAMES.get(job.format, md(job.format))}** · {STATUS_TEXT.get(job.status, job.status)}"
                f" · asked {job.created_at:%Y-%m-%d %H:%M} UTC")


def _building(run_id: int, building: list[int]) -> None:
    jobs = {job.id: job for job in run_exports(run_id)}
    if any(jobs.get(i) is None or jobs[i].status not in (EXPORT_QUEUED, EXPORT_RUNNING) for i in building):
        st.rerun(scope="app")  # one has ended: the whole page shows it, with its download button
    for export_id in building:
        with st.container(border=True):
            _title(jobs[export_id])
            st.caption(md(jobs[export_id].message, limit=None))


def _verified_ui(job) -> None:
    result = job.result
    (st.success if job.status == OFFERED else st.warning)(md(result.get("reason", ""), limit=None))
    st.dataframe(comparison_frame(result), hide_index=True, key=f"results_export_checks_{job.id}",
                 column_config={"test accuracy": st.column_config.NumberColumn(format="percent"),
                                "same top class": st.column_config.NumberColumn(format="percent"),
                                "latency, 1 input (ms)": st.column_config.NumberColumn(format="%.1f")})
    if job.status == OFFERED and job.zip_path:
        zipped = data_home() / job.zip_path
        if zipped.is_file():
            # The zip is read into the page only when asked for (it can be 90 MB), then offered as a plain file:
            # Streamlit's deferred downloads were lost between reruns here (the walkthrough's clicks found none).
            label = f"{zipped.name} ({bytes_text(zipped.stat().st_size)})"
            if st.session_state.get(f"results_export_ready_{job.id}"):
                st.download_button(f"Download {label}", data=zipped.read_bytes(), file_name=zipped.name,
                                   mime="application/zip", key=f"results_export_download_{job.id}",
                                   icon=":material/download:")
            elif st.button(f"Prepare {label}", key=f"results_export_prepare_{job.id}"):
                st.session_state[f"results_export_ready_{job.id}"] = True
                st.rerun()
        else:
            st.warning("The export's files are gone from the server; build it again.")


def comparison_frame(result: dict) -> pd.DataFrame:
    """The trained model beside each checked file: accuracy, size and latency for one input."""
    rows = [{"model": "trained model (PyTorch, in Tuneboard)", "test accuracy": result["pytorch_accuracy"],
             "same top class": 1.0, "weights": bytes_text(result.get("pytorch_model_bytes")),
             "latency, 1 input (ms)": result.get("pytorch_latency_ms_p50")}]
    for check in result.get("checks", []):
        rows.append({"model": check["name"], "test accuracy": check["accuracy"], "same top class": check["agreement"],
                     "weights": bytes_text(result["model_bytes"]), "latency, 1 input (ms)": check["latency_ms_p50"]})
    return pd.DataFrame(rows)


