""""Would more data help?" on Results: the learning curve of the fast head-only model on this dataset
(core.training.data_curve), drawn on validation, with what twice the data should bring."""

from __future__ import annotations

import streamlit as st

from pages.shared import charts
from storage.results import RunResult


def more_data_ui(run: RunResult) -> None:
    st.subheader("Would more data help?")
    st.caption("Tuneboard trains the fast head-only model on 10%, 25%, 50% and all of the training examples and "
               "scores each on the validation examples; the trend says what twice the data should bring. Your run's "
               "method usually gains at least as much.")
    key = f"results_more_data_{run.dataset_id}_{run.model}"
    if key not in st.session_state:
        if not st.button("Draw the learning curve", key=f"results_more_data_go_{run.id}",
                         help="Seconds to a minute or two (thousands of examples in many classes) when a head-only "
                         "run has already read this dataset with this model; otherwise the model first reads every "
                         "example once (minutes for thousands of examples)."):
            return
        # Imported here: building the model needs torch, which the rest of Results does not.
        from core.training.data_curve import data_curve

        with st.spinner("Training the head on growing shares of the training examples…"):
            st.session_state[key] = data_curve(run.dataset_dir, run.labels, run.task, run.model)
    curve = st.session_state[key]
    if curve.note:
        st.caption(curve.note)
    if curve.points:
        st.plotly_chart(charts.data_curve_figure(curve), key=f"results_more_data_chart_{run.id}")
    if curve.doubled is not None:
        gain = curve.doubled - curve.current
        st.markdown(f"With **twice the training data**, expect about **{curve.doubled:.1%}** "
                    f"({curve.doubled_low:.1%} to {curve.doubled_high:.1%}) validation accuracy for this fast "
                    f"model, against {curve.current:.1%} now ({gain * 100:+.1f} points). "
                    + ("More data should help." if curve.doubled_low > curve.current else
                       "More of the same data may not help much: the range includes no gain; check the labels "
                       "and the weak classes first."))
