"""The app's pages, in the order a user walks them; app.py routes with them and pages/shared/gate.py needs them too."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import streamlit as st

PAGES_DIR = Path(__file__).resolve().parent.parent

# File stem (also the URL path) -> title and icon.
PAGES = {
    "home": ("Home", ":material/home:"),
    "data": ("Data", ":material/upload:"),
    "train": ("Train", ":material/model_training:"),
    "runs": ("Runs", ":material/play_circle:"),
    "search": ("Search", ":material/travel_explore:"),
    "results": ("Results", ":material/insights:"),
    "predict": ("Predict", ":material/online_prediction:"),
    "api_keys": ("API keys", ":material/key:"),
    "monitor": ("Monitor", ":material/monitoring:"),
}


def app_pages(stand_in: Callable[[], None] | None = None) -> list[st.Page]:
    """The app's pages; with `stand_in`, that one function answers at every page's URL (the sign-in form)."""
    return [st.Page(stand_in or str(PAGES_DIR / f"{stem}.py"), title=title, icon=icon, url_path=stem,
                    default=stem == "home")
            for stem, (title, icon) in PAGES.items()]
