"""The sidebar's live part on every page: what the worker is doing, and a notice when a run this browser session saw
queued or running finishes, fails or stops, whatever page is open.

Bounded in cost: it looks again only while a run it knows of is queued or running, every NOTICE_SECONDS, as a
fragment (only this sidebar part reruns, not the page), and each look is one small indexed query
(storage.overview.run_states) plus the worker's state. bench/notice_cost.py measures what it takes from training.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from pages.shared.user_text import md
from storage.models import CANCELLED, FAILED, FINAL_STATES, INTERRUPTED, SUCCEEDED
from storage.overview import RunState, run_states

NOTICE_SECONDS = 10  # between two looks while a run is queued or running (the Runs page itself redraws every 2 s)
WATCHED_KEY = "notice_watched"  # run id -> status, as this session last saw it (queued or running only)
ICONS = {SUCCEEDED: ":material/check_circle:", FAILED: ":material/error:", CANCELLED: ":material/stop_circle:",
         INTERRUPTED: ":material/warning:"}


def notice_text(state: RunState) -> str:
    """One sentence for a run that has just ended, with a link to where to look next."""
    title = f"Run {state.id}" + (f" ({md(state.name)})" if state.name else "")
    if state.status == SUCCEEDED:
        score = f": {state.accuracy:.1%} test accuracy" if state.accuracy is not None else ""
        return f"{title} finished{score}. [Open its results](results?run={state.id})"
    said = {FAILED: "failed", CANCELLED: "was cancelled", INTERRUPTED: "was interrupted"}[state.status]
    return f"{title} {said}. [See why on Runs](runs?run={state.id})"


def _look() -> None:
    """Toast the runs that ended since the last look; remember the ones still queued or running."""
    watched: dict[int, str] = st.session_state.get(WATCHED_KEY, {})
    states = run_states(watched)
    for run_id in watched:
        state = states.get(run_id)
        if state is not None and state.status in FINAL_STATES:
            st.toast(notice_text(state), icon=ICONS[state.status], duration="infinite")
    st.session_state[WATCHED_KEY] = {i: s.status for i, s in states.items() if s.status not in FINAL_STATES}


def run_notice_ui(describe_worker: Callable[[], str]) -> None:
    """Draw the worker's state where it is called (the sidebar); look again every few seconds while runs are live."""
    _look()  # on the page's own run: which runs are live now decides whether the fragment below ticks at all
    live = bool(st.session_state.get(WATCHED_KEY))

    def status() -> None:
        _look()  # on the page's own run too: a second small query, which finds nothing new
        st.caption(describe_worker())

    st.fragment(run_every=NOTICE_SECONDS if live else None)(status)()
