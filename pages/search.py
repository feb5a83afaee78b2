"""Search: a settings search's trials over time, the best settings so far on validation, which settings mattered,
and "Use these settings", which opens Train with them filled in.

The search row's summary (written by the worker driving it, core.search.coordinator) is all this page reads; a
fragment re-reads it every few seconds while the search runs, so the page can be closed and opened again at any time.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from pages.shared.errors import guarded
from pages.shared.formatting import duration_text
from pages.shared.gate import enter_page
from pages.shared.user_text import md, short
from storage.datasets import get_dataset
from storage.models import SEARCH_RUNNING
from storage.searches import SearchError, get_search, list_searches, request_stop

REFRESH_SECONDS = 3
STATE_ICONS = {"complete": "✅", "pruned": "✂️", "failed": "❌", "skipped": "⏭️", "running": "▶️", "queued": "⏳",
               "waiting": "⏳"}
PRUNED_NOTES = {"median": "stopped early: its validation curve trailed the median of earlier trials",
                "budget": "stopped: at its pace it could not finish in the budget", "cancelled": "cancelled"}
STATUS_TEXT = {"running": "▶️ running", "finished": "✅ finished", "stopped": "⏹️ stopped", "failed": "❌ failed"}


def setting_label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def value_text(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def trials_frame(trials: list[dict]) -> pd.DataFrame:
    rows = []
    for t in trials:
        rows.append({"Trial": t["number"], "State": f"{STATE_ICONS.get(t['state'], '')} {t['state']}",
                     "Validation macro-F1": t["value"] if t["value"] is not None else
                     (list(t["curve"].values())[-1] if t["curve"] else None),
                     "Epochs done": len(t["curve"]), "Minutes": None if t["seconds"] is None else t["seconds"] / 60,
                     "Run": t["run_id"], **{setting_label(k): value_text(v) for k, v in t["params"].items()},
                     "Note": t["note"] or PRUNED_NOTES.get(t.get("pruned") or "", "")})
    return pd.DataFrame(rows)


def trials_figure(summary: dict) -> go.Figure:
    """Each finished trial's validation macro-F1 when it ended; pruned trials at their last epoch; the best so far."""
    figure = go.Figure()
    for state, symbol in (("complete", "circle"), ("pruned", "x")):
        shown = [t for t in summary["trials"] if t["state"] == state and t["ended_minute"] is not None and t["curve"]]
        if shown:
            figure.add_trace(go.Scatter(
                x=[t["ended_minute"] for t in shown],
                y=[t["value"] if state == "complete" else list(t["curve"].values())[-1] for t in shown],
                mode="markers", name="finished trials" if state == "complete" else "pruned (last epoch)",
                marker={"symbol": symbol, "size": 10}, text=[f"trial {t['number']}" for t in shown]))
    best = summary.get("best_so_far") or []
    if best:
        figure.add_trace(go.Scatter(x=[p[0] for p in best], y=[p[1] for p in best], mode="lines",
                                    line={"shape": "hv"}, name="best so far"))
    figure.update_layout(xaxis_title="minutes since the search started", yaxis_title="validation macro-F1",
                         height=320, margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return figure


def importance_figure(values: dict[str, float]) -> go.Figure:
    names = sorted(values, key=values.get)
    figure = go.Figure(go.Bar(x=[values[n] for n in names], y=[setting_label(n) for n in names], orientation="h"))
    figure.update_layout(xaxis_title="share of the differences in validation macro-F1", height=60 + 30 * len(names),
                         margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return figure


def best_ui(search, summary: dict) -> None:
    best = summary.get("best")
    final = search.status != SEARCH_RUNNING
    if best is None:
        st.info("No trial finished, so there are no settings to recommend." if final else
                "No trial has finished yet: the best settings appear here once one has.")
        return
    st.subheader("Best settings" if final else "Best settings so far")
    cards = st.columns(3)
    cards[0].metric("Validation macro-F1", f"{best['value']:.3f}", border=True,
                    help="Measured on the validation examples: the search chose by this number.")
    if final and best.get("test_macro_f1") is not None:
        cards[1].metric("Test macro-F1", f"{best['test_macro_f1']:.3f}", border=True,
                        help="The final pick on the test examples, which no choice saw: what to expect on new data.")
        cards[2].metric("Test accuracy", f"{best['test_accuracy']:.1%}", border=True)
    else:
        cards[1].caption("Test figures are shown for the final pick only, once the search ends: choosing by test "
                         "numbers would flatter the winner.")
    st.dataframe(pd.DataFrame([{"Setting": setting_label(k), "Value": value_text(v)} for k, v in best["params"].items()]),
                 hide_index=True)
    left, right = st.columns(2)
    if left.button("Use these settings", type="primary", key="search_use", icon=":material/model_training:",
                   help="Open Train with these settings filled in, to train this model (or change them first)."):
        st.switch_page("pages/train.py", query_params={"dataset": str(search.dataset_id),
                                                        "settings_of": str(best["run_id"])})
    right.page_link("pages/results.py", label=f"Results of run #{best['run_id']}", icon=":material/insights:",
                    query_params={"run": str(best["run_id"])})


@guarded
def search_ui(search_id: int) -> None:
    search = get_search(search_id)
    if search is None:
        st.warning(f"Search {search_id} no longer exists.")
        return
    summary = search.summary or {}
    dataset = get_dataset(search.dataset_id)
    st.subheader(f"Search {search.id}: {md(search.name)}")
    st.caption(f"Dataset {md(dataset.name) if dataset else '(deleted)'} · {STATUS_TEXT.get(search.status, search.status)}"
               f" · {md(search.message, limit=None)}")
    if search.error:
        st.error(md(search.error, limit=None))
    used = min(1.0, search.spent_seconds / max(search.budget_seconds, 1.0))
    st.progress(used, text=f"Budget: {duration_text(search.spent_seconds)} of {duration_text(search.budget_seconds)} "
                           "used (time while a worker drove the search)")
    trials = summary.get("trials", [])
    counts = {state: sum(t["state"] == state for t in trials) for state in ("complete", "pruned", "running", "queued")}
    st.caption(f"{counts['complete']} finished, {counts['pruned']} pruned, {counts['running'] + counts['queued']} in "
               f"progress. Settings tried: {'; '.join(summary.get('space', []))}.")
    if search.status == SEARCH_RUNNING and st.button("Stop the search", key="search_stop", icon=":material/stop:",
                                                     help="Cancel the trials in progress and keep the best finished one."):
        try:
            request_stop(search.id)
        except SearchError as error:
            st.warning(str(error))
    best_ui(search, summary)
    if trials:
        st.subheader("Trials over time")
        st.plotly_chart(trials_figure(summary), key="search_trials_chart")
        st.dataframe(trials_frame(trials), hide_index=True, key="search_trials_table",
                     column_config={"Validation macro-F1": st.column_config.NumberColumn(format="%.3f"),
                                    "Minutes": st.column_config.NumberColumn(format="%.1f")})
    pruning = summary.get("pruning") or {}
    if pruning.get("pruned"):
        st.caption(f"Pruning stopped {pruning['pruned']} trial(s) whose validation curve trailed the median of "
                   f"earlier trials, saving about {duration_text(pruning['saved_seconds'])} "
                   f"({pruning['share_of_budget']:.0%} of the budget) for other settings.")
    values = (summary.get("importances") or {}).get("values") or {}
    if values:
        st.subheader("Which settings mattered")
        st.caption(f"Optuna's importance (fANOVA) over the {summary['importances']['trials']} finished trials: how "
                   "much of the difference in validation macro-F1 each setting explains. With few trials it is a hint, "
                   "not a measurement.")
        st.plotly_chart(importance_figure(values), key="search_importance_chart")


enter_page()
st.title("Search")
st.write("A search tries settings of one tuning method on your data within a time budget, keeps the best on the "
         "validation examples, and fills them in on **Train** for you. Each trial is a run on **Runs**. Start one on "
         "**Train** under *Search settings*.")
all_searches = list_searches()
if not all_searches:
    st.info("No searches yet — open **Train**, pick a dataset and a method, and start one under *Search settings*.")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
    st.stop()
ids = [s.id for s in all_searches]
by_id = {s.id: s for s in all_searches}
asked = st.query_params.get("search")
chosen = st.selectbox("Search", ids, index=ids.index(int(asked)) if asked and asked.isdigit() and int(asked) in ids else 0,
                      key="search_selected", format_func=lambda i: f"#{i} · {short(by_id[i].name)} · {by_id[i].status}",
                      help="The search to show: newest first.")
live = REFRESH_SECONDS if by_id[chosen].status == SEARCH_RUNNING else None
st.fragment(run_every=live)(search_ui)(chosen)
