"""Continue training in the pages: a finished run's "Continue training" link (Results), the form the Train page shows
for it (`?from_run=ID`), and what a continued run gained and forgot (Results). The work is core's
(core/training/continual.py, core/datasets/versions.py); this draws it."""

from __future__ import annotations

import streamlit as st

from core.datasets.versions import describe_changes, version_name, versions_of
from core.evaluation.gained_forgot import gained_and_forgot
from core.jobs.submit import queue_run
from core.training.continual import ContinueError, continue_config, parent_run
from pages.shared.user_text import md, short
from pages.shared.verdict_ui import markdown
from storage.datasets import get_dataset
from storage.results import RunResult
from storage.runs import get_run


def gained_and_forgot_ui(run: RunResult) -> None:
    """Before (the run it continued) and after (this run) on the same test rows, with 95% intervals."""
    found = gained_and_forgot(run.metrics, run.shown)
    if found is None:
        return
    st.subheader("What it gained and forgot")
    st.caption(found.intro)
    st.dataframe(found.table, hide_index=True, key="results_continual")
    if found.grown:
        st.caption(markdown(found.grown))
    if found.advice:
        st.info(markdown(found.advice))


def continue_link(run: RunResult) -> None:
    """The way from a finished run to training it further on a newer version of its dataset."""
    newer = [d for d in versions_of(run.dataset_id) if d.id != run.dataset_id]
    st.page_link("pages/train.py", label="Continue training on a newer version", icon=":material/update:",
                 query_params={"from_run": str(run.id)}, disabled=not newer,
                 help="Start from this run's model and teach it a newer version of its dataset, without training "
                 "from zero." + ("" if newer else " Make a new version on the Data page first (add rows, relabel, "
                                 "drop)."))


def continue_form(from_run: int) -> None:
    """The Train page for `?from_run=ID`: the version to continue on, replay, launch."""
    run = get_run(from_run)
    if run is None:
        st.error(f"There is no run #{from_run} to continue; pick a finished run on Results.")
        return
    versions = [d for d in versions_of(run.dataset_id) if d.id != run.dataset_id]
    st.subheader(f"Continue training run #{run.id}")
    st.caption(f"{md(run.name)}, trained on {md(short(run.dataset.name))} {version_name(run.dataset)}. It starts from "
               "this run's model (a LoRA run's adapter is merged into it; a fresh adapter learns on top), learns the "
               "rows added or relabeled since, and keeps its settings. New classes get new rows in its classifier.")
    if not versions:
        st.info("This dataset has no newer version yet: add rows, relabel or drop on the **Data** page first.")
        return
    newest = max(range(len(versions)), key=lambda i: versions[i].version)
    chosen = st.selectbox("Version to continue on", range(len(versions)), index=newest, key="continue_version",
                          format_func=lambda i: f"{version_name(versions[i])} · {versions[i].num_examples} examples · "
                          f"{short(describe_changes(versions[i].changes))}")
    dataset = get_dataset(versions[chosen].id)
    replay = st.slider("Replay", 0.0, 1.0, 0.25, 0.05, key="continue_replay",
                       help="The share of the earlier version's training rows mixed in with the new ones. Without "
                       "replay a model that sees only new rows, mostly of one class, forgets the others; 1 trains on "
                       "the whole new version (slower).")
    try:
        parent_run(run.id, dataset)
    except ContinueError as error:
        st.error(md(str(error), None))  # it names the dataset, as typed
        return
    if st.button("Launch", type="primary", key="continue_launch", icon=":material/rocket_launch:"):
        config = continue_config(run.config, run.id, replay)
        st.session_state["train_launched"] = (dataset.id, [queue_run(
            dataset, config, f"{config.method} · {config.model} · from run {run.id}")])
