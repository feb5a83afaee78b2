"""Continue training in the pages: a finished run's "Continue training" link (Results), the form the Train page shows
for it (`?from_run=ID`), and what a continued run gained and forgot (Results). The work is core's
(core/training/continual.py, core/datasets/versions.py); this draws it."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.datasets.versions import describe_changes, version_name, versions_of
from core.jobs.submit import queue_run
from core.training.continual import ContinueError, continue_config, parent_run
from pages.shared.user_text import code, md, short
from storage.datasets import get_dataset
from storage.results import RunResult
from storage.runs import get_run

SETS = {"all": "New version's test set", "old": "Earlier version's test rows (forgetting)",
        "added": "Test rows added since (gained)"}


def _interval(side: dict) -> str:
    return f"{side['accuracy']:.1%} ({side['low']:.1%} to {side['high']:.1%})"


def _reading(figures: dict) -> str:
    if figures["p_better"] < 0.05:
        return "better, beyond chance"
    if figures["p_worse"] < 0.05:
        return "worse, beyond chance"
    return "no change beyond chance"


def gained_and_forgot_ui(run: RunResult) -> None:
    """Before (the run it continued) and after (this run) on the same test rows, with 95% intervals."""
    continual = (run.metrics or {}).get("continual")
    if not continual:
        return
    st.subheader("What it gained and forgot")
    trained = continual.get("trained_on") or {}
    st.caption(f"Continued from run #{continual['from_run']} (trained on v{continual['from_version']}) on "
               f"{trained.get('changed', 0)} new or relabeled training rows and {trained.get('replayed', 0)} of its "
               f"{trained.get('old_available', 0)} earlier ones (replay {trained.get('replay', 0):g}). Before: run "
               f"#{continual['from_run']}'s answers; after: this run's; on the same rows, accuracy with its 95% interval.")
    rows = []
    for key, name in SETS.items():
        figures = continual["sets"].get(key)
        if figures:
            rows.append({"test rows": name, "rows": figures["examples"], "before": _interval(figures["before"]),
                         "after": _interval(figures["after"]),
                         "change (points)": round(100 * (figures["after"]["accuracy"] - figures["before"]["accuracy"]), 1),
                         "fixed": figures["fixed"], "broken": figures["broken"], "reading": _reading(figures)})
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="results_continual")
    head = continual.get("head") or {}
    if head.get("added"):
        st.caption(f"The classifier grew by {len(head['added'])} class(es) ({', '.join(code(run.shown(c)) for c in head['added'])}): "
                   f"{head.get('parameters_added', 0):,} new weights; the earlier classes kept the rows run "
                   f"#{continual['from_run']} learned. The earlier model could not answer a new class, so its rows "
                   "count as wrong before.")
    old = continual["sets"].get("old")
    if old and old["p_worse"] < 0.05 and not trained.get("replayed"):
        st.info("It forgot some of what it knew: continue again with some **replay** (a share of the earlier "
                "training rows mixed in).")


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
    st.caption(f"{md(run.name)}, trained on {md(short(run.dataset.name))} v{run.dataset.version or 1}. It starts from "
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
