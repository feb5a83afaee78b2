"""Monitor: what the prediction API (`python -m core serve`) has answered for a run: requests, latency, the class
mix and the share of uncertain answers, from the log the API keeps (storage/api_log.py; inputs are not kept)."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from core.api.monitoring import traffic
from pages.shared.gate import enter_page
from pages.shared.run_picker import pick_run_ui
from storage.api_log import logged_answers, runs_with_answers
from storage.models import utcnow
from storage.results import finished_runs

PERIODS = {"Last hour": timedelta(hours=1), "Last 24 hours": timedelta(days=1), "Last 7 days": timedelta(days=7),
           "Everything": None}

enter_page()  # a URL may open this page without app.py (pages/shared/gate.py)
st.title("Monitor")
st.write("See how your models do once other systems call them through the API: requests, speed and answers.")
called = set(runs_with_answers())
runs = [r for r in finished_runs() if r.id in called]
if not runs:
    st.info("No API calls yet — make a key on **API keys** and call a finished run; its calls appear here.")
    st.page_link("pages/api_keys.py", label="Go to API keys", icon=":material/key:")
    st.stop()
left, right = st.columns([3, 1])
with left:
    run = pick_run_ui(runs, key="monitor_run", help="A run the API has answered for.", title=lambda r: r.title)
period = right.selectbox("Period", list(PERIODS), index=1, key="monitor_period", help="Which calls to count.")
since = utcnow() - PERIODS[period] if PERIODS[period] else None
seen = traffic(logged_answers(run.id, since))
if not seen.requests:
    st.info(f"No calls to this run in the period chosen ({period.lower()}); pick a longer one.")
    st.stop()
cards = st.columns(4)
cards[0].metric("Requests", f"{seen.requests:,}", help=f"{seen.answers:,} answers in all (a request may hold several).")
cards[1].metric("Latency p50", f"{seen.p50_ms:.0f} ms", help="Half of the requests were answered faster than this "
                "(time on the server: decoding and the model).")
cards[2].metric("Latency p95", f"{seen.p95_ms:.0f} ms", help="19 requests in 20 were answered faster than this.")
cards[3].metric("Uncertain", f"{seen.uncertain_share:.0%}", help="Answers below the run's operating point (set on "
                "Results, Confidence tab): a person should check them.")
st.subheader("Answers by class")
st.dataframe(seen.class_mix, hide_index=True, key="monitor_class_mix",  # class names shown as typed: no Markdown here
             column_config={"share": st.column_config.ProgressColumn(format="percent", min_value=0.0, max_value=1.0)})
st.subheader("Requests and latency per hour")
st.line_chart(seen.over_time, x="time", y=["p50_ms", "p95_ms"], x_label="hour (UTC)", y_label="ms")
st.bar_chart(seen.over_time, x="time", y="requests", x_label="hour (UTC)", y_label="requests")
