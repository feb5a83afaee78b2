"""Runs: every training run with status, progress and ETA; the selected one live (curves, log, actions).

Both parts are fragments that re-read the database every 2 s while something is queued or running, so
only they rerun, not the page. Buttons only *request* things from the job store; the worker moves states.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.artifacts import model_missing_note
from core.datasets.files import dataset_missing_note
from core.datasets.versions import version_name
from core.evaluation.results import learning_curves
from core.settings_table import settings_table
from pages.shared.charts import curve_figure
from pages.shared.errors import guarded
from pages.shared.formatting import bytes_text, duration_text, percent_text
from pages.shared.gate import enter_page
from pages.shared.run_picker import pick_run_ui
from pages.shared.user_text import is_cut, md
from storage.models import (
    ACTIVE_STATES, FINAL_STATES, QUEUED, RESUMABLE_STATES, RETRYABLE_STATES, RUNNING, SUCCEEDED, utcnow,
)
from storage.overview import count_datasets_and_runs
from pages.shared.glossary import ACCURACY_HELP, MACRO_F1_HELP
from storage.paths import run_files
from storage.queue_place import QueuePlace, queue_places
from storage.results import metric_points
from storage.run_requests import JobError, delete_run, request_cancel, request_resume, retry_run, set_auto_resume
from storage.runs import LIST_LIMIT, estimate_check, get_run, list_runs
from storage.workers import alive_workers

REFRESH_SECONDS = 2
# Material icons, drawn by the app's own font: emoji showed as empty boxes where the machine has no emoji font.
STATUS_ICONS = {"queued": ":material/schedule:", "running": ":material/play_circle:",
                "succeeded": ":material/check_circle:", "failed": ":material/error:",
                "cancelled": ":material/stop_circle:", "interrupted": ":material/warning:"}
STATUS_COLORS = {"queued": "gray", "running": "blue", "succeeded": "green", "failed": "red", "cancelled": "gray",
                 "interrupted": "orange"}


def eta_cell(run, place: QueuePlace | None) -> str:
    if run.status == RUNNING:
        return duration_text(run.eta_seconds)
    if place is None:
        return ""
    starts = place.starts_in_seconds
    return f"#{place.place} in line" + (f", starts in ~{duration_text(starts)}" if starts and starts >= 1 else "")


def runs_frame(runs: list, places: dict[int, QueuePlace]) -> pd.DataFrame:
    rows = []
    for r in runs:
        config, metrics = r.config or {}, r.metrics or {}
        rows.append({
            "Run": r.id, "Status": r.status, "Progress": r.progress or 0.0,
            "ETA": eta_cell(r, places.get(r.id)),
            "Dataset": r.dataset.name if r.dataset else "",
            "Version": version_name(r.dataset) if r.dataset else "",  # the version it trained on
            "Model": config.get("model", ""),
            "Method": config.get("method", ""), "Preset": config.get("preset", ""),
            # As percentages, as everywhere on this page; empty, not "None", until the run has them.
            "Accuracy": percent_text(metrics.get("accuracy")), "Macro-F1": percent_text(metrics.get("macro_f1")),
            "Started (UTC)": r.started_at.strftime("%Y-%m-%d %H:%M") if r.started_at else "", "Name": r.name,
        })
    return pd.DataFrame(rows)


def place_text(place: QueuePlace, worker_alive: bool = True) -> str:
    """Waiting: next in line · should start in about 4 min 10 s."""
    n = place.place - 1
    ahead = "next in line" if n == 0 else f"{n} run{'s' if n > 1 else ''} ahead of it"
    if not worker_alive:
        when = "starts once a worker is running"
    elif place.starts_in_seconds is None:
        when = "start time unknown (a run ahead has no estimate)"
    elif place.starts_in_seconds < 1:
        when = "should start within seconds"
    else:
        when = f"should start in about {duration_text(place.starts_in_seconds)}"
    return f"Waiting: {ahead} · {when}"


def progress_text(run, place: QueuePlace | None = None, worker_alive: bool = True) -> str:
    if place is not None:
        return place_text(place, worker_alive)
    if run.status == QUEUED:
        return "Waiting for a worker"
    parts = [run.message or run.status]
    if run.total_steps:
        parts.append(f"epoch {run.epoch:.1f} · step {run.step}/{run.total_steps}")
    if run.samples_per_second:
        parts.append(f"{run.samples_per_second:.1f} examples/s")
    if run.status == RUNNING and run.eta_seconds is not None:
        parts.append(time_left_text(run.eta_seconds))
    return " · ".join(parts)


def estimate_text(check) -> str:
    """Estimated 3 min 10 s and 1.2 GB when queued; took 4 min 02 s (start to saved model), 1.4 GB at peak."""
    def pair(estimated: str, actual: str) -> str:
        return f"{estimated or 'no estimate'} → {actual or 'not measured'}"

    stopped = (f" (the estimate is for {check.estimated_epochs} epochs; early stopping ended it after "
               f"{check.epochs_run})" if check.estimated_epochs and check.epochs_run
               and check.epochs_run < check.estimated_epochs else "")
    return (f"Estimated when queued → actual: time {pair(duration_text(check.estimated_seconds), duration_text(check.wall_seconds))}"
            f" (start to saved model){stopped} · memory "
            f"{pair(bytes_text(check.estimated_memory_bytes), bytes_text(check.peak_memory_bytes))} at peak")


def curves_ui(run_id: int) -> None:
    curves = learning_curves(metric_points(run_id))
    left, right = st.columns(2)
    with left:
        if curves["loss"].empty:
            st.caption("The loss curve appears after the first training steps.")
        else:
            st.plotly_chart(curve_figure(curves["loss"], "step", "Loss", "loss"), key=f"runs_loss_{run_id}")
    with right:
        if curves["validation"].empty:
            st.caption("Validation scores appear after the first epoch.")
        else:
            st.plotly_chart(curve_figure(curves["validation"], "epoch", "Validation", "score"),
                            key=f"runs_validation_{run_id}")


def time_left_text(seconds: float) -> str:
    """about 3 min 05 s left · less than a second left."""
    return "less than a second left" if seconds < 1 else f"about {duration_text(seconds)} left"


def select_and_rerun(run_id: int) -> None:
    st.query_params["run"] = str(run_id)
    st.session_state.pop("runs_selected", None)
    st.rerun()


def forget_and_rerun() -> None:
    """After a delete: open the page on the newest run left."""
    st.query_params.pop("run", None)
    st.session_state.pop("runs_selected", None)
    st.rerun()


def request(verb, run_id: int, done: str) -> None:
    """Button callback: runs before the rerun, so the page redraws with the new state."""
    try:
        verb(run_id)
        st.toast(done)
    except JobError as error:
        st.session_state["runs_error"] = str(error)


def workers_frame(workers: list) -> pd.DataFrame:
    """One row per live worker, on any machine: where it runs, on what, what it trains, when it last answered."""
    now = utcnow()
    return pd.DataFrame([{
        "Machine": w.hostname, "Device": w.device or "", "Training": ", ".join(f"run {r}" for r in w.current_runs or [])
        or "idle", "Last heartbeat": f"{max(0.0, (now - w.heartbeat_at).total_seconds()):.0f} s ago",
        "Started": w.started_at,
    } for w in workers], columns=["Machine", "Device", "Training", "Last heartbeat", "Started"])


@st.fragment(run_every=REFRESH_SECONDS * 5)
@guarded
def workers_ui() -> None:
    workers = alive_workers()
    with st.expander(f"Workers: {len(workers)} alive", icon=":material/dns:"):
        st.caption("Workers on this and other machines that share the database and the data folder; one that stops "
                   "answering for a minute is dropped, and its runs are marked interrupted (or resumed elsewhere, "
                   "when set to resume automatically).")
        if workers:
            st.dataframe(workers_frame(workers), hide_index=True, key="runs_workers",
                         column_config={"Started": st.column_config.DatetimeColumn("Started (UTC)",
                                                                                   format="YYYY-MM-DD HH:mm")})
        else:
            st.caption("No worker is running: queued runs wait. Start one with `python -m core worker`.")


def auto_resume_changed(run_id: int) -> None:
    set_auto_resume(run_id, bool(st.session_state[f"runs_auto_resume_{run_id}"]))


def actions_ui(run, model_missing: bool) -> None:
    """Cancel / Resume / Retry / Clone / Delete, each shown only where it applies."""
    columns = st.columns(5)
    if run.status in ACTIVE_STATES:
        columns[0].button("Cancel", key=f"runs_cancel_{run.id}", disabled=run.cancel_requested, icon=":material/stop:",
                          help="Stop this run within seconds; Resume can continue it later from its last checkpoint.",
                          on_click=request, args=(request_cancel, run.id, "Cancel requested."))
    resumable = run.status in RESUMABLE_STATES and run_files(run.id).has_checkpoint()
    if resumable and not run.resume_requested:
        columns[1].button("Resume", key=f"runs_resume_{run.id}", icon=":material/play_arrow:",
                          help="Continue from the last checkpoint (optimizer state included).", on_click=request,
                          args=(request_resume, run.id, f"Run {run.id} will resume from its last checkpoint."))
    try:
        # A succeeded run is retried only when its model files are gone (Clone starts an ordinary copy).
        if run.status in RETRYABLE_STATES and (run.status != SUCCEEDED or model_missing) and columns[2].button(
                "Retry", key=f"runs_retry_{run.id}", icon=":material/replay:",
                help="Train again from the start, as a new run with the same settings."):
            select_and_rerun(retry_run(run.id))
        # Clone queues nothing: it opens Train with this run's dataset and settings filled in, to change and launch.
        columns[3].page_link("pages/train.py", label="Clone", icon=":material/content_copy:",
                             query_params={"clone": str(run.id)},
                             help="Open Train with this run's dataset and settings filled in: change what you like, "
                             "then launch it as a new run.")
        if run.status in FINAL_STATES:
            with columns[4].popover("Delete", icon=":material/delete:"):
                st.write(f"Delete run {run.id} with its model, log, curves and test predictions? This cannot be undone.")
                if st.button(f"Delete run {run.id}", key=f"runs_delete_{run.id}", type="primary"):
                    delete_run(run.id)
                    st.toast(f"Run {run.id} deleted.")
                    forget_and_rerun()
    except JobError as error:
        st.error(md(str(error), limit=None))
    if run.status in RESUMABLE_STATES and not resumable:
        stopped = {"failed": "failed", "cancelled": "was cancelled", "interrupted": "was interrupted"}[run.status]
        st.caption(f"Resume is not offered: this run {stopped} before its first checkpoint (one is saved every few minutes and at the end of each epoch), so "
                   "there is nothing to continue from. Retry trains it again from the start.")
    if "runs_error" in st.session_state:
        st.error(md(st.session_state.pop("runs_error"), limit=None))
    if run.status in (*ACTIVE_STATES, *RESUMABLE_STATES):
        st.toggle("Resume automatically", value=bool(run.auto_resume), key=f"runs_auto_resume_{run.id}",
                  on_change=auto_resume_changed, args=(run.id,),
                  help="If its worker stops or its machine goes down, any worker resumes this run from its last "
                       "checkpoint by itself. Off: it waits, interrupted, for you.")


enter_page()  # a URL may open this page without app.py (pages/shared/gate.py)
st.title("Runs")
st.write("Every training run with its progress and time left; pick one below to watch it live, and open its results "
         "when it has finished.")
all_runs = list_runs()
if not all_runs:
    st.info("No runs yet — pick a dataset and a model on **Train** and launch one.")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
    workers_ui()
    st.stop()
live = REFRESH_SECONDS if any(r.status in ACTIVE_STATES for r in all_runs) else None


@st.fragment(run_every=live)
@guarded
def overview(seen: list[tuple[int, str]]) -> None:
    shown = list_runs()
    if [(r.id, r.status) for r in shown] != seen:
        # A run started, ended or appeared: redraw the whole page, so the picker's titles, the heading below and the
        # sidebar agree with the table (only the table and the run below redraw by themselves).
        st.rerun()
    if len(shown) == LIST_LIMIT and (total := count_datasets_and_runs()[1]) > len(shown):  # counted only then
        st.caption(f"Showing the newest {len(shown):,} of {total:,} runs.")
    st.dataframe(
        runs_frame(shown, queue_places()), hide_index=True, key="runs_table",
        column_config={
            "Progress": st.column_config.ProgressColumn("Progress", min_value=0.0, max_value=1.0, format="percent"),
            "Accuracy": st.column_config.TextColumn(help=ACCURACY_HELP),
            "Macro-F1": st.column_config.TextColumn(help=MACRO_F1_HELP),
        },
    )


@st.fragment(run_every=live)
@guarded
def detail(run_id: int) -> None:
    run = get_run(run_id)
    if run is None:
        st.warning(f"Run {run_id} no longer exists.")
        return
    config = run.config or {}
    model, dataset = config.get("model", ""), run.dataset.name  # typed by the user: escaped, long ones cut
    whole = f"Model: {md(model, limit=None)}  \nDataset: {md(dataset, limit=None)}"
    # The state as a badge with its Material icon, apart from the heading: the heading holds names users typed, and an
    # icon shortcode in the same string would be markup beside them (tests/test_user_text_pages.py).
    st.badge(run.status, icon=STATUS_ICONS.get(run.status), color=STATUS_COLORS.get(run.status, "gray"))
    st.subheader(f"Run {run.id} ({run.status}): {md(config.get('method', ''))} on {md(model)} · "
                 f"{md(dataset)}", help=whole if is_cut(model) or is_cut(dataset) else None)
    place = queue_places().get(run.id)
    worker_alive = place is None or bool(alive_workers())
    st.progress(min(1.0, max(0.0, run.progress or 0.0)), text=progress_text(run, place, worker_alive))
    if run.error:
        st.error(md(run.error, limit=None))  # it may quote a model name or a file
    model_missing = model_missing_note(run.id, run.artifact_dir) if run.status == SUCCEEDED else None
    for note in filter(None, (model_missing, dataset_missing_note(run.dataset.name, run.dataset.path))):
        st.warning(md(note, limit=None))  # files deleted by hand: the numbers stay, but say what no longer works
    if not worker_alive:
        st.warning("No worker is running, so this run waits. Start one with `python -m core worker`.")
    if run.status == SUCCEEDED and run.metrics:
        st.caption(f"Test accuracy {percent_text(run.metrics.get('accuracy'))} · macro-F1 "
                   f"{percent_text(run.metrics.get('macro_f1'))}"
                   f" · trained in {duration_text(run.train_seconds)} on {run.device or 'cpu'}")
        if (check := estimate_check(run)) is not None:
            st.caption(estimate_text(check))
        st.page_link("pages/results.py", label="Open the results", icon=":material/insights:",
                     query_params={"run": str(run.id)})
    actions_ui(run, model_missing is not None)
    curves_ui(run.id)
    with st.expander("Log"):  # collapsed: a failure's traceback is detail, the plain sentence above says what to do
        st.code(run_files(run.id).log_tail(40) or "(no log yet)", language=None)
    with st.expander("Settings"):
        st.caption("Each setting, its value and where it came from: your choice on Train, the preset, or the default.")
        st.dataframe(settings_table(run.dataset.task, config, run.training or {}), hide_index=True,
                     key=f"runs_settings_{run.id}")


overview([(r.id, r.status) for r in all_runs])
# No status in the picker's titles: a keyed selectbox keeps showing the title it was given when the run was picked,
# so "#1 · head · running" stayed after the run had finished while the heading below said succeeded. The table above
# and the heading below say the status, and both redraw.
detail(pick_run_ui(all_runs, key="runs_selected",
                   title=lambda r: f"#{r.id} · {r.name or (r.config or {}).get('method', '')}",
                   help="The run to watch below: its progress, learning curves, log and settings.").id)
workers_ui()
