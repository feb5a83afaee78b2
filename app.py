"""Tuneboard entry point: page config, navigation, sidebar status.

Run with `streamlit run app.py`. Each page lives in pages/ and stays thin.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from storage.paths import data_home, database_url

PAGES_DIR = Path(__file__).parent / "pages"

st.set_page_config(page_title="Tuneboard", page_icon=":material/tune:", layout="wide")

# Pages in the order a user walks them.
pages = [
    st.Page(str(PAGES_DIR / "home.py"), title="Home", icon=":material/home:", default=True),
    st.Page(str(PAGES_DIR / "data.py"), title="Data", icon=":material/upload:"),
    st.Page(str(PAGES_DIR / "results.py"), title="Results", icon=":material/insights:"),
    st.Page(str(PAGES_DIR / "predict.py"), title="Predict", icon=":material/online_prediction:"),
]

with st.sidebar:
    st.caption(f"Data folder: `{data_home()}`")
    url = database_url()
    st.caption("Database: SQLite in the data folder" if url.startswith("sqlite") else "Database: DATABASE_URL")

st.navigation(pages).run()
