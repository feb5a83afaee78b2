"""API keys: make, list and revoke the keys the prediction API (`python -m core serve`, core/api) asks for, and
the calls that use them (the README's Deploy section shows the same ones, core/api/examples.py); make and change
named endpoints (storage/endpoints.py): a champion run, and a challenger given a share of traffic or a shadow.

A new key is shown once, on the run that made it; only its hash is stored (storage/api_keys.py).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.api.examples import curl_example, feedback_example, python_example
from pages.shared.gate import enter_page
from pages.shared.run_picker import pick_run_ui
from pages.shared.user_text import md, short
from storage.api_keys import (
    DEFAULT_REQUESTS_PER_MINUTE, MAX_REQUESTS_PER_MINUTE, ApiKeyError, KeyInfo, create_key, list_keys, revoke_key,
    set_log_inputs,
)
from storage.endpoints import MODES, EndpointError, delete_endpoint, list_endpoints, save_endpoint
from storage.models import SPLIT
from storage.results import RunResult, finished_runs

SERVE_COMMAND = ".venv/bin/python -m core serve --port 8000"
KEEP_INPUTS_HELP = ("Keep the texts this key sends beside their answers, to read them on the Monitor page. Off unless "
                    "you turn it on; images are never kept, and only answers are logged otherwise.")


def create_ui() -> None:
    with st.form("api_key_form", clear_on_submit=True):
        name = st.text_input("Name", key="api_key_name", max_chars=200, placeholder="e.g. CRM integration",
                             help="What will use the key, so that you know which one to revoke later.")
        rate = st.number_input("Requests per minute", min_value=1, max_value=MAX_REQUESTS_PER_MINUTE,
                               value=DEFAULT_REQUESTS_PER_MINUTE, step=10, key="api_key_rate",
                               help="The most requests this key may send a minute (as many at once); past it the "
                               "API answers 429 with the seconds to wait.")
        keep = st.checkbox("Keep the texts it sends", value=False, key="api_key_log_inputs", help=KEEP_INPUTS_HELP)
        submitted = st.form_submit_button("Create key", type="primary", key="api_key_create")
    if not submitted:
        return
    try:
        info, key = create_key(name, int(rate), log_inputs=keep)
    except ApiKeyError as error:
        st.error(str(error))
        return
    st.success(f"Key **{md(info.name)}** made. Copy it now: it is shown only this once (Tuneboard keeps only a "
               "hash of it).")
    st.code(key, language=None)


def keys_frame(keys: list[KeyInfo]) -> pd.DataFrame:
    return pd.DataFrame([{
        "Name": short(k.name), "Starts with": f"{k.prefix}…", "Requests / min": k.requests_per_minute,
        "Created": k.created_at, "Last used": k.last_used_at, "Keeps inputs": k.log_inputs,
        "Status": "active" if k.active else "revoked",
    } for k in keys])


def revoke_ui(keys: list[KeyInfo]) -> None:
    active = {k.id: k for k in keys if k.active}
    if not active:
        return
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    chosen = left.selectbox("Key to revoke", list(active), key="api_key_revoke_pick",
                            format_func=lambda i: f"{short(active[i].name)} ({active[i].prefix}…)",
                            help="A revoked key is refused from its next request on; this cannot be undone.")
    if right.button("Revoke", key="api_key_revoke", help="Refuse this key from now on."):
        revoked = revoke_key(chosen)
        st.success(f"Key **{md(revoked.name)}** revoked: the API refuses it from now on.")


def keep_inputs_ui(keys: list[KeyInfo]) -> None:
    active = {k.id: k for k in keys if k.active}
    if not active:
        return
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    chosen = left.selectbox("Key whose inputs to keep or not", list(active), key="api_key_inputs_pick",
                            format_func=lambda i: f"{short(active[i].name)} ({active[i].prefix}…)")
    keep = right.toggle("Keep its texts", value=active[chosen].log_inputs, key=f"api_key_inputs_{chosen}",
                        help=KEEP_INPUTS_HELP)
    if keep != active[chosen].log_inputs:
        changed = set_log_inputs(chosen, keep)
        st.success(f"Key **{md(changed.name)}**: the texts it sends are {'kept' if keep else 'no longer kept'} "
                   "from its next request on.")


def endpoint_form_ui(runs: list[RunResult]) -> None:
    """Make an endpoint or change one: its champion, its challenger and how the challenger takes part."""
    endpoints = {e.name: e for e in list_endpoints()}
    titles = {r.id: short(r.title) for r in runs}
    picked = st.selectbox("Endpoint", ["New endpoint", *endpoints], key="endpoint_pick",
                          help="Make a new endpoint, or pick one to change (its callers follow from their next call).")
    current = endpoints.get(picked)
    ids = [r.id for r in runs]
    with st.form(f"endpoint_form_{picked}"):
        name = st.text_input("Name", value=current.name if current else "", disabled=current is not None,
                             max_chars=64, key=f"endpoint_name_{picked}", placeholder="e.g. spam-filter",
                             help="Goes in the address /v1/endpoints/NAME/predict: letters, digits, - and _.")
        champion = st.selectbox("Champion", ids, format_func=titles.get, key=f"endpoint_champion_{picked}",
                                index=ids.index(current.champion_run_id) if current and current.champion_run_id in ids
                                else 0, help="The run that answers (whose answer is returned, in shadow mode).")
        options = [None, *ids]
        challenger = st.selectbox("Challenger", options, format_func=lambda i: "None" if i is None else titles[i],
                                  key=f"endpoint_challenger_{picked}",
                                  index=options.index(current.challenger_run_id)
                                  if current and current.challenger_run_id in ids else 0,
                                  help="A second run with the same classes, to compare with the champion.")
        mode = st.radio("Challenger takes", list(MODES), format_func=MODES.get, key=f"endpoint_mode_{picked}",
                        index=list(MODES).index(current.mode) if current else 0, horizontal=True,
                        help="Split: the challenger answers a share of the requests. Shadow: it answers every request "
                        "too, after the reply, and only the champion's answer is returned; both are logged.")
        share = st.slider("Challenger's share of requests (split)", 0, 100, key=f"endpoint_share_{picked}",
                          value=round(current.challenger_share * 100) if current else 10, format="%d%%")
        saved = st.form_submit_button("Save endpoint", type="primary", key=f"endpoint_save_{picked}")
    if current is not None:
        delete_endpoint_ui(current.name)
    if not saved:
        return
    try:
        info = save_endpoint(name if current is None else current.name, champion, challenger, mode, share / 100)
    except EndpointError as error:
        st.error(md(str(error), None))
        return
    st.success(f"Endpoint **{md(info.name)}** saved; its callers follow from their next request.")


def delete_endpoint_ui(name: str) -> None:
    """Delete an endpoint, after a second click: its callers get 404 from their next request; its log stays."""
    with st.popover("Delete this endpoint", icon=":material/delete:"):
        st.write(f"Callers of **{md(name)}** get *404 unknown endpoint* from their next request. Its answers stay in "
                 "the log.")
        if st.button("Delete", type="primary", key=f"endpoint_delete_{name}"):
            try:
                delete_endpoint(name)
            except EndpointError as error:
                st.error(md(str(error), None))
                return
            st.session_state.pop("endpoint_pick", None)
            st.toast(f"Deleted the endpoint **{md(name)}**.")
            st.rerun()


def endpoints_ui(runs: list[RunResult]) -> None:
    st.subheader("Endpoints")
    st.write("An endpoint is a fixed address for your systems that serves one run, the champion: you can change the run "
             "behind it without changing the callers, and try a second run, the challenger, on part of the traffic "
             "or in its shadow. The **Monitor** page compares the two and promotes the challenger.")
    endpoint_form_ui(runs)
    endpoints = list_endpoints()
    if endpoints:
        st.dataframe(pd.DataFrame([{"Name": e.name, "Champion": e.champion_run_id, "Challenger": e.challenger_run_id,
                                    "Mode": e.mode, "Challenger's share": e.challenger_share if e.mode == SPLIT else None,
                                    "Changed": e.updated_at} for e in endpoints]), hide_index=True,
                     key="endpoints_table")  # shown as typed: no Markdown here
        run = {r.id: r for r in runs}.get(endpoints[0].champion_run_id)
        st.caption("An endpoint is called as a run is, at its own address; the reply's `run` and `role` say which run "
                   "answered.")
        st.code(curl_example(run.id if run else 1, run.task if run else "text", endpoint=endpoints[0].name),
                language="bash", wrap_lines=True)


def usage_ui() -> None:
    st.subheader("Call a model")
    st.write("Start the API beside the app (same data folder); its reference is at http://127.0.0.1:8000/docs:")
    st.code(SERVE_COMMAND, language="bash")
    runs = finished_runs()
    if not runs:
        st.info("No finished run yet — train one on **Train**; the calls to make with it appear here.")
        st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
        return
    run = pick_run_ui(runs, key="api_keys_run", help="The run the examples call.", title=lambda r: r.title)
    st.caption("Put your key in the variable `TUNEBOARD_KEY` first (`export TUNEBOARD_KEY='tb_...'`). Each answer has "
               "the label, its calibrated confidence, the top classes and `uncertain`, as on **Predict**.")
    st.code(curl_example(run.id, run.task), language="bash", wrap_lines=True)
    st.code(python_example(run.id, run.task), language="python")
    st.caption("Once you know an input's true class, send it back with the answer's `request_id` (put it in "
               "`REQUEST_ID`) and `index`: the **Monitor** page then shows live accuracy.")
    st.code(feedback_example(run.labels[-1]), language="bash", wrap_lines=True)


enter_page()  # a URL may open this page without app.py (pages/shared/gate.py)
st.title("API keys")
st.write("Let your own systems call your finished models over HTTP: make a key here and send it with every request.")
create_ui()
listed = st.container()
keys = list_keys()
revoke_ui(keys)
keep_inputs_ui(list_keys())
with listed:  # drawn after revoke_ui, above it, so a key revoked just now shows as revoked
    keys = list_keys()
    if keys:
        st.dataframe(keys_frame(keys), hide_index=True, key="api_keys_table")
    else:
        st.caption("No keys yet: make one above.")
usage_ui()
if runs := finished_runs():
    endpoints_ui(runs)
