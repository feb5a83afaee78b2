"""Tuneboard entry point: page config, navigation, sidebar status.

Run with `streamlit run app.py`. Each page lives in pages/ and stays thin.
"""

from __future__ import annotations

import os

import streamlit as st

from core.ingest.ingested import sweep_staging_now_and_then
from core.jobs.app_worker import ensure_worker, worker_state
from pages.shared.errors import unexpected_error_ui
from pages.shared.gate import password_required, require_sign_in, running_through_app
from pages.shared.header import header_ui
from pages.shared.navigation import app_pages
from pages.shared.run_notice import run_notice_ui
from storage.paths import database_url

st.set_page_config(page_title="Tuneboard", page_icon=":material/tune:", layout="wide")
header_ui()  # before the password form too: its reruns show the header as well

# One background worker for the whole machine: started here if none is alive (the database heartbeat tells,
# and a file lock inside ensure_worker keeps several browser sessions from starting several).
# TUNEBOARD_NO_WORKER=1 turns this off, for deployments that run `python -m core worker` themselves.
AUTO_WORKER = os.environ.get("TUNEBOARD_NO_WORKER") != "1"

# Uploads left half-done (a closed tab, a killed process) keep their images in staging/: swept when this
# process starts and every 10 minutes after, on the next run of any page (core.ingest.ingested.sweep_staging).
sweep_staging_now_and_then()


def sidebar_ui() -> None:
    # No data folder path: a shared Tuneboard's visitors have no business knowing the server's folders.
    url = database_url()
    st.caption("Database: SQLite in the data folder" if url.startswith("sqlite") else "Database: DATABASE_URL")
    # A few milliseconds: a file lock and two small queries (ensure_worker starts one only when none is alive);
    # redrawn every few seconds while a run is live, with a notice when one ends (pages/shared/run_notice.py).
    run_notice_ui(lambda: (ensure_worker() if AUTO_WORKER else worker_state()).describe())


# st.navigation on every run, signed in or not: calling it switches Streamlit from routing URLs to pages/ files
# directly (which would skip this script and its password) to running this script first (pages/shared/gate.py).
# Signed out, the password form answers at every page's URL, so a link to /runs opens Runs once signed in.
with running_through_app():
    if password_required():
        st.navigation(app_pages(stand_in=require_sign_in), position="hidden").run()
        st.stop()
    page = st.navigation(app_pages())
    # st.stop() and st.rerun() raise BaseExceptions, so they pass through these handlers untouched.
    try:
        with st.sidebar:
            sidebar_ui()
        page.run()
    except Exception as error:  # noqa: BLE001 - any failure becomes a plain message, never a bare traceback
        unexpected_error_ui(error)
