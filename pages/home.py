"""Home: what Tuneboard is and where to start; the next step depends on what is stored already."""

from __future__ import annotations

import streamlit as st

from pages.shared.gate import enter_page
from storage.overview import count_datasets_and_runs

enter_page()  # a URL may open this page without app.py (pages/shared/gate.py)
st.title("Tuneboard")
st.write(
    "Teach a pretrained model your own categories, for texts or for images, and see whether it is good enough: "
    "add labeled data on **Data**, train on **Train**, then judge the model on **Results**."
)
datasets, runs = count_datasets_and_runs()
left, right = st.columns(2)
left.metric("Datasets", datasets)
right.metric("Runs", runs)
# One next step, the one this user has not done yet.
if not datasets:
    st.info("No datasets yet — upload one on **Data**, or load the ready-made example there.")
    st.page_link("pages/data.py", label="Go to Data", icon=":material/upload:")
elif not runs:
    st.info("No runs yet — pick a dataset and a model on **Train** and launch one.")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
else:
    st.page_link("pages/runs.py", label="See your runs", icon=":material/play_circle:")
    st.page_link("pages/results.py", label="See the results", icon=":material/insights:")
