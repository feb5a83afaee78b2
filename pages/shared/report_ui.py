"""The Report tab of Results: the run (or a comparison with other runs of its dataset) as one HTML file to hand to
people who never open the app (core.report.build). Built when asked, kept in the session, then offered as a plain
download: Streamlit lost deferred downloads between reruns (see pages/shared/export_ui.py)."""

from __future__ import annotations

import streamlit as st

from core.report.build import ReportError, build_report, report_file_name
from pages.shared.formatting import bytes_text
from pages.shared.user_text import md, short
from storage.results import RunResult, finished_runs


def report_ui(run: RunResult) -> None:
    st.write("One HTML file with the verdict, the data, what training cost, the baselines, the per-class numbers, "
             "the confusion matrix, calibration, which answers go to a person, the most confident mistakes and the "
             "model card facts. Charts are inside the file: it opens in any browser, offline. To keep it as a PDF, "
             "open it and print it with “Save as PDF”.")
    others = [r for r in finished_runs(run.dataset_id) if r.id != run.id]
    compare = st.multiselect("Compare with", [r.id for r in others], key=f"results_report_compare_{run.id}",
                             format_func={r.id: short(r.title) for r in others}.get,
                             placeholder="Other finished runs of this dataset (optional)",
                             help="The report then starts with these runs side by side (the best chosen on "
                             "validation) and each run's verdict.")
    wanted = (run.id, tuple(compare))
    key = f"results_report_{run.id}"
    ready = st.session_state.get(key)
    if ready is not None and ready[0] == wanted:
        name, data = ready[1], ready[2]
        st.download_button(f"Download {name} ({bytes_text(len(data))})", data=data, file_name=name,
                           mime="text/html", key=f"results_report_download_{run.id}", icon=":material/download:")
    elif st.button("Prepare the report", key=f"results_report_prepare_{run.id}", type="primary"):
        try:
            with st.spinner("Writing the report…"):
                data = build_report(run.id, compare).encode("utf-8")
        except ReportError as error:
            st.error(md(str(error), limit=None))
            return
        st.session_state[key] = (wanted, report_file_name(run.id, compare), data)
        st.rerun()
