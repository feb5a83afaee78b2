"""Monitor: what the prediction API (`python -m core serve`) has answered for a run: requests, latency, the class
mix against the training data's (drift), the share of uncertain answers over time, and live accuracy from the true
labels sent back to POST /v1/feedback; from the log the API keeps (storage/api_log.py; inputs only for keys that opt
in). Figures: core/api/monitoring.py."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from core.api.monitoring import Traffic, compare, drift, training_mix, traffic
from pages.shared.gate import enter_page
from pages.shared.run_picker import pick_run_ui
from pages.shared.user_text import md
from storage.api_log import endpoint_answers, logged_answers, logged_inputs, runs_with_answers
from storage.endpoints import MODES, EndpointError, list_endpoints, promote
from storage.models import CHALLENGER, CHAMPION, SPLIT
from storage.models import utcnow
from storage.results import RunResult, finished_runs

PERIODS = {"Last hour": timedelta(hours=1), "Last 24 hours": timedelta(days=1), "Last 7 days": timedelta(days=7),
           "Everything": None}
FEEDBACK_HELP = ("Send the true label of an answer to POST /v1/feedback (its request_id and index); see the README's "
                 "Deploy section.")
SHARE = st.column_config.ProgressColumn(format="percent", min_value=0.0, max_value=1.0)


def cards_ui(seen: Traffic) -> None:
    cards = st.columns(5)
    cards[0].metric("Requests", f"{seen.requests:,}", help=f"{seen.answers:,} answers in all (a request may hold "
                    "several).")
    cards[1].metric("Latency p50", f"{seen.p50_ms:.0f} ms", help="Half of the requests were answered faster than "
                    "this (time on the server: decoding and the model).")
    cards[2].metric("Latency p95", f"{seen.p95_ms:.0f} ms", help="19 requests in 20 were answered faster than this.")
    cards[3].metric("Uncertain", f"{seen.uncertain_share:.0%}", help="Answers below the run's operating point (set "
                    "on Results, Confidence tab): a person should check them.")
    accuracy = seen.accuracy
    if accuracy is None:
        cards[4].metric("Live accuracy", "—", help=f"No true labels sent back yet. {FEEDBACK_HELP}")
    else:
        low, high = accuracy.interval.low, accuracy.interval.high
        cards[4].metric("Live accuracy", f"{accuracy.interval.value:.0%}",
                        help=f"{accuracy.correct:,} of {accuracy.labelled:,} answers with a true label were right; "
                        f"the true accuracy is likely (95%) between {low:.0%} and {high:.0%}. {FEEDBACK_HELP}")
        st.caption(f"Live accuracy rests on {accuracy.labelled:,} answer{'s' if accuracy.labelled != 1 else ''} with "
                   f"a true label sent back (95% interval {low:.0%} to {high:.0%}).")


def drift_ui(run: RunResult, seen: Traffic) -> None:
    st.subheader("Answers by class, against the training data")
    try:
        found = drift(seen.class_mix, training_mix(run.dataset_dir))
    except FileNotFoundError:
        found = None
        st.caption("The dataset's files are missing, so the training mix cannot be shown.")
    if found is None:
        st.dataframe(seen.class_mix, hide_index=True, key="monitor_class_mix", column_config={"share": SHARE})
        return
    st.metric("Drift", f"{found.score:.0%}", help="Total variation distance between the two mixes: 0% is the same "
              "mix, 100% no class in common. It counts the model's answers, not the truth: a rise means the inputs "
              "changed or the model answers them differently; live accuracy tells which.")
    st.caption(found.sentence())
    # class names shown as typed: no Markdown in a dataframe
    st.dataframe(found.mix, hide_index=True, key="monitor_class_mix",
                 column_config={"answered": SHARE, "training": SHARE})


def run_ui() -> None:
    called = set(runs_with_answers())
    runs = [r for r in finished_runs() if r.id in called]
    if not runs:
        st.info("No API calls yet — make a key on **API keys** and call a finished run; its calls appear here.")
        st.page_link("pages/api_keys.py", label="Go to API keys", icon=":material/key:")
        return
    left, right = st.columns([3, 1])
    with left:
        run = pick_run_ui(runs, key="monitor_run", help="A run the API has answered for.", title=lambda r: r.title)
    period = right.selectbox("Period", list(PERIODS), index=1, key="monitor_period", help="Which calls to count.")
    since = utcnow() - PERIODS[period] if PERIODS[period] else None
    seen = traffic(logged_answers(run.id, since))
    if not seen.requests:
        st.info(f"No calls to this run in the period chosen ({period.lower()}); pick a longer one.")
        return
    cards_ui(seen)
    drift_ui(run, seen)
    st.subheader("Per hour")
    st.line_chart(seen.over_time, x="time", y=["p50_ms", "p95_ms"], x_label="hour (UTC)", y_label="latency (ms)")
    st.bar_chart(seen.over_time, x="time", y="requests", x_label="hour (UTC)", y_label="requests")
    st.line_chart(seen.over_time, x="time", y="uncertain_share", x_label="hour (UTC)",
                  y_label="share of answers uncertain")
    inputs = logged_inputs(run.id)
    if not inputs.empty:
        with st.expander(f"Inputs kept ({len(inputs):,} newest), from keys that opt in"):
            st.dataframe(inputs, hide_index=True, key="monitor_inputs")  # shown as typed: no Markdown


def endpoint_ui() -> None:
    """Champion against challenger on one endpoint, and the one click that promotes the challenger."""
    endpoints = {e.name: e for e in list_endpoints()}
    if not endpoints:
        st.info("No endpoints yet — make one on **API keys** to serve a run at a fixed address and try a challenger.")
        return
    name = st.selectbox("Endpoint", list(endpoints), key="monitor_endpoint", help="A named endpoint "
                        "(/v1/endpoints/NAME/predict).")
    shown = st.container()  # drawn after the promote button, above it, so a promotion made now shows at once
    endpoint = endpoints[name]
    if endpoint.challenger_run_id is not None and st.button(
            "Promote the challenger", type="primary", key="monitor_promote",
            help="The challenger becomes the champion, and the champion the challenger, from the next request on."):
        try:
            endpoint = promote(name)
            st.success(f"Run #{endpoint.champion_run_id} is now the champion of **{md(name)}**.")
        except EndpointError as error:
            st.error(md(str(error), None))
    with shown:
        roles = {endpoint.champion_run_id: CHAMPION} if endpoint.champion_run_id is not None else {}
        if endpoint.challenger_run_id is not None:
            roles[endpoint.challenger_run_id] = CHALLENGER
        share = f", {endpoint.challenger_share:.0%} of requests" if endpoint.mode == SPLIT else ""
        st.caption(f"{MODES[endpoint.mode]}{share}. Figures count each run's answers through this endpoint, "
                   "shadow answers included.")
        seen = compare(endpoint_answers(name), roles)
        st.dataframe(seen.table(), hide_index=True, key="monitor_endpoint_table", column_config={
            "accuracy on feedback": st.column_config.NumberColumn(format="percent")})
        st.metric("Agreement", f"{seen.agreement:.0%}" if seen.agreement is not None else "—",
                  help=f"On {seen.shadowed:,} shadowed answers (both runs answered the same input), the share where "
                  "both gave the same label. Accuracy on feedback says which is right where they differ.")


enter_page()  # a URL may open this page without app.py (pages/shared/gate.py)
st.title("Monitor")
st.write("See how your models do once other systems call them through the API: requests, speed and answers.")
runs_tab, endpoints_tab = st.tabs(["Runs", "Endpoints: champion and challenger"])
with runs_tab:
    run_ui()
with endpoints_tab:
    endpoint_ui()
