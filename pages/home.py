"""Home: what Tuneboard is, what is training now, what waits, the latest results, and the next step."""

from __future__ import annotations

import streamlit as st

from pages.shared.formatting import duration_text, percent_text
from pages.shared.gate import enter_page
from pages.shared.user_text import md
from storage.models import QUEUED, RUNNING
from storage.overview import count_datasets_and_runs
from storage.queue_place import queue_places
from storage.results import finished_runs
from storage.runs import list_runs

LATEST = 5  # finished runs listed under "Latest results"


def live_ui() -> None:
    """Training now and waiting, each with a link to follow it on Runs."""
    live = list_runs(statuses=(RUNNING, QUEUED))
    running = [r for r in live if r.status == RUNNING]
    waiting = sorted((r for r in live if r.status == QUEUED), key=lambda r: r.id)
    st.subheader("Training now")
    if not running:
        st.caption("Nothing is training." + (" Runs are waiting for a worker." if waiting else ""))
    for run in running:
        left = (f" · about {duration_text(run.eta_seconds)} left" if run.eta_seconds and run.eta_seconds >= 1
                else "")
        st.progress(min(1.0, max(0.0, run.progress or 0.0)),
                    text=f"Run {run.id}: {md(run.name or '')} on {md(run.dataset.name)} · "
                    f"{percent_text(run.progress or 0.0, 0)} done{left}")
        st.page_link("pages/runs.py", label=f"Follow run {run.id}", icon=":material/play_circle:",
                     query_params={"run": str(run.id)})
    if waiting:
        places = queue_places()
        st.subheader("Waiting")
        for run in waiting:
            place = places.get(run.id)
            starts = place.starts_in_seconds if place else None
            when = f", should start in about {duration_text(starts)}" if starts and starts >= 1 else ""
            st.page_link("pages/runs.py", icon=":material/schedule:", query_params={"run": str(run.id)},
                         label=f"Run {run.id}: {md(run.name or '')} on {md(run.dataset.name)}"
                         f"{f' · #{place.place} in line' if place else ''}{when}")


def latest_ui() -> None:
    runs = finished_runs()[:LATEST]
    if not runs:
        return
    st.subheader("Latest results")
    for run in runs:
        accuracy = percent_text((run.metrics or {}).get("accuracy"))
        st.page_link("pages/results.py", icon=":material/insights:", query_params={"run": str(run.id)},
                     label=md(run.title) + (f" · {accuracy} test accuracy" if accuracy else ""))


enter_page()  # a URL may open this page without app.py (pages/shared/gate.py)
st.title("Tuneboard")
st.write(
    "Teach a pretrained model your own categories, for texts or for images, and see whether it is good enough: "
    "add labeled data on **Data**, train on **Train**, then judge the model on **Results**."
)
datasets, runs = count_datasets_and_runs()
left, right = st.columns(2)
left.metric("Datasets", f"{datasets:,}")
right.metric("Runs", f"{runs:,}")
# One next step, the one this user has not done yet.
if not datasets:
    st.info("No datasets yet — upload one on **Data**, or load the ready-made example there.")
    st.page_link("pages/data.py", label="Go to Data", icon=":material/upload:")
elif not runs:
    st.info("No runs yet — pick a dataset and a model on **Train** and launch one.")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
else:
    live_ui()
    latest_ui()
    st.page_link("pages/runs.py", label="See every run", icon=":material/play_circle:")
