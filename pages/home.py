"""Home: what Tuneboard is and where to start."""

from __future__ import annotations

import streamlit as st

from storage.overview import count_datasets_and_runs

st.title("Tuneboard")
st.write(
    "Teach a pretrained model your own categories — for texts or for images — and see whether it is good enough. "
    "Start by uploading labeled data on **Data**, then train on **Train**."
)
datasets, runs = count_datasets_and_runs()
left, right = st.columns(2)
left.metric("Datasets", datasets)
right.metric("Runs", runs)
