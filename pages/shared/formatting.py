"""How numbers read to a person on the pages: durations, memory and file sizes, parameter counts (written once in
core.report.numbers, since the downloaded report shows them too), and shares as percentages in tables."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.report.numbers import bytes_text, duration_text, params_text, percent_text

__all__ = ["bytes_text", "duration_text", "params_text", "percent_column", "percent_frame", "percent_text"]


def percent_frame(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Shares (0..1) as percentages (0..100) for a table: with `percent_column` they read 84.1%, as the page's other
    numbers do, instead of 0.841 beside 84.1%. Missing values stay missing (shown as an empty cell)."""
    shown = frame.copy()
    for column in columns:
        shown[column] = pd.to_numeric(shown[column], errors="coerce") * 100
    return shown


def percent_column(label: str | None = None, help: str | None = None):
    """A table column of `percent_frame` numbers: 84.1%."""
    return st.column_config.NumberColumn(label, format="%.1f%%", help=help)
